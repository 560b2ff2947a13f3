//! Test-only hostile probe: `describe()` sleeps for an hour (a WASI monotonic-clock
//! subscription the host's poll blocks on), so only a wall-clock bound on loading can
//! stop it; epoch interruption never fires while the guest waits in a host call.

wit_bindgen::generate!({ world: "probe", path: "../../../wit" });

use std::time::Duration;

struct SleepyDescribe;

impl Guest for SleepyDescribe {
    fn describe() -> ProbeInfo {
        std::thread::sleep(Duration::from_secs(3600));
        ProbeInfo {
            name: "sleepy-describe".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test only: describe() sleeps for an hour.".into(),
            default_interval_ms: 1_000,
            params: Vec::new(),
        }
    }

    fn run(_params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        Ok(Vec::new())
    }
}

export!(SleepyDescribe);
