//! Saying so, once, when the subscription matches no topic on the brokers: a recorder and
//! hosts configured with different topics otherwise record nothing and say nothing (the
//! consumer just waits for partitions that never come).
//!
//! A metadata-only client (no group membership) looks at the brokers' topic list at start
//! and then every [`CHECK_INTERVAL`] until a matching topic exists: a warning the first
//! time none does, an info line when one appears after that, then it stops.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use tokio::sync::watch;

use crate::config::KafkaSettings;

/// How often the topic list is looked at while nothing matches: librdkafka's metadata
/// refresh interval of the consumer (see `consumer::client_config`).
pub const CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// How long one metadata request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// The first of `topics` the subscription takes: equal to a topic name, or matched by a
/// `^regex` subscription (librdkafka's convention). Internal topics (`__...`) never count.
pub fn first_match<'a>(
    subscription: &str,
    topics: impl IntoIterator<Item = &'a str>,
) -> Result<Option<&'a str>, regex::Error> {
    let mut topics = topics.into_iter().filter(|t| !t.starts_with("__"));
    if subscription.starts_with('^') {
        let re = regex::Regex::new(subscription)?;
        Ok(topics.find(|t| re.is_match(t)))
    } else {
        Ok(topics.find(|t| *t == subscription))
    }
}

/// The warning for a subscription that matches nothing on `brokers`.
pub fn no_topic_message(subscription: &str, brokers: &str) -> String {
    let what = if subscription.starts_with('^') {
        format!("no Kafka topic on {brokers} matches {subscription}")
    } else {
        format!("Kafka topic {subscription} does not exist on {brokers}")
    };
    format!(
        "{what}: nothing is recorded until a host publishes to it. Hosts publish to {} \
         unless given another topic (--topic, [kafka] topic); set kafka.topic (or --topic) \
         to the topic your hosts use",
        sonde_message::DEFAULT_TOPIC
    )
}

/// Watch `subscription` in the background until a matching topic exists or `stop` fires.
/// A regex this check cannot read (librdkafka's dialect differs in corners) is not watched.
pub fn spawn(
    k: &KafkaSettings,
    subscription: String,
    mut stop: watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>> {
    if let Err(e) = first_match(&subscription, []) {
        tracing::debug!("not watching for topics matching {subscription}: {e}");
        return Ok(None);
    }
    let client: BaseConsumer = crate::consumer::client_config(k)
        .create()
        .context("creating the Kafka metadata client")?;
    let client = Arc::new(client);
    let brokers = k.bootstrap_servers.clone();
    Ok(Some(tokio::spawn(async move {
        let mut warned = false;
        loop {
            let c = client.clone();
            let sub = subscription.clone();
            let found = tokio::task::spawn_blocking(move || -> Result<Option<String>> {
                let metadata = c.fetch_metadata(None, METADATA_TIMEOUT)?;
                let names = metadata.topics().iter().map(|t| t.name());
                Ok(first_match(&sub, names)?.map(str::to_owned))
            })
            .await;
            match found {
                Ok(Ok(Some(topic))) => {
                    if warned {
                        tracing::info!("Kafka topic {topic} now exists; consuming it");
                    }
                    return;
                }
                Ok(Ok(None)) if !warned => {
                    tracing::warn!("{}", no_topic_message(&subscription, &brokers));
                    warned = true;
                }
                Ok(Ok(None)) => {}
                // The consumer reports unreachable brokers itself; try again later.
                Ok(Err(e)) => tracing::debug!("topic check: {e:#}"),
                Err(e) => tracing::debug!("topic check task: {e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(CHECK_INTERVAL) => {}
                _ = stop.changed() => return,
            }
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_exactly_and_regexes_as_regexes() {
        let topics = ["__consumer_offsets", "sonde.measurements", "sonde.demo.1"];
        let m = |s| first_match(s, topics).expect("valid");
        assert_eq!(m("sonde.measurements"), Some("sonde.measurements"));
        assert_eq!(m("sonde"), None);
        assert_eq!(m("aiven_monitor_measure"), None);
        assert_eq!(m(r"^sonde\.demo\..*"), Some("sonde.demo.1"));
        assert_eq!(m(r"^__.*"), None, "internal topics do not count");
        assert_eq!(m("^other"), None);
        assert!(first_match("^(", topics).is_err());
    }

    #[test]
    fn the_warning_names_the_topic_and_what_to_do() {
        let m = no_topic_message("aiven_monitor_measure", "k:9093");
        assert!(
            m.starts_with("Kafka topic aiven_monitor_measure does not exist on k:9093"),
            "{m}"
        );
        assert!(
            m.contains("sonde.measurements") && m.contains("kafka.topic"),
            "{m}"
        );
        assert!(no_topic_message("^x", "k:9093").starts_with("no Kafka topic on k:9093 matches ^x"));
    }
}
