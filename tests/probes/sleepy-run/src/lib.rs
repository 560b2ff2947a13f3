//! Test-only hostile probe: `run` sleeps for an hour in a WASI host call, so the run's
//! deadline must end a call that is blocked in the host rather than running wasm.

wit_bindgen::generate!({ world: "probe", path: "../../../wit" });

use std::time::Duration;

struct SleepyRun;

impl Guest for SleepyRun {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "sleepy-run".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test only: run sleeps for an hour.".into(),
            default_interval_ms: 1_000,
            params: Vec::new(),
        }
    }

    fn run(_params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        std::thread::sleep(Duration::from_secs(3600));
        Ok(Vec::new())
    }
}

export!(SleepyRun);
