//! `recorder.ini`: the seed writer's INI format (section `[recorder]`, `[writer]` accepted),
//! parsed by hand so every error can name the file, the line and the key.
//!
//! Keys in other sections are ignored (the seed shared one secrets file between services);
//! an unknown key inside `[recorder]`/`[writer]` is an error.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::batch::BatchLimits;

/// Everything the recorder needs, after defaults, file and command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub kafka: KafkaSettings,
    pub postgres: PgSettings,
    pub batch: BatchLimits,
    /// `metrics.addr`: where /metrics, /healthz and /readyz are served; `None`: off.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    pub topic: String,
    /// Subscribe by regular expression instead of `topic` (librdkafka syntax, leading `^`).
    pub topic_regex: Option<String>,
    /// Subscribe to every topic starting with this prefix.
    pub topic_prefix: Option<String>,
    /// TLS unless plaintext is asked for (see [`crate::tls`]).
    pub security_protocol: SecurityProtocol,
    /// `None`: the system's trusted CAs.
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub connect_interval: Duration,
    pub group_id: String,
    /// `kafka.option.<name> = value`: passed to librdkafka unchanged.
    pub options: BTreeMap<String, String>,
}

/// How the recorder talks to the brokers (librdkafka's `security.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Ssl,
    /// No TLS: only when asked for, logged loudly.
    Plaintext,
}

impl SecurityProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::Plaintext => "plaintext",
        }
    }
}

/// How strictly the PostgreSQL server's certificate is checked (libpq's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS at all: the default over a UNIX socket; over TCP only when asked (logged loudly).
    Disable,
    /// TLS, certificate not checked: only when asked (logged loudly).
    Require,
    /// TLS, certificate chain checked against the root certificate file only, host name not.
    VerifyCa,
    /// TLS, chain and host name checked, against the root certificate file or else the
    /// system's trusted CAs. The default over TCP.
    VerifyFull,
}

impl SslMode {
    pub fn parse(s: &str) -> Option<SslMode> {
        match s {
            "disable" => Some(SslMode::Disable),
            "require" => Some(SslMode::Require),
            "verify-ca" => Some(SslMode::VerifyCa),
            "verify-full" => Some(SslMode::VerifyFull),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PgSettings {
    /// Host name, or a UNIX socket directory (starts with `/`); `None` = `/var/run/postgresql`.
    pub host: Option<String>,
    pub port: u16,
    /// `None` = same as the user name.
    pub database: Option<String>,
    /// `None` = the operating-system user.
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Only from `--psql`/`PSQL_SERVER`; the file never holds a password itself.
    pub password: Option<String>,
    /// `None`: the system's trusted CAs.
    pub root_cert_file: Option<PathBuf>,
    /// `None` = verify-full over TCP, disable on a socket.
    pub sslmode: Option<SslMode>,
    pub connect_interval: Duration,
    /// Name of the seed-compatible view (hostname, metric, submetric, value, timestamp).
    pub measure_table: String,
    /// Drop daily measurement partitions older than this; 0 keeps everything.
    pub retention_days: u32,
    /// Sessions writing batches at the same time; batches still commit in consumed order.
    pub sessions: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kafka: KafkaSettings {
                bootstrap_servers: "localhost:9092".into(),
                topic: sonde_message::DEFAULT_TOPIC.into(),
                topic_regex: None,
                topic_prefix: None,
                security_protocol: SecurityProtocol::Ssl,
                ca_file: None,
                cert_file: None,
                key_file: None,
                connect_interval: Duration::from_secs(1),
                group_id: "sonde-recorder".into(),
                options: BTreeMap::new(),
            },
            postgres: PgSettings {
                host: None,
                port: 5432,
                database: None,
                user: None,
                password_file: None,
                password: None,
                root_cert_file: None,
                sslmode: None,
                connect_interval: Duration::from_secs(1),
                measure_table: "aiven_monitor_measure".into(),
                retention_days: 0,
                sessions: DEFAULT_SESSIONS,
            },
            batch: BatchLimits::default(),
            metrics_addr: None,
        }
    }
}

/// A problem in the configuration file, with where it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(
                f,
                "{}:{}: key `{}`: {}",
                self.file, self.line, key, self.message
            ),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.message),
        }
    }
}

/// Two sessions keep PostgreSQL busy while one of them waits for the network or a commit,
/// and let it use a second core (`just bench`: the recorder row).
pub const DEFAULT_SESSIONS: usize = 2;
/// Each session holds one batch in memory and one server connection.
pub const MAX_SESSIONS: usize = 16;

const SECTIONS: [&str; 2] = ["recorder", "writer"];

/// `kafka.topic` of a seed `writer.ini`: the default of a file whose section is `[writer]`
/// (and not `[recorder]`), so an old file keeps consuming what it did.
pub const SEED_WRITER_TOPIC: &str = "aiven_monitor_measure";

impl Config {
    /// Read and parse `path` on top of the defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parse INI text (`file` only names it in errors).
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let mut in_ours = false;
        let (mut writer_section, mut recorder_section) = (false, false);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let err = |key: Option<&str>, message: String| ConfigError {
                file: file.to_owned(),
                line,
                key: key.map(str::to_owned),
                message,
            };
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            if let Some(rest) = trimmed.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| err(None, format!("unterminated section header `{trimmed}`")))?;
                let name = name.trim();
                in_ours = SECTIONS.contains(&name);
                writer_section |= name == "writer";
                recorder_section |= name == "recorder";
                continue;
            }
            let Some(split) = trimmed.find(['=', ':']) else {
                return Err(err(
                    None,
                    format!("expected `key = value`, got `{trimmed}`"),
                ));
            };
            if !in_ours {
                continue;
            }
            let key = trimmed[..split].trim();
            let value = trimmed[split + 1..].trim();
            if let Some(first) = seen.insert(key.to_owned(), line) {
                return Err(err(Some(key), format!("set twice (first on line {first})")));
            }
            config
                .set(key, value)
                .map_err(|message| err(Some(key), message))?;
        }
        if writer_section && !recorder_section && !seen.contains_key("kafka.topic") {
            config.kafka.topic = SEED_WRITER_TOPIC.into();
        }
        Ok(config)
    }

    /// Set one key from its text value; the error says what was expected.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let k = &mut self.kafka;
        let p = &mut self.postgres;
        let b = &mut self.batch;
        if let Some(option) = key.strip_prefix("kafka.option.") {
            if option.is_empty() {
                return Err("empty librdkafka option name".into());
            }
            k.options.insert(option.to_owned(), value.to_owned());
            return Ok(());
        }
        match key {
            "kafka.bootstrap_servers" => k.bootstrap_servers = non_empty(value)?,
            "kafka.topic" => k.topic = non_empty(value)?,
            "kafka.topic_regex" => k.topic_regex = Some(topic_regex(value)?),
            "kafka.topic_prefix" => k.topic_prefix = Some(non_empty(value)?),
            "kafka.security_protocol" => {
                k.security_protocol = match value {
                    "ssl" => SecurityProtocol::Ssl,
                    "plaintext" => SecurityProtocol::Plaintext,
                    _ => return Err(format!("expected ssl or plaintext, got `{value}`")),
                }
            }
            "kafka.ssl.cafile" => k.ca_file = Some(path(value)?),
            "kafka.ssl.certfile" => k.cert_file = Some(path(value)?),
            "kafka.ssl.keyfile" => k.key_file = Some(path(value)?),
            "kafka.connect_interval_secs" => k.connect_interval = seconds(value)?,
            "kafka.group_id" => k.group_id = non_empty(value)?,
            "postgres.measure_table" => p.measure_table = identifier(value)?,
            "postgres.host" => p.host = Some(non_empty(value)?),
            "postgres.port" => p.port = number(value, 1, u16::MAX as u64)? as u16,
            "postgres.database" => p.database = Some(non_empty(value)?),
            "postgres.user" => p.user = Some(non_empty(value)?),
            "postgres.passwordfile" => p.password_file = Some(path(value)?),
            "postgres.ssl.rootcertfile" => p.root_cert_file = Some(path(value)?),
            "postgres.sslmode" => {
                p.sslmode = Some(SslMode::parse(value).ok_or_else(|| {
                    format!("expected disable, require, verify-ca or verify-full, got `{value}`")
                })?)
            }
            "postgres.connect_interval_secs" => p.connect_interval = seconds(value)?,
            "postgres.retention_days" => p.retention_days = number(value, 0, 36500)? as u32,
            "postgres.sessions" => p.sessions = number(value, 1, MAX_SESSIONS as u64)? as usize,
            "batch.max_rows" => b.max_rows = number(value, 1, 10_000_000)? as usize,
            "batch.max_bytes" => b.max_bytes = number(value, 1, 1 << 34)? as usize,
            "batch.max_delay_ms" => {
                b.max_delay = Duration::from_millis(number(value, 0, 3_600_000)?)
            }
            "metrics.addr" => self.metrics_addr = Some(socket_addr(value)?),
            _ => return Err("unknown key".into()),
        }
        Ok(())
    }

    /// Cross-key checks that no single key can make.
    pub fn validate(&self) -> Result<(), String> {
        let k = &self.kafka;
        if k.topic_regex.is_some() && k.topic_prefix.is_some() {
            return Err("set either kafka.topic_regex or kafka.topic_prefix, not both".into());
        }
        if k.cert_file.is_some() != k.key_file.is_some() {
            return Err("kafka.ssl.certfile and kafka.ssl.keyfile must be given together".into());
        }
        let p = &self.postgres;
        if p.sslmode == Some(SslMode::VerifyCa) && p.root_cert_file.is_none() {
            // Any certificate from any public CA would pass: never what is meant.
            return Err("postgres.sslmode verify-ca needs postgres.ssl.rootcertfile (the one root it trusts); verify-full works with the system's CAs".into());
        }
        Ok(())
    }

    /// What to subscribe to: a topic name, or a `^regex` librdkafka matches against topic names.
    pub fn subscription(&self) -> String {
        let k = &self.kafka;
        if let Some(re) = &k.topic_regex {
            re.clone()
        } else if let Some(prefix) = &k.topic_prefix {
            format!("^{}.*", regex_escape(prefix))
        } else {
            k.topic.clone()
        }
    }
}

fn non_empty(v: &str) -> Result<String, String> {
    if v.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(v.to_owned())
    }
}

fn path(v: &str) -> Result<PathBuf, String> {
    non_empty(v).map(PathBuf::from)
}

fn socket_addr(v: &str) -> Result<std::net::SocketAddr, String> {
    v.parse().map_err(|_| {
        format!("expected an IP address and port such as 127.0.0.1:9465 or [::1]:9465, got `{v}`")
    })
}

fn seconds(v: &str) -> Result<Duration, String> {
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "expected seconds between 0 and 86400 (e.g. 1.0), got `{v}`"
        )),
    }
}

fn number(v: &str, min: u64, max: u64) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected an integer from {min} to {max}, got `{v}`"
        )),
    }
}

/// The view name is spliced into SQL, so only plain identifiers are allowed.
fn identifier(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 63
        && v.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "expected an SQL identifier (letters, digits, _; at most 63), got `{v}`"
        ))
    }
}

fn topic_regex(v: &str) -> Result<String, String> {
    if v.starts_with('^') && v.len() > 1 {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "a topic regex must start with `^` (librdkafka convention), got `{v}`"
        ))
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !c.is_ascii_alphanumeric() && c != '_' && c != '-' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
