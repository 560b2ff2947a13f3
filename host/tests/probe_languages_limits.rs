//! The Python and JavaScript probes run under the host's limits exactly as Rust probes do:
//! a memory budget too small for the interpreter stops the instance, a regular expression
//! that backtracks for ever inside CPython or SpiderMonkey is stopped at the job's
//! `timeout_ms`, `max_samples` is checked on what they return, and nothing a probe does
//! stops the other jobs.

mod common;
#[path = "http_capability/test_server.rs"]
mod test_server;

use sonde_message::RunStatus;
use test_server::{response, Reply, TestServer};

/// 64 KiB: far below what either interpreter needs to start.
const TINY_MEMORY: &str = "max_memory_bytes = 65536";

#[tokio::test(flavor = "multi_thread")]
async fn python_and_javascript_probes_are_held_to_the_job_limits() {
    // `(a+)+$` against many a's and a final `!` backtracks exponentially in both engines.
    let evil = format!("{}!", "a".repeat(40));
    let body = format!(r#"{{"name": "{evil}"}}"#);
    let server = TestServer::start(Reply::Fixed(response(
        "200 OK",
        &format!("X-Name: {evil}\r\n"),
        body.as_bytes(),
    )))
    .await;
    let url = server.url("http", "/");
    let (py, js, rust) = (
        common::probe("json-health"),
        common::probe("http-slo"),
        common::probe("memory"),
    );
    let config = [
        common::job_toml("py-memory", &py, &[("url", &url)], &[&url], TINY_MEMORY),
        common::job_toml("js-memory", &js, &[("url", &url)], &[&url], TINY_MEMORY),
        common::job_toml(
            "py-backtrack",
            &py,
            &[("url", &url), ("field", "name"), ("expect", "~ (a+)+$")],
            &[&url],
            "timeout_ms = 1000",
        ),
        common::job_toml(
            "js-backtrack",
            &js,
            &[("url", &url), ("header", "x-name: (a+)+$")],
            &[&url],
            "timeout_ms = 1000",
        ),
        common::job_toml(
            "py-samples",
            &py,
            &[("url", &url)],
            &[&url],
            "max_samples = 2",
        ),
        common::job_toml(
            "js-samples",
            &js,
            &[("url", &url)],
            &[&url],
            "max_samples = 2",
        ),
        common::job_toml("steady", &rust, &[], &[], ""),
    ]
    .concat();
    let dir = common::scratch();
    let finished = common::run_config_once(dir.path(), common::shared_cache(), config).await;
    assert_eq!(
        finished.messages.len(),
        7,
        "one run per job; log:\n{}",
        finished.stderr
    );
    for (job, text) in [
        ("py-memory", "memory limit: "),
        ("js-memory", "memory limit: "),
        ("py-backtrack", "timeout: run exceeded timeout_ms=1000"),
        ("js-backtrack", "timeout: run exceeded timeout_ms=1000"),
        ("py-samples", "too many samples: 3 > max_samples=2"),
        ("js-samples", "too many samples: "),
    ] {
        let error = finished.error(job);
        assert!(
            error.contains(text),
            "{job}: error {error:?} should contain {text:?}"
        );
    }
    assert_eq!(
        finished.run("steady").status,
        RunStatus::Ok,
        "{:?}",
        finished.run("steady")
    );
}
