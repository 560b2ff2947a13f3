//! Several PostgreSQL sessions write batches at once (`postgres.sessions`), yet a batch
//! never commits before the batch consumed before it: otherwise a crash in between would
//! leave stored offsets past a batch that is not in PostgreSQL, skipping it for good.
//! And a batch's first attempt, which does not read which runs are recorded, still never
//! records a run twice.

mod common;

use std::time::Duration;

use chrono::Utc;
use sonde_recorder::batch::Batch;
use sonde_recorder::db::PgTarget;
use sonde_recorder::turn::{self, Previous, PreviousNotCommitted};
use sonde_recorder::writer::Writer;
use sonde_tests::{create_test_database, pg_connect, Env};
use tokio::sync::watch;
use tokio_postgres::Client;

const TOPIC: &str = "session-order";
const RUNS: usize = 10;
const SAMPLES: usize = 5;

struct Site {
    env: Env,
    database: String,
    target: PgTarget,
    measure_table: String,
}

async fn site() -> Site {
    let env = Env::load();
    let database = create_test_database(&env).await;
    let config = common::fleet::recorder_config(&env, &database);
    let target = PgTarget::new(&config.postgres).expect("PostgreSQL settings");
    Site {
        env,
        database,
        target,
        measure_table: config.postgres.measure_table,
    }
}

async fn writer(site: &Site, abort: &mut watch::Receiver<bool>) -> Writer {
    Writer::start(site.target.clone(), &site.measure_table, 0, abort)
        .await
        .expect("connect a writer")
        .expect("not aborted")
}

/// Two batches of `RUNS` runs: offsets 0.. and RUNS...
fn two_batches() -> (Batch, Batch) {
    let runs = common::make_runs(2 * RUNS, SAMPLES);
    let now = Utc::now();
    let mut batches = [Batch::default(), Batch::default()];
    for (offset, run) in runs.iter().enumerate() {
        batches[offset / RUNS].push(TOPIC, 0, offset as i64, &run.encode(), now);
    }
    let [first, second] = batches;
    (first, second)
}

/// (stored next offset or -1, runs, samples) as another session sees them.
async fn committed(db: &Client) -> (i64, i64, i64) {
    let row = db
        .query_one(
            "SELECT coalesce((SELECT max(next_offset) FROM kafka_offset), -1),
                    (SELECT count(*) FROM probe_run), (SELECT count(*) FROM measurement)",
            &[],
        )
        .await
        .expect("read what is committed");
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test]
async fn the_second_batch_waits_for_the_first_one_to_commit() {
    let site = site().await;
    let (_keep, mut abort) = watch::channel(false);
    let mut first = writer(&site, &mut abort).await;
    let mut second = writer(&site, &mut abort).await;
    let (batch1, batch2) = two_batches();
    let db = pg_connect(&site.env, &site.database)
        .await
        .expect("connect");
    // Hold the first batch back: an uncommitted run with the id of its first run makes its
    // insert into probe_run wait for this transaction. Nothing holds the second batch back
    // but its turn.
    let mut blocker = pg_connect(&site.env, &site.database)
        .await
        .expect("connect");
    let hold = blocker.transaction().await.expect("begin");
    let held_run = batch1.runs[0].message.run_id;
    hold.execute(
        "INSERT INTO probe_run (run_id, host, probe, probe_version, job, started_at, duration_us,
                                status, topic, \"partition\", \"offset\")
         VALUES ($1, 'blocker', 'cpu', '0', 'cpu', now(), 0, 'ok', 'blocker', 0, 0)",
        &[&held_run],
    )
    .await
    .expect("hold the first batch's first run");

    let (outcome, previous) = turn::pair();
    let mut abort1 = abort.clone();
    let one = tokio::spawn(async move {
        let result = first.write(&batch1, &mut abort1, Previous::default()).await;
        outcome.report(result.is_ok());
        result
    });
    let mut abort2 = abort.clone();
    let two = tokio::spawn(async move { second.write(&batch2, &mut abort2, previous).await });

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !one.is_finished() && !two.is_finished(),
        "both batches wait"
    );
    assert_eq!(
        committed(&db).await,
        (-1, 0, 0),
        "the second batch must not commit before the first"
    );

    hold.rollback().await.expect("release the first batch");
    let one = one.await.expect("first task").expect("first batch");
    let two = two.await.expect("second task").expect("second batch");
    assert_eq!((one.runs, two.runs), (RUNS, RUNS));
    assert_eq!(
        committed(&db).await,
        (
            2 * RUNS as i64,
            2 * RUNS as i64,
            (2 * RUNS * SAMPLES) as i64
        )
    );
}

#[tokio::test]
async fn a_batch_after_one_that_failed_commits_nothing() {
    let site = site().await;
    let (_keep, mut abort) = watch::channel(false);
    let mut second = writer(&site, &mut abort).await;
    let (_, batch2) = two_batches();
    let db = pg_connect(&site.env, &site.database)
        .await
        .expect("connect");

    let (outcome, previous) = turn::pair();
    let two = tokio::spawn(async move { second.write(&batch2, &mut abort, previous).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!two.is_finished(), "the batch waits for its turn");
    outcome.report(false);
    let err = two
        .await
        .expect("second task")
        .expect_err("a batch after a failed one fails");
    assert!(
        err.downcast_ref::<PreviousNotCommitted>().is_some(),
        "{err:#}"
    );
    assert_eq!(committed(&db).await, (-1, 0, 0), "nothing of it committed");
}

#[tokio::test]
async fn runs_recorded_by_an_earlier_batch_are_skipped_not_doubled() {
    let site = site().await;
    let (_keep, mut abort) = watch::channel(false);
    let mut w = writer(&site, &mut abort).await;
    let runs = common::make_runs(2 * RUNS, SAMPLES);
    let now = Utc::now();
    let db = pg_connect(&site.env, &site.database)
        .await
        .expect("connect");
    // The first batch holds runs 0..RUNS; the second re-sends half of them (as a host does
    // after a crash) and adds RUNS / 2 new ones.
    let mut first = Batch::default();
    for (offset, run) in runs[..RUNS].iter().enumerate() {
        first.push(TOPIC, 0, offset as i64, &run.encode(), now);
    }
    let mut second = Batch::default();
    for (i, run) in runs[RUNS / 2..RUNS + RUNS / 2].iter().enumerate() {
        second.push(TOPIC, 0, (RUNS + i) as i64, &run.encode(), now);
    }
    let one = w
        .write(&first, &mut abort, Previous::default())
        .await
        .expect("first batch");
    let two = w
        .write(&second, &mut abort, Previous::default())
        .await
        .expect("second batch");
    assert_eq!((one.runs, one.duplicate_runs), (RUNS, 0));
    assert_eq!((two.runs, two.duplicate_runs), (RUNS / 2, RUNS / 2));
    let all = (RUNS + RUNS / 2) as i64;
    assert_eq!(
        committed(&db).await,
        (2 * RUNS as i64, all, all * SAMPLES as i64)
    );
}
