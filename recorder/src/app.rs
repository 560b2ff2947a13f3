//! The recorder's main loop: consume, batch, write, and only then acknowledge.
//!
//! Delivery guarantee: exactly once into PostgreSQL. A batch's rows and the offsets it
//! consumed commit in one transaction; every (re)assignment starts at the stored offsets;
//! a run seen twice is recorded once (`probe_run.run_id` is unique).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use futures::FutureExt;
use rdkafka::consumer::Consumer;
use rdkafka::message::{BorrowedMessage, Message};
use tokio::sync::watch;

use crate::batch::{Batch, Partition};
use crate::config::Config;
use crate::consumer::{self, RecorderConsumer};
use crate::db::PgTarget;
use crate::pipeline::Pipeline;
use crate::telemetry::Telemetry;
use crate::writer::Writer;

/// Partition creation ahead of time and retention run this often.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(3600);

/// Messages taken from the consumer's queue in one go before the stop signal, the batch's
/// age and maintenance are looked at again.
const DRAIN_MAX: usize = 1024;

/// Stop signals: the first SIGTERM/SIGINT stops consuming (the batch in flight is still
/// committed); a second one abandons retries so the process can exit.
pub struct Shutdown {
    pub stop: watch::Receiver<bool>,
    pub abort: watch::Receiver<bool>,
}

/// Listen for SIGTERM and SIGINT.
pub fn shutdown_on_signals() -> Result<Shutdown> {
    use tokio::signal::unix::{signal, SignalKind};
    let (stop_tx, stop) = watch::channel(false);
    let (abort_tx, abort) = watch::channel(false);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // The configuration is read once, at start: a reload would have to swap the consumer
    // group membership or the database under a batch in flight. SIGHUP (`systemctl
    // reload`, log rotation tools) must not stop the recorder either: say so and go on.
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::warn!(
                "SIGHUP ignored: recorder.ini is read only at start; restart the recorder to apply changes"
            );
        }
    });
    tokio::spawn(async move {
        for tx in [stop_tx, abort_tx] {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tracing::info!("signal received: finishing the batch in flight (again to abandon it)");
            let _ = tx.send(true);
            // Keep the sender alive: receivers treat a dropped sender as a change.
            std::mem::forget(tx);
        }
    });
    Ok(Shutdown { stop, abort })
}

/// Run until stopped. `Ok` means every consumed message up to the stop is committed.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<()> {
    let Shutdown {
        mut stop,
        mut abort,
    } = shutdown;
    crate::tls::log_warnings(&config);
    let target = PgTarget::new(&config.postgres)?;
    tracing::info!(
        "recorder starting: PostgreSQL {} (sslmode {:?})",
        target.describe,
        target.sslmode
    );
    let telemetry = Telemetry::new()?;
    let _endpoint = match (config.metrics_addr, telemetry.connected.readiness()) {
        (Some(addr), Some(readiness)) => Some(
            sonde_telemetry::Endpoint::start(addr, telemetry.registry.clone(), readiness).await?,
        ),
        _ => None,
    };
    let p = &config.postgres;
    // One session after another: the first brings the schema up to date, the others find it so.
    let mut writers = Vec::with_capacity(p.sessions);
    for _ in 0..p.sessions {
        let Some(writer) = Writer::start_counted(
            target.clone(),
            &p.measure_table,
            p.retention_days,
            &mut abort,
            telemetry.connected.clone(),
        )
        .await?
        else {
            return Ok(());
        };
        writers.push(writer);
    }
    if let Some(first) = writers.first_mut() {
        if let Err(e) = first.maintain().await {
            tracing::warn!("partition maintenance: {e:#}");
        }
    }
    let mut pipeline = Pipeline::new(writers, abort.clone())
        .with_metrics(telemetry.writes.clone(), telemetry.partitions.clone());
    let subscription = config.subscription();
    let consumer = consumer::subscribe(
        &config.kafka,
        &subscription,
        target,
        abort.clone(),
        telemetry.consumer(),
    )?;
    tracing::info!(
        "consuming {subscription} from {} as group {}",
        config.kafka.bootstrap_servers,
        config.kafka.group_id
    );
    crate::topic_watch::spawn(&config.kafka, subscription.clone(), stop.clone())?;

    let limits = config.batch;
    let mut batch = Batch::default();
    // The last batch was written because it was full: the consumer is working off a backlog.
    let mut behind = false;
    let mut positions: HashMap<Partition, i64> = HashMap::new();
    let mut maintenance = tokio::time::interval_at(
        tokio::time::Instant::now() + MAINTENANCE_INTERVAL,
        MAINTENANCE_INTERVAL,
    );
    loop {
        let wait = batch.time_left(&limits).unwrap_or(MAINTENANCE_INTERVAL);
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            _ = tokio::time::sleep(wait), if !batch.is_empty() => {
                apply_rebalances(&consumer, &mut batch, &mut positions);
                behind = false;
                flush(&mut pipeline, &consumer, &mut batch).await?;
            }
            message = consumer.recv() => {
                // Take what else is already queued too, up to DRAIN_MAX, before looking at
                // the other branches again: one clock reading and one timer per drain
                // instead of per message.
                let mut now = Utc::now();
                let mut next = Some(message);
                let mut taken = 0;
                let mut caught_up = false;
                while let Some(message) = next.take() {
                    apply_rebalances(&consumer, &mut batch, &mut positions);
                    match message {
                        Ok(m) => {
                            consumer.context().note_healthy();
                            telemetry.consumed.increment(1);
                            take(&mut batch, &mut positions, &m, now);
                        }
                        Err(e) => tracing::debug!("Kafka: {e}"),
                    }
                    if batch.is_full(&limits) {
                        behind = true;
                        flush(&mut pipeline, &consumer, &mut batch).await?;
                        now = Utc::now();
                    }
                    taken += 1;
                    if taken < DRAIN_MAX {
                        next = consumer.recv().now_or_never();
                        // Nothing more fetched and waiting.
                        caught_up = next.is_none();
                    }
                }
                if batch.should_flush(caught_up && behind, &limits) {
                    behind = false;
                    flush(&mut pipeline, &consumer, &mut batch).await?;
                }
            }
            _ = maintenance.tick() => {
                if let Err(e) = pipeline.settle(&consumer).await?.maintain().await {
                    tracing::warn!("partition maintenance: {e:#}");
                }
            }
        }
    }
    apply_rebalances(&consumer, &mut batch, &mut positions);
    flush(&mut pipeline, &consumer, &mut batch).await?;
    pipeline.settle(&consumer).await?;
    tracing::info!("stopped; everything consumed is committed");
    Ok(())
}

/// Add message `m` to the batch unless it is below its partition's resume point (defence
/// in depth: never take a message twice).
fn take(
    batch: &mut Batch,
    positions: &mut HashMap<Partition, i64>,
    m: &BorrowedMessage<'_>,
    now: DateTime<Utc>,
) {
    let key = (m.topic().to_owned(), m.partition());
    let offset = m.offset();
    if positions.get(&key).is_some_and(|next| offset < *next) {
        tracing::debug!(
            "skipping {}/{} offset {offset}: already recorded",
            key.0,
            key.1
        );
    } else {
        batch.push(&key.0, key.1, offset, m.payload().unwrap_or_default(), now);
        positions.insert(key, offset + 1);
    }
}

/// Apply what the rebalance callback recorded: drop the in-flight messages of revoked
/// partitions (the next owner redoes them from PostgreSQL's offsets), reset resume points.
fn apply_rebalances(
    consumer: &RecorderConsumer,
    batch: &mut Batch,
    positions: &mut HashMap<Partition, i64>,
) {
    let events = consumer.context().take_events();
    if !events.revoked.is_empty() {
        batch.drop_partitions(&events.revoked);
        positions.retain(|p, _| !events.revoked.contains(p));
    }
    for (partition, start) in events.assigned {
        match start {
            Some(next) => positions.insert(partition, next),
            None => positions.remove(&partition),
        };
    }
}

async fn flush(
    pipeline: &mut Pipeline,
    consumer: &RecorderConsumer,
    batch: &mut Batch,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    pipeline.submit(batch.take(), consumer).await
}
