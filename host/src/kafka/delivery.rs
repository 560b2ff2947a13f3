//! The delivery thread: reads the spool in order, hands a bounded window of messages to
//! librdkafka, and acknowledges each in the spool only when its delivery report succeeds.
//!
//! On a failed delivery it purges librdkafka's queue, waits for the messages still in flight,
//! and reads the spool again from the oldest unacknowledged message, so one key's messages
//! are never overtaken by later ones. During an outage that repeats after a backoff; the
//! messages wait on disk, not in memory.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, PurgeConfig};

use super::context::{Report, Signals, SpoolContext};
use super::link::{Level, Link, Observation};
use super::publish_times::PublishTimes;
use super::spool::Spool;
use super::wake::WakingProducer;
use crate::telemetry::DeliveryMetrics;

/// How soon after a run is spooled or acknowledged the spool is fsynced and its cursor
/// saved: the power-failure loss window. The sync runs when everything handed to librdkafka
/// is acknowledged (at most twice per interval), or when the oldest change reaches this age.
/// So a host publishing a burst every second syncs on the wake-up that brought the burst's
/// acknowledgements, and with nothing to sync and nothing waiting for delivery there is no
/// timer at all: an idle host's delivery thread sleeps until its next run.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(1000);
/// How long the thread sleeps with nothing to sync, nothing in backoff and no stop asked.
const IDLE_WAIT: Duration = Duration::from_secs(3600);
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Served by the delivery thread itself when its main queue signals events (see
/// [`super::wake`]): rdkafka's `ThreadedProducer` polls in 100 ms slices whose last
/// sub-millisecond is a busy loop, which alone cost more CPU than everything else an idle
/// host does, and polling on a timer while messages are in flight wakes for nothing.
pub type KafkaProducer = BaseProducer<SpoolContext>;

/// Events served per wake-up (one event can carry many delivery reports); if more are
/// waiting the thread comes straight back for them.
const EVENTS_PER_WAKE: usize = 1024;

/// What a delivery report means for its message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Keep it in the spool and send it again later, in order.
    Retry(Option<Observation>),
    /// Can never be delivered (e.g. larger than the broker accepts): log and remove it.
    Reject(String),
    /// The idempotent producer hit a fatal error: make a new producer, then retry.
    Fatal(String),
}

pub fn verdict(result: &Result<(), (KafkaError, String)>) -> Verdict {
    let Err((err, _key)) = result else {
        return Verdict::Delivered;
    };
    use RDKafkaErrorCode as C;
    match err.rdkafka_error_code() {
        Some(C::PurgeQueue | C::PurgeInflight) => Verdict::Retry(None),
        Some(C::UnknownTopic | C::UnknownTopicOrPartition) => {
            Verdict::Retry(Some(Observation::UnknownTopic))
        }
        Some(
            C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::InvalidMessage
            | C::InvalidRecord
            | C::MessageBatchTooLarge,
        ) => Verdict::Reject(err.to_string()),
        // The producer id or epoch is no longer accepted (seen with tansu after librdkafka bumps
        // the epoch following message timeouts): only a new producer, with a new id, gets through.
        Some(
            C::Fatal
            | C::ProducerFenced
            | C::InvalidProducerEpoch
            | C::OutOfOrderSequenceNumber
            | C::UnknownProducerId
            | C::InvalidProducerIdMapping,
        ) => Verdict::Fatal(err.to_string()),
        _ => Verdict::Retry(Some(Observation::Failed(err.to_string()))),
    }
}

/// A client-level error, as the connection state sees it.
pub fn client_error(code: RDKafkaErrorCode, reason: &str) -> Option<Observation> {
    let tls = code == RDKafkaErrorCode::SSL
        || code == RDKafkaErrorCode::Authentication
        || reason.contains("SSL")
        || reason.contains("certificate");
    if tls {
        Some(Observation::Tls(reason.to_owned()))
    } else if code == RDKafkaErrorCode::AllBrokersDown {
        Some(Observation::Unreachable(reason.to_owned()))
    } else {
        None
    }
}

pub struct Driver {
    pub spool: Arc<Mutex<Spool>>,
    pub signals: Arc<Signals>,
    pub producer: WakingProducer,
    pub make_producer: Box<dyn Fn() -> Result<KafkaProducer, KafkaError> + Send>,
    pub topic: String,
    pub window: usize,
    pub link: Link,
    /// Set by shutdown: stop once the spool is empty or at this instant.
    pub stop: Arc<Mutex<Option<Instant>>>,
    pub times: Arc<PublishTimes>,
    pub metrics: DeliveryMetrics,
}

impl Driver {
    pub fn run(mut self) {
        let mut in_flight = 0usize;
        let mut failing = false;
        let mut resume_at = Instant::now();
        let mut backoff = MIN_BACKOFF;
        let mut last_sync = Instant::now();
        // After a failed sync, the next attempt waits a whole interval.
        let mut sync_retry_at = Instant::now();
        loop {
            let now = Instant::now();
            // Delivery reports, new runs and shutdown wake the thread; the timer is for the
            // sync, the end of a backoff and the shutdown deadline.
            let (dirty_since, undelivered) = {
                let spool = self.spool.lock().unwrap_or_else(|e| e.into_inner());
                (spool.dirty_since(), spool.pending() > 0)
            };
            let mut wait = match dirty_since {
                Some(t) => (t + SYNC_INTERVAL)
                    .max(sync_retry_at)
                    .saturating_duration_since(now),
                // While runs wait for delivery the thread still looks every interval: a
                // resend after refusals was seen to stall without it (a wake-up that never
                // came), until the shutdown deadline.
                None if undelivered => SYNC_INTERVAL,
                None => IDLE_WAIT,
            };
            if now < resume_at {
                wait = wait.min(resume_at - now);
            }
            if let Some(d) = *self.stop.lock().unwrap_or_else(|e| e.into_inner()) {
                wait = wait.min(d.saturating_duration_since(now));
            }
            if !self.producer.serve(EVENTS_PER_WAKE) {
                wait = Duration::ZERO;
            }
            let pending = self.signals.take(wait);
            let spool_lock = self.spool.clone();
            let mut spool = spool_lock.lock().unwrap_or_else(|e| e.into_inner());
            let mut fatal = None;
            for Report { seq, result } in pending.reports {
                in_flight = in_flight.saturating_sub(1);
                let outcome = verdict(&result);
                self.count(seq, &outcome);
                match outcome {
                    Verdict::Delivered => {
                        spool.ack(seq);
                        backoff = MIN_BACKOFF;
                        self.log(Observation::Delivered, spool.pending());
                    }
                    Verdict::Retry(obs) => {
                        if !failing {
                            tracing::debug!(
                                seq,
                                in_flight,
                                "delivery failed, taking back what is queued: {result:?}"
                            );
                            failing = true;
                            // Later messages must not overtake this one: take them back too.
                            self.producer.client.purge(PurgeConfig::default().queue());
                        }
                        if let Some(obs) = obs {
                            self.log(obs, spool.pending());
                        }
                    }
                    Verdict::Reject(why) => {
                        spool.ack(seq);
                        let key = result.err().map(|(_, k)| k).unwrap_or_default();
                        tracing::error!(
                            seq,
                            key,
                            "Kafka refuses this message for good, removed from the spool: {why}"
                        );
                    }
                    Verdict::Fatal(why) => fatal = Some(why),
                }
            }
            for (code, reason) in pending.errors {
                if let Some(obs) = client_error(code, &reason) {
                    self.log(obs, spool.pending());
                }
            }
            if let Some(why) =
                fatal.or_else(|| self.producer.client.client().fatal_error().map(|(_, s)| s))
            {
                tracing::warn!("Kafka producer failed ({why}); starting a new one and resending from the spool");
                drop(spool);
                if let Err(e) = self.replace_producer() {
                    tracing::error!("cannot create a new Kafka producer: {e}; retrying");
                    resume_at = Instant::now() + MAX_BACKOFF;
                }
                in_flight = 0;
                failing = false;
                spool = spool_lock.lock().unwrap_or_else(|e| e.into_inner());
                spool.rewind();
            }
            if failing && in_flight == 0 {
                tracing::debug!(
                    pending = spool.pending(),
                    ?backoff,
                    "resending from the oldest unacknowledged message"
                );
                spool.rewind();
                failing = false;
                resume_at = Instant::now() + backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            let deadline = *self.stop.lock().unwrap_or_else(|e| e.into_inner());
            if !failing
                && Instant::now() >= resume_at
                && deadline.is_none_or(|d| Instant::now() < d)
            {
                let sent = self.fill(
                    &mut spool,
                    self.window.saturating_sub(in_flight),
                    &mut failing,
                );
                if sent > 0 {
                    tracing::debug!(sent, in_flight, "handed to librdkafka");
                }
                in_flight += sent;
            }
            let now = Instant::now();
            let sync_due = spool.dirty_since().is_some_and(|t| {
                now.saturating_duration_since(t) >= SYNC_INTERVAL
                    || (in_flight == 0 && now - last_sync >= SYNC_INTERVAL / 2)
            });
            if sync_due && now >= sync_retry_at {
                last_sync = now;
                if let Err(e) = spool.sync() {
                    tracing::error!("cannot sync the spool: {e}");
                    sync_retry_at = now + SYNC_INTERVAL;
                }
            }
            if let Some(d) = deadline {
                if spool.pending() == 0 || Instant::now() >= d {
                    if let Err(e) = spool.sync() {
                        tracing::error!("cannot sync the spool: {e}");
                    }
                    break;
                }
            }
        }
        // Dropping the producer purges what it still holds; those messages stay spooled.
    }

    /// Hand up to `room` spooled messages to librdkafka; returns how many it took.
    fn fill(&self, spool: &mut Spool, room: usize, failing: &mut bool) -> usize {
        let mut sent = 0;
        while sent < room {
            let (seq, rec) = match spool.read_next() {
                Ok(Some(next)) => next,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!("cannot read the spool: {e}");
                    *failing = true;
                    break;
                }
            };
            let record = BaseRecord::with_opaque_to(&self.topic, seq as usize)
                .key(&rec.key)
                .payload(&rec.value);
            match self.producer.client.send(record) {
                Ok(()) => sent += 1,
                Err((e, _))
                    if e.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge) =>
                {
                    spool.ack(seq);
                    self.count(seq, &Verdict::Reject(e.to_string()));
                    let key = String::from_utf8_lossy(&rec.key);
                    tracing::error!(seq, %key, "message is larger than message.max.bytes, removed from the spool: {e}");
                }
                Err((e, _)) => {
                    // Not taken (queue full or similar): read it again after what is in flight.
                    tracing::debug!(seq, "librdkafka did not take the message: {e}");
                    *failing = true;
                    self.producer.client.purge(PurgeConfig::default().queue());
                    break;
                }
            }
        }
        sent
    }

    fn replace_producer(&mut self) -> Result<(), KafkaError> {
        let fresh = WakingProducer::new((self.make_producer)()?, &self.signals.wake);
        // The old producer's purge reports arrive while it is dropped; they are stale.
        drop(std::mem::replace(&mut self.producer, fresh));
        drop(self.signals.take(Duration::ZERO));
        Ok(())
    }

    /// Metrics of one delivery report.
    fn count(&self, seq: u64, verdict: &Verdict) {
        let m = &self.metrics;
        match verdict {
            Verdict::Delivered => {
                m.connected.set(1.0);
                if let Some(latency) = self.times.removed(seq, Instant::now()) {
                    m.latency.record(latency.as_secs_f64());
                }
            }
            // Our own purge after an earlier failure: not a failure of its own.
            Verdict::Retry(None) => {}
            Verdict::Retry(Some(_)) | Verdict::Fatal(_) => {
                m.connected.set(0.0);
                m.errors.increment(1);
            }
            Verdict::Reject(_) => {
                self.times.removed(seq, Instant::now());
                m.errors.increment(1);
            }
        }
    }

    fn log(&mut self, obs: Observation, pending: u64) {
        if matches!(
            obs,
            Observation::Unreachable(_) | Observation::Tls(_) | Observation::UnknownTopic
        ) {
            self.metrics.connected.set(0.0);
        }
        match self.link.observe(&obs, pending) {
            Some((Level::Info, line)) => tracing::info!("{line}"),
            Some((Level::Warn, line)) => tracing::warn!("{line}"),
            Some((Level::Error, line)) => tracing::error!("{line}"),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: RDKafkaErrorCode) -> Result<(), (KafkaError, String)> {
        Err((KafkaError::MessageProduction(code), "h/p".into()))
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(&Ok(())), Verdict::Delivered);
        assert_eq!(
            verdict(&err(RDKafkaErrorCode::PurgeQueue)),
            Verdict::Retry(None)
        );
        assert_eq!(
            verdict(&err(RDKafkaErrorCode::UnknownTopic)),
            Verdict::Retry(Some(Observation::UnknownTopic))
        );
        assert!(matches!(
            verdict(&err(RDKafkaErrorCode::MessageTimedOut)),
            Verdict::Retry(Some(Observation::Failed(_)))
        ));
        assert!(matches!(
            verdict(&err(RDKafkaErrorCode::MessageSizeTooLarge)),
            Verdict::Reject(_)
        ));
        assert!(matches!(
            verdict(&err(RDKafkaErrorCode::Fatal)),
            Verdict::Fatal(_)
        ));
        assert!(matches!(
            verdict(&err(RDKafkaErrorCode::ProducerFenced)),
            Verdict::Fatal(_)
        ));
    }

    #[test]
    fn client_errors() {
        let tls = client_error(
            RDKafkaErrorCode::BrokerTransportFailure,
            "ssl://b:1/bootstrap: SSL handshake failed",
        );
        assert!(matches!(tls, Some(Observation::Tls(_))));
        assert!(matches!(
            client_error(RDKafkaErrorCode::AllBrokersDown, "1/1 brokers are down"),
            Some(Observation::Unreachable(_))
        ));
        assert_eq!(
            client_error(RDKafkaErrorCode::BrokerTransportFailure, "Disconnected"),
            None
        );
    }
}
