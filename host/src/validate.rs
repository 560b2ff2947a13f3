//! `host validate`: everything the host checks at start, without running a probe, and
//! with every problem reported instead of the first.
//!
//! It goes through the same code the running host does: [`Config::parse_all`], the job
//! sources, [`Host::load`] (compile, WIT version, link, `describe()`), [`Job::new`] (params
//! against the probe's declaration, allow-lists) and the Kafka [`Settings`] (TLS files read
//! and parsed). `--connect` then makes a Kafka client with the host's producer settings and
//! reads the cluster metadata, which needs a completed TLS handshake.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::{BaseProducer, Producer};

use crate::cli::ValidateArgs;
use crate::config::{key_line, Config};
use crate::kafka::Settings;
use crate::runtime::probe::{Host, LoadedProbe};
use crate::schedule::job::Job;
use crate::schedule::watch::JobSources;

/// sysexits.h `EX_CONFIG`: the exit status when validation finds a problem.
pub const EX_CONFIG: u8 = 78;

/// How long `--connect` waits for the brokers.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Validation found problems; each was printed on its own line.
#[derive(Debug, thiserror::Error)]
#[error("{0} problem(s) found")]
pub struct Invalid(pub usize);

/// Check, print one line per problem on stderr and a summary on stdout.
///
/// `make_host` builds the probe host the way the running host does (from host.toml's
/// `[http]` and `cache_dir`), so its errors are problems too.
pub async fn run(
    args: &ValidateArgs,
    make_host: impl FnOnce(&Config) -> anyhow::Result<Host>,
) -> anyhow::Result<()> {
    let (summary, problems) = check(args, make_host).await;
    for p in &problems {
        eprintln!("{p}");
    }
    if !problems.is_empty() {
        return Err(Invalid(problems.len()).into());
    }
    println!("{summary}");
    Ok(())
}

/// The summary line and the problems.
pub async fn check(
    args: &ValidateArgs,
    make_host: impl FnOnce(&Config) -> anyhow::Result<Host>,
) -> (String, Vec<String>) {
    let mut problems = Vec::new();
    let (config, text) = match &args.config {
        None => (Config::default(), String::new()),
        Some(path) => match std::fs::read_to_string(path) {
            Err(e) => {
                return (
                    String::new(),
                    vec![format!("{}: cannot read: {e}", path.display())],
                )
            }
            Ok(text) => match Config::parse_all(&text, path) {
                Ok(config) => (config, text),
                Err(found) => {
                    // Keep going with what can be checked without the file's jobs.
                    problems.extend(found);
                    (Config::default(), text)
                }
            },
        },
    };
    let file = args
        .config
        .as_deref()
        .map_or_else(String::new, |p| p.display().to_string());
    let settings = match Settings::resolve(&args.kafka, config.toml.kafka.as_ref()) {
        Ok(settings) => settings,
        Err(e) => {
            problems.push(format!(
                "{file}:{}: [kafka]: {e}",
                key_line(&text, "[kafka]")
            ));
            None
        }
    };
    if args.probes.is_empty() && config.jobs.is_empty() && problems.is_empty() {
        problems.push("nothing to run: give --probes FILE_OR_DIR... or --config host.toml with [[job]] entries".into());
    }
    let jobs = match make_host(&config) {
        Ok(host) => check_jobs(&host, args, &config, &mut problems).await,
        Err(e) => {
            problems.push(format!("{file}: {e:#}"));
            Vec::new()
        }
    };
    if args.connect {
        match &settings {
            Some(s) => {
                if let Err(e) = connect(s).await {
                    problems.push(e);
                }
            }
            None if problems.is_empty() => problems.push(
                "--connect: no Kafka brokers configured ([kafka] brokers or --kafka-brokers)"
                    .into(),
            ),
            None => {}
        }
    }
    let kafka = match &settings {
        Some(s) if args.connect => format!("; Kafka {} answered over TLS", s.brokers),
        Some(s) => format!("; Kafka {} (TLS files readable)", s.brokers),
        None => "; no Kafka (JSON lines on stdout)".into(),
    };
    let summary = format!("OK: {} job(s): {}{kafka}", jobs.len(), jobs.join(", "));
    (summary, problems)
}

/// Load every probe once and make every job; returns the names of the jobs that would run.
async fn check_jobs(
    host: &Host,
    args: &ValidateArgs,
    config: &Config,
    problems: &mut Vec<String>,
) -> Vec<String> {
    let sources = match JobSources::from_probe_args(
        &args.probes,
        config.jobs.clone(),
        config.toml.defaults.clone(),
        config.min_interval_ms(),
    ) {
        Ok(s) => s,
        Err(e) => {
            problems.push(format!("{e:#}"));
            return Vec::new();
        }
    };
    let (specs, skipped) = sources.specs();
    problems.extend(skipped);
    let mut loaded: HashMap<PathBuf, Option<Arc<LoadedProbe>>> = HashMap::new();
    let mut names = Vec::new();
    for spec in specs {
        let probe = match loaded.get(&spec.probe_path) {
            Some(p) => p.clone(),
            None => {
                let p = match host.load(&spec.probe_path).await {
                    Ok(p) => Some(p),
                    Err(e) => {
                        // A load error names the file already; keep it on one line.
                        let why = format!("{e:#}").replace('\n', " ");
                        problems.push(format!("{}: job {:?}: {why}", spec.origin, spec.name));
                        None
                    }
                };
                loaded.insert(spec.probe_path.clone(), p.clone());
                p
            }
        };
        let Some(probe) = probe else { continue };
        let name = spec.name.clone();
        match Job::new(host, spec, probe) {
            Ok(_) => names.push(name),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    names
}

async fn connect(settings: &Settings) -> Result<(), String> {
    let config = settings.client_config();
    let brokers = settings.brokers.clone();
    let topic = settings.topic.clone();
    let outcome = tokio::task::spawn_blocking(move || -> Result<bool, String> {
        let producer: BaseProducer = config
            .create()
            .map_err(|e| format!("Kafka {brokers}: invalid client settings: {e}"))?;
        let metadata = producer
            .client()
            .fetch_metadata(None, CONNECT_TIMEOUT)
            .map_err(|e| format!("Kafka {brokers}: no TLS session and metadata within {}s: {e} (check the address, the CA file and the client certificate)", CONNECT_TIMEOUT.as_secs()))?;
        Ok(metadata.topics().iter().any(|t| t.name() == topic))
    })
    .await
    .map_err(|e| format!("Kafka check failed: {e}"))?;
    if !outcome? {
        tracing::warn!(
            "topic `{}` does not exist on {} yet; it must be created unless the brokers create topics automatically",
            settings.topic,
            settings.brokers
        );
    }
    Ok(())
}
