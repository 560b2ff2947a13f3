//! `host.toml`: global defaults, probe directories, `[[job]]` entries, `[http]` and `[kafka]`.
//!
//! Every error names the file, the line and the key. Relative paths are relative to the
//! directory of the config file.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::fleet::FleetToml;
use crate::http::HttpLimits;
use crate::kafka::KafkaToml;
use crate::runtime::limits::RunLimits;

/// Margin added to a probe's own `timeout_ms` param when the job sets no `timeout_ms`
/// (the probe needs a moment after its HTTP timeout to report it).
pub const PARAM_TIMEOUT_MARGIN_MS: u64 = 2_000;
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;
/// No job runs more often than this unless `min_interval_ms` says so: a probe's own
/// default interval is not trusted to be reasonable.
pub const DEFAULT_MIN_INTERVAL_MS: u64 = 1_000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostToml {
    /// Where `probe = "name"` is looked up (`name.wasm`), in order.
    #[serde(default)]
    pub probe_dirs: Vec<PathBuf>,
    /// At most this many runs at the same time, over all jobs.
    pub max_concurrency: Option<usize>,
    /// A job whose interval (its own, `[defaults]`' or the probe's) is shorter is refused.
    pub min_interval_ms: Option<u64>,
    pub hostname: Option<String>,
    pub cache_dir: Option<PathBuf>,
    /// Where /metrics, /healthz and /readyz are served (`--metrics-addr` wins); none: off.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// A probe file larger than this is not read.
    pub max_component_bytes: Option<u64>,
    /// How long compiling one component may take.
    pub compile_timeout_ms: Option<u64>,
    /// How long instantiating a component and its `describe()` may take when it is loaded.
    pub describe_timeout_ms: Option<u64>,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default, rename = "job")]
    pub jobs: Vec<Spanned<JobToml>>,
    pub http: Option<HttpToml>,
    pub kafka: Option<KafkaToml>,
    pub fleet: Option<FleetToml>,
}

/// Apply to every job that does not set the key itself (and to `--probes` jobs).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub interval_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub max_memory_bytes: Option<u64>,
    pub max_samples: Option<u32>,
    pub max_output_bytes: Option<u64>,
    pub max_fetches: Option<u32>,
    pub max_fetched_bytes: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobToml {
    pub name: Option<String>,
    pub probe: String,
    pub interval_ms: Option<u64>,
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub allow_http: Vec<String>,
    pub timeout_ms: Option<u64>,
    pub max_memory_bytes: Option<u64>,
    pub max_samples: Option<u32>,
    pub max_output_bytes: Option<u64>,
    pub max_fetches: Option<u32>,
    pub max_fetched_bytes: Option<u64>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpToml {
    /// PEM file of extra CA certificates trusted for probe HTTPS (added to the system roots).
    pub extra_ca_file: Option<PathBuf>,
    pub max_timeout_ms: Option<u32>,
    pub max_body_bytes_cap: Option<u32>,
    /// Addresses no fetch connects to (CIDR ranges); replaces the default list.
    pub deny_ranges: Option<Spanned<Vec<String>>>,
    /// Name servers (`ip:port` or `ip`) for probe fetches instead of `/etc/resolv.conf`'s.
    pub dns_servers: Option<Spanned<Vec<String>>>,
}

/// One job, fully resolved except for what needs the probe itself (its params and interval).
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    pub name: String,
    pub probe_path: PathBuf,
    /// `None`: the probe's `default-interval-ms`.
    pub interval_ms: Option<u64>,
    pub params: Vec<(String, String)>,
    pub allow_http: Vec<String>,
    pub limits: RunLimits,
    /// The host's `min_interval_ms`: the job does not start with a shorter interval.
    pub min_interval_ms: u64,
    /// Where the job was defined, for error messages (`host.toml:12` or `--probes`).
    pub origin: String,
}

impl JobSpec {
    /// The same job, wherever in the file it is defined (`origin` aside).
    pub fn same_job(&self, other: &JobSpec) -> bool {
        let JobSpec {
            name,
            probe_path,
            interval_ms,
            params,
            allow_http,
            limits,
            min_interval_ms,
            origin: _,
        } = self;
        *name == other.name
            && *probe_path == other.probe_path
            && *interval_ms == other.interval_ms
            && *params == other.params
            && *allow_http == other.allow_http
            && *limits == other.limits
            && *min_interval_ms == other.min_interval_ms
    }
}

/// A parsed and checked host.toml.
#[derive(Debug, Default)]
pub struct Config {
    pub file: Option<PathBuf>,
    pub toml: HostToml,
    pub jobs: Vec<JobSpec>,
    /// The `[http]` table resolved (paths made absolute, ranges and servers parsed).
    pub http: HttpLimits,
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Config::parse(&text, path)
    }

    /// Parse and check host.toml; the error holds every problem found, one per line.
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Config> {
        Config::parse_all(text, path).map_err(|problems| anyhow::anyhow!(problems.join("\n")))
    }

    /// Parse and check host.toml, collecting every problem (each naming the file, the line
    /// and, where there is one, the job) instead of stopping at the first. A syntax error or
    /// an unknown key is reported alone: nothing after it can be trusted.
    pub fn parse_all(text: &str, path: &Path) -> Result<Config, Vec<String>> {
        let toml: HostToml = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| line_col(text, s.start));
            let (line, col) = at.unwrap_or((0, 0));
            vec![format!(
                "{}:{line}:{col}: {}",
                path.display(),
                e.message().trim()
            )]
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let probe_dirs: Vec<PathBuf> = toml.probe_dirs.iter().map(|d| base.join(d)).collect();
        let min_interval_ms = toml.min_interval_ms.unwrap_or(DEFAULT_MIN_INTERVAL_MS);
        let mut jobs: Vec<JobSpec> = Vec::new();
        let mut problems = Vec::new();
        if let Some(ms) = toml.defaults.interval_ms.filter(|ms| *ms < min_interval_ms) {
            problems.push(format!(
                "{}:{}: [defaults] `interval_ms = {ms}` is below the host's \
                 min_interval_ms={min_interval_ms} (raise it, or lower `min_interval_ms`)",
                path.display(),
                key_line(text, "[defaults]")
            ));
        }
        for job in &toml.jobs {
            let (line, _) = line_col(text, job.span().start);
            let origin = format!("{}:{line}", path.display());
            let mut spec =
                match resolve_job(job.get_ref(), &toml.defaults, &base, &probe_dirs, &origin) {
                    Ok(spec) => spec,
                    Err(e) => {
                        problems.push(e.to_string());
                        continue;
                    }
                };
            spec.min_interval_ms = min_interval_ms;
            if let Some(ms) = job.get_ref().interval_ms {
                if let Err(e) = check_interval(&spec, ms, "`interval_ms`") {
                    problems.push(e.to_string());
                    continue;
                }
            }
            if let Some(other) = jobs.iter().find(|j| j.name == spec.name) {
                problems.push(format!(
                    "{origin}: job name {:?} is already used at {}; give each [[job]] a unique `name`",
                    spec.name, other.origin
                ));
                continue;
            }
            jobs.push(spec);
        }
        if let Some(v) = toml.defaults.max_samples {
            if let Err(e) = check_max_samples(v) {
                problems.push(format!(
                    "{}:{}: [defaults]: {e}",
                    path.display(),
                    key_line(text, "[defaults]")
                ));
            }
        }
        if toml.max_concurrency == Some(0) {
            problems.push(format!(
                "{}:{}: `max_concurrency` must be at least 1",
                path.display(),
                key_line(text, "max_concurrency")
            ));
        }
        let http = match http_limits(toml.http.as_ref(), &base, text, path) {
            Ok(http) => http,
            Err(e) => {
                problems.push(e.to_string());
                HttpLimits::default()
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Config {
            file: Some(path.to_path_buf()),
            toml,
            jobs,
            http,
        })
    }

    pub fn max_concurrency(&self) -> usize {
        self.toml.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY)
    }

    pub fn min_interval_ms(&self) -> u64 {
        self.toml.min_interval_ms.unwrap_or(DEFAULT_MIN_INTERVAL_MS)
    }
}

/// Refuse a job that would run more often than the host's `min_interval_ms`; `what` says
/// where the interval came from. The error names the job and where it was defined.
pub fn check_interval(spec: &JobSpec, interval_ms: u64, what: &str) -> anyhow::Result<()> {
    if interval_ms < spec.min_interval_ms {
        anyhow::bail!(
            "{}: job {:?}: interval {interval_ms} ms ({what}) is below the host's \
             min_interval_ms={}; set the job's `interval_ms` to at least that",
            spec.origin,
            spec.name,
            spec.min_interval_ms
        );
    }
    Ok(())
}

/// The `[http]` table as the client's settings; an error names the file, line and key.
fn http_limits(
    http: Option<&HttpToml>,
    base: &Path,
    text: &str,
    path: &Path,
) -> anyhow::Result<HttpLimits> {
    let mut limits = HttpLimits::default();
    let Some(http) = http else {
        return Ok(limits);
    };
    limits.extra_ca_file = http.extra_ca_file.as_ref().map(|f| base.join(f));
    if let Some(v) = http.max_timeout_ms {
        limits.max_timeout_ms = v;
    }
    if let Some(v) = http.max_body_bytes_cap {
        limits.max_body_bytes_cap = v;
    }
    let at = |spanned_start: usize, key: &str, e: String| {
        let (line, col) = line_col(text, spanned_start);
        anyhow::anyhow!("{}:{line}:{col}: [http] `{key}`: {e}", path.display())
    };
    if let Some(ranges) = &http.deny_ranges {
        limits.deny_ranges = crate::http::address::parse_deny_ranges(ranges.get_ref())
            .map_err(|e| at(ranges.span().start, "deny_ranges", e))?;
    }
    if let Some(servers) = &http.dns_servers {
        let parsed = servers
            .get_ref()
            .iter()
            .map(|s| {
                s.parse::<SocketAddr>()
                    .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                    .map_err(|_| format!("{s:?} is not an IP address (optionally with :port)"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| at(servers.span().start, "dns_servers", e))?;
        limits.dns_servers = Some(parsed);
    }
    Ok(limits)
}

/// The 1-based line where `key` (a top-level key or a `[table]` header) first appears; 0
/// when it is not found, as in a TOML error without a position.
pub fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('=') || key.starts_with('['))
        })
        .map_or(0, |i| i + 1)
}

/// Limits from the defaults table, for jobs started from `--probes`.
pub fn default_limits(defaults: &Defaults) -> RunLimits {
    let base = RunLimits::default();
    RunLimits {
        timeout_ms: defaults.timeout_ms.unwrap_or(base.timeout_ms),
        max_memory_bytes: defaults.max_memory_bytes.unwrap_or(base.max_memory_bytes),
        max_samples: defaults.max_samples.unwrap_or(base.max_samples),
        max_output_bytes: defaults.max_output_bytes.unwrap_or(base.max_output_bytes),
        max_fetches: defaults.max_fetches.unwrap_or(base.max_fetches),
        max_fetched_bytes: defaults.max_fetched_bytes.unwrap_or(base.max_fetched_bytes),
    }
}

/// A run cannot publish more samples than one message may carry.
fn check_max_samples(max_samples: u32) -> anyhow::Result<()> {
    let cap = sonde_message::limits::MAX_SAMPLES_PER_MESSAGE;
    if max_samples as usize > cap {
        anyhow::bail!("`max_samples` = {max_samples} is more than one message may carry ({cap})");
    }
    Ok(())
}

pub(crate) fn resolve_job(
    job: &JobToml,
    defaults: &Defaults,
    base: &Path,
    probe_dirs: &[PathBuf],
    origin: &str,
) -> anyhow::Result<JobSpec> {
    let probe_path = resolve_probe(&job.probe, base, probe_dirs)
        .map_err(|e| anyhow::anyhow!("{origin}: job `probe = {:?}`: {e}", job.probe))?;
    let name = match &job.name {
        Some(n) if n.trim().is_empty() => anyhow::bail!("{origin}: job `name` is empty"),
        Some(n) => n.clone(),
        None => job
            .probe
            .trim_end_matches(".wasm")
            .rsplit('/')
            .next()
            .unwrap_or(&job.probe)
            .to_string(),
    };
    let mut params = Vec::new();
    for (key, value) in &job.params {
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => anyhow::bail!(
                "{origin}: job {name:?}: `params.{key}` is a {}; params are strings (or numbers/booleans)",
                other.type_str()
            ),
        };
        params.push((key.clone(), text));
    }
    if let Err(e) = crate::http::AllowList::new(&job.allow_http) {
        anyhow::bail!("{origin}: job {name:?}: `allow_http`: {e}");
    }
    let mut limits = default_limits(defaults);
    if let Some(v) = job.max_memory_bytes {
        limits.max_memory_bytes = v;
    }
    if let Some(v) = job.max_samples {
        limits.max_samples = v;
    }
    if let Some(v) = job.max_output_bytes {
        limits.max_output_bytes = v;
    }
    if let Some(v) = job.max_fetches {
        limits.max_fetches = v;
    }
    if let Some(v) = job.max_fetched_bytes {
        limits.max_fetched_bytes = v;
    }
    check_max_samples(limits.max_samples)
        .map_err(|e| anyhow::anyhow!("{origin}: job {name:?}: {e}"))?;
    let param_timeout = params
        .iter()
        .find(|(k, _)| k == "timeout_ms")
        .and_then(|(_, v)| v.parse::<u64>().ok());
    limits.timeout_ms = match (job.timeout_ms, param_timeout) {
        (Some(t), _) => t,
        (None, Some(p)) => limits.timeout_ms.max(p + PARAM_TIMEOUT_MARGIN_MS),
        (None, None) => limits.timeout_ms,
    };
    for (key, v) in [
        ("interval_ms", job.interval_ms.or(defaults.interval_ms)),
        ("timeout_ms", Some(limits.timeout_ms)),
        ("max_output_bytes", Some(limits.max_output_bytes)),
    ] {
        if v == Some(0) {
            anyhow::bail!("{origin}: job {name:?}: `{key}` must be greater than 0");
        }
    }
    Ok(JobSpec {
        name,
        probe_path,
        interval_ms: job.interval_ms.or(defaults.interval_ms),
        params,
        allow_http: job.allow_http.clone(),
        limits,
        min_interval_ms: DEFAULT_MIN_INTERVAL_MS,
        origin: origin.to_string(),
    })
}

/// A path (contains `/` or ends in `.wasm`, relative to the config's directory) or a name
/// looked up as `<name>.wasm` in the probe directories.
fn resolve_probe(probe: &str, base: &Path, probe_dirs: &[PathBuf]) -> Result<PathBuf, String> {
    if probe.contains('/') || probe.ends_with(".wasm") {
        return Ok(base.join(probe));
    }
    for dir in probe_dirs {
        let candidate = dir.join(format!("{probe}.wasm"));
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    let searched: Vec<String> = probe_dirs.iter().map(|d| d.display().to_string()).collect();
    Err(format!(
        "no {probe}.wasm in probe_dirs [{}]; run `just build-probes` or give a path",
        searched.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_line_and_key() {
        let text = "max_concurrency = 2\n[[job]]\nprobe = \"x/cpu.wasm\"\nbogus = 1\n";
        let err = Config::parse(text, Path::new("host.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("host.toml:4:"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn jobs_get_defaults_and_param_timeouts() {
        let text = r#"
[defaults]
max_samples = 50
[[job]]
name = "home"
probe = "probes/http-check.wasm"
params = { url = "http://127.0.0.1:1/", timeout_ms = 15000, expect_status = 200 }
allow_http = ["http://127.0.0.1:1"]
[[job]]
probe = "probes/cpu.wasm"
timeout_ms = 500
"#;
        let c = Config::parse(text, Path::new("/etc/sonde/host.toml")).unwrap();
        assert_eq!(c.jobs.len(), 2);
        assert_eq!(c.jobs[0].limits.timeout_ms, 17_000);
        assert_eq!(c.jobs[0].limits.max_samples, 50);
        assert!(c.jobs[0]
            .params
            .contains(&("expect_status".into(), "200".into())));
        assert_eq!(c.jobs[1].name, "cpu");
        assert_eq!(
            c.jobs[1].probe_path,
            Path::new("/etc/sonde/probes/cpu.wasm")
        );
        assert_eq!(c.jobs[1].origin, "/etc/sonde/host.toml:9");
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = "max_concurrency = 0\n[[job]]\nprobe = \"a/x.wasm\"\ninterval_ms = 0\n\
                    [[job]]\nprobe = \"b/y.wasm\"\nallow_http = [\"ftp://x\"]\n[kafka]\n";
        let problems = Config::parse_all(text, Path::new("h.toml")).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("h.toml:2: job \"x\"") && problems[0].contains("interval_ms")
        );
        assert!(
            problems[1].starts_with("h.toml:5: job \"y\"") && problems[1].contains("allow_http")
        );
        assert!(
            problems[2].starts_with("h.toml:1: `max_concurrency`"),
            "{problems:?}"
        );
        assert_eq!(key_line(text, "[kafka]"), 8);
    }

    #[test]
    fn output_budget_has_a_default_an_override_and_no_zero() {
        let text = "[defaults]\nmax_output_bytes = 4096\n[[job]]\nprobe = \"a/x.wasm\"\n\
                    [[job]]\nname = \"big\"\nprobe = \"a/x.wasm\"\nmax_output_bytes = 8388608\n";
        let c = Config::parse(text, Path::new("h.toml")).unwrap();
        assert_eq!(c.jobs[0].limits.max_output_bytes, 4096);
        assert_eq!(c.jobs[1].limits.max_output_bytes, 8 << 20);
        let c = Config::parse("[[job]]\nprobe = \"a/x.wasm\"\n", Path::new("h.toml")).unwrap();
        assert_eq!(c.jobs[0].limits.max_output_bytes, 1 << 20);
        let zero = "[[job]]\nprobe = \"a/x.wasm\"\nmax_output_bytes = 0\n";
        let err = Config::parse(zero, Path::new("h.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("h.toml:1") && err.contains("max_output_bytes"),
            "{err}"
        );
    }

    #[test]
    fn max_samples_cannot_exceed_what_a_message_carries() {
        let job = "[[job]]\nprobe = \"a/x.wasm\"\nmax_samples = 10001\n";
        let err = Config::parse(job, Path::new("h.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("h.toml:1: job \"x\": `max_samples` = 10001"),
            "{err}"
        );
        let defaults = "[defaults]\nmax_samples = 20000\n";
        let err = Config::parse(defaults, Path::new("h.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("[defaults]: `max_samples` = 20000"), "{err}");
        let ok = "[[job]]\nprobe = \"a/x.wasm\"\nmax_samples = 10000\n";
        assert!(Config::parse(ok, Path::new("h.toml")).is_ok());
    }

    #[test]
    fn duplicate_names_and_bad_allow_list_are_refused() {
        let dup = "[[job]]\nprobe = \"a/x.wasm\"\n[[job]]\nprobe = \"b/x.wasm\"\n";
        let err = Config::parse(dup, Path::new("h.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("h.toml:3") && err.contains("already used at h.toml:1"),
            "{err}"
        );
        let bad = "[[job]]\nprobe = \"a/x.wasm\"\nallow_http = [\"ftp://x\"]\n";
        let err = Config::parse(bad, Path::new("h.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("h.toml:1") && err.contains("allow_http"),
            "{err}"
        );
    }
}
