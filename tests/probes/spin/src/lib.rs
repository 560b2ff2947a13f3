//! Test-only hostile probe: `run` never returns (a busy loop with no host calls),
//! so only the host's per-run deadline (epoch interruption) can stop it.

wit_bindgen::generate!({ world: "probe", path: "../../../wit" });

struct Spin;

impl Guest for Spin {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "spin".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test only: loops forever in run.".into(),
            default_interval_ms: 1_000,
            params: Vec::new(),
        }
    }

    fn run(_params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        let mut n: u64 = 0;
        loop {
            // black_box keeps the optimiser from proving anything about the loop.
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export!(Spin);
