//! [`KafkaSink`]: the [`Sink`] that spools each run to disk and lets the delivery thread
//! send it to Kafka.

use std::collections::HashMap;
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
use super::spool::{location, Appended, Recovery, Spool, DEFAULT_SEGMENT_BYTES};
use super::wake::WakingProducer;
use crate::output::Sink;
use crate::telemetry::DeliveryMetrics;

/// Segments are at most this fraction of the cap, so the cap drops old runs in slices.
const SEGMENTS_PER_CAP: u64 = 16;
const MIN_SEGMENT_BYTES: u64 = 64 * 1024;

/// Segment size for a spool capped at `max_bytes`.
pub fn segment_bytes(max_bytes: u64) -> u64 {
    (max_bytes / SEGMENTS_PER_CAP).clamp(MIN_SEGMENT_BYTES, DEFAULT_SEGMENT_BYTES)
}

/// Publishes runs to Kafka through the on-disk spool.
///
/// Guarantee: at-least-once from `publish` to the topic. A run is on disk when `publish`
/// returns (it survives a crash of the host, and a power failure once synced, within
/// [`super::delivery::SYNC_INTERVAL`]); it is removed only after the broker acknowledged it
/// (acks=all). Runs are dropped only when the spool is over half full and their job holds
/// more than its share, when the spool exceeds its size cap (oldest first), or when it
/// cannot be written at all; each is counted and logged.
pub struct KafkaSink {
    spool: Arc<Mutex<Spool>>,
    signals: Arc<Signals>,
    stop: Arc<Mutex<Option<Instant>>>,
    driver: Mutex<Option<JoinHandle<()>>>,
    spool_max_bytes: u64,
    dropped: AtomicU64,
    times: Arc<PublishTimes>,
    metrics: DeliveryMetrics,
    /// Jobs whose runs are being refused as over their share, with how many so far.
    over_share: Mutex<HashMap<String, u64>>,
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
        if let Some(line) = location::stray_spool_warning(&settings.spool_dir) {
            tracing::warn!("{line}");
        }
        let (spool, recovery) = Spool::open(
            &settings.spool_dir,
            settings.spool_max_bytes,
            segment_bytes(settings.spool_max_bytes),
        )
        .with_context(|| {
            format!(
                "cannot open the spool directory {}",
                settings.spool_dir.display()
            )
        })?;
        log_recovery(&settings.spool_dir, &recovery);
        tracing::info!(
            "Kafka output to {} topic `{}`, spool {} ({} messages from an earlier run to replay)",
            settings.brokers,
            settings.topic,
            settings.spool_dir.display(),
            recovery.pending
        );
        let signals = Arc::new(
            Signals::new().context("cannot create the Kafka delivery thread's wake-up fd")?,
        );
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
        let producer = WakingProducer::new(
            make_producer().context("invalid Kafka producer settings (check --kafka-option)")?,
            &signals.wake,
        );
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
            over_share: Mutex::new(HashMap::new()),
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

    /// Messages dropped since start: over the cap, over their job's share, or unwritable.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn count_dropped(&self, n: u64) -> u64 {
        self.metrics.runs_dropped.increment(n);
        self.dropped.fetch_add(n, Ordering::Relaxed) + n
    }

    /// Log a job's runs being refused once when it starts and once when it ends.
    fn note_share(&self, job: &str, refused: Option<(u64, u64)>) {
        let mut over = self.over_share.lock().unwrap_or_else(|e| e.into_inner());
        match refused {
            Some((job_bytes, share_bytes)) => {
                let count = over.entry(job.to_owned()).or_insert(0);
                *count += 1;
                if *count == 1 {
                    tracing::warn!(
                        "spool over half full and job `{job}` holds {job_bytes} bytes of it, more than its share of {share_bytes}: \
                         its new runs are dropped until it is back under (other jobs' runs are kept)"
                    );
                }
            }
            None => {
                if let Some(count) = over.remove(job) {
                    tracing::warn!(
                        "job `{job}` is back under its spool share; {count} of its runs were dropped"
                    );
                }
            }
        }
    }
}

fn log_recovery(dir: &std::path::Path, r: &Recovery) {
    let dir = dir.display();
    if r.converted > 0 {
        tracing::info!(
            "spool {dir}: converted {} segments written by the previous release",
            r.converted
        );
    }
    if r.torn_bytes > 0 {
        tracing::warn!(
            "spool {dir}: cut {} bytes of records torn by a crash or a failed write",
            r.torn_bytes
        );
    }
    if r.damaged_bytes > 0 || r.lost > 0 {
        tracing::error!(
            "spool {dir}: {} damaged bytes skipped, {} undelivered runs lost with them; every whole run after them is kept",
            r.damaged_bytes,
            r.lost
        );
    }
}

impl Sink for KafkaSink {
    fn publish(&self, msg: RunMessage) {
        let appended = {
            let mut spool = self.spool.lock().unwrap_or_else(|e| e.into_inner());
            let appended = spool.append(&msg.job, msg.key().as_bytes(), &msg.encode());
            // Under the spool lock: the delivery thread cannot send (and acknowledge) the
            // message before its time is recorded.
            if let Ok(Appended::Stored { seq, evicted }) = &appended {
                self.times.dropped_oldest(*evicted);
                self.times.appended(*seq, Instant::now());
            }
            appended
        };
        match appended {
            Ok(Appended::Stored { evicted, .. }) => {
                self.note_share(&msg.job, None);
                if evicted > 0 {
                    let total = self.count_dropped(evicted);
                    tracing::warn!(
                        "spool is over its cap of {} bytes: dropped the {evicted} oldest undelivered runs ({total} since start)",
                        self.spool_max_bytes
                    );
                }
            }
            Ok(Appended::OverShare {
                job_bytes,
                share_bytes,
            }) => {
                self.count_dropped(1);
                self.note_share(&msg.job, Some((job_bytes, share_bytes)));
                return;
            }
            Err(e) => {
                let total = self.count_dropped(1);
                tracing::error!(run_id = %msg.run_id, job = %msg.job, "run lost: cannot write it to the spool ({total} dropped since start): {e}");
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
