//! Resolved Kafka settings (flags win over host.toml) and the librdkafka configuration they make.

use std::path::{Path, PathBuf};

use rdkafka::ClientConfig;

use super::config::{KafkaArgs, KafkaToml};
use super::spool::location;

pub use sonde_message::DEFAULT_TOPIC;
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// Messages handed to librdkafka at once; the rest wait in the spool, so memory stays bounded.
pub const DEFAULT_IN_FLIGHT_MESSAGES: usize = 10_000;
/// How long librdkafka keeps trying one message before giving it back as failed
/// (it then stays in the spool and is sent again, in order).
pub const DEFAULT_MESSAGE_TIMEOUT_MS: u64 = 30_000;

/// Files of `--cert-dir`, named as hosted Kafka services hand them out.
pub const CERT_DIR_CA: &str = "ca.pem";
pub const CERT_DIR_CERT: &str = "service.cert";
pub const CERT_DIR_KEY: &str = "service.key";

/// A configuration mistake, one line naming the flag or file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("--kafka-option `{0}` is not KEY=VALUE")]
    BadOption(String),
    #[error("{what} `{path}` cannot be read: {reason}")]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{0} is given without {1}: mutual TLS needs both the certificate and its key")]
    HalfClientCert(&'static str, &'static str),
    #[error("Kafka topic must not be empty")]
    EmptyTopic,
    #[error("no default place for the spool (neither STATE_DIRECTORY, XDG_STATE_HOME nor HOME is set): give --spool-dir")]
    NoSpoolDir,
}

/// TLS material, every file checked readable and parsable at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// `None`: the system's trusted CAs.
    pub ca: Option<PathBuf>,
    /// Client certificate and key for mutual TLS.
    pub client: Option<(PathBuf, PathBuf)>,
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub brokers: String,
    pub topic: String,
    pub tls: Tls,
    /// Passed to librdkafka after Sonde's own settings, so they can override them.
    pub options: Vec<(String, String)>,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
}

impl Settings {
    /// `Ok(None)` when no broker is configured.
    pub fn resolve(
        args: &KafkaArgs,
        toml: Option<&KafkaToml>,
    ) -> Result<Option<Self>, SettingsError> {
        let empty = KafkaToml::default();
        let t = toml.unwrap_or(&empty);
        let Some(brokers) = args
            .brokers
            .clone()
            .or_else(|| t.brokers.clone())
            .filter(|b| !b.trim().is_empty())
        else {
            return Ok(None);
        };
        let topic = args
            .topic
            .clone()
            .or_else(|| t.topic.clone())
            .unwrap_or_else(|| DEFAULT_TOPIC.into());
        if topic.trim().is_empty() {
            return Err(SettingsError::EmptyTopic);
        }
        let cert_dir = args.cert_dir.clone().or_else(|| t.cert_dir.clone());
        let in_dir = |name: &str| cert_dir.as_ref().map(|d| d.join(name));
        let ca = args
            .kafka_ca
            .clone()
            .or_else(|| t.ca.clone())
            .or_else(|| in_dir(CERT_DIR_CA));
        let cert = args
            .kafka_cert
            .clone()
            .or_else(|| t.cert.clone())
            .or_else(|| in_dir(CERT_DIR_CERT));
        let key = args
            .kafka_key
            .clone()
            .or_else(|| t.key.clone())
            .or_else(|| in_dir(CERT_DIR_KEY));
        if let Some(ca) = &ca {
            check_certificate("Kafka CA file", ca)?;
        }
        let client = match (cert, key) {
            (Some(cert), Some(key)) => {
                check_certificate("Kafka client certificate", &cert)?;
                check_private_key(&key)?;
                Some((cert, key))
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(SettingsError::HalfClientCert("--kafka-cert", "--kafka-key"))
            }
            (None, Some(_)) => {
                return Err(SettingsError::HalfClientCert("--kafka-key", "--kafka-cert"))
            }
        };
        let mut options: Vec<(String, String)> = t
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for raw in &args.options {
            options.push(parse_option(raw)?);
        }
        Ok(Some(Settings {
            brokers,
            topic,
            tls: Tls {
                ca,
                client,
                insecure_skip_verify: args.kafka_insecure_skip_verify || t.insecure_skip_verify,
            },
            options,
            spool_dir: match args.spool_dir.clone().or_else(|| t.spool_dir.clone()) {
                Some(dir) => dir,
                None => location::default_dir_here().ok_or(SettingsError::NoSpoolDir)?,
            },
            spool_max_bytes: args
                .spool_max_bytes
                .or(t.spool_max_bytes)
                .unwrap_or(DEFAULT_SPOOL_MAX_BYTES),
        }))
    }

    /// What to warn about at start: each setting that weakens TLS (loudly, all alike) and
    /// a client key that other users can read.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.tls.insecure_skip_verify {
            out.push(sonde_tls_policy::loud(
                "--kafka-insecure-skip-verify: the Kafka brokers' certificates are NOT verified; \
                 anyone on the network path can read and forge this host's measurements",
            ));
        }
        for (k, v) in &self.options {
            out.extend(sonde_tls_policy::kafka_option_warning(
                &format!("Kafka option `{k}={v}`"),
                k,
                v,
            ));
        }
        if let Some((_, key)) = &self.tls.client {
            out.extend(sonde_tls_policy::secret_file_warning(
                "Kafka client key",
                key,
            ));
        }
        out
    }

    /// The producer configuration: TLS with hostname verification, idempotence, acks=all, lz4,
    /// then the pass-through options.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = self.connection_config();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set("message.timeout.ms", DEFAULT_MESSAGE_TIMEOUT_MS.to_string())
            .set(
                "queue.buffering.max.messages",
                (2 * DEFAULT_IN_FLIGHT_MESSAGES).to_string(),
            )
            .set("client.id", "sonde-host");
        for (k, v) in &self.options {
            c.set(k, v);
        }
        c
    }

    /// How to reach the brokers, for any client: servers, TLS with hostname verification,
    /// reconnect backoff. The fleet consumer and `host probes publish` use it too.
    pub fn connection_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("security.protocol", "ssl")
            // Come back quickly after an outage; librdkafka's default backs off to 10 s.
            .set("reconnect.backoff.max.ms", "2000");
        if self.tls.insecure_skip_verify {
            c.set("enable.ssl.certificate.verification", "false")
                .set("ssl.endpoint.identification.algorithm", "none");
        } else {
            c.set("enable.ssl.certificate.verification", "true")
                .set("ssl.endpoint.identification.algorithm", "https");
        }
        if let Some(ca) = &self.tls.ca {
            c.set("ssl.ca.location", ca.to_string_lossy());
        }
        if let Some((cert, key)) = &self.tls.client {
            c.set("ssl.certificate.location", cert.to_string_lossy())
                .set("ssl.key.location", key.to_string_lossy());
        }
        c
    }
}

/// `key=value` → pair; the key must be non-empty.
pub fn parse_option(raw: &str) -> Result<(String, String), SettingsError> {
    match raw.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(SettingsError::BadOption(raw.to_owned())),
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, SettingsError> {
    std::fs::read(path).map_err(|e| SettingsError::Unreadable {
        what,
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn check_certificate(what: &'static str, path: &Path) -> Result<(), SettingsError> {
    let pem = read(what, path)?;
    match openssl::x509::X509::stack_from_pem(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(()),
        _ => Err(SettingsError::Unreadable {
            what,
            path: path.to_owned(),
            reason: "no PEM certificate in it".into(),
        }),
    }
}

fn check_private_key(path: &Path) -> Result<(), SettingsError> {
    let what = "Kafka client key";
    let pem = read(what, path)?;
    openssl::pkey::PKey::private_key_from_pem(&pem)
        .map(|_| ())
        .map_err(|_| SettingsError::Unreadable {
            what,
            path: path.to_owned(),
            reason: "no PEM private key in it".into(),
        })
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
