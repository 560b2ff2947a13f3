//! How much one run may fetch: a number of fetches and a number of bytes moved. Every
//! call to `fetch` spends one fetch (a refused or failed one too: each may cost a DNS
//! lookup). The bytes are the request's own (header names and values, body), spent
//! when the fetch starts, and the response's (header names and values, body), spent as
//! they arrive, also when the fetch then fails or times out. A fetch never reads more
//! body than the run has left after the head; only a head larger than what is left
//! passes the cap (by at most the head limit past which a fetch fails as `too-large`).

use super::{HttpError, Request};

pub const DEFAULT_MAX_FETCHES: u32 = 20;
pub const DEFAULT_MAX_FETCHED_BYTES: u64 = 16 * 1024 * 1024;

/// What is left of one run's fetch allowance. The default allows nothing (a store that
/// has not started a run, e.g. during instantiation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchBudget {
    pub max_fetches: u32,
    pub max_fetched_bytes: u64,
    fetches: u32,
    fetched_bytes: u64,
}

impl FetchBudget {
    pub fn new(max_fetches: u32, max_fetched_bytes: u64) -> Self {
        FetchBudget {
            max_fetches,
            max_fetched_bytes,
            fetches: 0,
            fetched_bytes: 0,
        }
    }

    /// No allowance to run out of, for callers outside a run (tools, tests).
    pub fn unlimited() -> Self {
        FetchBudget::new(u32::MAX, u64::MAX)
    }

    /// Spend one fetch and the request's bytes; `Ok` is how many bytes the response may
    /// bring (its head is never cut, its body is). `Err` when the run has no fetch left,
    /// no byte left, or fewer bytes left than the request itself holds (it is not sent).
    pub fn start(&mut self, req: &Request) -> Result<u64, HttpError> {
        if self.fetches >= self.max_fetches {
            return Err(HttpError::RunLimit(format!(
                "max_fetches={} reached in this run",
                self.max_fetches
            )));
        }
        self.fetches += 1;
        let left = self.max_fetched_bytes.saturating_sub(self.fetched_bytes);
        if left == 0 {
            return Err(HttpError::RunLimit(format!(
                "max_fetched_bytes={} reached in this run",
                self.max_fetched_bytes
            )));
        }
        let sent = request_bytes(req);
        if sent > left {
            return Err(HttpError::RunLimit(format!(
                "the request's {sent} bytes (headers and body) are more than the {left} left \
                 of max_fetched_bytes={} in this run",
                self.max_fetched_bytes
            )));
        }
        self.fetched_bytes += sent;
        Ok(left - sent)
    }

    /// Count bytes of a response as they arrive.
    pub fn receive(&mut self, bytes: u64) {
        self.fetched_bytes = self.fetched_bytes.saturating_add(bytes);
    }

    pub fn fetches(&self) -> u32 {
        self.fetches
    }

    pub fn fetched_bytes(&self) -> u64 {
        self.fetched_bytes
    }
}

/// What a request puts on the wire besides the request line and the host's own headers.
fn request_bytes(req: &Request) -> u64 {
    let head: usize = req.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    let body = req.body.as_ref().map_or(0, Vec::len);
    u64::try_from(head.saturating_add(body)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> Request {
        Request {
            method: "GET".into(),
            url: "http://example.com/".into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: 0,
            max_body_bytes: 0,
        }
    }

    fn start(b: &mut FetchBudget, r: &Request) -> u64 {
        b.start(r).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn fetches_are_counted_and_refused_past_the_cap() {
        let mut b = FetchBudget::new(3, 1_000_000);
        for _ in 0..3 {
            start(&mut b, &req());
        }
        let err = b.start(&req()).unwrap_err();
        assert!(err.to_string().contains("max_fetches=3"), "{err}");
        assert_eq!(b.fetches(), 3);
    }

    #[test]
    fn received_bytes_lower_what_the_next_response_may_bring_then_refuse() {
        let mut b = FetchBudget::new(100, 1_000);
        assert_eq!(start(&mut b, &req()), 1_000);
        b.receive(700);
        assert_eq!(start(&mut b, &req()), 300);
        b.receive(400);
        let err = b.start(&req()).unwrap_err();
        assert!(err.to_string().contains("max_fetched_bytes=1000"), "{err}");
        assert_eq!(b.fetched_bytes(), 1_100);
        assert_eq!(b.fetches(), 3, "the refused fetch counts too");
    }

    #[test]
    fn request_bytes_are_spent_and_a_request_larger_than_what_is_left_is_not_sent() {
        let mut b = FetchBudget::new(100, 1_000);
        let mut post = req();
        post.headers = vec![("X-Tag".into(), "abcde".into())];
        post.body = Some(vec![0; 490]);
        assert_eq!(
            start(&mut b, &post),
            500,
            "the response gets what the request left"
        );
        assert_eq!(b.fetched_bytes(), 500);
        let mut big = req();
        big.body = Some(vec![0; 501]);
        let err = b.start(&big).unwrap_err();
        assert!(err.to_string().contains("501 bytes"), "{err}");
        assert_eq!(b.fetched_bytes(), 500, "an unsent request spends no bytes");
        let mut exact = req();
        exact.body = Some(vec![0; 500]);
        assert_eq!(start(&mut b, &exact), 0);
        assert!(b.start(&req()).is_err());
    }

    #[test]
    fn the_default_allows_nothing() {
        assert!(FetchBudget::default().start(&req()).is_err());
        assert!(FetchBudget::unlimited().start(&req()).is_ok());
    }
}
