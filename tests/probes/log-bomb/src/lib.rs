//! Test-only hostile probe: logs one message of `bytes` bytes (default 8 MiB) per run,
//! far past the host's per-call output budget; the host must refuse it before copying
//! it (the log import only keeps 2 KiB of a message anyway).

wit_bindgen::generate!({ world: "probe", path: "../../../wit" });

use sonde::probe::log::{log, Level};
use sonde::probe::types::ParamInfo;

struct LogBomb;

impl Guest for LogBomb {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "log-bomb".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test only: logs one huge message per run.".into(),
            default_interval_ms: 1_000,
            params: vec![ParamInfo {
                name: "bytes".into(),
                description: "Size of the message.".into(),
                required: false,
                default: Some("8388608".into()),
            }],
        }
    }

    fn run(params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        let bytes = size_param(&params, 8 << 20)?;
        log(Level::Info, &"L".repeat(bytes));
        Ok(vec![Sample {
            name: "log_bomb.logged".into(),
            value: bytes as f64,
            unit: "By".into(),
            labels: Vec::new(),
        }])
    }
}

fn size_param(params: &[(String, String)], default: usize) -> Result<usize, ProbeError> {
    match params.iter().find(|(k, _)| k == "bytes") {
        None => Ok(default),
        Some((_, v)) => v
            .trim()
            .parse()
            .map_err(|_| ProbeError::BadConfig(format!("bytes={v:?}: not a size"))),
    }
}

export!(LogBomb);
