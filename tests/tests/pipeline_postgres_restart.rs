//! Drill: PostgreSQL restarts (and once stays down a while) during ingest, while the host
//! keeps publishing at 1 s. Every published run ends up in PostgreSQL exactly once.

mod pipeline;

use std::time::Duration;

use pipeline::ledger::{published, wait_for_published, wait_for_stored};
use pipeline::{assert_exactly_once, job, Expect, Pipeline, Scale};
use sonde_tests::{Env, PrivatePostgres};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_during_ingest_loses_and_doubles_no_run() {
    let pg = PrivatePostgres::start();
    let env = pg.env(&Env::load());
    let mut p = Pipeline::new(env, "pgrestart", 2).await;
    let scale = Scale::from_env();
    let (restarts, between, down) = scale.pick(
        (2, Duration::from_secs(4), Duration::from_secs(10)),
        (5, Duration::from_secs(10), Duration::from_secs(60)),
    );
    p.write_host_config(&format!(
        "{}{}{}",
        job("cpu", "cpu", 1000, ""),
        job("memory", "memory", 1000, ""),
        job("bandwidth", "bandwidth", 1000, "")
    ));
    let tap = p.tap();
    let mut recorder = p.start_recorder("batch.max_delay_ms = 500");
    let mut host = p.start_host();

    let mut stored = wait_for_stored(&p, 3, Duration::from_secs(90))
        .await
        .runs
        .len();
    for n in 1..=restarts {
        pg.restart();
        eprintln!("PostgreSQL restart #{n}");
        tokio::time::sleep(between).await;
        // Ingest resumed before the next fault.
        stored = wait_for_stored(&p, stored + 1, Duration::from_secs(90))
            .await
            .runs
            .len();
        recorder.assert_running();
    }
    pg.stop();
    tokio::time::sleep(down).await;
    pg.start_again();
    eprintln!("PostgreSQL was down for {down:?}");
    recorder.assert_running();
    host.assert_running();

    let published_so_far = published(&p.host_logs()).len();
    wait_for_published(&p, published_so_far + 3, Duration::from_secs(60)).await;
    p.stop_host(&mut host);
    assert_exactly_once(&p, &tap, Expect::default()).await;
    recorder.assert_running();
}
