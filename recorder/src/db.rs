//! Connecting to PostgreSQL: TLS per `sslmode` (see [`crate::tls`]: verify-full unless
//! asked otherwise), password from a file, reconnect with capped backoff.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use postgres_openssl::MakeTlsConnector;
use tokio::sync::watch;
use tokio_postgres::{Client, NoTls};

use crate::config::{PgSettings, SslMode};
use crate::stall::{human, Report, Stall};
use crate::tls::{effective_sslmode, pg_connector};

/// Where the socket lives when `postgres.host` is absent (Debian's default).
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// Longest wait between two connection attempts. A reminder is logged every
/// [`crate::stall::STALL_WARNING_INTERVAL`] while the server stays unreachable.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A ready-to-dial PostgreSQL endpoint.
#[derive(Clone)]
pub struct PgTarget {
    config: tokio_postgres::Config,
    tls: Option<MakeTlsConnector>,
    pub sslmode: SslMode,
    /// `user@host:port/db`, for log lines.
    pub describe: String,
    pub connect_interval: Duration,
}

fn os_user() -> Result<String> {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .ok_or_else(|| {
            anyhow!("cannot tell the operating-system user (USER unset): set postgres.user")
        })
}

fn read_password(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("postgres.passwordfile {}: cannot read", path.display()))?;
    Ok(text.lines().next().unwrap_or("").to_owned())
}

impl PgTarget {
    pub fn new(s: &PgSettings) -> Result<PgTarget> {
        let mut config = tokio_postgres::Config::new();
        let user = match &s.user {
            Some(u) => u.clone(),
            None => os_user()?,
        };
        let database = s.database.clone().unwrap_or_else(|| user.clone());
        let host = s
            .host
            .clone()
            .unwrap_or_else(|| DEFAULT_SOCKET_DIR.to_owned());
        if host.starts_with('/') {
            config.host_path(&host);
        } else {
            config.host(&host);
        }
        config
            .port(s.port)
            .user(&user)
            .dbname(&database)
            .application_name("sonde-recorder")
            .connect_timeout(Duration::from_secs(10))
            .keepalives_idle(Duration::from_secs(30));
        if let Some(file) = &s.password_file {
            config.password(read_password(file)?);
        } else if let Some(password) = &s.password {
            config.password(password.as_str());
        }
        let sslmode = effective_sslmode(s);
        let tls = if sslmode == SslMode::Disable {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            None
        } else {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            Some(pg_connector(sslmode, s.root_cert_file.as_deref())?)
        };
        Ok(PgTarget {
            config,
            tls,
            sslmode,
            describe: format!("{user}@{host}:{}/{database}", s.port),
            connect_interval: s.connect_interval,
        })
    }

    /// One attempt; the connection task is spawned on the current runtime.
    pub async fn connect(&self) -> Result<Client> {
        let what = || {
            format!(
                "connecting to PostgreSQL {} (sslmode {:?})",
                self.describe, self.sslmode
            )
        };
        let client = match &self.tls {
            Some(tls) => {
                let (client, conn) = self.config.connect(tls.clone()).await.with_context(what)?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("PostgreSQL connection ended: {e}");
                    }
                });
                client
            }
            None => {
                let (client, conn) = self.config.connect(NoTls).await.with_context(what)?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("PostgreSQL connection ended: {e}");
                    }
                });
                client
            }
        };
        Ok(client)
    }

    /// Connect, retrying with [`backoff`] until it works or `shutdown` turns true (then `None`).
    /// Logs the first failure, each change of cause, a reminder every
    /// [`crate::stall::STALL_WARNING_INTERVAL`] with how long it has lasted, and the recovery.
    pub async fn connect_with_retry(&self, shutdown: &mut watch::Receiver<bool>) -> Option<Client> {
        let mut attempt = 0u32;
        let mut stall = Stall::default();
        loop {
            if *shutdown.borrow() {
                return None;
            }
            match self.connect().await {
                Ok(client) => {
                    if stall.succeeded(Instant::now()).is_some() {
                        tracing::info!("PostgreSQL {} reachable again", self.describe);
                    }
                    return Some(client);
                }
                Err(e) => {
                    let text = format!("{e:#}");
                    if let Some(Report::Warn(_)) = stall.failed(&text, 0, Instant::now()) {
                        tracing::warn!(
                            "{text}; retrying every {:?} or more (unreachable for {})",
                            self.connect_interval,
                            human(stall.lasted(Instant::now()))
                        );
                    }
                }
            }
            let delay = backoff(self.connect_interval, attempt);
            attempt = attempt.saturating_add(1);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Wait before attempt `attempt + 1`: `interval`, doubling, capped at [`MAX_BACKOFF`]
/// (or at `interval` when that is longer).
pub fn backoff(interval: Duration, attempt: u32) -> Duration {
    let cap = MAX_BACKOFF.max(interval);
    interval.saturating_mul(1u32 << attempt.min(16)).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(1), 0), s(1));
        assert_eq!(backoff(s(1), 1), s(2));
        assert_eq!(backoff(s(1), 4), s(16));
        assert_eq!(backoff(s(1), 5), s(30));
        assert_eq!(backoff(s(1), 1000), s(30));
        assert_eq!(backoff(s(60), 3), s(60));
    }

    #[test]
    fn missing_root_cert_is_named() {
        let mut p = Config::default().postgres;
        p.host = Some("db.example".into());
        p.user = Some("u".into());
        p.root_cert_file = Some("/nonexistent/ca.pem".into());
        let err = PgTarget::new(&p).err().expect("must fail").to_string();
        assert!(
            err.contains("postgres.ssl.rootcertfile /nonexistent/ca.pem"),
            "{err}"
        );
    }
}
