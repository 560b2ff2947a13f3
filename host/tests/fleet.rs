//! Probes delivered over the control topic of the local mutual-TLS broker (`just up`):
//! bundles that are unsigned, signed by an unknown key, carry a component other than the
//! one signed, or replay an older version are refused, logged and counted, and never run;
//! a host restarted without a broker runs its last verified bundle from its state directory.

mod common;
mod kafka_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sonde_tests::{create_topic, free_port, http_get, produce_raw, unique_topic, Env};

use common::*;
use kafka_support::{block_on, wait_until};

fn host(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_host"))
        .args(args)
        .env_remove("KAFKA_SERVER")
        .output()
        .expect("run host");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "host {args:?}: {text}");
    text
}

fn config(dir: &Path, env: &Env, ctl: &str, out: Option<&str>) -> std::path::PathBuf {
    let kafka = match out {
        Some(topic) => format!(
            // The spool directory is relative to the working directory: keep it in the scratch dir.
            "[kafka]\nbrokers = \"{}\"\ncert_dir = \"{}\"\ntopic = \"{topic}\"\nspool_dir = \"{}\"\n",
            env.kafka_brokers,
            env.host_cert_dir.display(),
            dir.join("spool").display()
        ),
        None => String::new(),
    };
    let text = format!(
        "hostname = \"fleet-test-1\"\n{kafka}[fleet]\ntopic = \"{ctl}\"\ntrusted_keys = [\"trusted.pub\"]\nstate_dir = \"state\"\nlabels = {{ env = \"test\" }}\n"
    );
    let path = dir.join(if out.is_some() {
        "host.toml"
    } else {
        "offline.toml"
    });
    std::fs::write(&path, text).unwrap();
    path
}

fn metric(addr: &str, name: &str) -> f64 {
    let (_, body) = http_get(addr, "/metrics").unwrap_or((0, String::new()));
    body.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn refused_bundles_never_run_and_kept_bundles_run_without_a_broker() {
    let env = Env::load();
    let dir = scratch();
    let d = dir.path();
    let ctl = unique_topic("fleet-ctl");
    let out = unique_topic("fleet-out");
    block_on(create_topic(&env, &ctl, 2));
    let s = |p: &Path| p.to_string_lossy().into_owned();
    host(&["probes", "keygen", &s(&d.join("trusted"))]);
    host(&["probes", "keygen", &s(&d.join("stranger"))]);
    let cfg = config(d, &env, &ctl, Some(&out));
    let (cpu, memory) = (probe("cpu"), probe("memory"));
    let publish = |file: &Path, job: &str, key: &str, version: &str, extra: &[&str]| {
        let mut args = vec![
            "--cache-dir".to_string(),
            s(&d.join("cache")),
            "probes".into(),
            "publish".into(),
            s(file),
            "--name".into(),
            job.into(),
            "--signing-key".into(),
            s(&d.join(key)),
            "--bundle-version".into(),
            version.into(),
            "--config".into(),
            s(&cfg),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        host(&argv)
    };

    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let running = RunningHost::start(
        &d.join("cache"),
        &["--config", &s(&cfg), "--metrics-addr", &metrics_addr],
    );
    publish(&cpu, "probe", "trusted.key", "10", &[]);
    running.wait_for(
        "the signed cpu bundle to start",
        Duration::from_secs(60),
        |_, log| log.contains("job started job=probe probe=cpu"),
    );

    // An old bundle kept for replaying later, then v11 replaces v10.
    let v10 = d.join("v10.bundle");
    publish(&cpu, "probe", "trusted.key", "10", &["--out", &s(&v10)]);
    publish(&memory, "probe", "trusted.key", "11", &[]);
    running.wait_for("v11 to replace v10", Duration::from_secs(60), |_, log| {
        log.contains("job started job=probe probe=memory")
    });

    publish(&cpu, "evil-key", "stranger.key", "1", &[]);
    let tampered = d.join("tampered.bundle");
    publish(
        &cpu,
        "evil-sha",
        "trusted.key",
        "1",
        &["--out", &s(&tampered)],
    );
    let mut bytes = std::fs::read(&tampered).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    produce_raw(&env, &ctl, "evil-sha", &bytes);
    produce_raw(&env, &ctl, "evil-unsigned", &std::fs::read(&cpu).unwrap());
    // The Kafka key says `evil-key`; the signed metadata says `probe`: it is a replay of `probe`.
    produce_raw(&env, &ctl, "evil-key", &std::fs::read(&v10).unwrap());

    let refused = |reason: &str| {
        metric(
            &metrics_addr,
            &format!("sonde_host_fleet_bundles_refused_total{{reason=\"{reason}\"}}"),
        )
    };
    wait_until("four refusals", Duration::from_secs(60), || {
        ["unknown_key", "sha256_mismatch", "unsigned", "replay"]
            .iter()
            .all(|r| refused(r) == 1.0)
    });
    assert_eq!(
        metric(&metrics_addr, "sonde_host_fleet_bundles_accepted_total"),
        2.0
    );
    std::thread::sleep(Duration::from_secs(2));
    let (_, _, log) = running.stop();
    for reason in ["unknown_key", "sha256_mismatch", "unsigned", "replay"] {
        let lines = log
            .lines()
            .filter(|l| {
                l.contains("fleet bundle refused") && l.contains(&format!("reason=\"{reason}\""))
            })
            .count();
        assert_eq!(lines, 1, "one log line for {reason}:\n{log}");
    }
    assert!(!log.contains("job=evil"), "a refused bundle ran:\n{log}");
    assert_eq!(
        log.matches("job started job=probe").count(),
        2,
        "v10 then v11 started, the replayed v10 did not:\n{log}"
    );

    // Restarted with no broker at all: the kept v11 runs, verified again from the state directory.
    let offline = config(d, &env, &ctl, None);
    let again = RunningHost::start(&d.join("cache"), &["--config", &s(&offline)]);
    again.wait_for(
        "the kept bundle to run offline",
        Duration::from_secs(60),
        |m, _| m.iter().any(|m| m.job == "probe" && m.probe == "memory"),
    );
    let (_, messages, log) = again.stop();
    assert!(
        messages
            .iter()
            .all(|m| m.job == "probe" && m.probe == "memory"),
        "only the last verified bundle runs: {:?}\n{log}",
        messages
            .iter()
            .map(|m| (&m.job, &m.probe))
            .collect::<Vec<_>>()
    );
    assert!(log.contains("only the kept bundles run"), "{log}");
}
