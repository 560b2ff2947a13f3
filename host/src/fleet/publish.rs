//! `host probes keygen`, `host probes publish` and `host probes stop`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sha2::{Digest, Sha256};

use super::bundle::{self, Action, Metadata, Target, METADATA_FORMAT};
use super::keys;
use super::DEFAULT_FLEET_TOPIC;
use crate::cli::{BundleArgs, PublishArgs};
use crate::config::{Config, Defaults};
use crate::kafka::Settings;
use crate::runtime::probe::Host;
use crate::schedule::job::Job;

/// How long `publish` waits for the broker's acknowledgement.
pub const PUBLISH_TIMEOUT_MS: u64 = 30_000;

pub fn keygen(stem: &Path) -> anyhow::Result<()> {
    let (secret, public, id) = keys::generate(stem)?;
    println!("key id {id}");
    println!(
        "secret key {} (keep it off the hosts; it signs bundles)",
        secret.display()
    );
    println!(
        "public key {} (list it in each host's [fleet] trusted_keys)",
        public.display()
    );
    Ok(())
}

/// Check the component loads and the job settings fit it, exactly as a host would, then
/// sign and publish.
pub async fn publish(host: &Host, args: &PublishArgs) -> anyhow::Result<()> {
    let probe = host.load(&args.file).await?;
    let component = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let job_toml = match &args.job_toml {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => String::new(),
    };
    let parsed = super::job::parse(&job_toml).map_err(|e| anyhow::anyhow!("--job: {e}"))?;
    let job = args
        .name
        .clone()
        .or(parsed.name)
        .unwrap_or_else(|| probe.info.name.clone());
    bundle::check_job_name(&job).map_err(|e| anyhow::anyhow!("{e}"))?;
    let spec = super::job::spec(&job, &job_toml, &args.file, &Defaults::default(), "--job")?;
    Job::new(host, spec, probe.clone())?;
    let meta = Metadata {
        format: METADATA_FORMAT,
        job,
        version: 0,
        action: Action::Run,
        component_sha256: hex::encode(Sha256::digest(&component)),
        component_bytes: component.len() as u64,
        target: Target::default(),
        job_toml,
    };
    send(meta, &component, &args.bundle).await
}

/// A signed tombstone for `job`.
pub async fn stop(job: &str, args: &BundleArgs) -> anyhow::Result<()> {
    bundle::check_job_name(job).map_err(|e| anyhow::anyhow!("{e}"))?;
    let meta = Metadata {
        format: METADATA_FORMAT,
        job: job.to_owned(),
        version: 0,
        action: Action::Stop,
        component_sha256: String::new(),
        component_bytes: 0,
        target: Target::default(),
        job_toml: String::new(),
    };
    send(meta, &[], args).await
}

async fn send(mut meta: Metadata, component: &[u8], args: &BundleArgs) -> anyhow::Result<()> {
    let key = keys::load_signing_key(&args.signing_key)?;
    meta.version = match args.bundle_version {
        Some(v) => v,
        None => u64::try_from(chrono::Utc::now().timestamp_millis())
            .context("the clock is before 1970; give --bundle-version")?,
    };
    meta.target = Target {
        hostname_glob: args.hostname_glob.clone(),
        labels: parse_labels(&args.labels)?,
        percent: args.percent,
    };
    bundle::check_metadata(&meta).map_err(|e| anyhow::anyhow!("{e}"))?;
    let sealed = bundle::seal(&meta, component, &key);
    let what = format!(
        "job {} version {} ({}) signed by key {}",
        meta.job,
        meta.version,
        match meta.action {
            Action::Run => format!("sha256 {}", meta.component_sha256),
            Action::Stop => "stop".into(),
        },
        keys::key_id(&key.verifying_key())
    );
    if let Some(out) = &args.out {
        std::fs::write(out, &sealed).with_context(|| format!("cannot write {}", out.display()))?;
        println!("{what}: written to {}", out.display());
        return Ok(());
    }
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let settings = Settings::resolve(&args.kafka, config.toml.kafka.as_ref())?.ok_or_else(|| {
        anyhow::anyhow!("no broker: give --kafka-brokers, KAFKA_SERVER or a --config with [kafka] brokers (or --out FILE)")
    })?;
    let topic = args
        .fleet_topic
        .clone()
        .or_else(|| config.toml.fleet.as_ref().and_then(|f| f.topic.clone()))
        .unwrap_or_else(|| DEFAULT_FLEET_TOPIC.into());
    let mut client = settings.connection_config();
    client
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.max.bytes", (sealed.len() + 64 * 1024).to_string())
        .set("client.id", "sonde-publish");
    let producer: FutureProducer = client
        .create()
        .context("cannot create the Kafka producer")?;
    let record = FutureRecord::to(&topic).key(&meta.job).payload(&sealed);
    let delivered = producer
        .send(record, Duration::from_millis(PUBLISH_TIMEOUT_MS))
        .await
        .map_err(|(e, _)| anyhow::anyhow!("publishing to {topic} failed: {e}"))?;
    println!(
        "{what}: published to {topic} partition {} offset {}",
        delivered.partition, delivered.offset
    );
    Ok(())
}

fn parse_labels(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    for item in raw {
        match item.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                labels.insert(k.to_owned(), v.to_owned());
            }
            _ => anyhow::bail!("--label {item:?} is not KEY=VALUE"),
        }
    }
    Ok(labels)
}
