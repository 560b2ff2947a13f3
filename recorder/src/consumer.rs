//! The Kafka side: a group consumer that never commits on its own and, on every partition
//! assignment, starts each partition at the offset stored in PostgreSQL.
//!
//! Why assignment reads PostgreSQL synchronously: librdkafka calls the rebalance callback
//! from inside `poll`, and the assignment must carry its start offsets before any message
//! of it is fetched. The lookup uses a short-lived connection on its own thread so it cannot
//! deadlock with the writer's session on the main runtime.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{
    BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::batch::Partition;
use crate::config::KafkaSettings;
use crate::db::PgTarget;
use crate::telemetry::ConsumerMetrics;

/// How often librdkafka reports broker states and partition watermarks (for the metrics).
pub const STATISTICS_INTERVAL_MS: u64 = 5_000;

/// Rebalance outcomes the main loop has not looked at yet.
#[derive(Debug, Default)]
pub struct RebalanceEvents {
    /// Partitions taken away: their uncommitted messages must be dropped.
    pub revoked: HashSet<Partition>,
    /// Partitions given to us, with the offset they start at (None: from the beginning).
    pub assigned: Vec<(Partition, Option<i64>)>,
}

pub struct RecorderContext {
    target: PgTarget,
    abort: watch::Receiver<bool>,
    events: Arc<Mutex<RebalanceEvents>>,
    last_error: Mutex<Option<String>>,
    metrics: ConsumerMetrics,
}

pub type RecorderConsumer = StreamConsumer<RecorderContext>;

impl RecorderContext {
    /// Offsets stored in PostgreSQL for `parts`; blocks the calling thread.
    fn lookup(&self, parts: Vec<Partition>) -> Result<std::collections::HashMap<Partition, i64>> {
        let target = self.target.clone();
        let mut abort = self.abort.clone();
        std::thread::spawn(move || -> Result<_> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let client = target
                    .connect_with_retry(&mut abort)
                    .await
                    .context("stopped while reading stored offsets")?;
                crate::commit::stored_offsets(&client, &parts).await
            })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("offset lookup thread panicked"))?
    }

    pub fn take_events(&self) -> RebalanceEvents {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Called once a message arrives: the broker is evidently reachable.
    pub fn note_healthy(&self) {
        self.metrics.connected.kafka(true);
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        if last.take().is_some() {
            tracing::info!("Kafka reachable again");
        }
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<Partition> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl ClientContext for RecorderContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::debug!(target: "librdkafka", "{fac}: {message}")
            }
            _ => tracing::trace!(target: "librdkafka", "{fac}: {message}"),
        }
    }

    /// Broker states and the partitions' high watermarks, every [`STATISTICS_INTERVAL_MS`].
    fn stats(&self, statistics: rdkafka::Statistics) {
        let up = statistics
            .brokers
            .values()
            .any(|b| b.nodeid >= 0 && b.state == "UP");
        self.metrics.connected.kafka(up);
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                // -1 is librdkafka's internal "unassigned" partition; "none": not fetched by us.
                if *partition >= 0 && p.fetch_state != "none" && p.hi_offset >= 0 {
                    self.metrics
                        .partitions
                        .high_watermark(&(topic.clone(), *partition), p.hi_offset);
                }
            }
        }
    }

    /// Logged once per change of state, not once per retry.
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::AllBrokersDown) {
            self.metrics.connected.kafka(false);
        }
        let text = format!("Kafka: {error}: {reason}");
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_deref() != Some(text.as_str()) {
            tracing::warn!("{text} (librdkafka keeps retrying)");
            *last = Some(text);
        }
    }
}

impl ConsumerContext for RecorderContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let parts = partitions_of(tpl);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let stored = match self.lookup(parts.clone()) {
                    Ok(stored) => stored,
                    Err(e) => {
                        // Only when stopping: start from the beginning; run_id de-dup keeps
                        // any re-read harmless.
                        tracing::warn!("{e:#}");
                        Default::default()
                    }
                };
                let mut assigned = Vec::new();
                for (topic, partition) in parts {
                    let start = stored.get(&(topic.clone(), partition)).copied();
                    let offset = start.map_or(Offset::Beginning, Offset::Offset);
                    if let Err(e) = tpl.set_partition_offset(&topic, partition, offset) {
                        tracing::error!("cannot set start offset of {topic}/{partition}: {e}");
                    }
                    tracing::info!("assigned {topic}/{partition}, starting at {offset:?}");
                    assigned.push(((topic, partition), start));
                }
                let result = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = result {
                    tracing::error!("Kafka assign failed: {e}");
                }
                // A partition revoked and re-assigned before the main loop looked still has
                // its in-flight messages dropped: it restarts from the stored offset.
                let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
                events.assigned.extend(assigned);
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!("revoked {} partition(s)", parts.len());
                let result = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = result {
                    tracing::error!("Kafka unassign failed: {e}");
                }
                let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
                events.assigned.retain(|(p, _)| !parts.contains(p));
                events.revoked.extend(parts);
            }
            other => {
                tracing::error!("Kafka rebalance error: {other:?}");
                let _ = consumer.unassign();
            }
        }
    }
}

/// Longest time a broker holds a fetch for data (librdkafka's default is 500 ms).
const FETCH_WAIT_MAX_MS: u32 = 100;

/// librdkafka settings for `k`: TLS with host-name checks unless plaintext is asked for,
/// then the pass-through options (which win).
pub fn client_config(k: &KafkaSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    let interval_ms = k.connect_interval.as_millis().max(1);
    c.set("bootstrap.servers", &k.bootstrap_servers)
        .set("group.id", &k.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("reconnect.backoff.ms", interval_ms.to_string())
        // A short cap: after an outage the recorder is back within seconds of the broker.
        .set(
            "reconnect.backoff.max.ms",
            interval_ms.max(5_000).to_string(),
        )
        // Topics created after start (or newly matching kafka.topic_regex) are picked up
        // within 10 s instead of librdkafka's default 5 minutes.
        .set("topic.metadata.refresh.interval.ms", "10000")
        // librdkafka keeps one fetch in flight per broker, and the first one after an
        // assignment holds only the partitions whose start offsets are already known. When
        // those are caught up the broker holds it for up to this long while the others wait
        // with their backlog: 500 ms at every start and rebalance by default. A shorter
        // wait costs an empty fetch per broker every 100 ms when there is nothing to read.
        .set("fetch.wait.max.ms", FETCH_WAIT_MAX_MS.to_string())
        .set("client.id", "sonde-recorder")
        .set("security.protocol", k.security_protocol.as_str())
        .set("enable.ssl.certificate.verification", "true")
        .set("ssl.endpoint.identification.algorithm", "https");
    let files = [
        ("ssl.ca.location", &k.ca_file),
        ("ssl.certificate.location", &k.cert_file),
        ("ssl.key.location", &k.key_file),
    ];
    for (key, file) in files {
        if let Some(path) = file {
            c.set(key, path.display().to_string());
        }
    }
    for (key, value) in &k.options {
        c.set(key, value);
    }
    c
}

/// A subscribed consumer plus the handle the main loop reads rebalances from.
pub fn subscribe(
    k: &KafkaSettings,
    subscription: &str,
    target: PgTarget,
    abort: watch::Receiver<bool>,
    metrics: ConsumerMetrics,
) -> Result<RecorderConsumer> {
    let context = RecorderContext {
        target,
        abort,
        events: Arc::default(),
        last_error: Mutex::new(None),
        metrics,
    };
    let mut config = client_config(k);
    if !k.options.contains_key("statistics.interval.ms") {
        config.set("statistics.interval.ms", STATISTICS_INTERVAL_MS.to_string());
    }
    let consumer: RecorderConsumer = config
        .create_with_context(context)
        .with_context(|| format!("creating the Kafka consumer for {}", k.bootstrap_servers))?;
    consumer
        .subscribe(&[subscription])
        .with_context(|| format!("subscribing to {subscription}"))?;
    Ok(consumer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn never_auto_commits_and_passes_options_through() {
        let mut k = Config::default().kafka;
        k.ca_file = Some("ca.pem".into());
        k.options.insert("session.timeout.ms".into(), "6000".into());
        let c = client_config(&k);
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(c.get("security.protocol"), Some("ssl"));
        assert_eq!(c.get("ssl.ca.location"), Some("ca.pem"));
        assert_eq!(c.get("session.timeout.ms"), Some("6000"));
        assert_eq!(c.get("group.id"), Some("sonde-recorder"));
    }

    #[test]
    fn a_fetch_waits_at_most_100_ms_unless_told_otherwise() {
        let mut k = Config::default().kafka;
        assert_eq!(client_config(&k).get("fetch.wait.max.ms"), Some("100"));
        k.options.insert("fetch.wait.max.ms".into(), "500".into());
        assert_eq!(client_config(&k).get("fetch.wait.max.ms"), Some("500"));
    }

    #[test]
    fn tls_without_any_certificate_configured() {
        let c = client_config(&Config::default().kafka);
        assert_eq!(c.get("security.protocol"), Some("ssl"));
        assert_eq!(
            c.get("ssl.endpoint.identification.algorithm"),
            Some("https")
        );
        assert_eq!(c.get("ssl.ca.location"), None, "the system's CAs");
        let mut k = Config::default().kafka;
        k.options
            .insert("security.protocol".into(), "plaintext".into());
        assert_eq!(
            client_config(&k).get("security.protocol"),
            Some("plaintext")
        );
    }
}
