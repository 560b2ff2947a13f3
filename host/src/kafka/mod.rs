//! Kafka output: mutual TLS, idempotent producer, on-disk spool through outages.
//!
//! `publish` appends the run to the [`spool`]; the [`delivery`] thread sends spooled runs in
//! order and removes each only once the broker acknowledged it.

mod config;
mod context;
pub mod delivery;
pub mod link;
mod publish_times;
pub mod settings;
mod sink;
pub mod spool;
mod wake;

pub use config::{KafkaArgs, KafkaToml};
pub use settings::Settings;
pub use sink::KafkaSink;

use std::sync::Arc;

use crate::output::Sink;
use crate::telemetry::Telemetry;

/// Start the Kafka sink when a broker is configured (flags win over host.toml);
/// `Ok(None)` means no broker: the caller prints JSON lines instead.
///
/// Errors (one line each) name the flag or file at fault: unreadable or invalid TLS files,
/// a malformed `--kafka-option`, a spool directory that cannot be used. An unreachable
/// broker is not an error: the host starts and spools.
///
/// With `telemetry`, deliveries are counted there and the spool gauges are read at each scrape.
pub fn start(
    args: &KafkaArgs,
    toml: Option<&KafkaToml>,
    telemetry: Option<&Telemetry>,
) -> anyhow::Result<Option<Arc<dyn Sink>>> {
    let Some(settings) = Settings::resolve(args, toml)? else {
        return Ok(None);
    };
    let Some(telemetry) = telemetry else {
        return Ok(Some(Arc::new(KafkaSink::start(&settings)?)));
    };
    let sink = Arc::new(KafkaSink::start_counted(&settings, telemetry.delivery())?);
    let weak = Arc::downgrade(&sink);
    telemetry.registry.on_render(move || {
        if let Some(sink) = weak.upgrade() {
            sink.refresh_metrics();
        }
    });
    let sink: Arc<dyn Sink> = sink;
    Ok(Some(sink))
}
