//! Shared by the recorder's end-to-end tests: a recorder process with its own INI file,
//! a producer of Sonde messages, and counting what landed in PostgreSQL.
#![allow(dead_code)] // each test file uses a different part

pub mod fleet;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sonde_message::{RunMessage, Sample};
use sonde_tests::{kafka_client_config, Env};
use tokio_postgres::Client;

/// Where a recorder reads from and writes to.
#[derive(Clone)]
pub struct Target {
    pub env: Env,
    pub database: String,
    pub topic: String,
    pub group: String,
}

/// A `recorder.ini` for `t` (seed key names, `[writer]` section like the seed file).
pub fn ini(t: &Target, extra: &str) -> String {
    let target = sonde_tests::RecorderTarget {
        section: "writer",
        topic: &t.topic,
        group: &t.group,
        database: &t.database,
    };
    // Batches age out quickly in tests, unless a test sets the age limit itself.
    let delay = if extra.contains("batch.max_delay_ms") {
        ""
    } else {
        "batch.max_delay_ms = 200\n"
    };
    sonde_tests::recorder_ini(&t.env, &target, &format!("{delay}{extra}"))
}

/// [`ini`] with the lines setting `keys` replaced (`Some(value)`) or removed (`None`).
pub fn ini_with(t: &Target, keys: &[(&str, Option<&str>)], extra: &str) -> String {
    let mut text = ini(t, extra);
    for (key, value) in keys {
        let prefix = format!("{key} = ");
        let before = text.lines().filter(|l| l.starts_with(&prefix)).count();
        assert_eq!(before, 1, "{key} is set once in the test ini");
        text = text
            .lines()
            .filter_map(|l| match (l.starts_with(&prefix), value) {
                (false, _) => Some(l.to_owned()),
                (true, Some(v)) => Some(format!("{prefix}{v}")),
                (true, None) => None,
            })
            .collect::<Vec<_>>()
            .join("\n");
        text.push('\n');
    }
    text
}

/// What `recorder --check-config` did with this INI text and extra environment.
pub struct Checked {
    pub ok: bool,
    /// stdout then stderr.
    pub text: String,
}

pub fn check_config(ini_text: &str, envs: &[(&str, Option<&Path>)]) -> Checked {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("recorder.ini");
    std::fs::write(&path, ini_text).expect("write ini");
    let mut cmd = recorder_command(&path);
    cmd.arg("--check-config").env("NO_COLOR", "1");
    for (k, v) in envs {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().expect("run recorder --check-config");
    Checked {
        ok: out.status.success(),
        text: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A running `recorder` process; killed on drop. Its log goes to a file (printed when the
/// test fails), or to `$SONDE_RECORDER_LOG_DIR` with consumer-group debugging when set.
pub struct Recorder {
    pub child: Child,
    _dir: tempfile::TempDir,
    pub ini_path: PathBuf,
    pub log_path: PathBuf,
}

impl Recorder {
    pub fn start(t: &Target, extra: &str) -> Recorder {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = tempfile::tempdir().expect("temp dir");
        let ini_path = dir.path().join("recorder.ini");
        let log_dir = std::env::var_os("SONDE_RECORDER_LOG_DIR").map(PathBuf::from);
        let extra = match &log_dir {
            Some(_) => format!("{extra}\nkafka.option.debug = cgrp\n"),
            None => extra.to_owned(),
        };
        std::fs::write(&ini_path, ini(t, &extra)).expect("write recorder.ini");
        let log_path = match &log_dir {
            Some(d) => d.join(format!("{}-{n}.log", t.topic)),
            None => dir.path().join("recorder.log"),
        };
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut command = recorder_command(&ini_path);
        command.env("NO_COLOR", "1");
        if log_dir.is_some() && std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "debug,librdkafka=trace,tokio_postgres=info");
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn recorder");
        Recorder {
            child,
            _dir: dir,
            ini_path,
            log_path,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Wait until the recorder has logged `needle` (e.g. a partition assignment).
    pub async fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(180);
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "recorder never logged {needle:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Panics with the log when the recorder has exited (it must stay up through anything).
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the recorder exited ({status}):\n{}", self.log());
        }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -TERM failed");
        self.child.wait().is_ok_and(|s| s.success())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- recorder log {} ---\n{}",
                self.log_path.display(),
                self.log()
            );
        }
    }
}

pub fn recorder_command(ini_path: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_recorder"));
    cmd.arg("--config")
        .arg(ini_path)
        .env_remove("KAFKA_SERVER")
        .env_remove("PSQL_SERVER");
    cmd
}

/// `runs` runs of `samples` samples each, over 4 hosts; distinct `started_at` per run, so
/// (series, time) is unique per sample and duplicates are detectable.
pub fn make_runs(runs: usize, samples: usize) -> Vec<RunMessage> {
    let base: DateTime<Utc> = Utc::now() - chrono::Duration::minutes(10);
    (0..runs)
        .map(|i| {
            let host = format!("host-{}", i % 4);
            let started = base + chrono::Duration::microseconds(i as i64 * 10);
            let mut m = RunMessage::new(&host, "cpu", "0.1.0", "cpu", started);
            m.duration_us = 100;
            for j in 0..samples {
                m.samples.push(Sample {
                    name: "system.cpu.utilization".into(),
                    value: j as f64 / 10.0,
                    unit: "1".into(),
                    labels: [("cpu".to_string(), j.to_string())].into(),
                });
            }
            m
        })
        .collect()
}

pub fn producer(env: &Env) -> FutureProducer {
    kafka_client_config(env, &env.host_cert_dir)
        .set("linger.ms", "20")
        .set("enable.idempotence", "true")
        .create()
        .expect("create producer")
}

/// Produce (key, payload) pairs and wait for every delivery.
pub async fn produce(producer: &FutureProducer, topic: &str, messages: &[(String, Vec<u8>)]) {
    let mut pending = Vec::with_capacity(messages.len());
    for (key, payload) in messages {
        let record = FutureRecord::to(topic).key(key).payload(payload);
        pending.push(producer.send_result(record).expect("queue message"));
    }
    for delivery in pending {
        match delivery.await {
            Ok(Ok(_)) => {}
            other => panic!("delivery to {topic} failed: {other:?}"),
        }
    }
}

pub fn encoded(runs: &[RunMessage]) -> Vec<(String, Vec<u8>)> {
    runs.iter().map(|m| (m.key(), m.encode())).collect()
}

pub async fn count(client: &Client, sql: &str) -> i64 {
    match client.query_one(sql, &[]).await {
        Ok(row) => row.get(0),
        // Tables appear when the recorder has migrated; until then the count is 0.
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => 0,
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// Poll until `sql` returns `want` (a generous deadline only to fail instead of hanging).
pub async fn wait_for_count(client: &Client, sql: &str, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let got = count(client, sql).await;
        if got == want {
            return;
        }
        assert!(got < want, "{sql} = {got}, more than the {want} expected");
        assert!(
            Instant::now() < deadline,
            "{sql} stuck at {got}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The exactly-once assertions: one probe_run per distinct run, one measurement per
/// sample, no (series, time) twice.
pub async fn assert_exactly(client: &Client, runs: i64, samples: i64) {
    assert_eq!(
        count(client, "SELECT count(*) FROM probe_run").await,
        runs,
        "probe_run rows"
    );
    assert_eq!(
        count(client, "SELECT count(*) FROM measurement").await,
        samples,
        "measurement rows"
    );
    let distinct = count(
        client,
        "SELECT count(*) FROM (SELECT DISTINCT series_id, time FROM measurement) d",
    )
    .await;
    assert_eq!(distinct, samples, "duplicate measurements");
}

/// A fresh topic, database and group on the shared stack.
pub async fn fresh_target(prefix: &str, partitions: i32) -> Target {
    let env = Env::load();
    let topic = sonde_tests::unique_topic(prefix);
    sonde_tests::create_topic(&env, &topic, partitions).await;
    let database = sonde_tests::create_test_database(&env).await;
    Target {
        group: format!("{topic}-group"),
        env,
        database,
        topic,
    }
}
