//! `http-check` probe: is a URL up, how fast, and does its body match a regex.
//!
//! Params: `url` (required), `regex` (optional, `regex` crate syntax, matched
//! against the first `max_body_bytes` of the body as bytes), `method` (`GET`),
//! `timeout_ms` (5000), `expect_status` (default: any 2xx or 3xx is up; else that
//! exact code), `max_body_bytes` (1 MiB). Redirects are not followed.
//!
//! Samples, all labelled `url`, under Sonde's own `sonde.http.check.*` names (a
//! check is not an instrumented HTTP client, so OpenTelemetry's `http.*` names do
//! not apply):
//! - `sonde.http.check.duration` (s) with `phase` = `dns`, `connect`, `tls`,
//!   `first_byte`, `total` (times from the host; `tls` is 0 for plain HTTP);
//! - `sonde.http.check.status_code` (1);
//! - `sonde.http.check.regex_match` (1): 1 or 0, only when `regex` is given;
//! - `sonde.http.check.up` (1): 1 when the status is as expected and, with `regex`,
//!   the body matched; else 0.
//!
//! When the request gets no response (DNS, connect, TLS, timeout, head too
//! large, other), the run still succeeds: the target is down, not the probe. It
//! reports `sonde.http.check.up` = 0 and `sonde.http.check.error` = 1 with label `kind`
//! (`dns`, `connect`, `tls`, `timeout`, `too_large`, `other`), and logs the
//! message at `warn`. A URL the job's allow-list refuses, or one the host cannot
//! parse, fails the run as `bad-config`: the job is misconfigured.
//!
//! The compiled regex is kept in the instance between runs (keyed by pattern).

mod config;
mod report;

use regex::bytes::Regex;
use sonde_probe::http::{self, HttpError, Request};
use sonde_probe::{log, Info, Params, Probe, ProbeError, Samples};

#[derive(Default)]
struct HttpCheck {
    /// The regex of the previous run, compiled, with its pattern.
    compiled: Option<(String, Regex)>,
}

impl Probe for HttpCheck {
    fn describe() -> Info {
        Info::new(
            "http-check",
            "Checks an HTTP(S) URL: up/down, status, timings, optional body regex.",
        )
        .interval_ms(30_000)
        .required("url", "The http:// or https:// URL to check.")
        .param(
            "regex",
            "A regex the body must match for the check to be up.",
        )
        .param_default("method", "GET", "HTTP method.")
        .param_default(
            "timeout_ms",
            "5000",
            "Whole-request timeout in milliseconds.",
        )
        .param(
            "expect_status",
            "The status that means up; unset: any 2xx or 3xx.",
        )
        .param_default(
            "max_body_bytes",
            "1048576",
            "Read at most this much of the body (the regex sees only that).",
        )
    }

    fn run(&mut self, params: &Params) -> Result<Samples, ProbeError> {
        let config = config::parse(params)?;
        let regex = config
            .regex
            .as_deref()
            .map(|pattern| self.compiled(pattern))
            .transpose()?;
        let request = Request {
            method: config.method.clone(),
            url: config.url.clone(),
            headers: Vec::new(),
            body: None,
            timeout_ms: config.timeout_ms,
            max_body_bytes: config.max_body_bytes,
        };
        match http::fetch(&request) {
            Ok(response) => {
                let matched = regex.map(|r| r.is_match(&response.body));
                if response.truncated && matched == Some(false) {
                    log::info(&format!(
                        "{}: body cut at {} bytes; the regex saw only that part",
                        config.url, config.max_body_bytes
                    ));
                }
                Ok(report::response(&config, &response, matched))
            }
            Err(HttpError::NotAllowed(reason)) => Err(ProbeError::BadConfig(format!(
                "{} is not allowed for this job: {reason}",
                config.url
            ))),
            Err(HttpError::InvalidUrl(reason)) => {
                Err(ProbeError::BadConfig(format!("param url: {reason}")))
            }
            Err(error) => {
                let (kind, message) = report::error_kind(&error);
                log::warn(&format!("{}: {message}", config.url));
                Ok(report::failure(&config, kind))
            }
        }
    }
}

impl HttpCheck {
    /// The regex for `pattern`, compiled once and reused while the pattern is unchanged.
    fn compiled(&mut self, pattern: &str) -> Result<Regex, ProbeError> {
        if let Some((cached, regex)) = &self.compiled {
            if cached == pattern {
                return Ok(regex.clone());
            }
        }
        let regex =
            Regex::new(pattern).map_err(|e| ProbeError::BadConfig(format!("param regex: {e}")))?;
        self.compiled = Some((pattern.to_string(), regex.clone()));
        Ok(regex)
    }
}

sonde_probe::export!(HttpCheck);
