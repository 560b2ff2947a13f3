//! A tiny HTTP/1.1 responder on 127.0.0.1:0 for the capability tests: it reads one
//! request head (and body, by Content-Length), answers with fixed bytes, and counts
//! the connections it accepted.
// Shared by several test crates, each using a part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use openssl::ssl::SslAcceptor;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Clone)]
pub enum Reply {
    /// Write these bytes, then close.
    Fixed(Vec<u8>),
    /// 200 with the received request (head and body) as the body.
    Echo,
    /// Accept and read, but never answer.
    Silent,
    /// Wait this long after the request, then write these bytes and close.
    Delayed(std::time::Duration, Vec<u8>),
}

pub struct TestServer {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    /// The SNI name of each TLS handshake (`None`: the client sent none).
    sni: Arc<Mutex<Vec<Option<String>>>>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub async fn start(reply: Reply) -> TestServer {
        Self::start_inner(reply, None).await
    }

    pub async fn start_tls(reply: Reply, acceptor: SslAcceptor) -> TestServer {
        Self::start_inner(reply, Some(Arc::new(acceptor))).await
    }

    async fn start_inner(reply: Reply, tls: Option<Arc<SslAcceptor>>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let sni = Arc::new(Mutex::new(Vec::new()));
        let sni_seen = sni.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let reply = reply.clone();
                let tls = tls.clone();
                let sni_seen = sni_seen.clone();
                tokio::spawn(async move {
                    match tls {
                        None => answer(tcp, reply).await,
                        Some(acceptor) => {
                            let Ok(ssl) = openssl::ssl::Ssl::new(acceptor.context()) else {
                                return;
                            };
                            let Ok(mut stream) = tokio_openssl::SslStream::new(ssl, tcp) else {
                                return;
                            };
                            let accepted = std::pin::Pin::new(&mut stream).accept().await;
                            let name = stream
                                .ssl()
                                .servername(openssl::ssl::NameType::HOST_NAME)
                                .map(str::to_string);
                            sni_seen.lock().expect("sni lock").push(name);
                            if accepted.is_ok() {
                                answer(stream, reply).await;
                            }
                        }
                    }
                });
            }
        });
        TestServer {
            addr,
            accepted,
            sni,
            task,
        }
    }

    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn sni_names(&self) -> Vec<Option<String>> {
        self.sni.lock().expect("sni lock").clone()
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, reply: Reply) {
    let request = read_request(&mut stream).await;
    match reply {
        Reply::Fixed(bytes) => {
            let _ = stream.write_all(&bytes).await;
        }
        Reply::Echo => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                request.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&request).await;
        }
        Reply::Delayed(delay, bytes) => {
            tokio::time::sleep(delay).await;
            let _ = stream.write_all(&bytes).await;
        }
        Reply::Silent => {
            // Keep the connection open until the client gives up.
            let mut sink = [0u8; 1024];
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            return;
        }
    }
    let _ = stream.shutdown().await;
}

/// The request head plus a Content-Length body (enough for these tests).
async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let body_len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + body_len {
                return buf;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return buf,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A complete response with a Content-Length body.
pub fn response(status_line: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status_line}\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}
