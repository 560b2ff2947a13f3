//! Test-only hostile probe: calls `http.fetch` with `bytes` bytes (default 8 MiB) of
//! request headers and body to a destination no job allows. The host must refuse the
//! arguments before copying them, not after checking the allow-list.

wit_bindgen::generate!({ world: "probe", path: "../../../wit" });

use sonde::probe::http::{fetch, Request};
use sonde::probe::types::ParamInfo;

struct FetchBomb;

impl Guest for FetchBomb {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "fetch-bomb".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test only: fetch with huge headers and body.".into(),
            default_interval_ms: 1_000,
            params: vec![ParamInfo {
                name: "bytes".into(),
                description: "Bytes of headers plus body.".into(),
                required: false,
                default: Some("8388608".into()),
            }],
        }
    }

    fn run(params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        let bytes: usize = match params.iter().find(|(k, _)| k == "bytes") {
            None => 8 << 20,
            Some((_, v)) => v
                .trim()
                .parse()
                .map_err(|_| ProbeError::BadConfig(format!("bytes={v:?}: not a size")))?,
        };
        // Half in 1 KiB header values, half in the body.
        let header_value = "h".repeat(1024);
        let headers = (0..bytes / 2 / 1024)
            .map(|i| (format!("x-bomb-{i}"), header_value.clone()))
            .collect();
        let request = Request {
            method: "POST".into(),
            url: "http://192.0.2.1/never-allowed".into(),
            headers,
            body: Some(vec![b'b'; bytes / 2]),
            timeout_ms: 1_000,
            max_body_bytes: 1024,
        };
        let outcome = match fetch(&request) {
            Ok(r) => format!("status {}", r.status),
            Err(e) => format!("{e:?}"),
        };
        Err(ProbeError::Failed(format!("fetch returned: {outcome}")))
    }
}

export!(FetchBomb);
