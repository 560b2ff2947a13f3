//! Logs on stderr (stdout may carry data): human-readable text, or one JSON object per
//! line for log shippers, with every tracing field kept as a key of its own.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event (colours only on a terminal).
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, message, the event's fields, its spans.
    Json,
}

/// The logging flags every Sonde binary takes.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// More logging (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Log lines on stderr as text, or as one JSON object per line.
    #[arg(
        long,
        value_enum,
        default_value_t = LogFormat::Text,
        env = "SONDE_LOG_FORMAT",
        global = true
    )]
    pub log_format: LogFormat,
}

impl LogArgs {
    /// Install the global subscriber. `filters` holds the default directive for each
    /// verbosity (none, -v, -vv); more -v than that uses the last one. `RUST_LOG` wins.
    pub fn init(&self, filters: &[&str]) {
        let filter = filters
            .get(usize::from(self.verbose))
            .or(filters.last())
            .copied()
            .unwrap_or("info");
        init(self.log_format, filter);
    }
}

/// Install the global subscriber. `default_filter` (an `EnvFilter` directive such as
/// `info`) applies unless `RUST_LOG` is set. A second call does nothing.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_target(true)
            .try_init(),
    };
}
