//! No message and no PostgreSQL fault halts the recorder: rows PostgreSQL refuses are
//! isolated into `dead_letter` with its error text while the rest of their batch is written,
//! and failures that are not about the data (disk full, out of memory, read-only) are retried
//! with one log line per change of cause, reminders while they last, and the recovery.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sonde_tests::pg_connect;
use tokio_postgres::Client;

const OFFSETS: &str = "SELECT coalesce(sum(next_offset), 0)::bigint FROM kafka_offset";

async fn migrated(t: &Target) -> Client {
    let mut db = pg_connect(&t.env, &t.database).await.expect("connect");
    sonde_recorder::migrations::run(&mut db, "aiven_monitor_measure")
        .await
        .expect("migrate the test database");
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_postgres_refuses_are_isolated_and_their_batch_is_written() {
    let t = fresh_target("rec-refused", 3).await;
    let db = migrated(&t).await;
    // What validation cannot know about: constraints of this database. Each refuses in a
    // different step of the write (the runs' copy, series creation, measurement copy).
    db.batch_execute(
        "ALTER TABLE probe_run ADD CONSTRAINT refuse_run CHECK (job <> 'refused-run');
         ALTER TABLE series ADD CONSTRAINT refuse_series CHECK (metric <> 'refused.series');
         ALTER TABLE measurement ADD CONSTRAINT refuse_value CHECK (value <> 666);",
    )
    .await
    .expect("add the refusing constraints");
    let mut runs = make_runs(1_000, 3);
    let mut refused = Vec::new();
    for (n, i) in (5..runs.len()).step_by(97).enumerate() {
        let run = &mut runs[i];
        let constraint = match n % 3 {
            0 => {
                run.job = "refused-run".into();
                "refuse_run"
            }
            1 => {
                run.samples[1].name = "refused.series".into();
                "refuse_series"
            }
            _ => {
                run.samples[2].value = 666.0;
                "refuse_value"
            }
        };
        refused.push((run.run_id, constraint));
    }
    produce(&producer(&t.env), &t.topic, &encoded(&runs)).await;

    let mut recorder = Recorder::start(&t, "batch.max_rows = 2000\n");
    wait_for_count(&db, OFFSETS, runs.len() as i64).await;
    let good = (runs.len() - refused.len()) as i64;
    assert_exactly(&db, good, good * 3).await;
    let rows = db
        .query("SELECT payload, reason FROM dead_letter", &[])
        .await
        .expect("read dead_letter");
    assert_eq!(rows.len(), refused.len(), "one dead letter per refused run");
    for row in rows {
        let (payload, reason): (Vec<u8>, String) = (row.get(0), row.get(1));
        let run = sonde_message::decode(&payload, chrono::Utc::now())
            .expect("the payload is kept verbatim and still decodes");
        let (_, constraint) = refused
            .iter()
            .find(|(id, _)| *id == run.run_id)
            .unwrap_or_else(|| panic!("run {} dead-lettered but not refused", run.run_id));
        assert!(
            reason.starts_with("PostgreSQL refused it: 23514 ") && reason.contains(constraint),
            "reason {reason:?} should carry PostgreSQL's check violation of {constraint}"
        );
    }
    let refused_ids: Vec<uuid::Uuid> = refused.iter().map(|(id, _)| *id).collect();
    let stored = count_where(&db, "probe_run", "run_id = ANY($1)", &refused_ids).await;
    assert_eq!(stored, 0, "a refused run must not be in probe_run");
    recorder.assert_running();
    assert!(recorder.log().contains("writing it in parts"));
    assert!(recorder.terminate());
}

async fn count_where(db: &Client, table: &str, filter: &str, ids: &[uuid::Uuid]) -> i64 {
    db.query_one(
        &format!("SELECT count(*) FROM {table} WHERE {filter}"),
        &[&ids],
    )
    .await
    .expect("count")
    .get(0)
}

/// A switch in the database that makes every insert into `probe_run` fail with the SQLSTATE
/// in `fault.code`: disk full and out of memory cannot be produced on demand on a shared
/// server, their error codes can.
const FAULT_SWITCH: &str = "
CREATE TABLE fault (code text);
INSERT INTO fault VALUES (NULL);
CREATE FUNCTION raise_fault() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE c text;
BEGIN
    SELECT code INTO c FROM fault;
    IF c IS NOT NULL THEN
        RAISE EXCEPTION 'injected fault %', c USING ERRCODE = c;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER fault BEFORE INSERT ON probe_run FOR EACH STATEMENT EXECUTE FUNCTION raise_fault();
";

async fn set_fault(db: &Client, code: Option<&str>) {
    db.execute("UPDATE fault SET code = $1", &[&code])
        .await
        .expect("flip the fault switch");
}

async fn wait_for_log_count(recorder: &Recorder, needle: &str, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while recorder.log().matches(needle).count() < at_least {
        assert!(
            Instant::now() < deadline,
            "recorder never logged {needle:?} {at_least} time(s):\n{}",
            recorder.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_that_are_not_about_the_data_are_retried_and_never_silent() {
    let t = fresh_target("rec-stall", 2).await;
    let db = migrated(&t).await;
    db.batch_execute(FAULT_SWITCH)
        .await
        .expect("install the fault switch");
    set_fault(&db, Some("53100")).await; // disk_full
    let runs = make_runs(400, 2);
    let producer = producer(&t.env);
    produce(&producer, &t.topic, &encoded(&runs[..300])).await;
    let mut recorder = Recorder::start(&t, "");

    recorder
        .wait_for_log("failed, retrying with backoff: inserting probe runs")
        .await;
    // Retried many times, but logged once, then reminded after 30 s with the duration.
    wait_for_log_count(&recorder, "still not written after", 1).await;
    let log = recorder.log();
    assert_eq!(
        log.matches("SQLSTATE 53100").count(),
        2,
        "first failure and one reminder:\n{log}"
    );
    set_fault(&db, Some("25006")).await; // read_only_sql_transaction
    wait_for_log_count(&recorder, "the cause changed", 1).await;
    assert!(recorder.log().contains("SQLSTATE 25006"));
    assert_eq!(count(&db, "SELECT count(*) FROM probe_run").await, 0);
    set_fault(&db, None).await;
    wait_for_count(&db, OFFSETS, 300).await;
    recorder
        .wait_for_log("PostgreSQL writes recovered after")
        .await;

    // A real read-only session: the database turns read-only and the recorder's sessions are
    // cut, so it reconnects into read-only sessions until the setting is lifted.
    let database = &t.database;
    db.batch_execute(&format!(
        "ALTER DATABASE \"{database}\" SET default_transaction_read_only = on"
    ))
    .await
    .expect("make the database read-only");
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND application_name = 'sonde-recorder'",
        &[database],
    )
    .await
    .expect("cut the recorder's sessions");
    produce(&producer, &t.topic, &encoded(&runs[300..])).await;
    recorder.wait_for_log("read-only transaction").await;
    db.batch_execute(&format!(
        "ALTER DATABASE \"{database}\" RESET default_transaction_read_only"
    ))
    .await
    .expect("lift read-only");
    wait_for_count(&db, OFFSETS, 400).await;
    assert_exactly(&db, 400, 800).await;
    assert_eq!(count(&db, "SELECT count(*) FROM dead_letter").await, 0);
    recorder.assert_running();
    assert!(recorder.terminate());
}
