//! Wires the command line to the runtime and the output sink.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sonde_message::limits::{check_text, Field};

use crate::cli::{Cli, Command};
use crate::config::{Config, DEFAULT_MAX_CONCURRENCY};
use crate::output::{Format, Sink, StdoutSink};
use crate::runtime::engine::{default_cache_dir, Runtime};
use crate::runtime::limits::LoadLimits;
use crate::runtime::probe::Host;
use crate::schedule::scheduler::Scheduler;
use crate::schedule::watch::{JobSources, Watcher};
use crate::telemetry::Telemetry;

/// How long pending messages may take to be delivered at shutdown.
pub const SHUTDOWN_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Validate(args)) = &cli.command {
        return crate::validate::run(args, |config| Ok(make_host(&cli, config)?.0)).await;
    }
    let config = match &cli.run.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let (host, hostname) = make_host(&cli, &config)?;

    if let Some(Command::Probes(cmd)) = &cli.command {
        return crate::probes_cmd::run(&host, cmd).await;
    }

    if cli.run.probes.is_empty() && config.jobs.is_empty() && config.toml.fleet.is_none() {
        anyhow::bail!("nothing to run: give --probes FILE_OR_DIR... or --config host.toml with [[job]] entries or [fleet]");
    }
    let sources = JobSources::from_probe_args(
        &cli.run.probes,
        config.jobs.clone(),
        config.toml.defaults.clone(),
        config.min_interval_ms(),
    )?;
    let telemetry = Telemetry::new()?;
    let readiness = sonde_telemetry::Readiness::new("jobs not loaded yet");
    let _endpoint = match cli.run.metrics_addr.or(config.toml.metrics_addr) {
        Some(addr) => Some(
            sonde_telemetry::Endpoint::start(addr, telemetry.registry.clone(), readiness.clone())
                .await?,
        ),
        None => None,
    };
    let kafka_toml = config.toml.kafka.as_ref();
    let to_kafka = cli.kafka.brokers.is_some() || kafka_toml.is_some_and(|k| k.brokers.is_some());
    if to_kafka && cli.run.format != Format::Json {
        anyhow::bail!(
            "--format pretty prints runs on stdout, but a Kafka broker is configured and every \
             run is published to it as JSON; leave out --format, or the broker to print here"
        );
    }
    let sink: Arc<dyn Sink> = match crate::kafka::start(&cli.kafka, kafka_toml, Some(&telemetry))? {
        Some(sink) => sink,
        None => Arc::new(StdoutSink {
            format: cli.run.format,
        }),
    };
    let max_concurrency = if cli.run.config.is_some() {
        config.max_concurrency()
    } else {
        DEFAULT_MAX_CONCURRENCY
    };
    let mut scheduler = Scheduler::new(host.clone(), sink.clone(), &hostname, max_concurrency)
        .with_telemetry(telemetry.clone());

    let result = if cli.run.once {
        crate::schedule::once::run_all(&host, &sources, sink.as_ref(), &hostname, max_concurrency)
            .await
    } else {
        let fleet = crate::fleet::service::start(
            &cli.kafka,
            &config,
            &hostname,
            host.load_limits.max_component_bytes,
            &telemetry,
        )?;
        let reloads = match &cli.run.config {
            Some(path) => crate::reload::on_sighup(crate::reload::Reloader::new(
                path.clone(),
                cli.run.probes.clone(),
                config.toml,
                telemetry.clone(),
            ))?,
            // Nothing to read again; SIGHUP keeps its default meaning.
            None => tokio::sync::mpsc::unbounded_channel().1,
        };
        // Loads run in the background: ready once those of the files present now end.
        let watcher = Watcher::new(host, sources)
            .with_load_failures(telemetry.load_failures.clone())
            .with_readiness(readiness.clone());
        let watcher = match &fleet {
            Some(fleet) => watcher.with_fleet(fleet.jobs.clone()),
            None => watcher,
        };
        watcher
            .run(&mut scheduler, shutdown_signal(), reloads)
            .await;
        tracing::info!("shutting down: finishing runs in flight");
        scheduler.shutdown().await;
        let c = &scheduler.counters;
        tracing::info!(
            ok = c.ok.load(Ordering::Relaxed),
            failed = c.failed.load(Ordering::Relaxed),
            missed_ticks = c.missed_ticks.load(Ordering::Relaxed),
            "runs"
        );
        Ok(())
    };
    let flushed =
        tokio::task::spawn_blocking(move || sink.shutdown(SHUTDOWN_FLUSH_TIMEOUT)).await?;
    result.and(flushed)
}

/// The probe host and the host name, from the flags and host.toml (flags win).
fn make_host(cli: &Cli, config: &Config) -> anyhow::Result<(Host, String)> {
    let hostname = cli
        .run
        .hostname
        .clone()
        .or_else(|| config.toml.hostname.clone())
        .or_else(sysinfo::System::host_name)
        .unwrap_or_else(|| "unknown".into());
    // Every message carries it: one the recorder would refuse would dead-letter every run.
    check_text(Field::Host, "host name", &hostname).map_err(|v| {
        anyhow::anyhow!("{v}; set --hostname or `hostname` in host.toml (see docs/limits.md)")
    })?;
    let cache_dir = cli
        .run
        .cache_dir
        .clone()
        .or_else(|| config.toml.cache_dir.clone())
        .or_else(default_cache_dir);
    let mut host = Host::new(
        Runtime::new(cache_dir)?,
        hostname.clone(),
        config.http.clone(),
    )?;
    host.load_limits = load_limits(config);
    Ok((host, hostname))
}

fn load_limits(config: &Config) -> LoadLimits {
    let toml = &config.toml;
    let base = LoadLimits::default();
    let run = crate::config::default_limits(&toml.defaults);
    LoadLimits {
        max_component_bytes: toml.max_component_bytes.unwrap_or(base.max_component_bytes),
        compile_timeout_ms: toml.compile_timeout_ms.unwrap_or(base.compile_timeout_ms),
        describe_timeout_ms: toml.describe_timeout_ms.unwrap_or(base.describe_timeout_ms),
        max_memory_bytes: run.max_memory_bytes,
        max_output_bytes: run.max_output_bytes,
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
