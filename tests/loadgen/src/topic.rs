//! Creating the topic the fleet publishes to, with a given partition count, and deleting
//! it afterwards (the local broker keeps every message in memory).

use std::time::Duration;

use anyhow::Context as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;

use crate::publish::{tls_config, Config};

/// Creates `config.topic` with `partitions` partitions (replication 1); an existing topic
/// is left as it is. Brokers auto-create unknown topics with their default partition
/// count, so a run that needs a known count creates the topic first.
///
/// # Errors
/// When the broker cannot be reached or refuses.
pub fn create(config: &Config, partitions: i32) -> anyhow::Result<()> {
    let (admin, options) = admin(config)?;
    let topic = NewTopic::new(&config.topic, partitions, TopicReplication::Fixed(1));
    let results = futures::executor::block_on(admin.create_topics([&topic], &options))
        .with_context(|| format!("creating topic {} on {}", config.topic, config.brokers))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("the broker refused to create {topic}: {code}"),
        }
    }
    Ok(())
}

/// Deletes `config.topic`; a topic that does not exist is not an error.
///
/// # Errors
/// When the broker cannot be reached or refuses.
pub fn delete(config: &Config) -> anyhow::Result<()> {
    let (admin, options) = admin(config)?;
    let results = futures::executor::block_on(admin.delete_topics(&[&config.topic], &options))
        .with_context(|| format!("deleting topic {} on {}", config.topic, config.brokers))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((topic, code)) => anyhow::bail!("the broker refused to delete {topic}: {code}"),
        }
    }
    Ok(())
}

fn admin(config: &Config) -> anyhow::Result<(AdminClient<DefaultClientContext>, AdminOptions)> {
    let admin = tls_config(config)
        .create()
        .with_context(|| format!("creating a Kafka admin client for {}", config.brokers))?;
    let options = AdminOptions::new()
        .request_timeout(Some(Duration::from_secs(30)))
        .operation_timeout(Some(Duration::from_secs(30)));
    Ok((admin, options))
}
