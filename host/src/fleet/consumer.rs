//! The control-topic consumer: one thread reading every partition of the fleet topic from
//! the offsets kept in the state directory (the beginning on a fresh host), handing each
//! bundle to [`Fleet::apply`] and publishing the jobs to run whenever they change.
//!
//! Every host reads every bundle, so there is no consumer group sharing: partitions are
//! assigned, not subscribed, and nothing is committed to the broker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::watch;

use super::apply::{Fleet, FleetJob, Outcome};
use super::bundle::max_bundle_bytes;
use crate::kafka::Settings;

/// How often the topic's partitions are looked up again once known (new partitions).
const METADATA_REFRESH: Duration = Duration::from_secs(10);
/// How often while the topic is not there yet or the broker is unreachable.
const METADATA_RETRY: Duration = Duration::from_secs(1);
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// The running consumer; dropping it stops the thread.
pub struct FleetConsumer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FleetConsumer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Start consuming `topic`; `jobs` receives the fleet's jobs after every change.
pub fn start(
    settings: &Settings,
    topic: &str,
    fleet: Fleet,
    max_component_bytes: u64,
    jobs: watch::Sender<Vec<FleetJob>>,
) -> anyhow::Result<FleetConsumer> {
    let max_bytes = max_bundle_bytes(max_component_bytes).min(i32::MAX as u64 - 1024);
    let mut config = settings.connection_config();
    config
        .set("group.id", format!("sonde-fleet-{}", fleet.hostname))
        .set("client.id", "sonde-host-fleet")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("allow.auto.create.topics", "false")
        // A bundle should start soon after it is published.
        .set("fetch.wait.max.ms", "100")
        // librdkafka never takes in more than one bundle can be; `open` checks each again.
        .set("fetch.max.bytes", max_bytes.to_string())
        .set("max.partition.fetch.bytes", max_bytes.to_string())
        .set("receive.message.max.bytes", (max_bytes + 1024).to_string());
    let consumer: BaseConsumer = config
        .create()
        .context("cannot create the fleet consumer")?;
    let stop = Arc::new(AtomicBool::new(false));
    let topic = topic.to_owned();
    let stopping = stop.clone();
    let thread = std::thread::Builder::new()
        .name("sonde-fleet".into())
        .spawn(move || run(consumer, &topic, fleet, jobs, &stopping))
        .context("cannot start the fleet consumer thread")?;
    Ok(FleetConsumer {
        stop,
        thread: Some(thread),
    })
}

fn run(
    consumer: BaseConsumer,
    topic: &str,
    mut fleet: Fleet,
    jobs: watch::Sender<Vec<FleetJob>>,
    stop: &AtomicBool,
) {
    let mut partitions = 0usize;
    let mut next_lookup = Instant::now();
    let mut reported = None::<String>;
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next_lookup {
            match lookup_partitions(&consumer, topic) {
                Ok(n) if n != partitions => {
                    if let Err(e) = assign(&consumer, topic, n, &fleet) {
                        tracing::error!("fleet: {e:#}");
                    } else {
                        tracing::info!(topic, partitions = n, "fleet: reading the control topic");
                        partitions = n;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let text = format!("{e:#}");
                    if reported.as_deref() != Some(&text) {
                        tracing::warn!(topic, "fleet: control topic not readable yet: {text}");
                        reported = Some(text);
                    }
                }
            }
            next_lookup = Instant::now()
                + if partitions == 0 {
                    METADATA_RETRY
                } else {
                    METADATA_REFRESH
                };
        }
        match consumer.poll(POLL_TIMEOUT) {
            None => {}
            Some(Err(e)) => tracing::debug!("fleet consumer: {e}"),
            Some(Ok(m)) => {
                let outcome = fleet.apply(m.payload(), m.partition(), m.offset());
                if outcome == (Outcome::Taken { changed: true }) {
                    jobs.send_replace(fleet.jobs());
                }
            }
        }
    }
}

fn lookup_partitions(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<usize> {
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .context("no metadata")?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .context("topic missing from the metadata")?;
    if let Some(e) = t.error() {
        anyhow::bail!("{e:?}");
    }
    if t.partitions().is_empty() {
        anyhow::bail!("no partitions");
    }
    Ok(t.partitions().len())
}

fn assign(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: usize,
    fleet: &Fleet,
) -> anyhow::Result<()> {
    let mut list = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        let offset = fleet
            .offsets()
            .get(&p)
            .map_or(Offset::Beginning, |o| Offset::Offset(*o));
        list.add_partition_offset(topic, p, offset)
            .context("building the partition list")?;
    }
    consumer
        .assign(&list)
        .context("assigning the control topic's partitions")
}
