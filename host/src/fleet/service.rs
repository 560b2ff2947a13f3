//! Starting the fleet side of a host from `[fleet]`: keys, state directory, the jobs kept
//! from earlier runs, and the consumer when a broker is configured.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio::sync::watch;

use super::apply::{Fleet, FleetJob};
use super::consumer::{self, FleetConsumer};
use super::keys::TrustedKeys;
use super::state::{default_dir, euid, StateDir};
use super::{FleetToml, DEFAULT_FLEET_TOPIC};
use crate::config::{Config, JobSpec};
use crate::kafka::{KafkaArgs, Settings};
use crate::telemetry::Telemetry;

/// The jobs the fleet wants run here, updated as bundles arrive.
pub type FleetJobs = watch::Receiver<Vec<FleetJob>>;

/// The fleet of a running host; dropping it stops the consumer.
pub struct FleetService {
    pub jobs: FleetJobs,
    _consumer: Option<FleetConsumer>,
}

/// `Ok(None)` without `[fleet]`.
pub fn start(
    kafka: &KafkaArgs,
    config: &Config,
    hostname: &str,
    max_component_bytes: u64,
    telemetry: &Telemetry,
) -> anyhow::Result<Option<FleetService>> {
    let Some(toml) = &config.toml.fleet else {
        return Ok(None);
    };
    let base = config
        .file
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if toml.trusted_keys.is_empty() {
        anyhow::bail!("[fleet] trusted_keys: name at least one public key file; without one no bundle can run");
    }
    let key_files: Vec<PathBuf> = toml.trusted_keys.iter().map(|k| base.join(k)).collect();
    let keys = TrustedKeys::load(&key_files).context("[fleet] trusted_keys")?;
    let dir = state_dir(toml, &base)?;
    let state = StateDir::open(&dir)?;
    let mut fleet = Fleet::open(
        state,
        keys.clone(),
        hostname.to_owned(),
        toml.labels.clone(),
        config.toml.defaults.clone(),
        max_component_bytes,
    )?;
    fleet.counters = std::sync::Arc::new(telemetry.fleet());
    let initial = fleet.jobs();
    tracing::info!(
        state_dir = %dir.display(),
        trusted_keys = %keys.ids().join(","),
        kept_jobs = initial.len(),
        "fleet: running the kept bundles"
    );
    let (tx, rx) = watch::channel(initial);
    let topic = toml
        .topic
        .clone()
        .unwrap_or_else(|| DEFAULT_FLEET_TOPIC.into());
    let consumer = match Settings::resolve(kafka, config.toml.kafka.as_ref())? {
        Some(settings) => Some(consumer::start(
            &settings,
            &topic,
            fleet,
            max_component_bytes,
            tx,
        )?),
        None => {
            tracing::warn!("[fleet] without a Kafka broker: only the kept bundles run");
            None
        }
    };
    Ok(Some(FleetService {
        jobs: rx,
        _consumer: consumer,
    }))
}

fn state_dir(toml: &FleetToml, base: &Path) -> anyhow::Result<PathBuf> {
    match &toml.state_dir {
        Some(d) => Ok(base.join(d)),
        None => default_dir(|name| std::env::var(name).ok(), euid() == 0).context(
            "[fleet] state_dir: no default (neither STATE_DIRECTORY, XDG_STATE_HOME nor HOME is set); set it",
        ),
    }
}

/// Add the fleet's jobs to `specs`; a name already taken (by host.toml or `--probes`) is
/// reported and the fleet's job skipped: local configuration wins.
pub fn add_jobs(specs: &mut Vec<JobSpec>, problems: &mut Vec<String>, fleet: &[FleetJob]) {
    for job in fleet {
        if let Some(other) = specs.iter().find(|s| s.name == job.spec.name) {
            problems.push(format!(
                "{}: job name {:?} is already used by {}; skipped",
                job.spec.origin, job.spec.name, other.origin
            ));
            continue;
        }
        specs.push(job.spec.clone());
    }
}

/// A fleet job runs only the component its bundle names: the file the watcher loaded is
/// checked against the verified sha256 (the state directory is private, but a check is cheap).
pub fn check_component(fleet: &[FleetJob], spec: &JobSpec, sha256: &str) -> Result<(), String> {
    match fleet
        .iter()
        .find(|j| j.spec.name == spec.name && j.spec.probe_path == spec.probe_path)
    {
        Some(j) if j.sha256 != sha256 => Err(format!(
            "{}: {} has sha256 {sha256}, the bundle names {}; not run",
            j.spec.origin,
            spec.probe_path.display(),
            j.sha256
        )),
        _ => Ok(()),
    }
}
