//! The real `host` binary, probes at 1 s, killed with SIGKILL during a broker outage:
//! the runs it had spooled arrive after a restart on the same spool, in order per job.

mod kafka_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sonde_host::kafka::spool::Spool;
use sonde_tests::{create_topic, unique_topic, workspace_root, Env, PrivateBroker};

use kafka_support::*;

fn host_toml(dir: &Path) -> std::path::PathBuf {
    let probes = workspace_root().join("probes");
    let mut toml = String::new();
    for probe in ["cpu", "memory"] {
        let wasm = probes.join(format!("{probe}.wasm"));
        assert!(
            wasm.exists(),
            "{} is missing: run `just build-probes`",
            wasm.display()
        );
        toml.push_str(&format!(
            "[[job]]\nprobe = {:?}\ninterval_ms = 1000\n\n",
            wasm.display().to_string()
        ));
    }
    let path = dir.join("host.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn start_host(env: &Env, dir: &Path, hostname: &str, topic: &str, log: &str) -> Child {
    let stderr = std::fs::File::create(dir.join(log)).unwrap();
    Command::new(env!("CARGO_BIN_EXE_host"))
        .arg("--config")
        .arg(dir.join("host.toml"))
        .args([
            "--hostname",
            hostname,
            "--kafka-brokers",
            &env.kafka_brokers,
            "--topic",
            topic,
        ])
        .arg("--cert-dir")
        .arg(&env.host_cert_dir)
        .arg("--spool-dir")
        .arg(dir.join("spool"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start the host binary")
}

/// The first undelivered sequence number the host saved (0 before any delivery).
fn saved_cursor(spool: &Path) -> u64 {
    std::fs::read_to_string(spool.join("cursor"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn host_killed_during_an_outage_delivers_its_spooled_runs_after_restart() {
    let env = Env::load();
    let broker = PrivateBroker::start();
    let env = broker.env(&env);
    let topic = unique_topic("host-bin-crash");
    block_on(create_topic(&env, &topic, 2));
    let dir = tempfile::tempdir().unwrap();
    host_toml(dir.path());
    let hostname = format!("crash-{}", uuid::Uuid::now_v7().simple());
    let spool_dir = dir.path().join("spool");

    let mut first = start_host(&env, dir.path(), &hostname, &topic, "first.log");
    wait_until(
        "the host's first deliveries",
        Duration::from_secs(90),
        || saved_cursor(&spool_dir) >= 2,
    );
    broker.front_stop();
    // Probes keep running at 1 s while the broker is unreachable.
    std::thread::sleep(Duration::from_secs(10));
    first.kill().expect("kill -9 the host");
    first.wait().expect("reap the host");

    // What the killed host had not delivered: it must all arrive after the restart.
    let spooled = {
        let (mut spool, recovery) = Spool::open(&spool_dir, 1 << 30, 8 << 20).unwrap();
        let mut ids = Vec::new();
        while let Some((_, rec)) = spool.read_next().unwrap() {
            ids.push(
                sonde_message::decode(&rec.value, chrono::Utc::now())
                    .expect("spooled run decodes")
                    .run_id,
            );
        }
        assert_eq!(ids.len() as u64, recovery.pending);
        ids
    };
    assert!(
        spooled.len() >= 6,
        "runs of the outage were spooled: {}",
        spooled.len()
    );

    broker.front_start();
    let mut second = start_host(&env, dir.path(), &hostname, &topic, "second.log");
    let mut missing: std::collections::HashSet<_> = spooled.iter().copied().collect();
    let got = consume_until(&env, &topic, Duration::from_secs(120), |got| {
        if let Some((_, m)) = got.last() {
            missing.remove(&m.run_id);
        }
        missing.is_empty()
    });
    second.kill().expect("stop the second host");
    second.wait().expect("reap the second host");
    let log = std::fs::read_to_string(dir.path().join("second.log")).unwrap_or_default();
    assert!(
        missing.is_empty(),
        "{} spooled runs never arrived; second host's log:\n{log}",
        missing.len()
    );

    // In order per job: started_at grows along each key's partition (duplicates aside).
    let mut per_key: std::collections::BTreeMap<String, Vec<chrono::DateTime<chrono::Utc>>> =
        Default::default();
    let mut seen = std::collections::HashSet::new();
    for (key, msg) in &got {
        assert_eq!(msg.host, hostname);
        if seen.insert(msg.run_id) {
            per_key.entry(key.clone()).or_default().push(msg.started_at);
        }
    }
    assert_eq!(per_key.len(), 2, "both jobs' runs arrived");
    for (key, times) in &per_key {
        assert!(
            times.windows(2).all(|w| w[0] < w[1]),
            "runs of {key} out of order: {times:?}"
        );
    }
}
