//! The librdkafka callbacks: delivery reports and client errors become [`Signals`]
//! for the delivery thread; librdkafka's own log lines go to debug level because the
//! delivery thread logs state changes itself (librdkafka repeats them on every retry).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::ProducerContext;

use super::wake::WakeFd;

/// One delivery report: the spool sequence number and, on failure, the error and the key.
#[derive(Debug)]
pub struct Report {
    pub seq: u64,
    pub result: Result<(), (KafkaError, String)>,
}

/// What happened since the delivery thread last looked.
#[derive(Debug, Default)]
pub struct Pending {
    pub reports: Vec<Report>,
    /// Client-level errors (code, reason), e.g. all brokers down or a TLS failure.
    pub errors: Vec<(RDKafkaErrorCode, String)>,
    /// New messages were spooled.
    pub appended: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.reports.is_empty() && self.errors.is_empty() && !self.appended
    }
}

/// Mailbox between publishers, librdkafka's callbacks and the delivery thread. The thread
/// sleeps on `wake`, which librdkafka's main queue also writes to (see [`super::wake`]).
#[derive(Debug)]
pub struct Signals {
    pending: Mutex<Pending>,
    pub wake: WakeFd,
}

impl Signals {
    pub fn new() -> std::io::Result<Self> {
        Ok(Signals {
            pending: Mutex::new(Pending::default()),
            wake: WakeFd::new()?,
        })
    }

    /// Record something for the delivery thread and wake it.
    pub fn push(&self, f: impl FnOnce(&mut Pending)) {
        self.record(f);
        self.wake.notify();
    }

    /// Record something without waking the delivery thread: for delivery reports, which
    /// librdkafka hands over on that thread while it serves events.
    fn record(&self, f: impl FnOnce(&mut Pending)) {
        f(&mut self.pending.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Wait up to `timeout` for something to happen, then take it all.
    pub fn take(&self, timeout: Duration) -> Pending {
        let quiet = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        // A push after the check above has written the eventfd, so the wait returns at once.
        if quiet {
            self.wake.wait(timeout);
        }
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

pub struct SpoolContext {
    pub signals: Arc<Signals>,
}

impl ClientContext for SpoolContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        tracing::debug!(?level, "librdkafka {fac}: {log_message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail);
        self.signals
            .push(|p| p.errors.push((code, reason.to_owned())));
    }
}

impl ProducerContext for SpoolContext {
    /// The message's spool sequence number.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        let result = match result {
            Ok(_) => Ok(()),
            Err((e, msg)) => Err((
                e.clone(),
                String::from_utf8_lossy(msg.key().unwrap_or_default()).into_owned(),
            )),
        };
        self.signals.record(|p| {
            p.reports.push(Report {
                seq: seq as u64,
                result,
            })
        });
    }
}
