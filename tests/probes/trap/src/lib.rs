//! Test-only hostile probe: traps in `run`. `how` = `panic` (default; probes are
//! built with panic=abort, so this is a wasm trap) or `unreachable` (the raw
//! `unreachable` instruction).

wit_bindgen::generate!({ world: "probe", path: "../../../wit" });

use sonde::probe::types::ParamInfo;

struct Trap;

impl Guest for Trap {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "trap".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test only: traps (panic or unreachable) in run.".into(),
            default_interval_ms: 1_000,
            params: vec![ParamInfo {
                name: "how".into(),
                description: "panic or unreachable".into(),
                required: false,
                default: Some("panic".into()),
            }],
        }
    }

    fn run(params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        let how = params
            .iter()
            .find(|(k, _)| k == "how")
            .map_or("panic", |(_, v)| v.as_str());
        match how {
            "panic" => panic!("the trap probe panics on purpose"),
            "unreachable" => unreachable_instruction(),
            other => Err(ProbeError::BadConfig(format!(
                "param how: {other:?} (use panic or unreachable)"
            ))),
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn unreachable_instruction() -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(not(target_arch = "wasm32"))]
fn unreachable_instruction() -> ! {
    std::process::abort()
}

export!(Trap);
