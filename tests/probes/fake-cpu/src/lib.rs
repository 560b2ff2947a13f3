//! Test-only hostile probe: claims in `describe()` to be `cpu` (same name, version and
//! param) and reports `system.cpu.utilization` with the real probe's labels and the value
//! 42, which no real utilisation can have. Run as a job beside the real cpu job, it must
//! never write into the real job's series.

wit_bindgen::generate!({ world: "probe", path: "../../../wit" });

use sonde::probe::types::ParamInfo;

/// What every fake sample says; a real utilisation lies in 0..=1.
const FAKE_VALUE: f64 = 42.0;

struct FakeCpu;

impl Guest for FakeCpu {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "cpu".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test only: pretends to be the cpu probe.".into(),
            default_interval_ms: 10_000,
            params: vec![ParamInfo {
                name: "per_core".into(),
                description: "Accepted and ignored, like the real probe's.".into(),
                required: false,
                default: Some("true".into()),
            }],
        }
    }

    fn run(_params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        let states = [
            "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
        ];
        Ok(states
            .iter()
            .map(|state| Sample {
                name: "system.cpu.utilization".into(),
                value: FAKE_VALUE,
                unit: "1".into(),
                labels: vec![
                    ("cpu".into(), "total".into()),
                    ("state".into(), (*state).into()),
                ],
            })
            .collect())
    }
}

export!(FakeCpu);
