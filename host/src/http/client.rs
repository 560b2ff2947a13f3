//! [`HttpClient`]: DNS, TCP, TLS and HTTP/1.1 for one probe request at a time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use openssl::ssl::{SslConnector, SslMethod};

use super::connect::{connect, ms_since};
use super::exchange::{exchange, Outgoing};
use super::{AllowList, HttpError, Request, Response, Timings};

/// Host-wide ceilings applied on top of what a probe asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// A request's `timeout_ms` is lowered to this.
    pub max_timeout_ms: u32,
    /// A request's `max_body_bytes` is lowered to this.
    pub max_body_bytes_cap: u32,
    /// A PEM file with extra trusted CA certificates (added to the system roots).
    pub extra_ca_file: Option<PathBuf>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_timeout_ms: 60_000,
            max_body_bytes_cap: 16 * 1024 * 1024,
            extra_ca_file: None,
        }
    }
}

/// Cheap to clone: the TLS configuration is shared.
#[derive(Clone)]
pub struct HttpClient {
    tls: Arc<SslConnector>,
    limits: HttpLimits,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Fails when the extra CA file cannot be read or holds no certificate.
    pub fn new(limits: HttpLimits) -> anyhow::Result<Self> {
        let mut builder =
            SslConnector::builder(SslMethod::tls_client()).context("creating the TLS client")?;
        if let Some(ca) = &limits.extra_ca_file {
            builder
                .set_ca_file(ca)
                .with_context(|| format!("reading extra CA certificates from {}", ca.display()))?;
        }
        Ok(HttpClient {
            tls: Arc::new(builder.build()),
            limits,
        })
    }

    pub fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    /// Fetch `req` if `allow` permits its destination. See the module docs for guarantees.
    /// A `timeout_ms` of 0 means the host's [`HttpLimits::max_timeout_ms`].
    pub async fn fetch(&self, allow: &AllowList, req: Request) -> Result<Response, HttpError> {
        let url = url::Url::parse(&req.url)
            .map_err(|e| HttpError::InvalidUrl(format!("{}: {e}", req.url)))?;
        allow.check(&url).map_err(HttpError::NotAllowed)?;
        let timeout_ms = match req.timeout_ms {
            0 => self.limits.max_timeout_ms,
            t => t.min(self.limits.max_timeout_ms),
        };
        let max_body_bytes = req.max_body_bytes.min(self.limits.max_body_bytes_cap);
        let start = Instant::now();
        let work = async {
            let connected = connect(&url, &self.tls).await?;
            let out = Outgoing {
                method: &req.method,
                url: &url,
                headers: &req.headers,
                body: req.body,
                max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(usize::MAX),
            };
            let got = exchange(connected.stream, out, start).await?;
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
        tokio::time::timeout(Duration::from_millis(u64::from(timeout_ms)), work)
            .await
            .unwrap_or(Err(HttpError::Timeout))
    }
}
