//! Writing one batch: runs, samples, dead letters and the consumed offsets in ONE
//! transaction, so PostgreSQL holds either all of a batch or none of it.
//!
//! De-duplication: runs go through a temp staging table into `probe_run` with
//! `ON CONFLICT (run_id) DO NOTHING RETURNING run_id`; only samples of runs that were
//! actually inserted are copied into `measurement`. Replaying a batch is therefore harmless,
//! which is what makes retry after a lost connection (commit outcome unknown) safe.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::{Context, Result};
use bytes::Bytes;
use futures::SinkExt;
use tokio::sync::watch;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::batch::{Batch, Partition};
use crate::copy_binary::CopyBuffer;
use crate::db::PgTarget;
use crate::partitions::Partitions;
use crate::series::SeriesCache;
use crate::telemetry::Connected;

/// What one committed batch added.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub runs: usize,
    pub duplicate_runs: usize,
    pub samples: usize,
    pub dead_letters: usize,
}

const STAGE_RUN_SQL: &str = "CREATE TEMP TABLE IF NOT EXISTS stage_run (
    run_id uuid, host text, probe text, probe_version text, job text, started_at timestamptz,
    duration_us bigint, status text, error text, component_sha256 text,
    topic text, \"partition\" integer, \"offset\" bigint
) ON COMMIT DELETE ROWS";

const RUN_COLUMNS: &str =
    "run_id, host, probe, probe_version, job, started_at, duration_us, status, error, component_sha256, topic, \"partition\", \"offset\"";

/// A PostgreSQL session that survives the server going away.
pub struct Writer {
    target: PgTarget,
    client: Option<Client>,
    series: SeriesCache,
    partitions: Partitions,
    measure_table: String,
    retention_days: u32,
    connected: Connected,
}

impl Writer {
    /// Connect (retrying until `abort`) and bring the schema up to date.
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
        client
            .batch_execute(STAGE_RUN_SQL)
            .await
            .context("creating the staging table")?;
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
        stored_offsets(client, partitions).await
    }

    /// Write `batch`, retrying through connection loss until it is committed or `abort`
    /// fires (then an error: nothing of the batch was acknowledged, it will be redone).
    pub async fn write(
        &mut self,
        batch: &Batch,
        abort: &mut watch::Receiver<bool>,
    ) -> Result<Written> {
        loop {
            if self.client.as_ref().is_none_or(|c| c.is_closed()) && !self.reconnect(abort).await? {
                anyhow::bail!("stopped before the batch was committed; it will be consumed again");
            }
            match self.write_once(batch).await {
                Ok(written) => return Ok(written),
                Err(e) if is_transient(&e, self.client.as_ref()) => {
                    tracing::warn!("writing a batch failed, retrying: {e:#}");
                    self.client = None;
                    self.connected.postgres(false);
                    let delay = self.target.connect_interval;
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = abort.changed() => {}
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn write_once(&mut self, batch: &Batch) -> Result<Written> {
        let client = self.client.as_mut().context("not connected")?;
        let days: BTreeSet<_> = batch
            .runs
            .iter()
            .map(|r| r.message.started_at.date_naive())
            .collect();
        self.partitions.ensure(client, &days).await?;
        self.series
            .resolve(client, batch.runs.iter().map(|r| &r.message))
            .await?;

        let tx = client.transaction().await?;
        let mut stage = CopyBuffer::new(batch.runs.len() * 160);
        for r in &batch.runs {
            let m = &r.message;
            let status = match m.status {
                sonde_message::RunStatus::Ok => "ok",
                sonde_message::RunStatus::Error => "error",
            };
            stage
                .row(13)
                .uuid(&m.run_id)
                .text(&m.host)
                .text(&m.probe)
                .text(&m.probe_version)
                .text(&m.job)
                .timestamptz(m.started_at)
                .i64(i64::try_from(m.duration_us).unwrap_or(i64::MAX))
                .text(status)
                .opt_text(m.error.as_deref())
                .opt_text(m.component_sha256.as_deref())
                .text(&r.topic)
                .i32(r.partition)
                .i64(r.offset);
        }
        copy_in(
            &tx,
            "COPY stage_run FROM STDIN (FORMAT binary)",
            stage.finish(),
        )
        .await?;
        let new_runs: HashSet<Uuid> = tx
            .query(
                &format!(
                    "INSERT INTO probe_run ({RUN_COLUMNS}) SELECT {RUN_COLUMNS} FROM stage_run
                     ON CONFLICT (run_id) DO NOTHING RETURNING run_id"
                ),
                &[],
            )
            .await
            .context("inserting probe runs")?
            .iter()
            .map(|row| row.get(0))
            .collect();

        let mut rows = CopyBuffer::new(batch.samples() * 38);
        for r in batch
            .runs
            .iter()
            .filter(|r| new_runs.contains(&r.message.run_id))
        {
            for s in &r.message.samples {
                let id = self
                    .series
                    .id(&r.message, s)
                    .context("series id not resolved")?;
                rows.row(3)
                    .i64(id)
                    .timestamptz(r.message.started_at)
                    .f64(s.value);
            }
        }
        let samples = rows.rows();
        copy_in(
            &tx,
            "COPY measurement (series_id, time, value) FROM STDIN (FORMAT binary)",
            rows.finish(),
        )
        .await?;

        let d = &batch.dead_letters;
        if !d.is_empty() {
            let topics: Vec<&str> = d.iter().map(|x| x.topic.as_str()).collect();
            let parts: Vec<i32> = d.iter().map(|x| x.partition).collect();
            let offsets: Vec<i64> = d.iter().map(|x| x.offset).collect();
            let payloads: Vec<&[u8]> = d.iter().map(|x| x.payload.as_slice()).collect();
            let reasons: Vec<&str> = d.iter().map(|x| x.reason.as_str()).collect();
            tx.execute(
                "INSERT INTO dead_letter (topic, \"partition\", \"offset\", payload, reason)
                 SELECT * FROM unnest($1::text[], $2::int4[], $3::int8[], $4::bytea[], $5::text[])
                 ON CONFLICT (topic, \"partition\", \"offset\") DO NOTHING",
                &[&topics, &parts, &offsets, &payloads, &reasons],
            )
            .await
            .context("inserting dead letters")?;
        }

        let (topics, parts, offsets) = offset_columns(&batch.next_offsets);
        tx.execute(
            "INSERT INTO kafka_offset (topic, \"partition\", next_offset)
             SELECT * FROM unnest($1::text[], $2::int4[], $3::int8[])
             ON CONFLICT (topic, \"partition\") DO UPDATE
             SET next_offset = GREATEST(kafka_offset.next_offset, EXCLUDED.next_offset), updated_at = now()",
            &[&topics, &parts, &offsets],
        )
        .await
        .context("storing consumed offsets")?;
        tx.commit().await.context("committing the batch")?;
        Ok(Written {
            runs: new_runs.len(),
            duplicate_runs: batch.runs.len() - new_runs.len(),
            samples,
            dead_letters: d.len(),
        })
    }
}

fn offset_columns(next: &BTreeMap<Partition, i64>) -> (Vec<&str>, Vec<i32>, Vec<i64>) {
    let topics = next.keys().map(|(t, _)| t.as_str()).collect();
    let parts = next.keys().map(|(_, p)| *p).collect();
    let offsets = next.values().copied().collect();
    (topics, parts, offsets)
}

async fn copy_in(tx: &tokio_postgres::Transaction<'_>, sql: &str, data: Bytes) -> Result<()> {
    let sink = tx
        .copy_in::<_, Bytes>(sql)
        .await
        .with_context(|| sql.to_owned())?;
    futures::pin_mut!(sink);
    sink.send(data).await.with_context(|| sql.to_owned())?;
    sink.finish().await.with_context(|| sql.to_owned())?;
    Ok(())
}

/// The next offset stored for each of `partitions` that has one.
pub async fn stored_offsets(
    client: &Client,
    partitions: &[Partition],
) -> Result<HashMap<Partition, i64>> {
    let topics: Vec<&str> = partitions.iter().map(|(t, _)| t.as_str()).collect();
    let rows = client
        .query(
            "SELECT topic, \"partition\", next_offset FROM kafka_offset WHERE topic = ANY($1)",
            &[&topics],
        )
        .await
        .context("reading stored offsets")?;
    let wanted: HashSet<&Partition> = partitions.iter().collect();
    Ok(rows
        .iter()
        .map(|r| {
            (
                (r.get::<_, String>(0), r.get::<_, i32>(1)),
                r.get::<_, i64>(2),
            )
        })
        .filter(|(p, _)| wanted.contains(p))
        .collect())
}

/// Worth retrying: the connection is gone, or the server asked us to retry
/// (connection class 08, shutdown 57P0x, serialization failure, deadlock).
fn is_transient(e: &anyhow::Error, client: Option<&Client>) -> bool {
    if client.is_none_or(|c| c.is_closed()) {
        return true;
    }
    e.chain().any(
        |cause| match cause.downcast_ref::<tokio_postgres::Error>() {
            Some(pg) => match pg.code() {
                Some(code) => {
                    let c = code.code();
                    c.starts_with("08") || c.starts_with("57P") || c == "40001" || c == "40P01"
                }
                None => {
                    pg.is_closed()
                        || std::error::Error::source(pg).is_some_and(|s| s.is::<std::io::Error>())
                }
            },
            None => cause.is::<std::io::Error>(),
        },
    )
}
