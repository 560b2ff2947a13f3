//! Hot-load: probes copied into, replaced in and removed from a watched directory take
//! effect while `host` runs.

mod common;

use std::path::Path;
use std::time::Duration;

/// A host running every probe in `watched` at 200 ms, its cache and config under `scratch`.
fn watching(scratch: &Path, watched: &Path) -> common::RunningHost {
    let config = scratch.join("host.toml");
    std::fs::write(
        &config,
        "min_interval_ms = 200\n[defaults]\ninterval_ms = 200\n",
    )
    .expect("write host.toml");
    common::RunningHost::start(
        &scratch.join("cache"),
        &[
            "--config",
            &config.display().to_string(),
            "--probes",
            &watched.display().to_string(),
        ],
    )
}

/// Runs of the job `mem` done by `probe`.
fn mem_runs_of(msgs: &[sonde_message::RunMessage], probe: &str) -> usize {
    common::by_job(msgs, "mem")
        .iter()
        .filter(|m| m.probe == probe)
        .count()
}

#[test]
fn added_replaced_and_removed_probes_take_effect_without_restart() {
    let dir = common::scratch();
    let watched = dir.path().join("probes");
    std::fs::create_dir(&watched).expect("mkdir");
    let host = watching(dir.path(), &watched);
    host.wait_for("the watcher to start", Duration::from_secs(30), |_, log| {
        log.contains("waiting for probe files")
    });

    // Copy under a temporary name, then rename: what a careful deployer does. The watcher
    // must also cope with a plain copy; the second probe is copied directly.
    let tmp = dir.path().join("incoming.wasm.part");
    std::fs::copy(common::probe("memory"), &tmp).expect("copy");
    std::fs::rename(&tmp, watched.join("mem.wasm")).expect("rename");
    host.wait_for(
        "runs of the added probe",
        Duration::from_secs(60),
        |msgs, _| mem_runs_of(msgs, "memory") >= 2,
    );

    // Replace mem.wasm with another probe: the job keeps its name, runs the new probe.
    std::fs::copy(common::probe("cpu"), watched.join("mem.wasm")).expect("copy over");
    host.wait_for(
        "runs of the replacement probe",
        Duration::from_secs(60),
        |msgs, _| mem_runs_of(msgs, "cpu") >= 1,
    );

    std::fs::remove_file(watched.join("mem.wasm")).expect("remove");
    host.wait_for("the job to stop", Duration::from_secs(60), |_, log| {
        log.contains("job stopped job=mem")
    });
    let after_stop = common::by_job(&host.messages(), "mem").len();
    // Several intervals later, still no new run of the removed job.
    std::thread::sleep(Duration::from_millis(1000));
    let (_, msgs, log) = host.stop();
    assert_eq!(
        common::by_job(&msgs, "mem").len(),
        after_stop,
        "removed probe kept running; log:\n{log}"
    );
    let mem = common::by_job(&msgs, "mem");
    assert!(mem.iter().all(|m| m.error.is_none()), "{mem:?}");
}

/// A deployment that keeps probes in a store and links them into the watched directory:
/// rewriting the link's target is seen by inotify on the target's directory, well before
/// the fallback pass (`FALLBACK_POLL_MS`, 30 s) would find it.
#[test]
fn a_probe_behind_a_symlink_is_swapped_when_its_target_is_rewritten() {
    let dir = common::scratch();
    let watched = dir.path().join("probes");
    let store = dir.path().join("store");
    std::fs::create_dir(&watched).expect("mkdir probes");
    std::fs::create_dir(&store).expect("mkdir store");
    std::fs::copy(common::probe("memory"), store.join("current.wasm")).expect("copy");
    std::os::unix::fs::symlink(store.join("current.wasm"), watched.join("mem.wasm"))
        .expect("symlink");
    let host = watching(dir.path(), &watched);
    host.wait_for(
        "runs of the linked probe",
        Duration::from_secs(60),
        |msgs, _| mem_runs_of(msgs, "memory") >= 1,
    );

    let tmp = store.join("incoming.part");
    std::fs::copy(common::probe("cpu"), &tmp).expect("copy");
    std::fs::rename(&tmp, store.join("current.wasm")).expect("rename over the target");
    host.wait_for(
        "runs of the new target, sooner than a fallback pass",
        Duration::from_secs(20),
        |msgs, _| mem_runs_of(msgs, "cpu") >= 1,
    );
    let (_, msgs, log) = host.stop();
    let mem = common::by_job(&msgs, "mem");
    assert!(mem.iter().all(|m| m.error.is_none()), "{mem:?}");
    assert!(log.contains("probe changed; swapping"), "{log}");
}
