//! Upgrading a host that used the previous release's default spool, `.sonde-spool` in
//! the working directory: the new default (a state directory) does not silently take it
//! over, the host warns about the runs waiting there, and pointed at it with
//! `--spool-dir` it converts the old segments and delivers those runs.

mod common;
mod kafka_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use sonde_tests::{create_topic, unique_topic, Env};

use kafka_support::*;

/// The previous release's segment format: `[len][crc32][key_len][key][value]` records.
fn previous_release_segment(runs: &[sonde_message::RunMessage]) -> Vec<u8> {
    let mut out = Vec::new();
    for run in runs {
        let (key, value) = (run.key(), run.encode());
        let mut body = (key.len() as u16).to_le_bytes().to_vec();
        body.extend_from_slice(key.as_bytes());
        body.extend_from_slice(&value);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
    }
    out
}

fn host_once(env: &Env, cwd: &Path, topic: &str, extra: &[&str]) -> Output {
    let cache = cwd.join("cache");
    common::host_command(&cache)
        .current_dir(cwd)
        .env("STATE_DIRECTORY", cwd.join("state"))
        .env("NO_COLOR", "1")
        .args(["--once", "--hostname", "upgrade-test", "--topic", topic])
        .arg("--probes")
        .arg(common::probe("cpu"))
        .arg("--kafka-brokers")
        .arg(&env.kafka_brokers)
        .arg("--cert-dir")
        .arg(&env.host_cert_dir)
        .args(extra)
        .output()
        .expect("run the host")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_old_default_spool_is_warned_about_then_converted_and_delivered_on_request() {
    let env = Env::load();
    let topic = unique_topic("host-upgrade");
    block_on(create_topic(&env, &topic, 1));
    let cwd = tempfile::tempdir().unwrap();
    let old_spool = cwd.path().join(".sonde-spool");
    std::fs::create_dir(&old_spool).unwrap();
    let left = [
        numbered_run("old-host", "cpu", 1),
        numbered_run("old-host", "cpu", 2),
        numbered_run("old-host", "cpu", 3),
    ];
    let old_segment = old_spool.join("00000000000000000040.seg");
    std::fs::write(&old_segment, previous_release_segment(&left)).unwrap();
    std::fs::write(old_spool.join("cursor"), "41\n").unwrap();
    std::fs::write(old_spool.join("lock"), "4294967294\n").unwrap();
    let old_bytes = std::fs::read(&old_segment).unwrap();

    // Default spool: the state directory; the old one is left alone, with a warning.
    let out = host_once(&env, cwd.path(), &topic, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(".sonde-spool holds 2 undelivered runs"),
        "{stderr}"
    );
    let spool = cwd.path().join("state/spool");
    assert_eq!(mode(&spool), 0o700);
    for entry in std::fs::read_dir(&spool).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    assert_eq!(std::fs::read(&old_segment).unwrap(), old_bytes, "untouched");

    // Pointed at it: converted, and its two undelivered runs go out with the new one.
    let out = host_once(&env, cwd.path(), &topic, &["--spool-dir", ".sonde-spool"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("converted 1 segments"), "{stderr}");
    assert!(
        !stderr.contains("undelivered runs of an earlier host"),
        "{stderr}"
    );

    let got = consume(&env, &topic, 4, Duration::from_secs(60));
    let old_ids: Vec<_> = got
        .iter()
        .filter(|(_, m)| m.host == "old-host")
        .map(|(_, m)| m.run_id)
        .collect();
    assert_eq!(
        old_ids,
        [left[1].run_id, left[2].run_id],
        "only what was undelivered"
    );
    let new_runs = got.iter().filter(|(_, m)| m.host == "upgrade-test").count();
    assert_eq!(new_runs, 2, "one cpu run from each host start: {got:?}");
}
