//! Overlap: batches are written to PostgreSQL while the next one fills from Kafka.
//!
//! One batch per session is in flight (`postgres.sessions`), so memory stays bounded and a
//! slow database slows consumption down instead of piling batches up. Batches commit in the
//! order they were consumed (see [`crate::turn`]): each waits for the one before it to
//! commit before it stores its offsets. Overlap is safe because writes are idempotent
//! (run_id de-dup, dead letters unique per offset) and stored offsets only move forward: a
//! batch that commits after its partitions were revoked adds nothing twice.
//!
//! A written batch is freed (a few hundred thousand small allocations) on a blocking thread
//! while the next one is written: the consuming loop only gets back what it acknowledges and
//! counts.

use std::collections::{BTreeMap, VecDeque};

use anyhow::{anyhow, Result};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::batch::{Batch, Partition, REFUSED_BY_POSTGRES};
use crate::consumer::RecorderConsumer;
use crate::telemetry::{PartitionMetrics, WriteMetrics};
use crate::turn::{self, Previous};
use crate::writer::{Writer, Written};

type Write = JoinHandle<(Writer, Committed, Result<Written>)>;

/// What the consuming loop needs of a batch once it is written.
struct Committed {
    next_offsets: BTreeMap<Partition, i64>,
    /// The class of each dead letter `decode` refused.
    dead_letter_classes: Vec<&'static str>,
}

impl Committed {
    /// What is kept of `batch`; the batch itself is freed off the critical path.
    fn of(batch: Batch) -> Committed {
        let committed = Committed {
            dead_letter_classes: batch.dead_letters.iter().map(|d| d.class).collect(),
            next_offsets: batch.next_offsets.clone(),
        };
        drop(tokio::task::spawn_blocking(move || drop(batch)));
        committed
    }
}

pub struct Pipeline {
    idle: Vec<Writer>,
    /// Oldest first: the order batches were consumed and commit in.
    in_flight: VecDeque<Write>,
    /// What the next submitted batch waits for: the last one submitted.
    last: Previous,
    abort: watch::Receiver<bool>,
    metrics: WriteMetrics,
    partitions: PartitionMetrics,
}

impl Pipeline {
    /// A pipeline writing with each of `writers` (at least one).
    pub fn new(writers: Vec<Writer>, abort: watch::Receiver<bool>) -> Pipeline {
        Pipeline {
            idle: writers,
            in_flight: VecDeque::new(),
            last: Previous::default(),
            abort,
            metrics: WriteMetrics::default(),
            partitions: PartitionMetrics::default(),
        }
    }

    /// Count committed batches, rows and offsets in these handles.
    pub fn with_metrics(mut self, metrics: WriteMetrics, partitions: PartitionMetrics) -> Self {
        self.metrics = metrics;
        self.partitions = partitions;
        self
    }

    /// Wait for every batch in flight to commit; then a writer is free.
    pub async fn settle(&mut self, consumer: &RecorderConsumer) -> Result<&mut Writer> {
        while !self.in_flight.is_empty() {
            self.settle_oldest(consumer).await?;
        }
        self.idle
            .first_mut()
            .ok_or_else(|| anyhow!("batch writer lost"))
    }

    /// Wait for the oldest batch in flight to commit, and count and acknowledge it.
    async fn settle_oldest(&mut self, consumer: &RecorderConsumer) -> Result<()> {
        let Some(handle) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let (writer, batch, result) = handle
            .await
            .map_err(|e| anyhow!("batch writer task failed: {e}"))?;
        self.idle.push(writer);
        let written = result?;
        self.count(&batch, &written);
        tracing::debug!(
            "committed {} runs ({} duplicates skipped), {} samples, {} dead letters ({} refused by PostgreSQL)",
            written.runs,
            written.duplicate_runs,
            written.samples,
            written.dead_letters,
            written.refused_by_postgres
        );
        acknowledge(consumer, &batch);
        Ok(())
    }

    /// Start writing `batch` once a session is free; it commits after the batches before it.
    pub async fn submit(&mut self, batch: Batch, consumer: &RecorderConsumer) -> Result<()> {
        if self.idle.is_empty() {
            self.settle_oldest(consumer).await?;
        }
        let Some(mut writer) = self.idle.pop() else {
            return Err(anyhow!("batch writer lost"));
        };
        let (outcome, next) = turn::pair();
        let previous = std::mem::replace(&mut self.last, next);
        let mut abort = self.abort.clone();
        let duration = self.metrics.duration.clone();
        self.in_flight.push_back(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = writer.write(&batch, &mut abort, previous).await;
            outcome.report(result.is_ok());
            if result.is_ok() {
                duration.record(started.elapsed().as_secs_f64());
            }
            (writer, Committed::of(batch), result)
        }));
        Ok(())
    }

    fn count(&self, batch: &Committed, written: &Written) {
        let m = &self.metrics;
        m.batches.increment(1);
        m.runs.increment(written.runs as u64);
        m.duplicate_runs.increment(written.duplicate_runs as u64);
        m.samples.increment(written.samples as u64);
        m.dead_letter_rows.increment(written.dead_letters as u64);
        for class in &batch.dead_letter_classes {
            m.dead_letter(class);
        }
        // The messages PostgreSQL refused were found while writing; they are not in `batch`.
        for _ in 0..written.refused_by_postgres {
            m.dead_letter(REFUSED_BY_POSTGRES);
        }
        for (partition, next) in &batch.next_offsets {
            self.partitions.committed(partition, *next);
        }
    }
}

/// Kafka's committed offsets only serve lag monitoring; PostgreSQL's are the truth.
fn acknowledge(consumer: &RecorderConsumer, batch: &Committed) {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), next) in &batch.next_offsets {
        let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*next));
    }
    if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
        tracing::debug!("Kafka offset commit (informational) failed: {e}");
    }
}
