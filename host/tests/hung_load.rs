//! A probe whose `describe()` hangs, dropped into a watched directory, delays nothing:
//! the running jobs keep their schedule, another probe added meanwhile loads and runs,
//! and SIGTERM ends the host at once although the load is still in flight.

mod common;

use std::time::Duration;

use sonde_message::RunStatus;

#[test]
fn a_hung_describe_delays_no_job_no_other_load_and_no_shutdown() {
    let dir = common::scratch();
    let watched = dir.path().join("probes");
    std::fs::create_dir(&watched).expect("mkdir");
    // A describe deadline far beyond the test, so the load is surely still hung at the end.
    let config = common::write_config(
        dir.path(),
        "describe_timeout_ms = 600000\nmin_interval_ms = 200\n[defaults]\ninterval_ms = 200\n",
    );
    std::fs::copy(common::probe("memory"), watched.join("steady.wasm")).expect("copy");
    let host = common::RunningHost::start(
        &dir.path().join("cache"),
        &[
            "--config",
            &config,
            "--probes",
            &watched.display().to_string(),
        ],
    );
    host.wait_for("steady runs", Duration::from_secs(60), |msgs, _| {
        common::by_job(msgs, "steady").len() >= 3
    });

    std::fs::copy(
        common::test_probe("sleepy-describe"),
        watched.join("sleepy.wasm"),
    )
    .expect("copy");
    host.wait_for(
        "the hung load to start",
        Duration::from_secs(30),
        |_, log| {
            log.lines()
                .any(|l| l.contains("loading probe file") && l.contains("sleepy.wasm"))
        },
    );
    std::fs::copy(common::probe("cpu"), watched.join("late.wasm")).expect("copy");
    host.wait_for(
        "the probe added after the hung one to run",
        Duration::from_secs(60),
        |msgs, _| !common::by_job(msgs, "late").is_empty(),
    );
    let steady_before_stop = common::by_job(&host.messages(), "steady").len();
    let log = host.stderr();
    assert!(
        !log.contains("sleepy.wasm:"),
        "the hung load finished or failed early:\n{log}"
    );

    let (took, clean, msgs, log) = host.signal_and_wait("TERM");
    eprintln!("host exit after SIGTERM with describe() hung: {took:?}");
    assert!(clean, "host did not exit cleanly:\n{log}");
    // Within the documented shutdown time: runs in flight end by their timeout_ms, then
    // delivery gets 10 s; with stdout output and a quick probe that is well under 10 s.
    assert!(
        took < Duration::from_secs(10),
        "exit took {took:?} after SIGTERM:\n{log}"
    );

    let steady = common::by_job(&msgs, "steady");
    assert!(steady.len() >= steady_before_stop);
    assert!(steady.iter().all(|m| m.status == RunStatus::Ok));
    let widest = steady
        .windows(2)
        .map(|w| (w[1].started_at - w[0].started_at).num_milliseconds())
        .max()
        .unwrap_or(0);
    assert!(
        widest <= 1000,
        "steady job (200 ms interval) went {widest} ms without a run while a load hung"
    );
    assert!(common::by_job(&msgs, "sleepy").is_empty());
}
