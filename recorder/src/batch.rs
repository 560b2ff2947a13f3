//! The in-memory batch between Kafka and one PostgreSQL transaction, and the pure
//! decision of when to write it.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sonde_message::RunMessage;
use uuid::Uuid;

/// When a batch is written: whichever limit is reached first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Samples (measurement rows) plus dead letters.
    pub max_rows: usize,
    /// Raw Kafka payload bytes.
    pub max_bytes: usize,
    /// Age of the oldest message in the batch.
    pub max_delay: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_rows: 50_000,
            max_bytes: 64 << 20,
            max_delay: Duration::from_millis(500),
        }
    }
}

/// Should a batch holding `rows` rows and `bytes` payload bytes, whose oldest message
/// arrived `age` ago, be written now? An empty batch never is. `end_of_backlog`: the batch
/// before this one was written because it was full, and now everything fetched is in this
/// one; it is written at once instead of waiting out the age limit, which stays for a
/// trickle of messages to collect.
pub fn should_flush(
    rows: usize,
    bytes: usize,
    age: Duration,
    end_of_backlog: bool,
    limits: &BatchLimits,
) -> bool {
    if rows == 0 && bytes == 0 {
        return false;
    }
    end_of_backlog
        || rows >= limits.max_rows
        || bytes >= limits.max_bytes
        || age >= limits.max_delay
}

/// One topic partition.
pub type Partition = (String, i32);

/// The class of a dead letter PostgreSQL refused (found by splitting its batch).
pub const REFUSED_BY_POSTGRES: &str = "postgres";

/// A payload refused (by `decode`, or by PostgreSQL), kept verbatim with the reason.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub payload: Vec<u8>,
    pub reason: String,
    /// [`DecodeError::class`] (`json`, `version` or `invalid`), or [`REFUSED_BY_POSTGRES`].
    pub class: &'static str,
}

/// A decoded run with where it came from, and its payload in case PostgreSQL refuses it.
#[derive(Debug, Clone)]
pub struct Run {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub message: RunMessage,
    pub payload: Vec<u8>,
}

/// Messages consumed but not yet committed to PostgreSQL.
#[derive(Debug, Default)]
pub struct Batch {
    pub runs: Vec<Run>,
    pub dead_letters: Vec<DeadLetter>,
    /// Per partition, the offset to resume from once this batch is committed.
    pub next_offsets: BTreeMap<Partition, i64>,
    samples: usize,
    bytes: usize,
    messages: usize,
    first_at: Option<Instant>,
    run_ids: HashSet<Uuid>,
}

impl Batch {
    /// Add one Kafka message. A run already in this batch (same `run_id`) only advances the offset.
    pub fn push(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        payload: &[u8],
        now: DateTime<Utc>,
    ) {
        self.first_at.get_or_insert_with(Instant::now);
        self.bytes += payload.len();
        self.messages += 1;
        self.next_offsets
            .insert((topic.to_owned(), partition), offset + 1);
        match sonde_message::decode(payload, now) {
            Ok(message) => {
                if self.run_ids.insert(message.run_id) {
                    self.samples += message.samples.len();
                    self.runs.push(Run {
                        topic: topic.to_owned(),
                        partition,
                        offset,
                        message,
                        payload: payload.to_vec(),
                    });
                }
            }
            Err(e) => self.dead_letters.push(DeadLetter {
                topic: topic.to_owned(),
                partition,
                offset,
                payload: payload.to_vec(),
                reason: e.to_string(),
                class: e.class(),
            }),
        }
    }

    /// Rows this batch will write (samples + runs + dead letters).
    pub fn rows(&self) -> usize {
        self.samples + self.runs.len() + self.dead_letters.len()
    }

    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Kafka messages consumed into this batch (duplicates included).
    pub fn messages(&self) -> usize {
        self.messages
    }

    pub fn is_empty(&self) -> bool {
        self.next_offsets.is_empty()
    }

    /// At the row or byte limit (the age limit aside).
    pub fn is_full(&self, limits: &BatchLimits) -> bool {
        self.rows() >= limits.max_rows || self.bytes >= limits.max_bytes
    }

    /// See [`should_flush`].
    pub fn should_flush(&self, end_of_backlog: bool, limits: &BatchLimits) -> bool {
        let age = self.first_at.map(|t| t.elapsed()).unwrap_or_default();
        !self.is_empty() && should_flush(self.rows(), self.bytes, age, end_of_backlog, limits)
    }

    /// Time until the age limit is reached, `None` when empty.
    pub fn time_left(&self, limits: &BatchLimits) -> Option<Duration> {
        self.first_at
            .map(|t| limits.max_delay.saturating_sub(t.elapsed()))
    }

    /// Forget everything consumed from `partitions` (revoked: the next owner redoes it from
    /// the offsets in PostgreSQL).
    pub fn drop_partitions(&mut self, partitions: &HashSet<Partition>) {
        let gone = |t: &str, p: i32| partitions.contains(&(t.to_owned(), p));
        self.runs.retain(|r| !gone(&r.topic, r.partition));
        self.dead_letters.retain(|d| !gone(&d.topic, d.partition));
        self.next_offsets.retain(|(t, p), _| !gone(t, *p));
        self.samples = self.runs.iter().map(|r| r.message.samples.len()).sum();
        self.run_ids = self.runs.iter().map(|r| r.message.run_id).collect();
        self.bytes = 0; // only used as a flush trigger; an underestimate is harmless
        self.messages = self.runs.len() + self.dead_letters.len(); // only used in log lines
        if self.next_offsets.is_empty() {
            self.first_at = None;
        }
    }

    pub fn take(&mut self) -> Batch {
        std::mem::take(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BatchLimits = BatchLimits {
        max_rows: 100,
        max_bytes: 1000,
        max_delay: Duration::from_millis(500),
    };

    #[test]
    fn flush_decision_table() {
        let ms = Duration::from_millis;
        let cases = [
            // rows, bytes, age, end of a backlog, flush?
            (0, 0, ms(10_000), true, false),
            (1, 10, ms(0), false, false),
            (99, 999, ms(499), false, false),
            (100, 10, ms(0), false, true),
            (1, 1000, ms(0), false, true),
            (1, 10, ms(500), false, true),
            (0, 10, ms(600), false, true),
            (5000, 0, ms(0), false, true),
            (1, 10, ms(0), true, true),
        ];
        for (rows, bytes, age, end_of_backlog, want) in cases {
            assert_eq!(
                should_flush(rows, bytes, age, end_of_backlog, &LIMITS),
                want,
                "{rows} rows {bytes} B {age:?} end of backlog {end_of_backlog}"
            );
        }
    }

    fn message(samples: usize) -> RunMessage {
        let mut m = RunMessage::new("h", "cpu", "0.1.0", "cpu", Utc::now());
        for i in 0..samples {
            m.samples.push(sonde_message::Sample {
                name: format!("m{i}"),
                value: i as f64,
                unit: "1".into(),
                labels: Default::default(),
            });
        }
        m
    }

    #[test]
    fn push_counts_dedups_and_dead_letters() {
        let mut b = Batch::default();
        let m = message(3);
        b.push("t", 0, 5, &m.encode(), Utc::now());
        b.push("t", 0, 6, &m.encode(), Utc::now()); // same run again: offset only
        b.push("t", 1, 9, b"{not json", Utc::now());
        assert_eq!(b.runs.len(), 1);
        assert_eq!(b.samples(), 3);
        assert_eq!(b.dead_letters.len(), 1);
        assert!(b.dead_letters[0].reason.contains("invalid JSON"));
        assert_eq!(b.next_offsets[&("t".to_string(), 0)], 7);
        assert_eq!(b.next_offsets[&("t".to_string(), 1)], 10);
        assert_eq!(b.rows(), 3 + 1 + 1);
    }

    #[test]
    fn dropping_a_partition_forgets_its_rows_and_offsets() {
        let mut b = Batch::default();
        b.push("t", 0, 0, &message(2).encode(), Utc::now());
        b.push("t", 1, 0, &message(4).encode(), Utc::now());
        b.drop_partitions(&[("t".to_string(), 1)].into());
        assert_eq!(b.samples(), 2);
        assert_eq!(b.next_offsets.len(), 1);
        b.drop_partitions(&[("t".to_string(), 0)].into());
        assert!(b.is_empty());
        assert_eq!(b.time_left(&LIMITS), None);
    }
}
