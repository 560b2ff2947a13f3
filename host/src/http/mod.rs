//! The `http` capability: the only network a probe has.
//!
//! Like Spin's outbound-http factor, this module owns its policy ([`AllowList`],
//! deny by default), its limits ([`HttpLimits`]) and its implementation
//! ([`HttpClient::fetch`]). It knows nothing about wasm: the runtime maps the WIT
//! `http.request` to [`Request`] and [`Response`]/[`HttpError`] back, so every
//! behaviour here is tested with plain Rust.
//!
//! Guarantees of [`HttpClient::fetch`]:
//! - the allow-list is checked before any DNS lookup or connection, and every address
//!   connected to is checked against the host's `deny_ranges` and the internal-address
//!   rule of [`address`] (no DNS lookup between that check and the connection);
//! - the probe cannot set `Host` (always the URL's authority, as are SNI and the
//!   certificate check) nor framing or hop-by-hop headers ([`MAX_REQUEST_HEADERS`] and
//!   [`MAX_REQUEST_HEADER_BYTES`] bound the rest);
//! - the whole call (DNS, connect, TLS, head, body) finishes within the request's
//!   `timeout_ms`, capped by [`HttpLimits::max_timeout_ms`], else [`HttpError::Timeout`];
//! - at most `max_body_bytes` (capped by [`HttpLimits::max_body_bytes_cap`]) of the
//!   body are read; the rest is not read and `truncated` is set;
//! - each call spends one fetch and the bytes it sends and receives from the caller's
//!   [`FetchBudget`] (the run's), also when it is refused, fails or times out;
//! - redirects are not followed: a 3xx is returned as it is;
//! - every fetch opens a fresh connection (no pooling), so the timings of a check
//!   always include DNS, connect and TLS;
//! - HTTPS verifies the certificate chain (system roots plus an optional extra CA)
//!   and the host name; there is no option to turn verification off;
//! - no input makes it panic.

pub mod address;
mod allow_list;
mod budget;
mod client;
mod connect;
mod dns;
mod exchange;
mod request_head;

pub use allow_list::{AllowList, AllowListError};
pub use budget::{FetchBudget, DEFAULT_MAX_FETCHED_BYTES, DEFAULT_MAX_FETCHES};
pub use client::{HttpClient, HttpLimits};
pub use request_head::{MAX_METHOD_BYTES, MAX_REQUEST_HEADERS, MAX_REQUEST_HEADER_BYTES};

/// One request as a probe asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, `POST`, ... (any token hyper accepts).
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout_ms: u32,
    pub max_body_bytes: u32,
}

/// Where the time of one fetch went, in milliseconds from the start of the call.
/// `dns_ms`, `connect_ms` and `tls_ms` are durations of those phases (`tls_ms` is 0
/// for plain HTTP, `dns_ms` is 0 for an IP literal); `first_byte_ms` is the time
/// until the response head arrived; `total_ms` includes reading the body.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    pub dns_ms: f64,
    pub connect_ms: f64,
    pub tls_ms: f64,
    pub first_byte_ms: f64,
    pub total_ms: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    /// Header values that are not valid UTF-8 are passed lossily converted.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body was longer than the byte limit and was cut there.
    pub truncated: bool,
    pub timings: Timings,
}

/// Why a fetch gave no response. Each maps 1:1 to the WIT `http-error` variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("destination not allowed: {0}")]
    NotAllowed(String),
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("DNS lookup failed: {0}")]
    Dns(String),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("TLS failed: {0}")]
    Tls(String),
    #[error("timed out")]
    Timeout,
    /// The probe's method or headers are refused (see `request_head`).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The run's `max_fetches` or `max_fetched_bytes` is spent.
    #[error("run limit: {0}")]
    RunLimit(String),
    #[error("response head too large")]
    TooLarge,
    #[error("{0}")]
    Other(String),
}
