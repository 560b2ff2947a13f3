//! Turning a fetch outcome into samples (pure, unit-tested natively).
//!
//! Durations are reported in seconds, OpenTelemetry's unit for durations, although
//! the host measures milliseconds.

use sonde_probe::http::{HttpError, Response};
use sonde_probe::Samples;

use crate::config::Config;

fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// Samples for a response; `matched` is `None` when no regex was configured.
pub fn response(config: &Config, r: &Response, matched: Option<bool>) -> Samples {
    let mut out = Samples::new().with_label("url", config.url.as_str());
    let t = &r.timings;
    for (phase, ms) in [
        ("dns", t.dns_ms),
        ("connect", t.connect_ms),
        ("tls", t.tls_ms),
        ("first_byte", t.first_byte_ms),
        ("total", t.total_ms),
    ] {
        out.add("sonde.http.check.duration", ms / 1000.0, "s")
            .label("phase", phase);
    }
    out.add("sonde.http.check.status_code", f64::from(r.status), "1");
    if let Some(m) = matched {
        out.add("sonde.http.check.regex_match", flag(m), "1");
    }
    let up = config.status_is_up(r.status) && matched != Some(false);
    out.add("sonde.http.check.up", flag(up), "1");
    out
}

/// Samples for a request that got no response.
pub fn failure(config: &Config, kind: &str) -> Samples {
    let mut out = Samples::new().with_label("url", config.url.as_str());
    out.add("sonde.http.check.up", 0.0, "1");
    out.add("sonde.http.check.error", 1.0, "1")
        .label("kind", kind);
    out
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
    use sonde_probe::http::Timings;
    use sonde_probe::Params;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Params::of::<crate::HttpCheck>(pairs)
            .and_then(|p| crate::config::parse(&p))
            .expect("config")
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

    fn value(samples: &Samples, name: &str) -> Option<f64> {
        samples.find(name, &[]).map(|s| s.value)
    }

    #[test]
    fn ok_response_is_up_with_timings_and_url_label() {
        let c = config(&[("url", "http://x/")]);
        let s = response(&c, &resp(200), None);
        assert_eq!(value(&s, "sonde.http.check.up"), Some(1.0));
        assert_eq!(value(&s, "sonde.http.check.status_code"), Some(200.0));
        assert_eq!(value(&s, "sonde.http.check.regex_match"), None);
        let total = s
            .find("sonde.http.check.duration", &[("phase", "total")])
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
        assert_eq!(s[1].label_value("kind"), Some("timeout"));
    }
}
