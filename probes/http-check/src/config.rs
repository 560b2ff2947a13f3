//! The http-check job params, validated once per run (cheap) with messages that
//! name the param.

pub const DEFAULT_TIMEOUT_MS: u32 = 5_000;
pub const DEFAULT_MAX_BODY_BYTES: u32 = 1024 * 1024;

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

pub fn parse(params: &[(String, String)]) -> Result<Config, String> {
    let mut url = None;
    let mut config = Config {
        url: String::new(),
        regex: None,
        method: "GET".into(),
        timeout_ms: DEFAULT_TIMEOUT_MS,
        expect_status: None,
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
    };
    for (name, value) in params {
        match name.as_str() {
            "url" => {
                let v = value.trim();
                let lower = v.to_ascii_lowercase();
                if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                    return Err(format!(
                        "param url: {v:?} is not an http:// or https:// URL"
                    ));
                }
                url = Some(v.to_string());
            }
            "regex" => config.regex = Some(value.clone()),
            "method" => {
                let m = value.trim().to_ascii_uppercase();
                if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(format!("param method: {value:?} is not an HTTP method"));
                }
                config.method = m;
            }
            "timeout_ms" => {
                config.timeout_ms = match value.trim().parse::<u32>() {
                    Ok(t) if t > 0 => t,
                    _ => {
                        return Err(format!(
                            "param timeout_ms: {value:?} is not a positive integer"
                        ))
                    }
                }
            }
            "expect_status" => {
                config.expect_status = match value.trim().parse::<u16>() {
                    Ok(s) if (100..=599).contains(&s) => Some(s),
                    _ => {
                        return Err(format!(
                            "param expect_status: {value:?} is not an HTTP status (100-599)"
                        ))
                    }
                }
            }
            "max_body_bytes" => {
                config.max_body_bytes = value.trim().parse::<u32>().map_err(|_| {
                    format!("param max_body_bytes: {value:?} is not a byte count (0-4294967295)")
                })?
            }
            other => {
                return Err(format!(
                    "unknown param {other:?} (http-check takes: url, regex, method, timeout_ms, \
                     expect_status, max_body_bytes)"
                ))
            }
        }
    }
    config.url = url.ok_or("param url is required (the address to check)")?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults() {
        let c = parse(&params(&[("url", "https://example.com/")])).expect("config");
        assert_eq!(c.method, "GET");
        assert_eq!(c.timeout_ms, 5000);
        assert_eq!(c.max_body_bytes, 1 << 20);
        assert!(c.status_is_up(200) && c.status_is_up(302));
        assert!(!c.status_is_up(404) && !c.status_is_up(500) && !c.status_is_up(101));
    }

    #[test]
    fn expect_status_is_exact() {
        let c = parse(&params(&[("url", "http://x/"), ("expect_status", "404")])).expect("config");
        assert!(c.status_is_up(404));
        assert!(!c.status_is_up(200));
    }

    #[test]
    fn bad_params_are_named() {
        let cases = [
            (vec![], "url is required"),
            (vec![("url", "ftp://x/")], "param url"),
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
            let err = parse(&params(&p)).expect_err(needle);
            assert!(err.contains(needle), "{err}");
        }
    }
}
