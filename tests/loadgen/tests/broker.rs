//! A short run against the local broker (`just up`): every run the generator recorded as
//! acknowledged is on the topic once, decodes with the recorder's decoder, and sits under
//! the host's key; then the topic is deleted.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use sonde_loadgen::fleet::Shape;
use sonde_loadgen::publish::{self, Config};
use sonde_loadgen::record;
use sonde_tests::{create_topic, test_consumer_config, unique_topic, Env};

#[tokio::test(flavor = "multi_thread")]
async fn a_short_run_is_all_on_the_topic_once_and_decodes() {
    let env = Env::load();
    let topic = unique_topic("loadgen");
    create_topic(&env, &topic, 8).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        brokers: env.kafka_brokers.clone(),
        cert_dir: env.host_cert_dir.clone(),
        topic: topic.clone(),
        hosts: 40,
        interval: Duration::from_millis(1000),
        length: Duration::from_secs(2),
        shape: Shape {
            cores: 2,
            http_checks: 2,
        },
        record: Some(dir.path().join("published.tsv")),
        progress: Some(dir.path().join("progress")),
        seed: 3,
        flush_timeout: Duration::from_secs(30),
    };
    let summary = tokio::task::spawn_blocking({
        let config = config.clone();
        move || publish::run(&config)
    })
    .await
    .expect("generator thread")
    .expect("publishing to the local broker");
    let runs = 40 * 5 * 2;
    assert_eq!(summary.sent_runs, runs);
    assert_eq!(summary.acked_runs, runs, "{summary:?}");
    assert_eq!(summary.failed_runs, 0);
    let published = record::read(&dir.path().join("published.tsv")).expect("record file");
    assert_eq!(published.len() as u64, runs);
    let progress = std::fs::read_to_string(dir.path().join("progress")).expect("progress file");
    assert!(
        progress.ends_with(&format!(" {runs} {runs} 0\n")),
        "{progress}"
    );

    let consumer: BaseConsumer =
        test_consumer_config(&env, &env.recorder_cert_dir, &unique_topic("loadgen-check"))
            .create()
            .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut seen: HashMap<uuid::Uuid, (String, u32)> = HashMap::new();
    let mut partitions = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (seen.len() as u64) < runs && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.expect("consuming");
        let run = sonde_message::decode(message.payload().expect("payload"), Utc::now())
            .unwrap_or_else(|e| panic!("offset {}: {e}", message.offset()));
        let key = std::str::from_utf8(message.key().expect("key")).expect("UTF-8 key");
        assert_eq!(key, run.key());
        partitions.insert(message.partition());
        let previous = seen.insert(run.run_id, (run.host.clone(), run.samples.len() as u32));
        assert!(previous.is_none(), "run {} on the topic twice", run.run_id);
    }
    assert_eq!(seen.len() as u64, runs, "runs consumed before the deadline");
    for (run_id, host, probe, samples) in &published {
        let (seen_host, seen_samples) = seen
            .get(run_id)
            .unwrap_or_else(|| panic!("recorded run {run_id} not on the topic"));
        assert_eq!((seen_host, seen_samples), (host, samples), "{probe}");
    }
    assert!(
        partitions.len() > 4,
        "40 hosts' keys spread over the 8 partitions: {partitions:?}"
    );
    // The local broker keeps messages in memory until their topic goes.
    sonde_loadgen::topic::delete(&config).expect("deleting the topic");
}
