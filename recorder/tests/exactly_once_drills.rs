//! Exactly-once drills: kill -9 mid-stream, PostgreSQL restart during ingest, two recorders
//! in one group with a rebalance. Each ends with exact row counts and no duplicates.

mod common;

use common::*;
use sonde_tests::{create_test_database, pg_connect, Env, PrivatePostgres};

const OFFSETS: &str = "SELECT coalesce(sum(next_offset), 0)::bigint FROM kafka_offset";

/// Small batches so a drill always lands between (and inside) batches.
const SMALL_BATCHES: &str = "batch.max_rows = 1500\n";

async fn wait_for_some_rows(db: &tokio_postgres::Client) {
    wait_until(db, "SELECT count(*) FROM measurement", |n| n > 0).await;
}

async fn wait_until(db: &tokio_postgres::Client, sql: &str, ok: impl Fn(i64) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while !ok(count(db, sql).await) {
        assert!(
            std::time::Instant::now() < deadline,
            "{sql}: condition not reached"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_then_restart_loses_and_doubles_nothing() {
    let t = fresh_target("rec-kill", 3).await;
    let runs = make_runs(6_000, 10);
    let messages = encoded(&runs);
    let producer = producer(&t.env);
    produce(&producer, &t.topic, &messages[..4_000]).await;

    let mut first = Recorder::start(&t, SMALL_BATCHES);
    let db = pg_connect(&t.env, &t.database).await.expect("connect");
    wait_for_some_rows(&db).await;
    first.kill9();
    let partial = count(&db, "SELECT count(*) FROM measurement").await;
    eprintln!("killed with {partial} of 60000 rows committed");
    produce(&producer, &t.topic, &messages[4_000..]).await;

    let mut second = Recorder::start(&t, SMALL_BATCHES);
    wait_for_count(&db, OFFSETS, 6_000).await;
    assert_exactly(&db, 6_000, 60_000).await;
    assert!(second.terminate());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_during_ingest_loses_and_doubles_nothing() {
    let base = Env::load();
    let pg = PrivatePostgres::start();
    let env = pg.env(&base);
    let topic = sonde_tests::unique_topic("rec-pgrestart");
    sonde_tests::create_topic(&env, &topic, 2).await;
    let database = create_test_database(&env).await;
    let t = Target {
        group: format!("{topic}-group"),
        env: env.clone(),
        database,
        topic,
    };

    let runs = make_runs(6_000, 10);
    let messages = encoded(&runs);
    let producer = producer(&env);
    produce(&producer, &t.topic, &messages[..3_000]).await;
    let mut recorder = Recorder::start(&t, SMALL_BATCHES);
    {
        let db = pg_connect(&env, &t.database).await.expect("connect");
        wait_for_some_rows(&db).await;
    }
    pg.restart();
    produce(&producer, &t.topic, &messages[3_000..]).await;

    let db = pg_connect(&env, &t.database)
        .await
        .expect("connect after restart");
    wait_for_count(&db, OFFSETS, 6_000).await;
    assert_exactly(&db, 6_000, 60_000).await;
    assert!(recorder.terminate());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_recorders_rebalance_without_loss_or_duplicates() {
    let t = fresh_target("rec-group", 4).await;
    let runs = make_runs(9_000, 10);
    let messages = encoded(&runs);
    let producer = producer(&t.env);
    produce(&producer, &t.topic, &messages[..3_000]).await;

    let mut first = Recorder::start(&t, SMALL_BATCHES);
    let db = pg_connect(&t.env, &t.database).await.expect("connect");
    wait_for_some_rows(&db).await;

    // Second member joins mid-stream: the group rebalances across both. Wait for the
    // rebalance to finish before the first leaves (tansu 0.6 never completes a rebalance
    // whose leader leaves in the middle of it).
    let mut second = Recorder::start(&t, SMALL_BATCHES);
    produce(&producer, &t.topic, &messages[3_000..6_000]).await;
    first.wait_for_log("revoked").await;
    second.wait_for_log("assigned").await;
    wait_until(&db, OFFSETS, |n| n >= 4_000).await;

    // First member leaves: its partitions move to the second.
    assert!(first.terminate(), "first recorder must exit 0");
    produce(&producer, &t.topic, &messages[6_000..]).await;
    wait_for_count(&db, OFFSETS, 9_000).await;
    assert_exactly(&db, 9_000, 90_000).await;
    assert!(second.terminate());
}
