//! Faults the local broker cannot be made to show, on rdkafka's MockCluster (plaintext):
//! produce requests refused by the broker, and a topic that does not exist.

mod kafka_support;

use std::time::Duration;

use chrono::Utc;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{ClientConfig, Message};
use sonde_host::kafka::{KafkaSink, Settings};
use sonde_host::output::Sink;

use kafka_support::*;

fn mock_settings(
    brokers: &str,
    topic: &str,
    spool: &std::path::Path,
    extra: &[(&str, &str)],
) -> Settings {
    let mut options = vec![("security.protocol".to_string(), "plaintext".to_string())];
    options.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings {
        brokers: brokers.into(),
        topic: topic.into(),
        tls: Default::default(),
        options,
        spool_dir: spool.to_owned(),
        spool_max_bytes: 1 << 30,
    }
}

fn consume_mock(
    brokers: &str,
    topic: &str,
    want: usize,
) -> Vec<(String, sonde_message::RunMessage)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "mock-check")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("mock consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while got.len() < want && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let msg = sonde_message::decode(m.payload().unwrap_or_default(), Utc::now())
                .expect("decodes");
            got.push((key, msg));
        }
    }
    got
}

#[test]
fn produce_refused_by_the_broker_is_resent_from_the_spool_in_order() {
    let mock = MockCluster::new(1).expect("mock cluster");
    let topic = "refused";
    mock.create_topic(topic, 2, 1).expect("mock topic");
    // Not retriable inside librdkafka: the delivery report fails and the spool resends.
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 3],
    );
    let spool = tempfile::tempdir().unwrap();
    let sink = KafkaSink::start(&mock_settings(
        &mock.bootstrap_servers(),
        topic,
        spool.path(),
        &[],
    ))
    .unwrap();
    let mut published = Vec::new();
    for seq in 0..30 {
        let msg = numbered_run(
            "web-1",
            ["cpu", "memory", "http-check"][seq as usize % 3],
            seq,
        );
        published.push(msg.run_id);
        sink.publish(msg);
    }
    sink.shutdown(Duration::from_secs(60)).unwrap();
    assert_eq!(sink.pending(), 0, "all delivered after the refusals");

    let got = consume_mock(&mock.bootstrap_servers(), topic, published.len());
    let (counts, per_key) = tally(&got);
    for id in &published {
        assert!(counts.contains_key(id), "run {id} lost");
    }
    assert_ordered_per_key(&per_key);
}

#[test]
fn unknown_topic_is_reported_once_naming_it_and_runs_stay_spooled() {
    capture_logs();
    let mock = MockCluster::new(1).expect("mock cluster");
    let topic = "does-not-exist";
    mock.topic_error(
        topic,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
    )
    .expect("topic error");
    let spool = tempfile::tempdir().unwrap();
    let settings = mock_settings(
        &mock.bootstrap_servers(),
        topic,
        spool.path(),
        &[
            ("topic.metadata.propagation.max.ms", "500"),
            ("message.timeout.ms", "3000"),
        ],
    );
    let sink = KafkaSink::start(&settings).unwrap();
    for seq in 0..4 {
        sink.publish(numbered_run("web-1", "cpu", seq));
    }
    let needle = format!("topic `{topic}` does not exist");
    wait_until(
        "the unknown-topic error in the log",
        Duration::from_secs(60),
        || logs().contains(&needle),
    );
    // Give retries time to happen: the line must still be there only once.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(logs().matches(&needle).count(), 1, "{}", logs());
    assert_eq!(sink.pending(), 4);
    sink.shutdown(Duration::ZERO).unwrap();
}
