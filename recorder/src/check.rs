//! `recorder --check-config`: the configuration is valid, PostgreSQL answers `SELECT 1`
//! and Kafka answers a metadata request, each over the TLS the recorder would use. A
//! failure is one line saying which end failed and why (unreachable, TLS, password).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;

use crate::config::{Config, KafkaSettings};
use crate::consumer;
use crate::db::PgTarget;

/// How long the metadata request may take before the check fails.
const KAFKA_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Check both ends once; the line to print on success.
pub async fn run(config: &Config) -> Result<String> {
    crate::tls::log_warnings(config);
    let target = PgTarget::new(&config.postgres)?;
    let client = target.connect().await?;
    client
        .query_one("SELECT 1", &[])
        .await
        .map_err(|e| anyhow!("PostgreSQL SELECT 1: {e}"))?;
    let kafka = config.kafka.clone();
    let topics = tokio::task::spawn_blocking(move || kafka_topics(&kafka)).await??;
    Ok(format!(
        "configuration OK: Kafka {} answered ({topics} topics, security.protocol {}), PostgreSQL {} answered (sslmode {:?})",
        config.kafka.bootstrap_servers,
        consumer::client_config(&config.kafka)
            .get("security.protocol")
            .unwrap_or("ssl"),
        target.describe,
        target.sslmode
    ))
}

/// What librdkafka reported while the check ran: its broker failures say why a request
/// failed (refused connection, TLS handshake), the request itself only that it timed out.
#[derive(Clone, Default)]
struct Reports(Arc<Mutex<Vec<String>>>);

impl Reports {
    fn push(&self, line: &str) {
        if let Ok(mut lines) = self.0.lock() {
            if !lines.iter().any(|l| l == line) {
                lines.push(line.to_owned());
            }
        }
    }
}

impl ClientContext for Reports {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        tracing::debug!(target: "librdkafka", ?level, "{fac}: {message}");
        // Broker failures come as log lines from librdkafka's own threads.
        let error = matches!(
            level,
            RDKafkaLogLevel::Emerg
                | RDKafkaLogLevel::Alert
                | RDKafkaLogLevel::Critical
                | RDKafkaLogLevel::Error
        );
        if fac == "FAIL" || error {
            self.push(message);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.push(&format!("{error}: {reason}"));
    }
}

impl ConsumerContext for Reports {}

fn kafka_topics(k: &KafkaSettings) -> Result<usize> {
    let reports = Reports::default();
    let mut config = consumer::client_config(k);
    // rust-rdkafka takes librdkafka's log level from the `log` crate, which the recorder
    // does not use: without this, the broker failure lines never reach `Reports`.
    config.set_log_level(RDKafkaLogLevel::Info);
    let consumer: BaseConsumer<Reports> = config
        .create_with_context(reports.clone())
        .with_context(|| format!("Kafka {}: cannot create the client", k.bootstrap_servers))?;
    match consumer.fetch_metadata(None, KAFKA_CHECK_TIMEOUT) {
        Ok(metadata) => Ok(metadata.topics().len()),
        Err(e) => {
            // Client errors wait in the event queue until served.
            let _ = consumer.poll(Duration::ZERO);
            let seen = reports.0.lock().map(|l| l.join("; ")).unwrap_or_default();
            let why = if seen.is_empty() {
                String::new()
            } else {
                format!(" ({seen})")
            };
            Err(anyhow!(
                "Kafka {}: cannot fetch metadata: {e}{why}",
                k.bootstrap_servers
            ))
        }
    }
}
