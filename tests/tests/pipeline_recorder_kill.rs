//! Drill: the recorder is killed with -9 while it holds a batch it has not committed
//! (runs on the topic that are not yet in PostgreSQL), again and again, and restarted each
//! time. Every run the host published ends up in PostgreSQL exactly once.

mod pipeline;

use std::time::{Duration, Instant};

use pipeline::ledger::{wait_for_published, wait_for_stored, Stored};
use pipeline::{assert_exactly_once, job, Expect, Pipeline, Scale};
use sonde_tests::Env;

/// Long enough that a batch is open most of the time at the drill's message rate.
const RECORDER_SETTINGS: &str = "batch.max_delay_ms = 1500";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorder_killed_mid_batch_loses_and_doubles_no_run() {
    let mut p = Pipeline::new(Env::load(), "reckill", 3).await;
    let kills = Scale::from_env().pick(3, 10);
    p.write_host_config(&format!(
        "{}{}{}",
        job("cpu", "cpu", 1000, ""),
        job("memory", "memory", 1000, ""),
        job("bandwidth", "bandwidth", 1000, "")
    ));
    let tap = p.tap();
    let mut host = p.start_host();
    let mut recorder = p.start_recorder(RECORDER_SETTINGS);
    let mut mid_batch = 0;
    for kill in 1..=kills {
        let committed = wait_for_stored(&p, 1, Duration::from_secs(90))
            .await
            .runs
            .len();
        // Wait for a moment when the recorder has consumed runs it has not committed:
        // runs on the topic beyond what PostgreSQL holds, and more committed than before
        // this recorder started (it is past its group join).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            recorder.assert_running();
            let stored = Stored::read(&p).await.unwrap_or_default();
            let tapped = tap.snapshot();
            let in_flight = tapped
                .runs
                .keys()
                .filter(|id| !stored.runs.contains_key(id))
                .count();
            if stored.runs.len() > committed && in_flight > 0 {
                mid_batch += 1;
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        recorder.kill9();
        eprintln!("recorder kill -9 #{kill}");
        recorder = p.start_recorder(RECORDER_SETTINGS);
    }
    let published_so_far = pipeline::ledger::published(&p.host_logs()).len();
    wait_for_published(&p, published_so_far + 3, Duration::from_secs(60)).await;
    p.stop_host(&mut host);
    assert_exactly_once(&p, &tap, Expect::default()).await;
    assert!(
        mid_batch > 0,
        "no kill happened with uncommitted runs in flight ({kills} kills)"
    );
    eprintln!("{mid_batch} of {kills} kills hit the recorder with runs in flight");
}
