//! The recorder's Prometheus metrics: every name, its help text and its buckets, in one
//! place. The consumer, the pipeline and the writer get small handles and never see the
//! registry. `Default` handles count nowhere (library use, tests).
//!
//! Consumer lag: the committed offset is the recorder's own (stored in PostgreSQL with the
//! rows), the high watermark is what the broker last reported in a fetch response
//! (librdkafka statistics). Lag is their difference and is exported only while it is
//! plausible: a watermark below the committed offset is evidently wrong (the local
//! broker, tansu, reports such watermarks), and then the partition has no lag series
//! rather than a wrong one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sonde_telemetry::{Counter, Gauge, Histogram, Readiness, Registry};

use crate::batch::{Partition, REFUSED_BY_POSTGRES};

/// Batch write time, seconds: tens of milliseconds normally, long while PostgreSQL is away.
const BATCH_SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

pub const MESSAGES_CONSUMED: &str = "sonde_recorder_messages_consumed_total";
pub const ROWS_WRITTEN: &str = "sonde_recorder_rows_written_total";
pub const DUPLICATE_RUNS: &str = "sonde_recorder_duplicate_runs_total";
pub const BATCHES: &str = "sonde_recorder_batches_total";
pub const BATCH_DURATION: &str = "sonde_recorder_batch_duration_seconds";
pub const DEAD_LETTERS: &str = "sonde_recorder_dead_letters_total";
pub const POSTGRES_CONNECTED: &str = "sonde_recorder_postgres_connected";
pub const KAFKA_CONNECTED: &str = "sonde_recorder_kafka_connected";
pub const COMMITTED_OFFSET: &str = "sonde_recorder_committed_offset";
pub const HIGH_WATERMARK: &str = "sonde_recorder_high_watermark";
pub const LAG: &str = "sonde_recorder_lag_messages";
pub const BUILD_INFO: &str = "sonde_recorder_build_info";

/// The recorder's registry and the handles of its parts.
#[derive(Clone)]
pub struct Telemetry {
    pub registry: Registry,
    pub consumed: Counter,
    pub writes: WriteMetrics,
    pub partitions: PartitionMetrics,
    pub connected: Connected,
}

impl Telemetry {
    pub fn consumer(&self) -> ConsumerMetrics {
        ConsumerMetrics {
            connected: self.connected.clone(),
            partitions: self.partitions.clone(),
        }
    }

    pub fn new() -> anyhow::Result<Telemetry> {
        let r = Registry::new(&[(BATCH_DURATION, BATCH_SECONDS)])?;
        r.gauge(
            BUILD_INFO,
            "Always 1; the version label says which recorder is running.",
            &[("version", env!("CARGO_PKG_VERSION"))],
        )
        .set(1.0);
        let rows = |table| {
            r.counter(
                ROWS_WRITTEN,
                "Rows committed to PostgreSQL, by table (probe_run, measurement, dead_letter).",
                &[("table", table)],
            )
        };
        let writes = WriteMetrics {
            runs: rows("probe_run"),
            samples: rows("measurement"),
            dead_letter_rows: rows("dead_letter"),
            duplicate_runs: r.counter(
                DUPLICATE_RUNS,
                "Runs consumed again and skipped because PostgreSQL already holds them.",
                &[],
            ),
            batches: r.counter(BATCHES, "Batches committed to PostgreSQL.", &[]),
            duration: r.histogram(
                BATCH_DURATION,
                "Time to commit one batch, retries and the wait for the batch before it included.",
                &[],
            ),
            dead_letters: Arc::new(
                ["json", "version", "invalid", REFUSED_BY_POSTGRES].map(|class| {
                    let c = r.counter(
                        DEAD_LETTERS,
                        "Messages stored in dead_letter, by reason class (json, version, invalid: refused by decode; postgres: refused by PostgreSQL).",
                        &[("reason", class)],
                    );
                    (class, c)
                }),
            ),
        };
        Ok(Telemetry {
            consumed: r.counter(MESSAGES_CONSUMED, "Kafka messages taken into a batch.", &[]),
            writes,
            partitions: PartitionMetrics {
                registry: Some(r.clone()),
                state: Arc::default(),
            },
            connected: Connected {
                postgres: (
                    r.gauge(
                        POSTGRES_CONNECTED,
                        "1 while the recorder has a working PostgreSQL session.",
                        &[],
                    ),
                    Arc::default(),
                ),
                kafka: (
                    r.gauge(
                        KAFKA_CONNECTED,
                        "1 while librdkafka reports at least one broker up.",
                        &[],
                    ),
                    Arc::default(),
                ),
                readiness: Some(Readiness::new("connecting to PostgreSQL and Kafka")),
            },
            registry: r,
        })
    }
}

/// Whether each end is connected; the recorder is ready when both are.
#[derive(Clone)]
pub struct Connected {
    postgres: (Gauge, Arc<AtomicBool>),
    kafka: (Gauge, Arc<AtomicBool>),
    readiness: Option<Readiness>,
}

impl Default for Connected {
    fn default() -> Self {
        Connected {
            postgres: (Gauge::noop(), Arc::default()),
            kafka: (Gauge::noop(), Arc::default()),
            readiness: None,
        }
    }
}

impl Connected {
    pub fn postgres(&self, up: bool) {
        Self::set(&self.postgres, up);
        self.update_readiness();
    }

    pub fn kafka(&self, up: bool) {
        Self::set(&self.kafka, up);
        self.update_readiness();
    }

    /// What `/readyz` answers.
    pub fn readiness(&self) -> Option<Readiness> {
        self.readiness.clone()
    }

    fn set((gauge, flag): &(Gauge, Arc<AtomicBool>), up: bool) {
        flag.store(up, Ordering::Relaxed);
        gauge.set(if up { 1.0 } else { 0.0 });
    }

    fn update_readiness(&self) {
        let Some(readiness) = &self.readiness else {
            return;
        };
        let pg = self.postgres.1.load(Ordering::Relaxed);
        let kafka = self.kafka.1.load(Ordering::Relaxed);
        match (pg, kafka) {
            (true, true) => readiness.set_ready(),
            (false, true) => readiness.set_not_ready("no PostgreSQL session"),
            (true, false) => readiness.set_not_ready("no Kafka broker up"),
            (false, false) => readiness.set_not_ready("no PostgreSQL session, no Kafka broker up"),
        }
    }
}

/// The consumer's handles.
#[derive(Clone, Default)]
pub struct ConsumerMetrics {
    pub connected: Connected,
    pub partitions: PartitionMetrics,
}

/// What committing batches adds up to.
#[derive(Clone)]
pub struct WriteMetrics {
    pub runs: Counter,
    pub samples: Counter,
    pub dead_letter_rows: Counter,
    pub duplicate_runs: Counter,
    pub batches: Counter,
    pub duration: Histogram,
    dead_letters: Arc<[(&'static str, Counter); 4]>,
}

impl WriteMetrics {
    /// A dead letter of reason class `class` was committed.
    pub fn dead_letter(&self, class: &str) {
        if let Some((_, c)) = self.dead_letters.iter().find(|(k, _)| *k == class) {
            c.increment(1);
        }
    }
}

impl Default for WriteMetrics {
    fn default() -> Self {
        WriteMetrics {
            runs: Counter::noop(),
            samples: Counter::noop(),
            dead_letter_rows: Counter::noop(),
            duplicate_runs: Counter::noop(),
            batches: Counter::noop(),
            duration: Histogram::noop(),
            dead_letters: Arc::new(
                ["json", "version", "invalid", REFUSED_BY_POSTGRES].map(|c| (c, Counter::noop())),
            ),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Offsets {
    committed: Option<i64>,
    high_watermark: Option<i64>,
    lag_exported: bool,
}

/// Per-partition offsets and the lag derived from them.
#[derive(Clone, Default)]
pub struct PartitionMetrics {
    registry: Option<Registry>,
    state: Arc<Mutex<HashMap<Partition, Offsets>>>,
}

impl PartitionMetrics {
    /// PostgreSQL now holds everything of `partition` below `next_offset`.
    pub fn committed(&self, partition: &Partition, next_offset: i64) {
        // Stored offsets only move forward; an older batch committing late changes nothing.
        self.update(partition, |o| {
            o.committed = Some(o.committed.map_or(next_offset, |c| c.max(next_offset)))
        });
    }

    /// The broker reported `high_watermark` for `partition`.
    pub fn high_watermark(&self, partition: &Partition, high_watermark: i64) {
        self.update(partition, |o| o.high_watermark = Some(high_watermark));
    }

    fn update(&self, partition: &Partition, f: impl FnOnce(&mut Offsets)) {
        let Some(r) = &self.registry else {
            return;
        };
        let offsets = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let o = state.entry(partition.clone()).or_default();
            f(o);
            o.lag_exported |= lag(*o).is_some();
            *o
        };
        let part = partition.1.to_string();
        let labels = [
            ("topic", partition.0.as_str()),
            ("partition", part.as_str()),
        ];
        let set = |name, help, value: f64| r.gauge(name, help, &labels).set(value);
        if let Some(c) = offsets.committed {
            set(
                COMMITTED_OFFSET,
                "Next offset to consume per partition, as committed to PostgreSQL with the rows.",
                c as f64,
            );
        }
        if let Some(h) = offsets.high_watermark {
            set(
                HIGH_WATERMARK,
                "High watermark per partition as the broker last reported it in a fetch response.",
                h as f64,
            );
        }
        if offsets.lag_exported {
            set(
                LAG,
                "High watermark minus committed offset, per partition; NaN while the broker's watermark is below the committed offset (not trustworthy).",
                lag(offsets).map_or(f64::NAN, |l| l as f64),
            );
        }
    }
}

/// Messages not yet in PostgreSQL, when both offsets are known and consistent.
fn lag(o: Offsets) -> Option<i64> {
    match (o.high_watermark, o.committed) {
        (Some(h), Some(c)) if h >= c => Some(h - c),
        // Nothing committed yet: everything up to the watermark is pending.
        (Some(h), None) if h >= 0 => Some(h),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_only_when_the_watermark_is_consistent() {
        let o = |h, c| Offsets {
            high_watermark: h,
            committed: c,
            lag_exported: false,
        };
        assert_eq!(lag(o(Some(10), Some(4))), Some(6));
        assert_eq!(lag(o(Some(4), Some(4))), Some(0));
        assert_eq!(
            lag(o(Some(3), Some(4))),
            None,
            "watermark behind what is committed"
        );
        assert_eq!(lag(o(Some(-1), None)), None, "unknown watermark");
        assert_eq!(lag(o(Some(7), None)), Some(7));
        assert_eq!(lag(o(None, Some(4))), None);
    }

    #[test]
    fn partitions_render_offsets_and_lag() {
        let t = Telemetry::new().unwrap();
        let p = ("sonde.m".to_owned(), 2);
        t.partitions.committed(&p, 40);
        t.partitions.high_watermark(&p, 45);
        t.writes.dead_letter("json");
        let q = ("sonde.m".to_owned(), 3);
        t.partitions.high_watermark(&q, 0);
        t.partitions.committed(&q, 9);
        let text = t.registry.render();
        for want in [
            r#"sonde_recorder_lag_messages{topic="sonde.m",partition="3"} NaN"#,
            r#"sonde_recorder_committed_offset{topic="sonde.m",partition="2"} 40"#,
            r#"sonde_recorder_high_watermark{topic="sonde.m",partition="2"} 45"#,
            r#"sonde_recorder_lag_messages{topic="sonde.m",partition="2"} 5"#,
            r#"sonde_recorder_dead_letters_total{reason="json"} 1"#,
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
    }
}
