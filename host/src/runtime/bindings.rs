//! The one `bindgen!` for world `probe` (`../wit/probe.wit`). Private to the crate:
//! the rest of the host speaks in its own types.
//!
//! Imports are trappable: the outer `Result` is a trap (a host failure or a limit),
//! the inner WIT `result` is the probe's business (e.g. `http-error::not-allowed`).

wasmtime::component::bindgen!({
    world: "probe",
    path: "../wit",
    imports: {
        "sonde:probe/http.fetch": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

pub use sonde::probe::host_metrics;
pub use sonde::probe::http as wit_http;
pub use sonde::probe::log as wit_log;
pub use sonde::probe::types;
