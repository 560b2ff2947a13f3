//! HTTP/1.1 over a connected stream: send one request, read the head and at most
//! `max_body_bytes` of the body.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use url::{Position, Url};

use super::connect::{ms_since, Stream};
use super::HttpError;

/// What came back, before timings are assembled.
pub(super) struct Exchanged {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub truncated: bool,
    pub first_byte_ms: f64,
}

/// Aborts the connection task when the fetch ends (also on timeout), so an
/// abandoned request does not keep a socket open.
struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(super) struct Outgoing<'a> {
    pub method: &'a str,
    pub url: &'a Url,
    pub headers: &'a [(String, String)],
    pub body: Option<Vec<u8>>,
    pub max_body_bytes: usize,
}

pub(super) async fn exchange(
    stream: Box<dyn Stream>,
    mut out: Outgoing<'_>,
    start: Instant,
) -> Result<Exchanged, HttpError> {
    let body = out.body.take().unwrap_or_default();
    let request = build_request(&out, body)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| HttpError::Other(format!("HTTP handshake: {e}")))?;
    let _connection = AbortOnDrop(tokio::spawn(async move {
        // Errors here also surface through `send_request` or the body; nothing to add.
        let _ = connection.await;
    }));

    let response = sender.send_request(request).await.map_err(|e| {
        // `is_parse_too_large` needs hyper's server feature; the message is stable.
        if e.is_parse() && e.to_string().contains("too large") {
            HttpError::TooLarge
        } else {
            HttpError::Other(format!("{}: {e}", out.url))
        }
    })?;
    let first_byte_ms = ms_since(start);
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_string(), value)
        })
        .collect();

    let mut incoming = response.into_body();
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| HttpError::Other(format!("reading body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let room = out.max_body_bytes - body.len();
        if data.len() > room {
            body.extend_from_slice(&data[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&data);
    }
    Ok(Exchanged {
        status,
        headers,
        body,
        truncated,
        first_byte_ms,
    })
}

fn build_request(
    out: &Outgoing<'_>,
    body: Vec<u8>,
) -> Result<hyper::Request<Full<Bytes>>, HttpError> {
    let method = hyper::Method::from_bytes(out.method.as_bytes())
        .map_err(|_| HttpError::Other(format!("invalid HTTP method {:?}", out.method)))?;
    let target = &out.url[Position::BeforePath..Position::AfterQuery];
    let mut builder = hyper::Request::builder().method(method).uri(target);
    let has = |name: &HeaderName| {
        out.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name.as_str()))
    };
    if !has(&HOST) {
        let authority = &out.url[Position::BeforeHost..Position::AfterPort];
        let value = HeaderValue::from_str(authority)
            .map_err(|e| HttpError::InvalidUrl(format!("{}: host: {e}", out.url)))?;
        builder = builder.header(HOST, value);
    }
    if !has(&USER_AGENT) {
        builder = builder.header(USER_AGENT, concat!("sonde/", env!("CARGO_PKG_VERSION")));
    }
    for (name, value) in out.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| HttpError::Other(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| HttpError::Other(format!("invalid value for header {name}")))?;
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| HttpError::InvalidUrl(format!("{}: {e}", out.url)))
}
