//! Logs go to stderr (stdout carries JSON lines when no broker is configured).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// `verbose`: 0 = info, 1 = debug, 2+ = trace. `RUST_LOG` overrides.
pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
