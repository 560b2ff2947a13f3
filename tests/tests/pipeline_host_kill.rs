//! Drill: the host is killed with -9 while the broker is unreachable and runs pile up in
//! its spool; a new host on the same spool directory carries on, and once the broker is
//! back every run of both hosts reaches PostgreSQL exactly once.

mod pipeline;

use std::time::Duration;

use pipeline::ledger::{published, wait_for_published, wait_for_stored};
use pipeline::{assert_exactly_once, cpu_and_memory_jobs, Expect, Pipeline, Scale};
use sonde_tests::{Env, PrivateBroker};

const JOBS: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_killed_while_spooling_loses_and_doubles_no_run() {
    let broker = PrivateBroker::start();
    let env = broker.env(&Env::load());
    let mut p = Pipeline::new(env, "hostkill", 2).await;
    let scale = Scale::from_env();
    let (before_kill, after_restart) = scale.pick(
        (Duration::from_secs(8), Duration::from_secs(8)),
        (Duration::from_secs(60), Duration::from_secs(60)),
    );
    p.write_host_config(&cpu_and_memory_jobs());
    let tap = p.tap();
    let _recorder = p.start_recorder("batch.max_delay_ms = 200");
    let mut first = p.start_host();
    wait_for_stored(&p, 3, Duration::from_secs(90)).await;

    broker.front_stop();
    let at_outage = published(&p.host_logs()).len();
    tokio::time::sleep(before_kill).await;
    first.assert_running();
    let spooled_by_first = published(&p.host_logs()).len() - at_outage;
    first.kill9();
    eprintln!("host killed with -9 after spooling {spooled_by_first} runs during the outage");

    let mut second = p.start_host();
    let at_restart = published(&p.host_logs()).len();
    tokio::time::sleep(after_restart).await;
    second.assert_running();
    let spooled_by_second = published(&p.host_logs()).len() - at_restart;
    broker.front_start();

    wait_for_published(
        &p,
        at_restart + spooled_by_second + 4,
        Duration::from_secs(60),
    )
    .await;
    p.stop_host(&mut second);
    // A run spooled in the instant between the spool write and its log line is on the
    // topic without a `run published` line: at most one per job.
    let expect = Expect {
        unlogged_allowance: JOBS,
        ..Expect::default()
    };
    let ledger = assert_exactly_once(&p, &tap, expect).await;
    assert!(
        spooled_by_first >= 2 && spooled_by_second >= 2,
        "too few runs spooled to exercise the drill: {spooled_by_first} before the kill, \
         {spooled_by_second} after the restart"
    );
    let unlogged = ledger.stored.runs.len() - ledger.published.len();
    eprintln!("{unlogged} stored runs had no `run published` line (cut off by kill -9)");
}
