//! Building blocks of the capability tests: allow-lists, requests, and a fetch that
//! cannot hang the suite.
// Shared by several test crates, each using a part of it.
#![allow(dead_code)]

use std::time::Duration;

use sonde_host::http::{AllowList, FetchBudget, HttpClient, HttpError, Request, Response};

pub fn allow(entries: &[&str]) -> AllowList {
    let owned: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
    AllowList::new(&owned).expect("allow-list")
}

pub fn get(url: &str) -> Request {
    Request {
        method: "GET".into(),
        url: url.into(),
        headers: Vec::new(),
        body: None,
        timeout_ms: 10_000,
        max_body_bytes: 1024 * 1024,
    }
}

/// Outside any run: no fetch allowance to run out of. Guards against a hang (a broken
/// timeout would otherwise block the suite).
pub async fn fetch(
    client: &HttpClient,
    allow: &AllowList,
    req: Request,
) -> Result<Response, HttpError> {
    fetch_within(client, allow, req, &mut FetchBudget::unlimited()).await
}

/// [`fetch`] spending from `budget`.
pub async fn fetch_within(
    client: &HttpClient,
    allow: &AllowList,
    req: Request,
    budget: &mut FetchBudget,
) -> Result<Response, HttpError> {
    tokio::time::timeout(Duration::from_secs(60), client.fetch(allow, req, budget))
        .await
        .expect("fetch did not return within 60 s")
}
