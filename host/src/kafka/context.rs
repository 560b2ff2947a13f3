//! The librdkafka callbacks: delivery reports and client errors become [`Signals`]
//! for the delivery thread; librdkafka's own log lines go to debug level because the
//! delivery thread logs state changes itself (librdkafka repeats them on every retry).

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::ProducerContext;

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

/// Mailbox between publishers, librdkafka's callbacks and the delivery thread.
#[derive(Debug, Default)]
pub struct Signals {
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Signals {
    pub fn push(&self, f: impl FnOnce(&mut Pending)) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut p);
        self.wake.notify_one();
    }

    /// Wait up to `timeout` for something to happen, then take it all.
    pub fn take(&self, timeout: Duration) -> Pending {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.reports.is_empty() && p.errors.is_empty() && !p.appended {
            p = self
                .wake
                .wait_timeout(p, timeout)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        std::mem::take(&mut *p)
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
        self.signals.push(|p| {
            p.reports.push(Report {
                seq: seq as u64,
                result,
            })
        });
    }
}
