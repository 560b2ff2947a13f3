//! Where finished runs go: a [`Sink`]. JSON lines on stdout by default, Kafka when configured.

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

/// One JSON message per line on stdout.
#[derive(Debug, Default)]
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn publish(&self, msg: RunMessage) {
        let mut line = msg.encode();
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
