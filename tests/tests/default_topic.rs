//! A host and a recorder started without any topic setting meet: what the host publishes
//! with its defaults is recorded by a recorder with its defaults (the real binaries, the
//! real broker over mutual TLS, PostgreSQL over SSL).
//!
//! The default topic is shared by everything on the broker, so the test picks its own run
//! out by a host name no one else uses and never asserts on the topic's other contents.

mod pipeline;

use std::process::Command;
use std::time::{Duration, Instant};

use pipeline::{binary, probe, Proc};
use sonde_tests::{create_test_database, pg_connect, recorder_ini, Env, RecorderTarget};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_recorder_with_default_topics_meet() {
    let env = Env::load();
    let dir = tempfile::tempdir().expect("scratch dir");
    let database = create_test_database(&env).await;
    let hostname = format!("default-topic-{}", uuid::Uuid::now_v7().simple());
    let group = format!("{hostname}-recorder");

    // The test support writes kafka.topic; a default-topic recorder has no such line.
    let target = RecorderTarget {
        section: "recorder",
        topic: "unused",
        group: &group,
        database: &database,
    };
    let ini: String = recorder_ini(&env, &target, "batch.max_delay_ms = 200")
        .lines()
        .filter(|l| !l.starts_with("kafka.topic ="))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!ini.lines().any(|l| l.starts_with("kafka.topic")), "{ini}");
    let ini_path = dir.path().join("recorder.ini");
    std::fs::write(&ini_path, ini).expect("write recorder.ini");
    let mut recorder_cmd = Command::new(binary("recorder"));
    recorder_cmd
        .arg("--config")
        .arg(&ini_path)
        .env_remove("KAFKA_SERVER")
        .env_remove("PSQL_SERVER")
        .env("NO_COLOR", "1");
    let mut recorder = Proc::spawn("recorder", recorder_cmd, dir.path().join("recorder.log"));

    let host = Command::new(binary("host"))
        .arg("--once")
        .arg("--probes")
        .arg(probe("memory"))
        .arg("--kafka-brokers")
        .arg(&env.kafka_brokers)
        .arg("--cert-dir")
        .arg(&env.host_cert_dir)
        .arg("--spool-dir")
        .arg(dir.path().join("spool"))
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .arg("--hostname")
        .arg(&hostname)
        .env_remove("KAFKA_SERVER")
        .env("NO_COLOR", "1")
        .output()
        .expect("run host --once");
    assert!(
        host.status.success(),
        "host --once failed: {}",
        String::from_utf8_lossy(&host.stderr)
    );

    let db = pg_connect(&env, &database)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        recorder.assert_running();
        let recorded = db
            .query_opt(
                "SELECT topic FROM probe_run WHERE host = $1 AND probe = 'memory'",
                &[&hostname],
            )
            .await;
        // No row yet, or no tables yet (the recorder has not migrated): look again.
        if let Ok(Some(row)) = recorded {
            let topic: String = row.get(0);
            assert_eq!(topic, sonde_message::DEFAULT_TOPIC);
            assert_eq!(topic, "sonde.measurements");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the host's run never reached PostgreSQL; recorder log:\n{}",
            recorder.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        recorder.log().contains("consuming sonde.measurements"),
        "{}",
        recorder.log_tail(40)
    );
}
