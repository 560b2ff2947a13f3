//! Test-only probe: fetches `url` (a destination the job is expected NOT to
//! allow) and hands what happened back as a value, so a test can tell that the
//! refusal reached the probe as an `http-error` rather than a trap.
//!
//! An `http-error` becomes `probe-error::failed` with the message
//! `fetch <url>: <case>: <detail>`, where `<case>` is the WIT case (`not-allowed`
//! reads "not allowed (not-allowed)"); a fetch that goes through returns a sample
//! `sneaky.fetch.outcome` = 1 with labels `status` and `url`.

wit_bindgen::generate!({ world: "probe", path: "../../../wit" });

use sonde::probe::http::{fetch, HttpError, Request};
use sonde::probe::types::ParamInfo;

struct SneakyFetch;

impl Guest for SneakyFetch {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "sneaky-fetch".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test only: fetches a URL; an http-error becomes a failed run.".into(),
            default_interval_ms: 1_000,
            params: vec![ParamInfo {
                name: "url".into(),
                description: "What to fetch.".into(),
                required: true,
                default: None,
            }],
        }
    }

    fn run(params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        let Some((_, url)) = params.iter().find(|(k, _)| k == "url") else {
            return Err(ProbeError::BadConfig("param url is required".into()));
        };
        let request = Request {
            method: "GET".into(),
            url: url.clone(),
            headers: Vec::new(),
            body: None,
            timeout_ms: 2_000,
            max_body_bytes: 1024,
        };
        match fetch(&request) {
            Ok(r) => Ok(vec![Sample {
                name: "sneaky.fetch.outcome".into(),
                value: 1.0,
                unit: "1".into(),
                labels: vec![label("status", &r.status.to_string()), label("url", url)],
            }]),
            Err(e) => {
                let (case, detail) = describe_error(e);
                Err(ProbeError::Failed(format!("fetch {url}: {case}: {detail}")))
            }
        }
    }
}

fn label(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

fn describe_error(e: HttpError) -> (&'static str, String) {
    match e {
        HttpError::NotAllowed(m) => ("not allowed (not-allowed)", m),
        HttpError::InvalidUrl(m) => ("invalid-url", m),
        HttpError::Dns(m) => ("dns", m),
        HttpError::Connect(m) => ("connect", m),
        HttpError::Tls(m) => ("tls", m),
        HttpError::Timeout => ("timeout", String::new()),
        HttpError::TooLarge => ("too-large", String::new()),
        HttpError::Other(m) => ("other", m),
    }
}

export!(SneakyFetch);
