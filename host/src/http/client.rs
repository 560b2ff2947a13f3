//! [`HttpClient`]: DNS, TCP, TLS and HTTP/1.1 for one probe request at a time.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use ipnet::IpNet;
use openssl::ssl::{SslConnector, SslMethod};

use super::address::{check_address, default_deny_ranges};
use super::connect::{connect, ms_since};
use super::dns::Resolver;
use super::exchange::{exchange, Outgoing};
use super::request_head::checked_head;
use super::{AllowList, FetchBudget, HttpError, Request, Response, Timings};

/// Host-wide settings: ceilings applied on top of what a probe asks for, and the
/// addresses and name servers fetches use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// A request's `timeout_ms` is lowered to this.
    pub max_timeout_ms: u32,
    /// A request's `max_body_bytes` is lowered to this.
    pub max_body_bytes_cap: u32,
    /// A PEM file with extra trusted CA certificates (added to the system roots).
    pub extra_ca_file: Option<PathBuf>,
    /// Addresses no fetch connects to, whatever a job allows (see [`super::address`]).
    pub deny_ranges: Vec<IpNet>,
    /// Name servers for probe fetches; `None`: the system's (`/etc/resolv.conf`).
    pub dns_servers: Option<Vec<SocketAddr>>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_timeout_ms: 60_000,
            max_body_bytes_cap: 16 * 1024 * 1024,
            extra_ca_file: None,
            deny_ranges: default_deny_ranges(),
            dns_servers: None,
        }
    }
}

/// Cheap to clone: the TLS configuration and the resolver are shared.
///
/// Both are made at the first fetch, not before: OpenSSL's client context parses the
/// system's trusted roots into about 0.9 MB of heap, which a host whose probes never fetch
/// would carry for nothing. An extra CA file is the exception: it is read at start, so
/// that a bad one stops the host with its path.
#[derive(Clone)]
pub struct HttpClient {
    connector: Arc<OnceLock<Connector>>,
    limits: HttpLimits,
}

/// What every fetch connects with.
struct Connector {
    tls: SslConnector,
    resolver: Resolver,
}

impl Connector {
    fn new(limits: &HttpLimits) -> anyhow::Result<Self> {
        let mut builder =
            SslConnector::builder(SslMethod::tls_client()).context("creating the TLS client")?;
        if let Some(ca) = &limits.extra_ca_file {
            builder
                .set_ca_file(ca)
                .with_context(|| format!("reading extra CA certificates from {}", ca.display()))?;
        }
        Ok(Connector {
            tls: builder.build(),
            resolver: Resolver::new(limits.dns_servers.as_deref())?,
        })
    }
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("limits", &self.limits)
            .field("connected", &self.connector.get().is_some())
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Fails when the extra CA file cannot be read or holds no certificate.
    pub fn new(limits: HttpLimits) -> anyhow::Result<Self> {
        let connector = OnceLock::new();
        if limits.extra_ca_file.is_some() {
            let _ = connector.set(Connector::new(&limits)?);
        }
        Ok(HttpClient {
            connector: Arc::new(connector),
            limits,
        })
    }

    /// The connector, made on first use (a failure is the fetch's, and the next fetch
    /// tries again).
    fn connector(&self) -> Result<&Connector, HttpError> {
        if let Some(connector) = self.connector.get() {
            return Ok(connector);
        }
        let made = Connector::new(&self.limits).map_err(|e| HttpError::Other(format!("{e:#}")))?;
        // Two first fetches at once both make one; the first stored is kept.
        Ok(self.connector.get_or_init(|| made))
    }

    pub fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    /// Fetch `req` if `allow` permits its destination and `budget` has a fetch and the
    /// bytes left; what the fetch sends and receives is spent from `budget`, also when it
    /// fails. See the module docs for guarantees. A `timeout_ms` of 0 means the host's
    /// [`HttpLimits::max_timeout_ms`].
    pub async fn fetch(
        &self,
        allow: &AllowList,
        req: Request,
        budget: &mut FetchBudget,
    ) -> Result<Response, HttpError> {
        let max_response_bytes = budget.start(&req)?;
        let url = url::Url::parse(&req.url)
            .map_err(|e| HttpError::InvalidUrl(format!("{}: {e}", req.url)))?;
        allow.check(&url).map_err(HttpError::NotAllowed)?;
        let (method, headers) = checked_head(&req.method, &req.headers)?;
        let timeout_ms = match req.timeout_ms {
            0 => self.limits.max_timeout_ms,
            t => t.min(self.limits.max_timeout_ms),
        };
        let max_body_bytes = req.max_body_bytes.min(self.limits.max_body_bytes_cap);
        let start = Instant::now();
        let mut received = 0u64;
        let work = async {
            let allowed = |addr| check_address(allow, &self.limits.deny_ranges, &url, addr);
            let connector = self.connector()?;
            let connected = connect(&url, &connector.tls, &connector.resolver, allowed).await?;
            let out = Outgoing {
                method,
                url: &url,
                headers,
                body: req.body,
                max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(usize::MAX),
                max_response_bytes,
            };
            let got = exchange(connected.stream, out, start, &mut received).await?;
            Ok(Response {
                status: got.status,
                headers: got.headers,
                body: got.body,
                truncated: got.truncated,
                timings: Timings {
                    dns_ms: connected.dns_ms,
                    connect_ms: connected.connect_ms,
                    tls_ms: connected.tls_ms,
                    first_byte_ms: got.first_byte_ms,
                    total_ms: ms_since(start),
                },
            })
        };
        let result = tokio::time::timeout(Duration::from_millis(u64::from(timeout_ms)), work)
            .await
            .unwrap_or(Err(HttpError::Timeout));
        budget.receive(received);
        result
    }
}
