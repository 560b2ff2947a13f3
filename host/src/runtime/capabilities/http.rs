//! The `http` import of every contract version: maps each version's WIT request to
//! [`crate::http`] and back. The policy (allow-list, deny by default) and the client live
//! in `crate::http`; this adapter only adds the run's bounds: a fetch never outlives the
//! run that made it, and spends the run's fetch allowance ([`FetchBudget`]).

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::HasData;

use crate::http::{AllowList, FetchBudget, HttpClient};

/// The HTTP capability of one job.
#[derive(Clone)]
pub struct HttpCapability {
    pub client: HttpClient,
    pub allow: Arc<AllowList>,
}

/// What the `http` import sees of a store: the job's capability, the run's deadline and
/// what is left of the run's fetch allowance.
pub struct HttpView<'a> {
    pub http: &'a HttpCapability,
    pub deadline: Instant,
    pub budget: &'a mut FetchBudget,
}

/// Selects [`HttpView`] as the `http` implementation when linking.
pub struct HasHttp;

impl HasData for HasHttp {
    type Data<'a> = HttpView<'a>;
}

impl HttpView<'_> {
    /// One fetch, whichever version asked for it.
    async fn serve(
        &mut self,
        mut request: crate::http::Request,
    ) -> Result<crate::http::Response, crate::http::HttpError> {
        let remaining_ms = self
            .deadline
            .saturating_duration_since(Instant::now())
            .as_millis();
        // 0 asks for the host's maximum; either way the fetch ends by the run's deadline
        // (at least 1 ms, since 0 would mean "the host's maximum" to the client).
        let asked_ms = match request.timeout_ms {
            0 => self.http.client.limits().max_timeout_ms,
            t => t,
        };
        request.timeout_ms = (asked_ms as u128).min(remaining_ms).max(1) as u32;
        self.http
            .client
            .fetch(&self.http.allow, request, self.budget)
            .await
    }
}

/// `http` of one contract version: its records (the same in every version so far) to
/// and from the host's own.
macro_rules! http_version {
    ($version:ident) => {
        mod $version {
            use crate::http::HttpError as E;
            use crate::runtime::bindings::$version::sonde::probe::http::{
                Host, HttpError, Request, Response, Timings,
            };

            impl Host for super::HttpView<'_> {
                async fn fetch(
                    &mut self,
                    req: Request,
                ) -> wasmtime::Result<Result<Response, HttpError>> {
                    let request = crate::http::Request {
                        method: req.method,
                        url: req.url,
                        headers: req.headers,
                        body: req.body,
                        timeout_ms: req.timeout_ms,
                        max_body_bytes: req.max_body_bytes,
                    };
                    Ok(self.serve(request).await.map(response).map_err(error))
                }
            }

            fn response(r: crate::http::Response) -> Response {
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

            fn error(e: E) -> HttpError {
                match e {
                    E::NotAllowed(s) => HttpError::NotAllowed(s),
                    E::InvalidUrl(s) => HttpError::InvalidUrl(s),
                    E::Dns(s) => HttpError::Dns(s),
                    E::Connect(s) => HttpError::Connect(s),
                    E::Tls(s) => HttpError::Tls(s),
                    E::Timeout => HttpError::Timeout,
                    E::TooLarge => HttpError::TooLarge,
                    e @ (E::InvalidRequest(_) | E::RunLimit(_)) => HttpError::Other(e.to_string()),
                    E::Other(s) => HttpError::Other(s),
                }
            }
        }
    };
}

http_version!(v0_1);
http_version!(v0_2);
