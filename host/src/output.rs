//! Where finished runs go: a [`Sink`]. JSON lines on stdout by default, Kafka when configured.

mod pretty;

use std::io::Write;
use std::time::Duration;

use sonde_message::RunMessage;

/// Receives every finished run, ok or error.
///
/// `publish` must not block for long: the scheduler calls it from its run tasks.
/// A sink that cannot deliver right away keeps the message (memory queue or disk spool);
/// it never drops one silently.
pub trait Sink: Send + Sync {
    fn publish(&self, msg: RunMessage);
    /// Deliver what is pending, waiting at most `timeout`. Called once, at shutdown.
    fn shutdown(&self, timeout: Duration) -> anyhow::Result<()>;
}

/// How [`StdoutSink`] prints a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The run's message on one line, as it would be published: for pipes and scripts.
    #[default]
    Json,
    /// One readable line per sample: for a person at a terminal.
    Pretty,
}

/// Runs on stdout, in `format`.
#[derive(Debug, Default)]
pub struct StdoutSink {
    pub format: Format,
}

impl Sink for StdoutSink {
    fn publish(&self, msg: RunMessage) {
        let mut line = match self.format {
            Format::Json => msg.encode(),
            Format::Pretty => pretty::lines(&msg).join("\n").into_bytes(),
        };
        line.push(b'\n');
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(&line).and_then(|()| out.flush()) {
            tracing::error!(run_id = %msg.run_id, "cannot write run to stdout: {e}");
        }
    }

    fn shutdown(&self, _timeout: Duration) -> anyhow::Result<()> {
        std::io::stdout().lock().flush()?;
        Ok(())
    }
}
