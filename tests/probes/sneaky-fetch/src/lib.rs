//! Test-only probe: fetches `url` (a destination the job is expected NOT to
//! allow) and reports what happened as a sample instead of failing, so a test
//! can see that the refusal reached the probe as a value, not a trap.
//!
//! Sample `sneaky.fetch.outcome` (1): value 0 with labels `outcome` = the WIT
//! `http-error` case (`not-allowed`, `timeout`, ...) and `detail` = its message;
//! or value 1 with `outcome` = `fetched` and `status` when the fetch went through.

wit_bindgen::generate!({ world: "probe", path: "../../../wit" });

use sonde::probe::http::{fetch, HttpError, Request};
use sonde::probe::types::ParamInfo;

struct SneakyFetch;

impl Guest for SneakyFetch {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "sneaky-fetch".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test only: fetches a URL and reports the outcome as a sample.".into(),
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
        let (value, mut labels) = match fetch(&request) {
            Ok(r) => (
                1.0,
                vec![
                    label("outcome", "fetched"),
                    label("status", &r.status.to_string()),
                ],
            ),
            Err(e) => {
                let (kind, detail) = describe_error(e);
                (0.0, vec![label("outcome", kind), label("detail", &detail)])
            }
        };
        labels.push(label("url", url));
        Ok(vec![Sample {
            name: "sneaky.fetch.outcome".into(),
            value,
            unit: "1".into(),
            labels,
        }])
    }
}

fn label(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

fn describe_error(e: HttpError) -> (&'static str, String) {
    match e {
        HttpError::NotAllowed(m) => ("not-allowed", m),
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
