//! Writing one batch: runs, samples, dead letters and the consumed offsets in ONE
//! transaction, so PostgreSQL holds either all of a batch or none of it.
//!
//! No message can halt the recorder. When PostgreSQL refuses the batch's data (a [`Fault::Data`]
//! error), the batch is written again in halves, and halves of the failing halves, until
//! each refused message is alone; it goes to `dead_letter` with PostgreSQL's error text, the
//! others are written, and the batch's offsets are stored last, with the dead letters. The
//! pieces are idempotent (see [`crate::commit`]), so a crash between them loses and doubles
//! nothing. Any other failure is retried on the same batch with backoff until it succeeds or
//! the recorder is stopped, logged once per change of cause and every
//! [`STALL_WARNING_INTERVAL`](crate::stall::STALL_WARNING_INTERVAL) while it lasts.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio_postgres::Client;

use crate::batch::{Batch, DeadLetter, Partition, Run, REFUSED_BY_POSTGRES};
use crate::commit;
use crate::db::{backoff, PgTarget};
use crate::partitions::Partitions;
use crate::pg_error::{classify, describe, is_recorded_run, refusal, Fault};
use crate::series::SeriesCache;
use crate::stall::{human, Stall, STALL_WARNING_INTERVAL};
use crate::telemetry::Connected;
use crate::turn::{Previous, PreviousNotCommitted};

/// Longest wait between two attempts at a batch that keeps failing: a failed attempt costs
/// the server little, and the recovery is seen within this.
pub const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// What one committed batch added.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub runs: usize,
    pub duplicate_runs: usize,
    pub samples: usize,
    /// Dead letters, those `decode` refused and those PostgreSQL refused.
    pub dead_letters: usize,
    /// Of the dead letters, the messages PostgreSQL refused (isolated by splitting the batch).
    pub refused_by_postgres: usize,
}

/// A PostgreSQL session that survives the server going away.
pub struct Writer {
    target: PgTarget,
    client: Option<Client>,
    series: SeriesCache,
    partitions: Partitions,
    measure_table: String,
    retention_days: u32,
    connected: Connected,
    stall: Stall,
    /// The batch written before the current one, when several sessions write at once.
    previous: Previous,
}

impl Writer {
    /// Connect (retrying until `abort`) and bring the schema up to date. A schema that cannot
    /// be brought up to date here is an error: the recorder does not start.
    pub async fn start(
        target: PgTarget,
        measure_table: &str,
        retention_days: u32,
        abort: &mut watch::Receiver<bool>,
    ) -> Result<Option<Writer>> {
        let connected = Connected::default();
        Self::start_counted(target, measure_table, retention_days, abort, connected).await
    }

    /// [`Writer::start`], telling `connected` whenever the session comes or goes.
    pub async fn start_counted(
        target: PgTarget,
        measure_table: &str,
        retention_days: u32,
        abort: &mut watch::Receiver<bool>,
        connected: Connected,
    ) -> Result<Option<Writer>> {
        let mut writer = Writer {
            target,
            client: None,
            series: SeriesCache::default(),
            partitions: Partitions::default(),
            measure_table: measure_table.to_owned(),
            retention_days,
            connected,
            stall: Stall::default(),
            previous: Previous::default(),
        };
        if !writer.reconnect(abort).await? {
            return Ok(None);
        }
        Ok(Some(writer))
    }

    /// (Re)connect and prepare the session. `Ok(false)` when aborted.
    async fn reconnect(&mut self, abort: &mut watch::Receiver<bool>) -> Result<bool> {
        self.client = None;
        self.connected.postgres(false);
        let Some(mut client) = self.target.connect_with_retry(abort).await else {
            return Ok(false);
        };
        crate::migrations::run(&mut client, &self.measure_table).await?;
        self.partitions.forget();
        self.partitions.ensure_ahead(&mut client).await?;
        self.client = Some(client);
        self.connected.postgres(true);
        Ok(true)
    }

    /// Hourly housekeeping: partitions ahead, retention.
    pub async fn maintain(&mut self) -> Result<()> {
        let Some(client) = self.client.as_mut() else {
            return Ok(());
        };
        self.partitions.ensure_ahead(client).await?;
        self.partitions
            .apply_retention(client, self.retention_days)
            .await?;
        Ok(())
    }

    /// The offsets stored for `partitions` (absent: nothing committed yet).
    pub async fn stored_offsets(
        &mut self,
        partitions: &[Partition],
    ) -> Result<HashMap<Partition, i64>> {
        let client = self.client.as_ref().context("not connected")?;
        commit::stored_offsets(client, partitions).await
    }

    /// Write `batch`, retrying until it is committed or `abort` fires (then an error: nothing
    /// of the batch was acknowledged, it will be consumed again). Its runs and offsets wait
    /// for `previous` to commit; if that batch fails, so does this one.
    pub async fn write(
        &mut self,
        batch: &Batch,
        abort: &mut watch::Receiver<bool>,
        previous: Previous,
    ) -> Result<Written> {
        self.previous = previous;
        let messages = batch.messages();
        let mut attempt = 0u32;
        // The first attempt assumes none of the batch's runs is recorded yet; every later
        // one reads which are (a failed commit's outcome may be unknown).
        let mut read_recorded = false;
        loop {
            let connected = self.client.as_ref().is_some_and(|c| !c.is_closed());
            let result = if connected {
                watched(self.write_batch(batch, read_recorded), messages).await
            } else {
                match self.reconnect(abort).await {
                    Ok(true) => continue,
                    Ok(false) => Err(anyhow::anyhow!("stopped while reconnecting")),
                    Err(e) => Err(e.context("reconnecting to PostgreSQL")),
                }
            };
            match result {
                Ok(written) => {
                    Stall::log(self.stall.succeeded(Instant::now()));
                    return Ok(written);
                }
                Err(e) => {
                    if self.previous.failed() {
                        return Err(PreviousNotCommitted.into());
                    }
                    if !std::mem::replace(&mut read_recorded, true) && is_recorded_run(&e) {
                        tracing::debug!(
                            "a run of the batch is already recorded; writing it again without it"
                        );
                        continue;
                    }
                    let cause = describe(&e);
                    Stall::log(self.stall.failed(&cause, messages, Instant::now()));
                    if self.client.as_ref().is_some_and(Client::is_closed) {
                        self.client = None;
                        self.connected.postgres(false);
                    }
                }
            }
            if *abort.borrow() {
                anyhow::bail!("stopped before the batch was committed; it will be consumed again");
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff(self.target.connect_interval, attempt).min(MAX_RETRY_INTERVAL)) => {}
                _ = abort.changed() => {}
            }
            attempt = attempt.saturating_add(1);
        }
    }

    /// One attempt: the whole batch in one transaction, or, when PostgreSQL refuses its data,
    /// in pieces around the refused messages.
    async fn write_batch(&mut self, batch: &Batch, read_recorded: bool) -> Result<Written> {
        let dead: Vec<&DeadLetter> = batch.dead_letters.iter().collect();
        match self
            .commit(&batch.runs, &dead, Some(batch), read_recorded)
            .await
        {
            Ok((runs, samples)) => Ok(Written {
                runs,
                duplicate_runs: batch.runs.len() - runs,
                samples,
                dead_letters: dead.len(),
                refused_by_postgres: 0,
            }),
            Err(e) if classify(&e, self.client.as_ref()) == Fault::Data => {
                tracing::warn!(
                    "PostgreSQL refused a batch of {} runs ({}); writing it in parts to find the message(s) responsible",
                    batch.runs.len(),
                    refusal(&e)
                );
                self.isolate(batch).await
            }
            Err(e) => Err(e),
        }
    }

    /// Write `batch.runs` in halves until every refused run is alone, then its dead letters
    /// (decode's and PostgreSQL's) and offsets. A failure that is not about the data is
    /// returned: the caller retries the whole batch, whose committed pieces add nothing again.
    async fn isolate(&mut self, batch: &Batch) -> Result<Written> {
        let mut written = Written::default();
        let mut refused: Vec<DeadLetter> = Vec::new();
        let mut pending: Vec<Range<usize>> = halves(0..batch.runs.len());
        while let Some(range) = pending.pop() {
            let runs = &batch.runs[range.clone()];
            match self.commit(runs, &[], None, true).await {
                Ok((new, samples)) => {
                    written.runs += new;
                    written.duplicate_runs += runs.len() - new;
                    written.samples += samples;
                }
                Err(e) if classify(&e, self.client.as_ref()) == Fault::Data => {
                    if let [run] = runs {
                        refused.push(refused_run(run, refusal(&e)));
                    } else {
                        pending.extend(halves(range));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let dead: Vec<&DeadLetter> = batch.dead_letters.iter().chain(&refused).collect();
        self.commit(&[], &dead, Some(batch), true)
            .await
            .context("storing dead letters and offsets after isolating refused messages")?;
        written.dead_letters = dead.len();
        written.refused_by_postgres = refused.len();
        Ok(written)
    }

    /// One transaction: `runs` with their samples, `dead`, and `offsets_of`'s next offsets.
    /// `read_recorded`: see [`commit::insert_runs`].
    async fn commit(
        &mut self,
        runs: &[Run],
        dead: &[&DeadLetter],
        offsets_of: Option<&Batch>,
        read_recorded: bool,
    ) -> Result<(usize, usize)> {
        let client = self.client.as_mut().context("not connected")?;
        let days: BTreeSet<_> = runs
            .iter()
            .map(|r| r.message.started_at.date_naive())
            .collect();
        self.partitions.ensure(client, &days).await;
        let series_ids = self
            .series
            .resolve(client, runs.iter().map(|r| &r.message))
            .await?;
        let tx = client.transaction().await?;
        let added =
            commit::insert_runs(&tx, runs, &series_ids, &mut self.previous, read_recorded).await?;
        commit::insert_dead_letters(&tx, dead).await?;
        if let Some(batch) = offsets_of {
            // Never store offsets past a batch that is not in PostgreSQL yet.
            self.previous.committed().await?;
            commit::store_offsets(&tx, &batch.next_offsets).await?;
        }
        tx.commit().await.context("committing the batch")?;
        Ok(added)
    }
}

/// `range` split in two, the first half last (it is popped first).
fn halves(range: Range<usize>) -> Vec<Range<usize>> {
    if range.is_empty() {
        return Vec::new();
    }
    let mid = range.start + range.len().div_ceil(2);
    if mid == range.end {
        return vec![range];
    }
    vec![mid..range.end, range.start..mid]
}

fn refused_run(run: &Run, reason: String) -> DeadLetter {
    tracing::warn!(
        "dead-lettered {}/{} offset {} (run {}, host {}, job {}): {reason}",
        run.topic,
        run.partition,
        run.offset,
        run.message.run_id,
        sonde_message::limits::preview(&run.message.host),
        sonde_message::limits::preview(&run.message.job),
    );
    DeadLetter {
        topic: run.topic.clone(),
        partition: run.partition,
        offset: run.offset,
        payload: run.payload.clone(),
        reason,
        class: REFUSED_BY_POSTGRES,
    }
}

/// `work`, with a warning every [`STALL_WARNING_INTERVAL`] while PostgreSQL has not
/// answered (a statement waiting on a lock or a stuck server is not silent either).
async fn watched<T>(work: impl std::future::Future<Output = T>, messages: usize) -> T {
    let started = Instant::now();
    tokio::pin!(work);
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + STALL_WARNING_INTERVAL,
        STALL_WARNING_INTERVAL,
    );
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = ticker.tick() => tracing::warn!(
                "writing a batch of {messages} messages: PostgreSQL has not answered for {}",
                human(started.elapsed())
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_cover_the_range_in_order() {
        assert_eq!(halves(0..0), Vec::<Range<usize>>::new());
        assert_eq!(halves(3..4), vec![3..4]);
        assert_eq!(halves(0..5), vec![3..5, 0..3]);
        // Popping from the end isolates in message order.
        let mut pending = halves(0..4);
        let mut order = Vec::new();
        while let Some(r) = pending.pop() {
            if r.len() > 1 {
                pending.extend(halves(r));
            } else {
                order.push(r.start);
            }
        }
        assert_eq!(order, vec![0, 1, 2, 3]);
    }
}
