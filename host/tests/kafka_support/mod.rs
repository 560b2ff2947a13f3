//! Shared by the `kafka_*` tests: sink settings for the local stack, numbered runs,
//! a consumer that collects what arrived, and captured logs.

#![allow(dead_code)] // each test binary uses its own subset

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use sonde_host::kafka::{KafkaArgs, Settings};
use sonde_message::{RunMessage, Sample};
use sonde_tests::{test_consumer_config, Env};

/// Settings as the host resolves them from flags: brokers, `--cert-dir`, topic, spool.
pub fn settings(brokers: &str, cert_dir: &Path, topic: &str, spool_dir: &Path) -> Settings {
    let args = KafkaArgs {
        brokers: Some(brokers.into()),
        topic: Some(topic.into()),
        cert_dir: Some(cert_dir.to_owned()),
        spool_dir: Some(spool_dir.to_owned()),
        ..Default::default()
    };
    match Settings::resolve(&args, None) {
        Ok(Some(mut s)) => {
            // For investigations: SONDE_TEST_KAFKA_OPTIONS="debug=eos;message.timeout.ms=5000".
            for opt in std::env::var("SONDE_TEST_KAFKA_OPTIONS")
                .unwrap_or_default()
                .split(';')
                .filter(|o| !o.is_empty())
            {
                s.options.push(
                    sonde_host::kafka::settings::parse_option(opt)
                        .expect("SONDE_TEST_KAFKA_OPTIONS"),
                );
            }
            s
        }
        other => panic!(
            "settings for {brokers} with {}: {other:?}",
            cert_dir.display()
        ),
    }
}

/// A run of `probe` on `host` carrying its number as the sample `test.seq`.
pub fn numbered_run(host: &str, probe: &str, seq: u64) -> RunMessage {
    let mut msg = RunMessage::new(host, probe, "0.1.0", probe, Utc::now());
    msg.samples.push(Sample {
        name: "test.seq".into(),
        value: seq as f64,
        unit: "1".into(),
        labels: Default::default(),
    });
    msg
}

pub fn seq_of(msg: &RunMessage) -> u64 {
    msg.samples
        .iter()
        .find(|s| s.name == "test.seq")
        .map_or(u64::MAX, |s| s.value as u64)
}

/// Consume `topic` from the beginning until `want` distinct run_ids arrived (or `patience`
/// ran out), then a little longer to catch duplicates. Returns (key, message) in arrival
/// order, which within a key is partition order.
pub fn consume(
    env: &Env,
    topic: &str,
    want: usize,
    patience: Duration,
) -> Vec<(String, RunMessage)> {
    let mut ids = std::collections::HashSet::new();
    consume_until(env, topic, patience, |got| {
        if let Some((_, m)) = got.last() {
            ids.insert(m.run_id);
        }
        ids.len() >= want
    })
}

/// Consume `topic` from the beginning until `done` (called after each message) says so or
/// `patience` ran out, then 3 s longer to catch duplicates.
pub fn consume_until(
    env: &Env,
    topic: &str,
    patience: Duration,
    mut done: impl FnMut(&[(String, RunMessage)]) -> bool,
) -> Vec<(String, RunMessage)> {
    let group = sonde_tests::unique_topic("group");
    let consumer: BaseConsumer = test_consumer_config(env, &env.host_cert_dir, &group)
        .create()
        .unwrap_or_else(|e| panic!("consumer for {}: {e}", env.kafka_brokers));
    consumer
        .subscribe(&[topic])
        .unwrap_or_else(|e| panic!("subscribe {topic}: {e}"));
    let mut got = Vec::new();
    let deadline = Instant::now() + patience;
    let mut linger_until: Option<Instant> = None;
    while Instant::now() < linger_until.unwrap_or(deadline) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                let msg = sonde_message::decode(m.payload().unwrap_or_default(), Utc::now())
                    .unwrap_or_else(|e| {
                        panic!(
                            "message at {topic}/{}@{} does not decode: {e}",
                            m.partition(),
                            m.offset()
                        )
                    });
                got.push((key, msg));
                if linger_until.is_none() && done(&got) {
                    linger_until = Some(Instant::now() + Duration::from_secs(3));
                }
            }
            Some(Err(e)) => eprintln!("consumer: {e}"),
            None => {}
        }
    }
    got
}

/// Messages per run_id, and per key the `test.seq` numbers in arrival order.
pub fn tally(
    got: &[(String, RunMessage)],
) -> (BTreeMap<uuid::Uuid, usize>, BTreeMap<String, Vec<u64>>) {
    let mut counts = BTreeMap::new();
    let mut per_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (key, msg) in got {
        *counts.entry(msg.run_id).or_insert(0) += 1;
        assert_eq!(key, &msg.key(), "Kafka key is host/probe");
        per_key.entry(key.clone()).or_default().push(seq_of(msg));
    }
    (counts, per_key)
}

/// Every published run arrived exactly once.
pub fn assert_each_arrived_once(counts: &BTreeMap<uuid::Uuid, usize>, published: &[uuid::Uuid]) {
    for id in published {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "run {id} arrived {:?} times",
            counts.get(id)
        );
    }
}

/// First occurrences must be in increasing order: redelivered duplicates may repeat
/// earlier numbers, but no run may arrive before one published earlier under its key.
pub fn assert_ordered_per_key(per_key: &BTreeMap<String, Vec<u64>>) {
    for (key, seqs) in per_key {
        let mut seen = std::collections::HashSet::new();
        let firsts: Vec<u64> = seqs.iter().copied().filter(|s| seen.insert(*s)).collect();
        assert!(
            firsts.windows(2).all(|w| w[0] < w[1]),
            "runs of {key} out of order: {seqs:?}"
        );
    }
}

pub fn wait_until(what: &str, patience: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {what} after {patience:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// Everything logged through `tracing` by this test process.
pub fn logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

/// Install the capturing subscriber (idempotent).
pub fn capture_logs() {
    let _ = log_buffer();
}

fn log_buffer() -> &'static Mutex<Vec<u8>> {
    static BUF: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf: &'static Mutex<Vec<u8>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info".into()),
            )
            .with_ansi(false)
            .with_writer(move || Tee(buf))
            .try_init();
        buf
    })
}

struct Tee(&'static Mutex<Vec<u8>>);

impl Write for Tee {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(data);
        std::io::stderr().write_all(data)?;
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
