//! Drill: the broker is unreachable (its TLS front stopped) while the host runs jobs at 1 s.
//! The host spools through the outage; once the broker is back every run reaches
//! PostgreSQL exactly once.

mod pipeline;

use std::time::Duration;

use pipeline::ledger::{published, wait_for_published, wait_for_stored};
use pipeline::{assert_exactly_once, cpu_and_memory_jobs, Expect, Pipeline, Scale};
use sonde_tests::{Env, PrivateBroker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_while_the_host_runs_loses_and_doubles_no_run() {
    let broker = PrivateBroker::start();
    let env = broker.env(&Env::load());
    let mut p = Pipeline::new(env, "outage", 2).await;
    let outage = Scale::from_env().pick(Duration::from_secs(15), Duration::from_secs(120));
    p.write_host_config(&cpu_and_memory_jobs());
    let tap = p.tap();
    let _recorder = p.start_recorder("batch.max_delay_ms = 200");
    let mut host = p.start_host();
    wait_for_stored(&p, 3, Duration::from_secs(90)).await;

    broker.front_stop();
    let before = published(&p.host_logs()).len();
    tokio::time::sleep(outage).await;
    host.assert_running();
    let during = published(&p.host_logs()).len() - before;
    eprintln!("{during} runs published during the {outage:?} outage");
    broker.front_start();

    // A few runs after the outage, then stop the host so the published set is final.
    wait_for_published(&p, before + during + 4, Duration::from_secs(60)).await;
    p.stop_host(&mut host);
    let ledger = assert_exactly_once(&p, &tap, Expect::default()).await;
    assert!(
        during >= 2,
        "the host published only {during} runs during the {outage:?} outage"
    );
    assert!(ledger.published.len() > during);
}
