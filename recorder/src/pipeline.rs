//! Overlap: one batch is written to PostgreSQL while the next one fills from Kafka.
//!
//! At most one batch is in flight, so memory stays bounded and a slow database slows
//! consumption down instead of piling batches up. Overlap is safe because writes are
//! idempotent (run_id de-dup, dead letters unique per offset) and stored offsets only move
//! forward: a batch that commits after its partitions were revoked adds nothing twice.

use anyhow::{anyhow, Result};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::batch::Batch;
use crate::consumer::RecorderConsumer;
use crate::writer::{Writer, Written};

type Write = JoinHandle<(Writer, Batch, Result<Written>)>;

pub struct Pipeline {
    idle: Option<Writer>,
    in_flight: Option<Write>,
    abort: watch::Receiver<bool>,
}

impl Pipeline {
    pub fn new(writer: Writer, abort: watch::Receiver<bool>) -> Pipeline {
        Pipeline {
            idle: Some(writer),
            in_flight: None,
            abort,
        }
    }

    /// Wait for the batch in flight (if any) to commit; then the writer is free.
    pub async fn settle(&mut self, consumer: &RecorderConsumer) -> Result<&mut Writer> {
        if let Some(handle) = self.in_flight.take() {
            let (writer, batch, result) = handle
                .await
                .map_err(|e| anyhow!("batch writer task failed: {e}"))?;
            self.idle = Some(writer);
            let written = result?;
            tracing::debug!(
                "committed {} runs ({} duplicates skipped), {} samples, {} dead letters",
                written.runs,
                written.duplicate_runs,
                written.samples,
                written.dead_letters
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
        self.in_flight = Some(tokio::spawn(async move {
            let result = writer.write(&batch, &mut abort).await;
            (writer, batch, result)
        }));
        Ok(())
    }
}

/// Kafka's committed offsets only serve lag monitoring; PostgreSQL's are the truth.
fn acknowledge(consumer: &RecorderConsumer, batch: &Batch) {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), next) in &batch.next_offsets {
        let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*next));
    }
    if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
        tracing::debug!("Kafka offset commit (informational) failed: {e}");
    }
}
