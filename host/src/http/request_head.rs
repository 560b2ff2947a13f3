//! What a probe may put in a request head. The host owns the framing and the
//! destination: `Host` always comes from the URL (so it matches the connection, SNI and
//! certificate check), the body length from the body, and the connection is closed
//! after one exchange. A probe-set header that would change any of that is refused, as
//! are heads too large to be a monitoring check.

use hyper::header::{HeaderMap, HeaderName, HeaderValue};

use super::HttpError;

/// At most this many probe-set headers in one request.
pub const MAX_REQUEST_HEADERS: usize = 64;
/// At most this many bytes of probe-set header names and values in one request.
pub const MAX_REQUEST_HEADER_BYTES: usize = 16 * 1024;
/// A method longer than this is no HTTP method anyone serves.
pub const MAX_METHOD_BYTES: usize = 32;

/// Set by the host (`host`, and the framing headers hyper writes), or hop-by-hop headers
/// (RFC 9110 §7.6.1) that would change how the one request on this connection is framed
/// or what the connection becomes.
const HOST_OWNED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "te",
    "trailer",
    "connection",
    "proxy-connection",
    "keep-alive",
    "upgrade",
    "expect",
    "http2-settings",
];

/// The method and headers as they go on the wire, or why the probe may not send them.
pub(super) fn checked_head(
    method: &str,
    headers: &[(String, String)],
) -> Result<(hyper::Method, HeaderMap), HttpError> {
    let refused = |why: String| HttpError::InvalidRequest(why);
    if method.len() > MAX_METHOD_BYTES {
        return Err(refused(format!(
            "method is {} bytes (at most {MAX_METHOD_BYTES})",
            method.len()
        )));
    }
    let method = hyper::Method::from_bytes(method.as_bytes())
        .map_err(|_| refused(format!("invalid HTTP method {method:?}")))?;
    if method == hyper::Method::CONNECT {
        return Err(refused("method CONNECT is not allowed".into()));
    }
    if headers.len() > MAX_REQUEST_HEADERS {
        return Err(refused(format!(
            "{} headers (at most {MAX_REQUEST_HEADERS})",
            headers.len()
        )));
    }
    let bytes: usize = headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_REQUEST_HEADER_BYTES {
        return Err(refused(format!(
            "headers are {bytes} bytes (at most {MAX_REQUEST_HEADER_BYTES})"
        )));
    }
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let shown: String = name.chars().take(64).collect();
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| refused(format!("invalid header name {shown:?}")))?;
        if HOST_OWNED.contains(&name.as_str()) {
            return Err(refused(format!(
                "header `{name}` is set by the host, not by a probe"
            )));
        }
        // Refuses CR, LF, NUL and other control bytes, so no header can smuggle another.
        let value = HeaderValue::from_str(value)
            .map_err(|_| refused(format!("invalid value for header `{name}`")))?;
        map.append(name, value);
    }
    Ok((method, map))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)]) -> Result<HeaderMap, HttpError> {
        let owned: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        checked_head("GET", &owned).map(|(_, h)| h)
    }

    fn refused(headers: &[(&str, &str)]) -> String {
        match head(headers) {
            Err(HttpError::InvalidRequest(why)) => why,
            other => panic!("{headers:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn host_and_framing_headers_are_refused_in_any_case() {
        for name in [
            "Host",
            "HOST",
            "host",
            "Content-Length",
            "Transfer-Encoding",
            "TE",
            "Trailer",
            "Connection",
            "Proxy-Connection",
            "Keep-Alive",
            "Upgrade",
            "Expect",
            "HTTP2-Settings",
        ] {
            let why = refused(&[("X-Ok", "1"), (name, "x")]);
            assert!(why.contains("set by the host"), "{name}: {why}");
        }
    }

    #[test]
    fn control_bytes_in_names_or_values_are_refused() {
        for (name, value) in [
            ("X-A", "a\r\nHost: evil"),
            ("X-A", "a\nb"),
            ("X-A", "a\rb"),
            ("X-A", "a\0b"),
            ("X-A", "\x7f"),
            ("X-A\r\nHost", "evil"),
            ("X A", "v"),
            ("X-A\0", "v"),
            (":authority", "evil"),
            ("", "v"),
        ] {
            refused(&[(name, value)]);
        }
    }

    #[test]
    fn absurd_counts_sizes_and_methods_are_refused() {
        let many: Vec<(String, String)> = (0..=MAX_REQUEST_HEADERS)
            .map(|i| (format!("X-{i}"), "v".into()))
            .collect();
        let borrowed: Vec<(&str, &str)> =
            many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(refused(&borrowed).contains("headers"));
        let big = "v".repeat(MAX_REQUEST_HEADER_BYTES);
        assert!(refused(&[("X-Big", &big)]).contains("bytes"));
        for method in ["CONNECT", "GE T", "", &"A".repeat(MAX_METHOD_BYTES + 1)] {
            assert!(
                matches!(checked_head(method, &[]), Err(HttpError::InvalidRequest(_))),
                "{method:?}"
            );
        }
    }

    #[test]
    fn ordinary_headers_pass_and_repeat() {
        let h = head(&[
            ("Accept", "text/html"),
            ("X-Tag", "a"),
            ("x-tag", "b"),
            ("Authorization", "Bearer t"),
            ("User-Agent", "custom"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.get_all("x-tag").iter().count(), 2);
        assert_eq!(h.len(), 5);
    }
}
