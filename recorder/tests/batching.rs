//! When a batch is written: at its size limit, at its age limit, and at the end of a
//! backlog, where the rest of what was fetched goes at once instead of waiting out the age
//! limit; a trickle of messages still collects for it. Real TLS broker, real SSL PostgreSQL
//! (`just up`).

mod common;

use std::time::Duration;

use common::*;
use sonde_tests::pg_connect;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_a_backlog_is_written_at_once_and_a_trickle_waits() {
    let t = fresh_target("rec-backlog", 1).await;
    let producer = producer(&t.env);
    // Runs of 10 samples are 11 rows each: 12 runs fill one batch of 100 rows (10 runs) and
    // leave 2 runs behind it.
    let runs = make_runs(14, 10);
    let messages = encoded(&runs);
    produce(&producer, &t.topic, &messages[..12]).await;

    // An age limit of an hour: within this test only the other rules can write anything.
    let mut recorder = Recorder::start(&t, "batch.max_rows = 100\nbatch.max_delay_ms = 3600000\n");
    let db = pg_connect(&t.env, &t.database).await.expect("connect");
    let offsets = "SELECT coalesce(sum(next_offset), 0)::bigint FROM kafka_offset";
    wait_for_count(&db, offsets, 12).await;
    assert_eq!(count(&db, "SELECT count(*) FROM probe_run").await, 12);
    assert_eq!(count(&db, "SELECT count(*) FROM measurement").await, 120);

    // Two more runs, with no backlog before them: they wait for the age limit.
    produce(&producer, &t.topic, &messages[12..]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    recorder.assert_running();
    assert_eq!(count(&db, "SELECT count(*) FROM probe_run").await, 12);

    // Stopping writes what it holds.
    assert!(recorder.terminate(), "recorder must exit 0 on SIGTERM");
    assert_eq!(count(&db, "SELECT count(*) FROM probe_run").await, 14);
    assert_eq!(count(&db, offsets).await, 14);
}
