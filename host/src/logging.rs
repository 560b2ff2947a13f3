//! Logs go to stderr (stdout carries JSON lines when no broker is configured).

pub use sonde_telemetry::LogFormat;

/// `verbose`: 0 = info, 1 = debug, 2+ = trace. `RUST_LOG` overrides.
pub fn init(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    sonde_telemetry::logs::init(format, default);
}
