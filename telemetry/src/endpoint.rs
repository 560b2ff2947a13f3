//! `/metrics`, `/healthz` and `/readyz` over HTTP/1.1.
//!
//! - `/metrics`: the [`Registry`] in the Prometheus text format (0.0.4);
//! - `/healthz`: 200 while the process answers at all (its async runtime is not stuck);
//! - `/readyz`: 200 once the process does its job, else 503 with the reason as the body.
//!
//! Only `GET` and `HEAD` are served. The endpoint is meant for a scraper on a trusted
//! network, but it still bounds what a stranger can hold: at most
//! [`MAX_CONNECTIONS`] connections, request headers within [`HEADER_TIMEOUT`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::Registry;

/// Connections served at the same time; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 64;
/// A client must send its request headers within this time.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether the process is ready, and if not, why. Cheap to clone; starts not ready.
#[derive(Clone)]
pub struct Readiness(Arc<Mutex<Result<(), String>>>);

impl Readiness {
    pub fn new(reason: &str) -> Readiness {
        Readiness(Arc::new(Mutex::new(Err(reason.to_owned()))))
    }

    pub fn set_ready(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Ok(());
    }

    pub fn set_not_ready(&self, reason: &str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Err(reason.to_owned());
    }

    pub fn get(&self) -> Result<(), String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The running endpoint; stops when dropped.
pub struct Endpoint {
    pub local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Endpoint {
    /// Listen on `addr` (port 0 picks a free port, see `local_addr`) and serve in the
    /// background on the current tokio runtime.
    ///
    /// # Errors
    /// One line naming the address when it cannot be listened on.
    pub async fn start(
        addr: SocketAddr,
        registry: Registry,
        readiness: Readiness,
    ) -> anyhow::Result<Endpoint> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("metrics address {addr}: cannot listen: {e}"))?;
        let local_addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, registry, readiness));
        tracing::info!("serving /metrics, /healthz and /readyz on http://{local_addr}");
        Ok(Endpoint { local_addr, task })
    }
}

async fn accept_loop(listener: TcpListener, registry: Registry, readiness: Readiness) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (registry, readiness) = (registry.clone(), readiness.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let response = respond(&req, &registry, &readiness);
                async move { Ok::<_, Infallible>(response) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!("metrics endpoint: connection ended: {e}");
            }
            drop(permit);
        });
    }
}

fn respond(
    req: &Request<Incoming>,
    registry: &Registry,
    readiness: &Readiness,
) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
    }
    match req.uri().path() {
        "/metrics" => {
            let mut response = text(StatusCode::OK, registry.render());
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            response
        }
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match readiness.get() {
            Ok(()) => text(StatusCode::OK, "ready\n".into()),
            Err(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: /metrics, /healthz, /readyz\n".into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    fn req(method: &str, path: &str) -> String {
        format!("{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    }

    #[tokio::test]
    async fn serves_the_three_paths_and_refuses_the_rest() {
        let registry = Registry::new(&[]).unwrap();
        registry.counter("t_runs_total", "Runs.", &[]).increment(3);
        let ready = Readiness::new("jobs not loaded yet");
        let ep = Endpoint::start("127.0.0.1:0".parse().unwrap(), registry, ready.clone())
            .await
            .unwrap();
        let a = ep.local_addr;
        let m = get(a, &req("GET", "/metrics")).await;
        assert!(m.starts_with("HTTP/1.1 200"), "{m}");
        assert!(
            m.contains(METRICS_CONTENT_TYPE) && m.contains("t_runs_total 3"),
            "{m}"
        );
        assert!(get(a, &req("GET", "/healthz"))
            .await
            .starts_with("HTTP/1.1 200"));
        let r = get(a, &req("GET", "/readyz")).await;
        assert!(
            r.starts_with("HTTP/1.1 503") && r.contains("jobs not loaded yet"),
            "{r}"
        );
        ready.set_ready();
        assert!(get(a, &req("GET", "/readyz"))
            .await
            .starts_with("HTTP/1.1 200"));
        assert!(get(a, &req("POST", "/metrics"))
            .await
            .starts_with("HTTP/1.1 405"));
        assert!(get(a, &req("GET", "/../etc/passwd"))
            .await
            .starts_with("HTTP/1.1 404"));
        let garbage = get(a, "\x00\x01 not http at all\r\n\r\n").await;
        assert!(
            garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
            "{garbage}"
        );
    }

    #[tokio::test]
    async fn a_taken_address_is_one_line_naming_it() {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = Endpoint::start(addr, Registry::new(&[]).unwrap(), Readiness::new("x"))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(&addr.to_string()) && err.contains("cannot listen"),
            "{err}"
        );
    }
}
