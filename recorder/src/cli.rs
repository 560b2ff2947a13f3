//! Command-line flags (the seed tools' names kept) and how they override the INI file.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;

use crate::config::{Config, SslMode};
use sonde_telemetry::LogArgs;

/// Consume Sonde messages from Kafka into PostgreSQL over SSL, exactly once.
#[derive(Debug, Parser)]
#[command(name = "recorder", version, about)]
pub struct Cli {
    /// recorder.ini ([recorder] section; [writer] accepted).
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Validate the configuration, connect to Kafka and PostgreSQL once, exit 0 or 1.
    #[arg(long)]
    pub check_config: bool,
    /// Kafka bootstrap servers (overrides kafka.bootstrap_servers).
    #[arg(
        long,
        visible_alias = "server",
        env = "KAFKA_SERVER",
        value_name = "HOST:PORT,..."
    )]
    pub kafka_brokers: Option<String>,
    /// PostgreSQL as a libpq connection string or URI; sslmode and sslrootcert are understood.
    #[arg(long, env = "PSQL_SERVER", value_name = "CONNINFO", global = true)]
    pub psql: Option<String>,
    /// CA certificate of the brokers (kafka.ssl.cafile).
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// Client certificate for Kafka (kafka.ssl.certfile).
    #[arg(long, value_name = "PEM")]
    pub cert: Option<PathBuf>,
    /// Client key for Kafka (kafka.ssl.keyfile).
    #[arg(long, value_name = "PEM")]
    pub key: Option<PathBuf>,
    /// Directory holding ca.pem, service.cert and service.key (hosted Kafka layout).
    #[arg(long, value_name = "DIR")]
    pub cert_path: Option<PathBuf>,
    /// Topic to consume (kafka.topic) [default: sonde.measurements, the host's default;
    /// aiven_monitor_measure for a seed writer.ini with only a [writer] section].
    #[arg(long)]
    pub topic: Option<String>,
    /// Subscribe by regular expression, e.g. `^sonde\..*` (kafka.topic_regex).
    #[arg(long, value_name = "REGEX")]
    pub topic_regex: Option<String>,
    /// Subscribe to every topic with this prefix (kafka.topic_prefix).
    #[arg(long, value_name = "PREFIX")]
    pub topic_prefix: Option<String>,
    /// Consumer group (kafka.group_id).
    #[arg(long)]
    pub group_id: Option<String>,
    /// Any librdkafka setting, repeatable (like kafka.option.<KEY> in the file).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    pub kafka_options: Vec<String>,
    /// Serve /metrics, /healthz and /readyz on this address (metrics.addr) [default: off].
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Without a subcommand the recorder consumes until stopped.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write one self-contained HTML report of what was recorded (reads PostgreSQL only).
    Report(crate::report::ReportArgs),
}

impl Cli {
    /// Defaults, then the file, then these flags.
    pub fn load_config(&self) -> Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        self.apply(&mut config)?;
        config.validate().map_err(|e| anyhow!("{e}"))?;
        Ok(config)
    }

    fn apply(&self, config: &mut Config) -> Result<()> {
        let flag = |name: &str, key: &str, value: &str, config: &mut Config| {
            config.set(key, value).map_err(|e| anyhow!("--{name}: {e}"))
        };
        if let Some(v) = &self.kafka_brokers {
            flag("kafka-brokers", "kafka.bootstrap_servers", v, config)?;
        }
        if let Some(dir) = &self.cert_path {
            config.kafka.ca_file = Some(dir.join("ca.pem"));
            config.kafka.cert_file = Some(dir.join("service.cert"));
            config.kafka.key_file = Some(dir.join("service.key"));
        }
        let files = [("ca", &self.ca), ("cert", &self.cert), ("key", &self.key)];
        for (name, value) in files {
            if let Some(path) = value {
                let key = format!("kafka.ssl.{name}file");
                flag(name, &key, &path.display().to_string(), config)?;
            }
        }
        let texts = [
            ("topic", "kafka.topic", &self.topic),
            ("topic-regex", "kafka.topic_regex", &self.topic_regex),
            ("topic-prefix", "kafka.topic_prefix", &self.topic_prefix),
            ("group-id", "kafka.group_id", &self.group_id),
            ("metrics-addr", "metrics.addr", &self.metrics_addr),
        ];
        for (name, key, value) in texts {
            if let Some(v) = value {
                flag(name, key, v, config)?;
            }
        }
        for kv in &self.kafka_options {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| anyhow!("--kafka-option {kv}: expected KEY=VALUE"))?;
            config
                .kafka
                .options
                .insert(k.trim().to_owned(), v.trim().to_owned());
        }
        if let Some(conninfo) = &self.psql {
            apply_psql(conninfo, config).context("--psql/PSQL_SERVER")?;
        }
        Ok(())
    }
}

/// Take host, port, user, database, password, sslmode and sslrootcert from a libpq
/// connection string (`host=… port=…`) or URI (`postgresql://user@host:port/db?sslmode=…`).
pub fn apply_psql(conninfo: &str, config: &mut Config) -> Result<()> {
    let (rest, extras) = split_ssl_params(conninfo);
    let parsed = tokio_postgres::Config::from_str(&rest)
        .map_err(|e| anyhow!("cannot parse `{rest}`: {e}"))?;
    let p = &mut config.postgres;
    if let Some(host) = parsed.get_hosts().first() {
        p.host = Some(match host {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        });
    }
    if let Some(port) = parsed.get_ports().first() {
        p.port = *port;
    }
    if let Some(user) = parsed.get_user() {
        p.user = Some(user.to_owned());
    }
    if let Some(db) = parsed.get_dbname() {
        p.database = Some(db.to_owned());
    }
    if let Some(pw) = parsed.get_password() {
        p.password = Some(String::from_utf8(pw.to_vec()).context("password is not UTF-8")?);
        p.password_file = None;
    }
    for (key, value) in extras {
        match key.as_str() {
            "sslmode" => {
                p.sslmode = Some(match value.as_str() {
                    // libpq's weaker modes map to require: we never fall back to plain text.
                    "allow" | "prefer" => SslMode::Require,
                    other => {
                        SslMode::parse(other).ok_or_else(|| anyhow!("unknown sslmode `{other}`"))?
                    }
                })
            }
            // libpq's keyword for the system's trusted CAs, which is also our default.
            "sslrootcert" if value == "system" => p.root_cert_file = None,
            "sslrootcert" => p.root_cert_file = Some(PathBuf::from(value)),
            _ => bail!("unexpected parameter {key}"),
        }
    }
    Ok(())
}

/// Remove `sslmode`/`sslrootcert` (which tokio-postgres does not fully understand) from
/// either form; return the rest and the removed pairs.
fn split_ssl_params(conninfo: &str) -> (String, Vec<(String, String)>) {
    let ours = |k: &str| k == "sslmode" || k == "sslrootcert";
    let mut extras = Vec::new();
    let s = conninfo.trim();
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        let Some((base, query)) = s.split_once('?') else {
            return (s.to_owned(), extras);
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some((k, v)) if ours(k) => extras.push((k.to_owned(), v.to_owned())),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, extras)
    } else {
        let mut kept = Vec::new();
        for token in s.split_whitespace() {
            match token.split_once('=') {
                Some((k, v)) if ours(k.trim()) => {
                    extras.push((k.trim().to_owned(), v.trim_matches('\'').to_owned()))
                }
                _ => kept.push(token),
            }
        }
        (kept.join(" "), extras)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("recorder").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("r.ini");
        std::fs::write(
            &ini,
            "[writer]\nkafka.topic = from_file\nkafka.bootstrap_servers = a:1\n",
        )
        .unwrap();
        let c = cli(&[
            "-c",
            ini.to_str().unwrap(),
            "--topic",
            "from_flag",
            "--cert-path",
            "/certs",
        ])
        .load_config()
        .unwrap();
        assert_eq!(c.kafka.topic, "from_flag");
        assert_eq!(c.kafka.bootstrap_servers, "a:1");
        assert_eq!(
            c.kafka.cert_file,
            Some(PathBuf::from("/certs/service.cert"))
        );
        assert_eq!(c.kafka.ca_file, Some(PathBuf::from("/certs/ca.pem")));
    }

    #[test]
    fn psql_uri_and_keyword_forms() {
        let mut c = Config::default();
        apply_psql(
            "postgresql://bob:pw@db.example:6543/metrics?sslmode=verify-full&sslrootcert=/ca.pem",
            &mut c,
        )
        .unwrap();
        let p = &c.postgres;
        assert_eq!(p.host.as_deref(), Some("db.example"));
        assert_eq!(p.port, 6543);
        assert_eq!(p.user.as_deref(), Some("bob"));
        assert_eq!(p.database.as_deref(), Some("metrics"));
        assert_eq!(p.password.as_deref(), Some("pw"));
        assert_eq!(p.sslmode, Some(SslMode::VerifyFull));
        assert_eq!(p.root_cert_file, Some(PathBuf::from("/ca.pem")));

        let mut c = Config::default();
        apply_psql(
            "host=localhost port=55432 user=sonde dbname=x sslmode=require",
            &mut c,
        )
        .unwrap();
        assert_eq!(c.postgres.port, 55432);
        assert_eq!(c.postgres.sslmode, Some(SslMode::Require));
        assert!(apply_psql("host=x sslmode=bogus", &mut Config::default()).is_err());

        let mut c = Config::default();
        apply_psql("host=db.example sslrootcert=system", &mut c).unwrap();
        assert_eq!(
            (c.postgres.root_cert_file, c.postgres.sslmode),
            (None, None)
        );
    }

    #[test]
    fn bad_flag_value_names_the_flag() {
        let err = cli(&["--topic-regex", "no-caret"])
            .load_config()
            .unwrap_err()
            .to_string();
        assert!(err.contains("--topic-regex"), "{err}");
        let err = cli(&["--kafka-option", "novalue"])
            .load_config()
            .unwrap_err()
            .to_string();
        assert!(err.contains("KEY=VALUE"), "{err}");
    }
}
