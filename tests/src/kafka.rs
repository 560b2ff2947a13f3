//! Kafka clients for tests: TLS client configs, unique topics, explicit topic creation.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;

use crate::env::{Env, STACK_DOWN};

/// Consumer-group session timeout for tests: with it a group joins in ~3 s on the local
/// broker instead of ~23 s with librdkafka's defaults.
pub const TEST_SESSION_TIMEOUT_MS: &str = "6000";
/// Heartbeat interval that goes with [`TEST_SESSION_TIMEOUT_MS`].
pub const TEST_HEARTBEAT_INTERVAL_MS: &str = "1000";

/// A topic name no other test (or earlier run) uses: `<prefix>-<pid>-<counter>-<uuid v7>`.
pub fn unique_topic(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        uuid::Uuid::now_v7().simple()
    )
}

/// Client config for `env.kafka_brokers` over mutual TLS with the files in `cert_dir`
/// (`ca.pem`, `service.cert`, `service.key`). The broker's certificate and host name are
/// verified against `cert_dir/ca.pem`.
pub fn kafka_client_config(env: &Env, cert_dir: &Path) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &env.kafka_brokers)
        .set("security.protocol", "ssl")
        .set("ssl.ca.location", path_str(&cert_dir.join("ca.pem")))
        .set(
            "ssl.certificate.location",
            path_str(&cert_dir.join("service.cert")),
        )
        .set("ssl.key.location", path_str(&cert_dir.join("service.key")))
        .set("ssl.endpoint.identification.algorithm", "https");
    config
}

/// [`kafka_client_config`] plus consumer settings for tests: the given group, fast group
/// join (session 6 s, heartbeat 1 s), start from the earliest offset, no auto commit.
pub fn test_consumer_config(env: &Env, cert_dir: &Path, group_id: &str) -> ClientConfig {
    let mut config = kafka_client_config(env, cert_dir);
    config
        .set("group.id", group_id)
        .set("session.timeout.ms", TEST_SESSION_TIMEOUT_MS)
        .set("heartbeat.interval.ms", TEST_HEARTBEAT_INTERVAL_MS)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    config
}

/// Writes `payload` under `key` to `topic` with the host's client certificate, bypassing
/// every check Sonde's own producers make (as anyone with write access to the topic could).
///
/// # Panics
/// When the broker does not take the message, hinting at `just up`.
pub fn produce_raw(env: &Env, topic: &str, key: &str, payload: &[u8]) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = kafka_client_config(env, &env.host_cert_dir)
        .create()
        .unwrap_or_else(|e| panic!("Kafka producer: {e}"));
    if let Err((e, _)) = producer.send(BaseRecord::to(topic).key(key).payload(payload)) {
        panic!("sending to {topic}: {e} ({STACK_DOWN}?)");
    }
    if let Err(e) = producer.flush(Duration::from_secs(30)) {
        panic!("flushing to {topic}: {e} ({STACK_DOWN}?)");
    }
}

/// Creates `name` with `partitions` partitions (replication 1) through the TLS listener with
/// the host's client cert. The broker auto-creates unknown topics with 4 partitions, so
/// tests that care about the partition count create their topic first. An existing topic
/// is accepted.
///
/// # Panics
/// When the broker refuses or cannot be reached, with the cause and a hint to run `just up`.
pub async fn create_topic(env: &Env, name: &str, partitions: i32) {
    if let Err(e) = try_create_topic(env, name, partitions).await {
        panic!(
            "creating topic {name} on {} failed: {e:#} ({STACK_DOWN}?)",
            env.kafka_brokers
        );
    }
}

/// Like [`create_topic`], but returns the error.
pub async fn try_create_topic(env: &Env, name: &str, partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        kafka_client_config(env, &env.host_cert_dir).create()?;
    let options = AdminOptions::new()
        .request_timeout(Some(Duration::from_secs(30)))
        .operation_timeout(Some(Duration::from_secs(30)));
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for result in admin.create_topics([&topic], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("broker refused to create {topic}: {code}"),
        }
    }
    Ok(())
}

fn path_str(path: &Path) -> &str {
    // Paths come from .dev/env or SONDE_* variables; a non-UTF-8 path cannot be passed to
    // librdkafka anyway, and an empty string makes librdkafka report the missing file.
    path.to_str().unwrap_or_default()
}
