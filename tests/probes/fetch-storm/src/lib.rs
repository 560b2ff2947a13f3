//! Test-only hostile probe: calls `fetch` `count` times in one run (to find the per-run
//! fetch and byte caps), each asking for as much body as the host gives, optionally
//! with a header the host must refuse. It declares a 1 ms default interval, which the
//! host must refuse rather than honour.
//!
//! `url` may contain `{n}` (replaced by the fetch's index, for distinct host names).
//! Samples: `storm.fetch.ok`, `storm.fetch.bytes` (body bytes received),
//! `storm.fetch.run_limit` (refused by a run cap), `storm.fetch.invalid_request`,
//! `storm.fetch.other_errors`; the first error text is the `first_error` label.

wit_bindgen::generate!({ world: "probe", path: "../../../wit" });

use sonde::probe::http::{fetch, HttpError, Request};
use sonde::probe::types::ParamInfo;

struct FetchStorm;

fn param(name: &str, description: &str, default: Option<&str>) -> ParamInfo {
    ParamInfo {
        name: name.into(),
        description: description.into(),
        required: default.is_none(),
        default: default.map(str::to_string),
    }
}

impl Guest for FetchStorm {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "fetch-storm".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test only: many fetches in one run, 1 ms default interval.".into(),
            default_interval_ms: 1,
            params: vec![
                param("url", "What to fetch; {n} is the fetch's index.", None),
                param("count", "Fetches per run.", Some("1000")),
                param(
                    "timeout_ms",
                    "Per fetch (0: the host's maximum).",
                    Some("2000"),
                ),
                param("header", "`Name: value` sent with every fetch.", Some("")),
            ],
        }
    }

    fn run(params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let number = |k: &str| {
            get(k)
                .parse::<u32>()
                .map_err(|_| ProbeError::BadConfig(format!("{k} is not a number")))
        };
        let (url, count, timeout_ms) = (get("url"), number("count")?, number("timeout_ms")?);
        let headers = match get("header").split_once(':') {
            Some((k, v)) => vec![(k.trim().to_string(), v.trim().to_string())],
            None => Vec::new(),
        };
        let (mut ok, mut bytes, mut run_limit, mut invalid, mut other) = (0, 0u64, 0, 0, 0);
        let mut first_error = String::new();
        for n in 0..count {
            let request = Request {
                method: "GET".into(),
                url: url.replace("{n}", &n.to_string()),
                headers: headers.clone(),
                body: None,
                timeout_ms,
                max_body_bytes: u32::MAX,
            };
            match fetch(&request) {
                Ok(r) => {
                    ok += 1;
                    bytes += r.body.len() as u64;
                }
                Err(e) => {
                    let text = match e {
                        HttpError::Other(m) => m,
                        HttpError::NotAllowed(m) => format!("not-allowed: {m}"),
                        HttpError::Timeout => "timeout".into(),
                        e => format!("{e:?}"),
                    };
                    if text.starts_with("run limit") {
                        run_limit += 1;
                    } else if text.starts_with("invalid request") {
                        invalid += 1;
                    } else {
                        other += 1;
                    }
                    if first_error.is_empty() {
                        first_error = text;
                    }
                }
            }
        }
        let sample = |name: &str, value: f64| Sample {
            name: format!("storm.fetch.{name}"),
            value,
            unit: "1".into(),
            labels: vec![("first_error".into(), first_error.clone())],
        };
        Ok(vec![
            sample("ok", ok as f64),
            sample("bytes", bytes as f64),
            sample("run_limit", run_limit as f64),
            sample("invalid_request", invalid as f64),
            sample("other_errors", other as f64),
        ])
    }
}

export!(FetchStorm);
