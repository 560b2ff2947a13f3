//! The http-check job params, validated once per run (cheap) with messages that
//! name the param.

use sonde_probe::{bad_param, Params, ProbeError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub url: String,
    pub regex: Option<String>,
    pub method: String,
    pub timeout_ms: u32,
    /// `None`: any 2xx or 3xx is up.
    pub expect_status: Option<u16>,
    pub max_body_bytes: u32,
}

impl Config {
    pub fn status_is_up(&self, status: u16) -> bool {
        match self.expect_status {
            Some(expected) => status == expected,
            None => (200..400).contains(&status),
        }
    }
}

pub fn parse(params: &Params) -> Result<Config, ProbeError> {
    let url: String = params.require("url")?;
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(bad_param("url", url, "an http:// or https:// URL"));
    }
    let method = params
        .require::<String>("method")?
        .trim()
        .to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad_param("method", &method, "an HTTP method"));
    }
    Ok(Config {
        url: url.to_string(),
        regex: params.get("regex")?,
        method,
        timeout_ms: params.require_if("timeout_ms", |t| *t > 0, "a positive integer")?,
        expect_status: params.get_if(
            "expect_status",
            |s| (100..=599).contains(s),
            "an HTTP status (100-599)",
        )?,
        max_body_bytes: params.require("max_body_bytes")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ProbeError> {
        Params::of::<crate::HttpCheck>(pairs).and_then(|p| parse(&p))
    }

    #[test]
    fn defaults() {
        let c = config(&[("url", "https://example.com/")]).expect("config");
        assert_eq!(c.method, "GET");
        assert_eq!(c.timeout_ms, 5000);
        assert_eq!(c.max_body_bytes, 1 << 20);
        assert!(c.status_is_up(200) && c.status_is_up(302));
        assert!(!c.status_is_up(404) && !c.status_is_up(500) && !c.status_is_up(101));
    }

    #[test]
    fn expect_status_is_exact() {
        let c = config(&[("url", "http://x/"), ("expect_status", "404")]).expect("config");
        assert!(c.status_is_up(404));
        assert!(!c.status_is_up(200));
    }

    #[test]
    fn bad_params_are_named() {
        let cases = [
            (vec![], "param url is required"),
            (vec![("url", "ftp://x/")], "param url: \"ftp://x/\""),
            (
                vec![("url", "http://x/"), ("timeout_ms", "0")],
                "timeout_ms",
            ),
            (
                vec![("url", "http://x/"), ("timeout_ms", "-5")],
                "timeout_ms",
            ),
            (
                vec![("url", "http://x/"), ("expect_status", "99")],
                "expect_status",
            ),
            (vec![("url", "http://x/"), ("method", "GE T")], "method"),
            (
                vec![("url", "http://x/"), ("max_body_bytes", "1e9")],
                "max_body_bytes",
            ),
            (vec![("url", "http://x/"), ("colour", "red")], "colour"),
        ];
        for (p, needle) in cases {
            match config(&p) {
                Err(ProbeError::BadConfig(e)) => assert!(e.contains(needle), "{e}"),
                other => panic!("{p:?}: {other:?}"),
            }
        }
    }
}
