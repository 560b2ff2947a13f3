//! Test-only hostile probe: allocates and touches memory in 16 MiB chunks until it
//! holds `bytes` (default 4 GiB, more than a wasm32 instance can ever have), so
//! the host's memory limit must stop it. When growth is refused the allocator
//! fails and the instance traps (out of memory aborts); the probe never returns
//! that failure politely.

wit_bindgen::generate!({ world: "probe", path: "../../../wit" });

use sonde::probe::types::ParamInfo;

const CHUNK_BYTES: usize = 16 * 1024 * 1024;

struct Membomb;

impl Guest for Membomb {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "membomb".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test only: allocates and touches memory until stopped.".into(),
            default_interval_ms: 1_000,
            params: vec![ParamInfo {
                name: "bytes".into(),
                description: "How much to allocate.".into(),
                required: false,
                default: Some("4294967296".into()),
            }],
        }
    }

    fn run(params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        let mut target: u64 = 4 << 30;
        for (name, value) in &params {
            match (name.as_str(), value.trim().parse::<u64>()) {
                ("bytes", Ok(b)) => target = b,
                _ => {
                    return Err(ProbeError::BadConfig(format!(
                        "param {name}={value:?}: membomb takes bytes=<integer>"
                    )))
                }
            }
        }
        let mut held: Vec<Vec<u8>> = Vec::new();
        let mut total: u64 = 0;
        while total < target {
            // A non-zero fill writes every page, so the memory is really used.
            held.push(std::hint::black_box(vec![0xA5u8; CHUNK_BYTES]));
            total += CHUNK_BYTES as u64;
        }
        Ok(vec![Sample {
            name: "membomb.allocated".into(),
            value: std::hint::black_box(&held).len() as f64 * CHUNK_BYTES as f64,
            unit: "By".into(),
            labels: Vec::new(),
        }])
    }
}

export!(Membomb);
