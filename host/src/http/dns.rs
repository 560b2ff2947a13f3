//! Name lookups for probe fetches on an async resolver (hickory), not `getaddrinfo` on
//! the blocking pool: a lookup is a future like any other, so when its fetch times out
//! or its run ends, dropping the future cancels it. A probe that asks for many names
//! that never answer therefore holds no thread and leaves no query behind.
//!
//! Names come from `/etc/hosts` first, then the name servers of `/etc/resolv.conf` (or
//! `[http] dns_servers`). `localhost` resolves to the loopback addresses without a query.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;

use super::HttpError;

/// How long one query to one name server may take before it is retried.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub(super) struct Resolver(TokioResolver);

impl Resolver {
    /// `dns_servers`: `None` for the system configuration. When that cannot be read, only
    /// `/etc/hosts` and `localhost` resolve (logged once here; each failed lookup says so).
    pub fn new(dns_servers: Option<&[SocketAddr]>) -> anyhow::Result<Self> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match dns_servers {
            Some(servers) => {
                let servers = servers
                    .iter()
                    .map(|s| {
                        let mut udp = ConnectionConfig::udp();
                        udp.port = s.port();
                        let mut tcp = ConnectionConfig::tcp();
                        tcp.port = s.port();
                        NameServerConfig::new(s.ip(), true, vec![udp, tcp])
                    })
                    .collect();
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(servers),
                    provider,
                )
            }
            None => TokioResolver::builder_tokio().unwrap_or_else(|e| {
                tracing::warn!(
                    "cannot read the system DNS configuration ({e}); probe fetches resolve only \
                     names in /etc/hosts"
                );
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(Vec::new()),
                    TokioRuntimeProvider::default(),
                )
            }),
        };
        let options = builder.options_mut();
        options.timeout = QUERY_TIMEOUT;
        options.attempts = 2;
        let resolver = builder
            .build()
            .map_err(|e| anyhow::anyhow!("building the DNS resolver for probe fetches: {e}"))?;
        Ok(Resolver(resolver))
    }

    /// Every address `name` resolves to, with `port`; an error when there is none.
    pub async fn lookup(&self, name: &str, port: u16) -> Result<Vec<SocketAddr>, HttpError> {
        let found = self
            .0
            .lookup_ip(name)
            .await
            .map_err(|e| HttpError::Dns(format!("{name}: {e}")))?;
        let addrs: Vec<SocketAddr> = found
            .iter()
            .map(|ip: IpAddr| SocketAddr::new(ip, port))
            .collect();
        if addrs.is_empty() {
            return Err(HttpError::Dns(format!("{name}: no addresses")));
        }
        Ok(addrs)
    }
}
