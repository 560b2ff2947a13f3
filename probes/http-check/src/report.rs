//! Turning a fetch outcome into samples (pure, unit-tested natively).
//!
//! Durations are reported in seconds, OpenTelemetry's unit for durations, although
//! the host measures milliseconds.

use crate::config::Config;
use crate::sonde::probe::http::{HttpError, Response};
use crate::Sample;

fn sample(
    config: &Config,
    name: &str,
    value: f64,
    unit: &str,
    extra: Option<(&str, &str)>,
) -> Sample {
    let mut labels = vec![("url".to_string(), config.url.clone())];
    if let Some((k, v)) = extra {
        labels.push((k.to_string(), v.to_string()));
    }
    Sample {
        name: name.into(),
        value,
        unit: unit.into(),
        labels,
    }
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Samples for a response; `matched` is `None` when no regex was configured.
pub fn response(config: &Config, r: &Response, matched: Option<bool>) -> Vec<Sample> {
    let t = &r.timings;
    let mut out: Vec<Sample> = [
        ("dns", t.dns_ms),
        ("connect", t.connect_ms),
        ("tls", t.tls_ms),
        ("first_byte", t.first_byte_ms),
        ("total", t.total_ms),
    ]
    .iter()
    .map(|(phase, ms)| {
        sample(
            config,
            "sonde.http.check.duration",
            ms / 1000.0,
            "s",
            Some(("phase", phase)),
        )
    })
    .collect();
    out.push(sample(
        config,
        "sonde.http.check.status_code",
        f64::from(r.status),
        "1",
        None,
    ));
    if let Some(m) = matched {
        out.push(sample(
            config,
            "sonde.http.check.regex_match",
            flag(m),
            "1",
            None,
        ));
    }
    let up = config.status_is_up(r.status) && matched != Some(false);
    out.push(sample(config, "sonde.http.check.up", flag(up), "1", None));
    out
}

/// Samples for a request that got no response.
pub fn failure(config: &Config, kind: &str) -> Vec<Sample> {
    vec![
        sample(config, "sonde.http.check.up", 0.0, "1", None),
        sample(
            config,
            "sonde.http.check.error",
            1.0,
            "1",
            Some(("kind", kind)),
        ),
    ]
}

/// The `kind` label and a message for an error that means "target down".
pub fn error_kind(e: &HttpError) -> (&'static str, String) {
    match e {
        HttpError::NotAllowed(m) => ("not_allowed", format!("not allowed: {m}")),
        HttpError::InvalidUrl(m) => ("invalid_url", format!("invalid URL: {m}")),
        HttpError::Dns(m) => ("dns", format!("DNS lookup failed: {m}")),
        HttpError::Connect(m) => ("connect", format!("connection failed: {m}")),
        HttpError::Tls(m) => ("tls", format!("TLS failed: {m}")),
        HttpError::Timeout => ("timeout", "timed out".into()),
        HttpError::TooLarge => ("too_large", "response head too large".into()),
        HttpError::Other(m) => ("other", m.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sonde::probe::http::Timings;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let p: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::config::parse(&p).expect("config")
    }

    fn resp(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: b"ok".to_vec(),
            truncated: false,
            timings: Timings {
                dns_ms: 1.0,
                connect_ms: 2.0,
                tls_ms: 0.0,
                first_byte_ms: 5.0,
                total_ms: 6.0,
            },
        }
    }

    fn value(samples: &[Sample], name: &str) -> Option<f64> {
        samples.iter().find(|s| s.name == name).map(|s| s.value)
    }

    #[test]
    fn ok_response_is_up_with_timings_and_url_label() {
        let c = config(&[("url", "http://x/")]);
        let s = response(&c, &resp(200), None);
        assert_eq!(value(&s, "sonde.http.check.up"), Some(1.0));
        assert_eq!(value(&s, "sonde.http.check.status_code"), Some(200.0));
        assert_eq!(value(&s, "sonde.http.check.regex_match"), None);
        let total = s
            .iter()
            .find(|x| x.labels.iter().any(|(k, v)| k == "phase" && v == "total"))
            .expect("total");
        assert_eq!(total.value, 0.006);
        assert_eq!(total.unit, "s");
        assert!(s
            .iter()
            .all(|x| x.labels[0] == ("url".into(), "http://x/".into())));
    }

    #[test]
    fn regex_mismatch_or_bad_status_is_down() {
        let c = config(&[("url", "http://x/"), ("regex", "z")]);
        let s = response(&c, &resp(200), Some(false));
        assert_eq!(value(&s, "sonde.http.check.regex_match"), Some(0.0));
        assert_eq!(value(&s, "sonde.http.check.up"), Some(0.0));
        let s = response(&c, &resp(503), Some(true));
        assert_eq!(value(&s, "sonde.http.check.up"), Some(0.0));
    }

    #[test]
    fn failure_reports_kind() {
        let c = config(&[("url", "http://x/")]);
        let (kind, _) = error_kind(&HttpError::Timeout);
        let s = failure(&c, kind);
        assert_eq!(value(&s, "sonde.http.check.up"), Some(0.0));
        assert_eq!(s[1].labels[1], ("kind".into(), "timeout".into()));
    }
}
