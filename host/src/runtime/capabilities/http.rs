//! The `http` import: maps the WIT request to [`crate::http`] and back. The policy
//! (allow-list, deny by default) and the client live in `crate::http`; this adapter
//! only adds the run deadline: a fetch never outlives the run that made it.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::HasData;

use crate::http::{AllowList, HttpClient};
use crate::runtime::bindings::wit_http::{self as wit, HttpError, Request, Response, Timings};

/// The HTTP capability of one job.
#[derive(Clone)]
pub struct HttpCapability {
    pub client: HttpClient,
    pub allow: Arc<AllowList>,
}

/// What the `http` import sees of a store: the job's capability and the run's deadline.
pub struct HttpView<'a> {
    pub http: &'a HttpCapability,
    pub deadline: Instant,
}

/// Selects [`HttpView`] as the `http` implementation when linking.
pub struct HasHttp;

impl HasData for HasHttp {
    type Data<'a> = HttpView<'a>;
}

impl wit::Host for HttpView<'_> {
    async fn fetch(&mut self, req: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        let remaining_ms = self
            .deadline
            .saturating_duration_since(Instant::now())
            .as_millis();
        // 0 asks for the host's maximum; either way the fetch ends by the run's deadline
        // (at least 1 ms, since 0 would mean "the host's maximum" to the client).
        let asked_ms = match req.timeout_ms {
            0 => self.http.client.limits().max_timeout_ms,
            t => t,
        };
        let timeout_ms = (asked_ms as u128).min(remaining_ms).max(1) as u32;
        let request = crate::http::Request {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
            timeout_ms,
            max_body_bytes: req.max_body_bytes,
        };
        let result = self.http.client.fetch(&self.http.allow, request).await;
        Ok(result.map(to_wit_response).map_err(to_wit_error))
    }
}

fn to_wit_response(r: crate::http::Response) -> Response {
    Response {
        status: r.status,
        headers: r.headers,
        body: r.body,
        truncated: r.truncated,
        timings: Timings {
            dns_ms: r.timings.dns_ms,
            connect_ms: r.timings.connect_ms,
            tls_ms: r.timings.tls_ms,
            first_byte_ms: r.timings.first_byte_ms,
            total_ms: r.timings.total_ms,
        },
    }
}

fn to_wit_error(e: crate::http::HttpError) -> HttpError {
    use crate::http::HttpError as E;
    match e {
        E::NotAllowed(s) => HttpError::NotAllowed(s),
        E::InvalidUrl(s) => HttpError::InvalidUrl(s),
        E::Dns(s) => HttpError::Dns(s),
        E::Connect(s) => HttpError::Connect(s),
        E::Tls(s) => HttpError::Tls(s),
        E::Timeout => HttpError::Timeout,
        E::TooLarge => HttpError::TooLarge,
        E::Other(s) => HttpError::Other(s),
    }
}
