//! What one PostgreSQL transaction of the recorder holds: runs and their samples, dead
//! letters, and the consumed offsets, each step a function of its own.
//!
//! De-duplication: the batch's `run_id`s already in `probe_run` are read first (inside the
//! transaction), and only the other runs' samples are copied into `measurement` and the runs
//! into `probe_run` (after the previous batch committed, see [`crate::turn`]), both with
//! binary COPY. Replaying any of it is therefore harmless, which is
//! what makes retries (commit outcome unknown) and batches written in pieces safe. Another
//! recorder committing one of these runs in between (a rebalance overlap) makes the COPY
//! fail on `probe_run`'s primary key; that is retried like an outage (see
//! [`crate::pg_error`]), and the retry reads the run as recorded.
//!
//! A batch's first attempt skips the read: runs are rarely recorded twice, and when one is,
//! `probe_run`'s key refuses the COPY, the transaction (samples included) rolls back, and the
//! writer tries again at once, reading first (see [`crate::writer`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{Context, Result};
use bytes::Bytes;
use futures::SinkExt;
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

use crate::batch::{DeadLetter, Partition, Run};
use crate::copy_binary::CopyBuffer;
use crate::turn::Previous;

/// `probe_run`'s primary key: a violation of it is a concurrent writer, not bad data.
pub const RUN_ID_KEY: &str = "probe_run_pkey";

const RUN_COLUMNS: &str = "run_id, host, probe, probe_version, job, started_at, duration_us, \
     status, error, component_sha256, dropped_non_finite, topic, \"partition\", \"offset\"";

/// Rows `runs` added: (runs newly inserted, their samples). `series_ids` holds the series id
/// of every sample of `runs`, run by run in order ([`crate::series::SeriesCache::resolve`]).
/// The runs go into `probe_run` once `previous` has committed. `read_recorded`: skip the runs
/// already in `probe_run` (otherwise the key refuses the whole COPY if there is one).
pub async fn insert_runs(
    tx: &Transaction<'_>,
    runs: &[Run],
    series_ids: &[i64],
    previous: &mut Previous,
    read_recorded: bool,
) -> Result<(usize, usize)> {
    if runs.is_empty() {
        return Ok((0, 0));
    }
    // Runs already recorded, then each run of this call once.
    let mut seen: HashSet<Uuid> = if read_recorded {
        let run_ids: Vec<Uuid> = runs.iter().map(|r| r.message.run_id).collect();
        tx.query(
            "SELECT run_id FROM probe_run WHERE run_id = ANY($1)",
            &[&run_ids],
        )
        .await
        .context("reading recorded run ids")?
        .iter()
        .map(|row| row.get(0))
        .collect()
    } else {
        HashSet::with_capacity(runs.len())
    };
    let mut stage = CopyBuffer::new(runs.len() * 160);
    let mut rows = CopyBuffer::new(series_ids.len() * 38);
    let mut next = 0;
    for r in runs {
        let m = &r.message;
        let ids = series_ids
            .get(next..next + m.samples.len())
            .context("series ids missing for a run")?;
        next += m.samples.len();
        if !seen.insert(m.run_id) {
            continue;
        }
        let status = match m.status {
            sonde_message::RunStatus::Ok => "ok",
            sonde_message::RunStatus::Error => "error",
        };
        // `decode` bounds duration_us by i64::MAX and dropped_non_finite by the sample cap.
        let duration_us = i64::try_from(m.duration_us).context("duration_us over bigint")?;
        let dropped = i32::try_from(m.dropped_non_finite).context("dropped_non_finite")?;
        stage
            .row(14)
            .uuid(&m.run_id)
            .text(&m.host)
            .text(&m.probe)
            .text(&m.probe_version)
            .text(&m.job)
            .timestamptz(m.started_at)
            .i64(duration_us)
            .text(status)
            .opt_text(m.error.as_deref())
            .opt_text(m.component_sha256.as_deref())
            .i32(dropped)
            .text(&r.topic)
            .i32(r.partition)
            .i64(r.offset);
        for (s, id) in m.samples.iter().zip(ids) {
            rows.row(3).i64(*id).timestamptz(m.started_at).f64(s.value);
        }
    }
    let (new_runs, samples) = (stage.rows(), rows.rows());
    if new_runs == 0 {
        return Ok((0, 0));
    }
    if samples > 0 {
        copy_in(
            tx,
            "COPY measurement (series_id, time, value) FROM STDIN (FORMAT binary)",
            rows.finish(),
        )
        .await?;
    }
    previous.committed().await?;
    copy_in(
        tx,
        &format!("COPY probe_run ({RUN_COLUMNS}) FROM STDIN (FORMAT binary)"),
        stage.finish(),
    )
    .await
    .context("inserting probe runs")?;
    Ok((new_runs, samples))
}

/// Dead letters, at most once per (topic, partition, offset).
pub async fn insert_dead_letters(tx: &Transaction<'_>, dead: &[&DeadLetter]) -> Result<()> {
    if dead.is_empty() {
        return Ok(());
    }
    let topics: Vec<&str> = dead.iter().map(|x| x.topic.as_str()).collect();
    let parts: Vec<i32> = dead.iter().map(|x| x.partition).collect();
    let offsets: Vec<i64> = dead.iter().map(|x| x.offset).collect();
    let payloads: Vec<&[u8]> = dead.iter().map(|x| x.payload.as_slice()).collect();
    let reasons: Vec<&str> = dead.iter().map(|x| x.reason.as_str()).collect();
    tx.execute(
        "INSERT INTO dead_letter (topic, \"partition\", \"offset\", payload, reason)
         SELECT * FROM unnest($1::text[], $2::int4[], $3::int8[], $4::bytea[], $5::text[])
         ON CONFLICT (topic, \"partition\", \"offset\") DO NOTHING",
        &[&topics, &parts, &offsets, &payloads, &reasons],
    )
    .await
    .context("inserting dead letters")?;
    Ok(())
}

/// The next offset of each partition; stored offsets only move forward.
pub async fn store_offsets(tx: &Transaction<'_>, next: &BTreeMap<Partition, i64>) -> Result<()> {
    let topics: Vec<&str> = next.keys().map(|(t, _)| t.as_str()).collect();
    let parts: Vec<i32> = next.keys().map(|(_, p)| *p).collect();
    let offsets: Vec<i64> = next.values().copied().collect();
    tx.execute(
        "INSERT INTO kafka_offset (topic, \"partition\", next_offset)
         SELECT * FROM unnest($1::text[], $2::int4[], $3::int8[])
         ON CONFLICT (topic, \"partition\") DO UPDATE
         SET next_offset = GREATEST(kafka_offset.next_offset, EXCLUDED.next_offset), updated_at = now()",
        &[&topics, &parts, &offsets],
    )
    .await
    .context("storing consumed offsets")?;
    Ok(())
}

async fn copy_in(tx: &Transaction<'_>, sql: &str, data: Bytes) -> Result<()> {
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
