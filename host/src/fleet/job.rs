//! A bundle's job settings (`--job TOML`) turned into a [`JobSpec`] the way host.toml's
//! `[[job]]` entries are: the same defaults, limits and checks.

use std::path::Path;

use serde::Deserialize;

use crate::config::{resolve_job, Defaults, JobSpec, JobToml};

/// The job settings of a bundle: a `[[job]]` table without `probe` (the bundle carries
/// it); `name`, when given, must be the bundle's job. Errors name the line or the key.
pub fn parse(text: &str) -> Result<JobToml, String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(0);
        format!("job settings line {line}: {}", e.message().trim())
    })?;
    if table.contains_key("probe") {
        return Err("job settings: unknown field `probe`: the bundle carries the component".into());
    }
    table.insert("probe".into(), toml::Value::String("bundle.wasm".into()));
    JobToml::deserialize(table).map_err(|e| format!("job settings: {}", e.message().trim()))
}

/// The job `job` running the component at `probe_path` with the settings `text`.
pub fn spec(
    job: &str,
    text: &str,
    probe_path: &Path,
    defaults: &Defaults,
    origin: &str,
) -> anyhow::Result<JobSpec> {
    let mut t = parse(text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    if let Some(name) = t.name.as_ref().filter(|n| *n != job) {
        anyhow::bail!("{origin}: the job settings name job {name:?}, the bundle is for {job:?}");
    }
    t.name = Some(job.to_owned());
    let mut spec = resolve_job(&t, defaults, Path::new(""), &[], origin)?;
    spec.probe_path = probe_path.to_path_buf();
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_resolve_like_a_config_job() {
        let text = "interval_ms = 2000\nparams = { url = \"http://127.0.0.1:1/\" }\nallow_http = [\"http://127.0.0.1:1\"]\n";
        let s = spec(
            "home",
            text,
            Path::new("/s/x.wasm"),
            &Defaults::default(),
            "bundle",
        )
        .unwrap();
        assert_eq!(s.name, "home");
        assert_eq!(s.interval_ms, Some(2000));
        assert_eq!(s.probe_path, Path::new("/s/x.wasm"));
        assert_eq!(s.params, vec![("url".into(), "http://127.0.0.1:1/".into())]);
    }

    #[test]
    fn a_probe_key_another_name_or_a_bad_allow_list_is_refused() {
        let d = Defaults::default();
        let p = Path::new("/s/x.wasm");
        for (text, want) in [
            ("probe = \"/bin/sh\"\n", "unknown field `probe`"),
            ("name = \"other\"\n", "name job \"other\""),
            ("allow_http = [\"ftp://x\"]\n", "allow_http"),
            ("interval_ms = 0\n", "must be greater than 0"),
        ] {
            let err = format!("{:#}", spec("home", text, p, &d, "bundle").unwrap_err());
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
