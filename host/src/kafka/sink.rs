//! [`KafkaSink`]: the [`Sink`] that spools each run to disk and lets the delivery thread
//! send it to Kafka.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::producer::BaseProducer;
use sonde_message::RunMessage;

use super::context::{Signals, SpoolContext};
use super::delivery::{Driver, KafkaProducer};
use super::link::Link;
use super::publish_times::PublishTimes;
use super::settings::{Settings, DEFAULT_IN_FLIGHT_MESSAGES};
use super::spool::{Spool, DEFAULT_SEGMENT_BYTES};
use crate::output::Sink;
use crate::telemetry::DeliveryMetrics;

/// Publishes runs to Kafka through the on-disk spool.
///
/// Guarantee: at-least-once from `publish` to the topic. A run is on disk when `publish`
/// returns (it survives a crash of the host, and a power failure once synced, within
/// [`super::delivery::SYNC_INTERVAL`]); it is removed only after the broker acknowledged it
/// (acks=all). Runs are dropped only when the spool exceeds its size cap (oldest first,
/// counted and logged) or cannot be written at all (logged as an error per run).
pub struct KafkaSink {
    spool: Arc<Mutex<Spool>>,
    signals: Arc<Signals>,
    stop: Arc<Mutex<Option<Instant>>>,
    driver: Mutex<Option<JoinHandle<()>>>,
    spool_max_bytes: u64,
    dropped: AtomicU64,
    times: Arc<PublishTimes>,
    metrics: DeliveryMetrics,
}

impl KafkaSink {
    /// Open the spool (replaying what an earlier run left in it) and start delivering.
    /// Fails only on local problems (spool directory, invalid librdkafka settings); an
    /// unreachable broker is not an error: runs are spooled until it comes back.
    pub fn start(settings: &Settings) -> anyhow::Result<Self> {
        Self::start_counted(settings, DeliveryMetrics::default())
    }

    /// [`KafkaSink::start`], counting deliveries and spool figures in `metrics`.
    pub fn start_counted(settings: &Settings, metrics: DeliveryMetrics) -> anyhow::Result<Self> {
        for warning in settings.warnings() {
            tracing::warn!("{warning}");
        }
        let (spool, recovery) = Spool::open(
            &settings.spool_dir,
            settings.spool_max_bytes,
            DEFAULT_SEGMENT_BYTES,
        )
        .with_context(|| {
            format!(
                "cannot open the spool directory {}",
                settings.spool_dir.display()
            )
        })?;
        if recovery.torn_bytes > 0 {
            tracing::warn!(
                "spool {}: cut {} bytes of a record torn by a crash",
                settings.spool_dir.display(),
                recovery.torn_bytes
            );
        }
        tracing::info!(
            "Kafka output to {} topic `{}`, spool {} ({} messages from an earlier run to replay)",
            settings.brokers,
            settings.topic,
            settings.spool_dir.display(),
            recovery.pending
        );
        let signals = Arc::new(Signals::default());
        let config = settings.client_config();
        let make_producer = {
            let signals = signals.clone();
            move || -> Result<KafkaProducer, rdkafka::error::KafkaError> {
                BaseProducer::from_config_and_context(
                    &config,
                    SpoolContext {
                        signals: signals.clone(),
                    },
                )
            }
        };
        let producer =
            make_producer().context("invalid Kafka producer settings (check --kafka-option)")?;
        let spool = Arc::new(Mutex::new(spool));
        let stop = Arc::new(Mutex::new(None));
        let times = Arc::new(PublishTimes::default());
        let driver = Driver {
            spool: spool.clone(),
            signals: signals.clone(),
            producer,
            make_producer: Box::new(make_producer),
            topic: settings.topic.clone(),
            window: DEFAULT_IN_FLIGHT_MESSAGES,
            link: Link::new(
                &settings.brokers,
                &settings.topic,
                settings.tls.ca.as_deref(),
            ),
            stop: stop.clone(),
            times: times.clone(),
            metrics: metrics.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("kafka-delivery".into())
            .spawn(move || driver.run())
            .context("cannot start the Kafka delivery thread")?;
        signals.push(|p| p.appended = recovery.pending > 0);
        Ok(KafkaSink {
            spool,
            signals,
            stop,
            driver: Mutex::new(Some(handle)),
            spool_max_bytes: settings.spool_max_bytes,
            dropped: AtomicU64::new(0),
            times,
            metrics,
        })
    }

    /// Set the spool gauges; called when the metrics are scraped.
    pub fn refresh_metrics(&self) {
        let (pending, bytes) = {
            let spool = self.spool.lock().unwrap_or_else(|e| e.into_inner());
            (spool.pending(), spool.bytes())
        };
        let m = &self.metrics;
        m.spool_messages.set(pending as f64);
        m.spool_bytes.set(bytes as f64);
        let age = if pending == 0 {
            Duration::ZERO
        } else {
            self.times.oldest_age(Instant::now())
        };
        m.spool_oldest_age.set(age.as_secs_f64());
    }

    /// Messages spooled and not yet acknowledged by the broker.
    pub fn pending(&self) -> u64 {
        self.spool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pending()
    }

    /// Messages dropped because the spool was over its cap (since start).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Sink for KafkaSink {
    fn publish(&self, msg: RunMessage) {
        let appended = {
            let mut spool = self.spool.lock().unwrap_or_else(|e| e.into_inner());
            let appended = spool.append(msg.key().as_bytes(), &msg.encode());
            // Under the spool lock: the delivery thread cannot send (and acknowledge) the
            // message before its time is recorded.
            if let Ok((seq, dropped)) = &appended {
                self.times.dropped_oldest(*dropped);
                self.times.appended(*seq, Instant::now());
            }
            appended
        };
        match appended {
            Ok((_, 0)) => {}
            Ok((_, dropped)) => {
                self.metrics.runs_dropped.increment(dropped);
                let total = self.dropped.fetch_add(dropped, Ordering::Relaxed) + dropped;
                tracing::warn!(
                    "spool is over its cap of {} bytes: dropped the {dropped} oldest undelivered runs ({total} since start)",
                    self.spool_max_bytes
                );
            }
            Err(e) => {
                self.metrics.runs_dropped.increment(1);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(run_id = %msg.run_id, "run lost: cannot write it to the spool: {e}");
                return;
            }
        }
        self.signals.push(|p| p.appended = true);
    }

    /// Deliver what the broker takes within `timeout`; the rest stays in the spool for the next start.
    fn shutdown(&self, timeout: Duration) -> anyhow::Result<()> {
        *self.stop.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + timeout);
        self.signals.push(|_| {});
        let handle = self.driver.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                anyhow::bail!(
                    "the Kafka delivery thread panicked; undelivered runs stay in the spool"
                );
            }
        }
        let left = self.pending();
        if left > 0 {
            tracing::warn!(
                "{left} runs not yet delivered stay in the spool and are sent on the next start"
            );
        }
        Ok(())
    }
}

impl Drop for KafkaSink {
    fn drop(&mut self) {
        // Without a shutdown call, stop the delivery thread at once; the spool keeps everything.
        if self.driver.get_mut().map(|d| d.is_some()).unwrap_or(false) {
            let _ = self.shutdown(Duration::ZERO);
        }
    }
}
