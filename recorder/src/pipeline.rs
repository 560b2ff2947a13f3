//! Overlap: one batch is written to PostgreSQL while the next one fills from Kafka.
//!
//! At most one batch is in flight, so memory stays bounded and a slow database slows
//! consumption down instead of piling batches up. Overlap is safe because writes are
//! idempotent (run_id de-dup, dead letters unique per offset) and stored offsets only move
//! forward: a batch that commits after its partitions were revoked adds nothing twice.
//!
//! A written batch is freed (a few hundred thousand small allocations) on a blocking thread
//! while the next one is written: the consuming loop only gets back what it acknowledges and
//! counts.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::batch::{Batch, Partition, REFUSED_BY_POSTGRES};
use crate::consumer::RecorderConsumer;
use crate::telemetry::{PartitionMetrics, WriteMetrics};
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
    idle: Option<Writer>,
    in_flight: Option<Write>,
    abort: watch::Receiver<bool>,
    metrics: WriteMetrics,
    partitions: PartitionMetrics,
}

impl Pipeline {
    pub fn new(writer: Writer, abort: watch::Receiver<bool>) -> Pipeline {
        Pipeline {
            idle: Some(writer),
            in_flight: None,
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

    /// Wait for the batch in flight (if any) to commit; then the writer is free.
    pub async fn settle(&mut self, consumer: &RecorderConsumer) -> Result<&mut Writer> {
        if let Some(handle) = self.in_flight.take() {
            let (writer, batch, result) = handle
                .await
                .map_err(|e| anyhow!("batch writer task failed: {e}"))?;
            self.idle = Some(writer);
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
        }
        self.idle
            .as_mut()
            .ok_or_else(|| anyhow!("batch writer lost"))
    }

    /// Start writing `batch` (after the previous one has committed).
    pub async fn submit(&mut self, batch: Batch, consumer: &RecorderConsumer) -> Result<()> {
        self.settle(consumer).await?;
        let Some(mut writer) = self.idle.take() else {
            return Err(anyhow!("batch writer lost"));
        };
        let mut abort = self.abort.clone();
        let duration = self.metrics.duration.clone();
        self.in_flight = Some(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = writer.write(&batch, &mut abort).await;
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
