//! HTTP/1.1 over a connected stream: send one request, read the head and at most
//! `max_body_bytes` of the body.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue, HOST, USER_AGENT};
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
    /// Checked by [`super::request_head::checked_head`].
    pub method: hyper::Method,
    pub url: &'a Url,
    /// Checked by [`super::request_head::checked_head`]; `Host` is added here.
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    pub max_body_bytes: usize,
    /// What the run has left for this response: the body is cut to what the head leaves.
    pub max_response_bytes: u64,
}

/// `received` counts the response's header names and values and the body bytes kept,
/// as they arrive (so a fetch that fails or times out midway has counted them too).
/// The body is cut at `max_body_bytes` or at what `max_response_bytes` leaves after the
/// head, whichever is less.
pub(super) async fn exchange(
    stream: Box<dyn Stream>,
    mut out: Outgoing<'_>,
    start: Instant,
    received: &mut u64,
) -> Result<Exchanged, HttpError> {
    let body = out.body.take().unwrap_or_default();
    let url = out.url;
    let (max_body_bytes, max_response_bytes) = (out.max_body_bytes, out.max_response_bytes);
    let request = build_request(out, body)?;
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
            HttpError::Other(format!("{url}: {e}"))
        }
    })?;
    let first_byte_ms = ms_since(start);
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_string(), value)
        })
        .collect();
    let head_bytes: usize = headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    *received += head_bytes as u64;
    let left_after_head = max_response_bytes.saturating_sub(head_bytes as u64);
    let max_body_bytes = max_body_bytes.min(usize::try_from(left_after_head).unwrap_or(usize::MAX));

    let mut incoming = response.into_body();
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| HttpError::Other(format!("reading body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let room = max_body_bytes - body.len();
        let kept = data.len().min(room);
        body.extend_from_slice(&data[..kept]);
        *received += kept as u64;
        if data.len() > room {
            truncated = true;
            break;
        }
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
    out: Outgoing<'_>,
    body: Vec<u8>,
) -> Result<hyper::Request<Full<Bytes>>, HttpError> {
    let mut headers = out.headers;
    let target = &out.url[Position::BeforePath..Position::AfterQuery];
    // Always the URL's authority, the name the connection, SNI and certificate check use.
    let authority = &out.url[Position::BeforeHost..Position::AfterPort];
    let host = HeaderValue::from_str(authority)
        .map_err(|e| HttpError::InvalidUrl(format!("{}: host: {e}", out.url)))?;
    headers.insert(HOST, host);
    if !headers.contains_key(USER_AGENT) {
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("sonde/", env!("CARGO_PKG_VERSION"))),
        );
    }
    let mut request = hyper::Request::builder()
        .method(out.method)
        .uri(target)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| HttpError::InvalidUrl(format!("{}: {e}", out.url)))?;
    *request.headers_mut() = headers;
    Ok(request)
}
