//! Test-only hostile probe: returns `count` samples (default 1,000,000), far more
//! than a host's `max_samples` should accept.

wit_bindgen::generate!({ world: "probe", path: "../../../wit" });

use sonde::probe::types::ParamInfo;

struct Flood;

impl Guest for Flood {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "flood".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test only: returns a million samples.".into(),
            default_interval_ms: 1_000,
            params: vec![ParamInfo {
                name: "count".into(),
                description: "How many samples to return.".into(),
                required: false,
                default: Some("1000000".into()),
            }],
        }
    }

    fn run(params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        let mut count: u32 = 1_000_000;
        for (name, value) in &params {
            match (name.as_str(), value.trim().parse::<u32>()) {
                ("count", Ok(c)) => count = c,
                _ => {
                    return Err(ProbeError::BadConfig(format!(
                        "param {name}={value:?}: flood takes count=<integer>"
                    )))
                }
            }
        }
        Ok((0..count)
            .map(|i| Sample {
                name: "flood.sample".into(),
                value: f64::from(i),
                unit: "1".into(),
                labels: Vec::new(),
            })
            .collect())
    }
}

export!(Flood);
