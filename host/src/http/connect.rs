//! DNS, TCP and TLS: from an allowed URL to a byte stream, with the time of each phase.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Instant;

use openssl::ssl::{SslConnector, SslVerifyMode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;
use url::{Host, Url};

use super::dns::Resolver;
use super::HttpError;

/// A connected stream, plain or TLS.
pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

pub(super) struct Connected {
    pub stream: Box<dyn Stream>,
    pub dns_ms: f64,
    pub connect_ms: f64,
    pub tls_ms: f64,
}

pub(super) fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Resolve, keep only the addresses `allowed` accepts, and connect to the first that
/// answers. The accepted addresses are the ones connected to (no second lookup), and the
/// peer actually reached is checked once more.
pub(super) async fn connect(
    url: &Url,
    tls: &SslConnector,
    resolver: &Resolver,
    allowed: impl Fn(IpAddr) -> Result<(), String>,
) -> Result<Connected, HttpError> {
    let port = url
        .port_or_known_default()
        .ok_or_else(|| HttpError::InvalidUrl(format!("{url}: no port")))?;
    let host = url
        .host()
        .ok_or_else(|| HttpError::InvalidUrl(format!("{url}: no host")))?;

    let dns_start = Instant::now();
    let (resolved, tls_name) = match &host {
        Host::Ipv4(ip) => (vec![SocketAddr::new(IpAddr::V4(*ip), port)], ip.to_string()),
        Host::Ipv6(ip) => (vec![SocketAddr::new(IpAddr::V6(*ip), port)], ip.to_string()),
        Host::Domain(name) => (resolver.lookup(name, port).await?, name.to_string()),
    };
    let dns_ms = match host {
        Host::Domain(_) => ms_since(dns_start),
        _ => 0.0,
    };
    let mut refusals = Vec::new();
    let addrs: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|a| match allowed(a.ip()) {
            Ok(()) => true,
            Err(why) => {
                refusals.push(why);
                false
            }
        })
        .collect();
    if addrs.is_empty() {
        let why = refusals.join("; ");
        return Err(HttpError::NotAllowed(match host {
            Host::Domain(name) => format!("{name} resolves only to refused addresses: {why}"),
            _ => why,
        }));
    }

    let connect_start = Instant::now();
    let tcp = connect_first(&addrs).await?;
    let connect_ms = ms_since(connect_start);
    let peer = tcp
        .peer_addr()
        .map_err(|e| HttpError::Connect(format!("{url}: {e}")))?;
    allowed(peer.ip()).map_err(HttpError::NotAllowed)?;
    // Small requests and an immediate response: Nagle would only add latency.
    let _ = tcp.set_nodelay(true);

    if url.scheme() != "https" {
        return Ok(Connected {
            stream: Box::new(tcp),
            dns_ms,
            connect_ms,
            tls_ms: 0.0,
        });
    }

    let tls_start = Instant::now();
    let mut config = tls
        .configure()
        .map_err(|e| HttpError::Tls(format!("configuring TLS: {e}")))?;
    // Verification is never optional here; set it again so a future change to the
    // shared connector cannot turn it off by accident.
    config.set_verify(SslVerifyMode::PEER);
    let ssl = config
        .into_ssl(&tls_name)
        .map_err(|e| HttpError::Tls(format!("configuring TLS for {tls_name}: {e}")))?;
    let mut stream =
        SslStream::new(ssl, tcp).map_err(|e| HttpError::Tls(format!("{tls_name}: {e}")))?;
    Pin::new(&mut stream).connect().await.map_err(|e| {
        let verify = stream.ssl().verify_result();
        if verify.as_raw() != 0 {
            HttpError::Tls(format!("{tls_name}: certificate rejected: {verify}"))
        } else {
            HttpError::Tls(format!("{tls_name}: {e}"))
        }
    })?;
    Ok(Connected {
        stream: Box::new(stream),
        dns_ms,
        connect_ms,
        tls_ms: ms_since(tls_start),
    })
}

/// Try each resolved address in order; report the last failure.
async fn connect_first(addrs: &[SocketAddr]) -> Result<TcpStream, HttpError> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(format!("{addr}: {e}")),
        }
    }
    Err(HttpError::Connect(
        last.unwrap_or_else(|| "no address to connect to".into()),
    ))
}
