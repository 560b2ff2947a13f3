//! The http-check probe through the host's http capability against a local HTTP server:
//! status, regex match and non-match, timeout, body limit, a destination not allowed.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use sonde_host::config::JobSpec;
use sonde_host::http::HttpLimits;
use sonde_host::runtime::engine::Runtime;
use sonde_host::runtime::limits::RunLimits;
use sonde_host::runtime::probe::Host;
use sonde_host::schedule::job::Job;
use sonde_message::{RunMessage, RunStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// `/ok` 200 with a small body, `/missing` 404, `/slow` answers after 5 s,
/// `/big` 200 with 2 MB: `start`, filler, `NEEDLE` at the very end.
async fn serve() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, body): (&str, Vec<u8>) = match path.as_str() {
                    "/ok" => ("200 OK", b"hello sonde, all is well".to_vec()),
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        ("200 OK", b"late".to_vec())
                    }
                    "/big" => {
                        let mut b = b"start".to_vec();
                        b.extend(std::iter::repeat_n(b'x', 2_000_000));
                        b.extend_from_slice(b"NEEDLE");
                        ("200 OK", b)
                    }
                    _ => ("404 Not Found", b"no such page".to_vec()),
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(reply.as_bytes()).await;
                let _ = conn.write_all(&body).await;
            });
        }
    });
    addr
}

struct Check {
    host: Host,
    _cache: tempfile::TempDir,
}

impl Check {
    fn new() -> Check {
        let cache = common::scratch();
        let runtime = Runtime::new(Some(cache.path().to_path_buf())).expect("engine");
        let host = Host::new(runtime, "test-host".into(), HttpLimits::default()).expect("host");
        Check {
            host,
            _cache: cache,
        }
    }

    async fn run(&self, params: &[(&str, &str)], allow: &[String]) -> RunMessage {
        let path: &Path = &common::probe("http-check");
        let probe = self
            .host
            .load(path)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let spec = JobSpec {
            name: "check".into(),
            probe_path: path.to_path_buf(),
            interval_ms: None,
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            allow_http: allow.to_vec(),
            limits: RunLimits::default(),
            min_interval_ms: sonde_host::config::DEFAULT_MIN_INTERVAL_MS,
            origin: "test".into(),
        };
        let mut job = Job::new(&self.host, spec, probe).unwrap_or_else(|e| panic!("{e:#}"));
        job.run_once(&self.host, "test-host").await
    }
}

fn value(msg: &RunMessage, name: &str) -> f64 {
    assert_eq!(msg.status, RunStatus::Ok, "run failed: {:?}", msg.error);
    msg.samples
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", msg.samples))
        .value
}

fn label_of(msg: &RunMessage, name: &str, key: &str) -> String {
    msg.samples
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.labels.get(key).cloned())
        .unwrap_or_else(|| panic!("no {name}{{{key}}} in {:?}", msg.samples))
}

#[tokio::test]
async fn status_regex_timeout_body_limit_and_allow_list() {
    let addr = serve().await;
    let base = format!("http://{addr}");
    let allow = vec![base.clone()];
    let check = Check::new();

    let ok_url = format!("{base}/ok");
    let matched = check
        .run(&[("url", &ok_url), ("regex", "all is well")], &allow)
        .await;
    assert_eq!(value(&matched, "sonde.http.check.status_code"), 200.0);
    assert_eq!(value(&matched, "sonde.http.check.regex_match"), 1.0);
    assert_eq!(value(&matched, "sonde.http.check.up"), 1.0);
    assert!(matched
        .samples
        .iter()
        .any(|s| s.name == "sonde.http.check.duration" && s.value > 0.0));

    let unmatched = check
        .run(&[("url", &ok_url), ("regex", "all is lost")], &allow)
        .await;
    assert_eq!(value(&unmatched, "sonde.http.check.regex_match"), 0.0);
    assert_eq!(value(&unmatched, "sonde.http.check.up"), 0.0);

    let missing = check
        .run(&[("url", &format!("{base}/missing"))], &allow)
        .await;
    assert_eq!(value(&missing, "sonde.http.check.status_code"), 404.0);
    assert_eq!(value(&missing, "sonde.http.check.up"), 0.0);

    let slow = check
        .run(
            &[("url", &format!("{base}/slow")), ("timeout_ms", "300")],
            &allow,
        )
        .await;
    assert_eq!(value(&slow, "sonde.http.check.up"), 0.0);
    assert_eq!(label_of(&slow, "sonde.http.check.error", "kind"), "timeout");

    // Only the first 1 KiB is read: the start matches, the needle at the end is not seen.
    let big = format!("{base}/big");
    let head = check
        .run(
            &[
                ("url", &big),
                ("regex", "^start"),
                ("max_body_bytes", "1024"),
            ],
            &allow,
        )
        .await;
    assert_eq!(value(&head, "sonde.http.check.regex_match"), 1.0);
    let tail = check
        .run(
            &[
                ("url", &big),
                ("regex", "NEEDLE"),
                ("max_body_bytes", "1024"),
            ],
            &allow,
        )
        .await;
    assert_eq!(value(&tail, "sonde.http.check.status_code"), 200.0);
    assert_eq!(value(&tail, "sonde.http.check.regex_match"), 0.0);

    // A destination outside the allow-list (another port) is refused, reported as an error run.
    let refused = check
        .run(&[("url", &ok_url)], &["http://127.0.0.1:1".to_string()])
        .await;
    assert_eq!(refused.status, RunStatus::Error);
    let err = refused.error.unwrap_or_default();
    assert!(err.contains("not allowed"), "{err}");
    // Deny by default: no allow-list at all.
    let denied = check.run(&[("url", &ok_url)], &[]).await;
    assert_eq!(denied.status, RunStatus::Error);
}
