//! Kafka settings: command-line flags and the `[kafka]` table of host.toml (flags win).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, comma-separated (host:port,...). Enables Kafka output.
    #[arg(
        long = "kafka-brokers",
        env = "KAFKA_SERVER",
        value_name = "HOST:PORT,..."
    )]
    pub brokers: Option<String>,

    /// Topic the runs are published to [default: sonde.measurements].
    #[arg(long, value_name = "TOPIC")]
    pub topic: Option<String>,

    /// Directory holding ca.pem, service.cert and service.key (the layout hosted Kafka services hand out).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// PEM file of the CA that signs the brokers' certificates.
    #[arg(long, value_name = "FILE")]
    pub kafka_ca: Option<PathBuf>,

    /// PEM client certificate for mutual TLS.
    #[arg(long, value_name = "FILE")]
    pub kafka_cert: Option<PathBuf>,

    /// PEM private key of the client certificate.
    #[arg(long, value_name = "FILE")]
    pub kafka_key: Option<PathBuf>,

    /// Do not verify the brokers' certificates (logged loudly; for experiments only).
    #[arg(long)]
    pub kafka_insecure_skip_verify: bool,

    /// Extra librdkafka setting, passed through as is (repeatable): --kafka-option linger.ms=20
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,

    /// Directory of the on-disk spool [default: $STATE_DIRECTORY/spool, /var/lib/sonde/spool
    /// for root, else $XDG_STATE_HOME/sonde/spool or ~/.local/state/sonde/spool].
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,

    /// Spool size cap in bytes; beyond it the oldest messages are dropped (counted, warned) [default: 1 GiB].
    #[arg(long, value_name = "BYTES")]
    pub spool_max_bytes: Option<u64>,
}

/// `[kafka]` in host.toml; every key mirrors a flag.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaToml {
    pub brokers: Option<String>,
    pub topic: Option<String>,
    pub cert_dir: Option<PathBuf>,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub spool_dir: Option<PathBuf>,
    pub spool_max_bytes: Option<u64>,
}
