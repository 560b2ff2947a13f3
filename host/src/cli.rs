//! Command-line interface of `host`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::kafka::KafkaArgs;
use crate::output::Format;
use sonde_telemetry::LogArgs;

/// Run sandboxed WebAssembly probes and publish what they measure.
///
/// Without --kafka-brokers (or KAFKA_SERVER) each run is printed as one JSON line on stdout.
#[derive(Debug, Parser)]
#[command(name = "host", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,

    #[command(flatten)]
    pub kafka: KafkaArgs,

    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Probe components (.wasm files) or directories of them; each runs with its defaults.
    /// Directories are watched: added, replaced and removed files take effect while running.
    #[arg(long, num_args = 1.., value_name = "FILE_OR_DIR")]
    pub probes: Vec<PathBuf>,

    /// host.toml: jobs, limits, HTTP allow-lists, Kafka and spool settings.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Run every job once, publish, and exit (non-zero if any run failed).
    #[arg(long)]
    pub once: bool,

    /// How runs are printed on stdout when no broker is given: json (one message per
    /// line, for pipes) or pretty (one readable line per sample).
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,

    /// Where compiled components are cached (keyed by content hash).
    #[arg(long, value_name = "DIR", env = "SONDE_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Name reported as `host` in every message (default: the machine's hostname).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// Serve /metrics, /healthz and /readyz on this address (e.g. 127.0.0.1:9464) [default: off].
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect probe components.
    #[command(subcommand)]
    Probes(ProbesCommand),
    /// Check host.toml and the probes without running anything: exit 0, or 78 with one line
    /// per problem naming the file, the line and the job.
    Validate(Box<ValidateArgs>),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// host.toml to check.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Probe components or directories to check, as `host --probes` would run them.
    #[arg(long, num_args = 1.., value_name = "FILE_OR_DIR")]
    pub probes: Vec<PathBuf>,

    /// Also complete a TLS handshake with the Kafka brokers and read their metadata.
    #[arg(long)]
    pub connect: bool,

    #[command(flatten)]
    pub kafka: KafkaArgs,
}

#[derive(Debug, Subcommand)]
pub enum ProbesCommand {
    /// List the probes in files or directories: name, version, the sonde:probe version
    /// they were built against, language, size and the tools that built them.
    List {
        #[arg(value_name = "FILE_OR_DIR", default_value = "probes")]
        paths: Vec<PathBuf>,
    },
    /// Print what a probe's describe() returns: params, defaults, interval.
    Describe {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Make an ed25519 key pair for signing probe bundles: STEM.key (secret, 0600) and STEM.pub.
    Keygen {
        #[arg(value_name = "STEM", default_value = "sonde-fleet")]
        stem: PathBuf,
    },
    /// Sign a probe component and publish it to the fleet's control topic.
    Publish(Box<PublishArgs>),
    /// Publish a signed tombstone: the job stops on the hosts it targets.
    Stop(Box<StopArgs>),
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// The job to stop.
    #[arg(value_name = "JOB")]
    pub job: String,
    #[command(flatten)]
    pub bundle: BundleArgs,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The probe component (.wasm).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The job's settings: a host.toml [[job]] table without `probe` (interval_ms, params,
    /// allow_http, limits; `name` optional).
    #[arg(long = "job", value_name = "TOML")]
    pub job_toml: Option<PathBuf>,
    /// The job name [default: `name` in --job, else the probe's own name].
    #[arg(long, value_name = "JOB")]
    pub name: Option<String>,
    #[command(flatten)]
    pub bundle: BundleArgs,
}

/// What every bundle carries: its signer, version, targets and where it goes.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The ed25519 secret key (PKCS#8 PEM, from `host probes keygen`).
    #[arg(long, value_name = "KEY")]
    pub signing_key: PathBuf,
    /// Only hosts whose name matches this glob (`web-*`).
    #[arg(long = "target", value_name = "GLOB")]
    pub hostname_glob: Option<String>,
    /// Only hosts with this label in `[fleet] labels` (repeatable: all must match).
    #[arg(long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// The share of the matching hosts (a canary), chosen by a hash of host and job name.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub percent: u8,
    /// The bundle version; must be higher than every earlier bundle of the job
    /// [default: the current time in milliseconds since 1970].
    #[arg(long, value_name = "N")]
    pub bundle_version: Option<u64>,
    /// The control topic [default: `[fleet] topic`, else sonde.probes].
    #[arg(long, value_name = "TOPIC")]
    pub fleet_topic: Option<String>,
    /// Write the signed bundle to this file instead of publishing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// host.toml whose [kafka] (brokers, TLS) and [fleet] topic are used; flags win.
    #[arg(long = "config", short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}
