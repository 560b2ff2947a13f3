//! Kafka output: mutual TLS, idempotent producer, on-disk spool through outages.

mod config;

pub use config::{KafkaArgs, KafkaToml};

use std::sync::Arc;

use crate::output::Sink;

/// Start the Kafka sink when a broker is configured (flags win over host.toml);
/// `Ok(None)` means no broker: the caller prints JSON lines instead.
pub fn start(args: &KafkaArgs, toml: Option<&KafkaToml>) -> anyhow::Result<Option<Arc<dyn Sink>>> {
    let brokers = args.brokers.clone().or_else(|| toml.and_then(|t| t.brokers.clone()));
    match brokers {
        None => Ok(None),
        Some(b) => anyhow::bail!("Kafka output to {b} is not available in this build yet"),
    }
}
