//! A hostile component (`fetch-storm`) against the run's HTTP allowance and the host's
//! scheduling floor: it fetches a thousand times a run, asks for all the body it can get,
//! tries to set `Host`, asks for names that never resolve, and declares a 1 ms default
//! interval.

mod common;

#[path = "http_capability/test_dns.rs"]
mod test_dns;
#[path = "http_capability/test_server.rs"]
mod test_server;

use std::path::Path;
use std::time::Duration;

use sonde_host::config::JobSpec;
use sonde_host::http::HttpLimits;
use sonde_host::runtime::engine::Runtime;
use sonde_host::runtime::limits::RunLimits;
use sonde_host::runtime::probe::Host;
use sonde_host::schedule::job::Job;
use sonde_message::{RunMessage, RunStatus};
use test_dns::TestDns;
use test_server::{response, Reply, TestServer};

fn storm() -> String {
    common::test_probe("fetch-storm").display().to_string()
}

/// Run `host --once --config` with `toml` on a blocking thread (the test server needs
/// the async runtime meanwhile).
async fn run_once(dir: &Path, toml: String) -> common::Finished {
    let config = dir.join("host.toml");
    std::fs::write(&config, toml).expect("write host.toml");
    let cache = dir.join("cache");
    tokio::task::spawn_blocking(move || {
        common::run_host(
            &cache,
            &["--once", "--config", &config.display().to_string()],
        )
    })
    .await
    .expect("host task")
}

fn value(msg: &RunMessage, name: &str) -> f64 {
    msg.samples
        .iter()
        .find(|s| s.name == format!("storm.fetch.{name}"))
        .unwrap_or_else(|| panic!("no {name} sample in {msg:?}"))
        .value
}

fn first_error(msg: &RunMessage) -> String {
    msg.samples
        .first()
        .and_then(|s| s.labels.get("first_error").cloned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_and_bytes_are_capped_per_run_and_host_cannot_be_set() {
    let server = TestServer::start(Reply::Fixed(response("200 OK", "", &[b'x'; 1000]))).await;
    let origin = server.url("http", "");
    let dir = common::scratch();
    let job = |name: &str, extra: &str| {
        format!(
            "[[job]]\nname = \"{name}\"\nprobe = \"{}\"\ninterval_ms = 1000\n\
             allow_http = [\"{origin}\"]\n{extra}\n",
            storm()
        )
    };
    let toml = [
        job(
            "by-count",
            &format!("max_fetches = 5\nparams = {{ url = \"{origin}/\", count = 1000 }}"),
        ),
        job(
            "by-bytes",
            &format!("max_fetched_bytes = 2500\nparams = {{ url = \"{origin}/\", count = 50 }}"),
        ),
        job(
            "host-header",
            &format!(
                "params = {{ url = \"{origin}/\", count = 3, header = \"Host: 169.254.169.254\" }}"
            ),
        ),
    ]
    .concat();
    let out = run_once(dir.path(), toml).await;
    assert!(out.success, "{}", out.stderr);
    let run = |job: &str| {
        let runs = common::by_job(&out.messages, job);
        assert_eq!(runs.len(), 1, "{job}: {}", out.stderr);
        assert_eq!(runs[0].status, RunStatus::Ok, "{job}: {:?}", runs[0]);
        runs[0].clone()
    };

    let by_count = run("by-count");
    assert_eq!(value(&by_count, "ok"), 5.0);
    assert_eq!(value(&by_count, "run_limit"), 995.0);

    // 2500 bytes: two whole 1000-byte bodies (plus their heads), then one cut short.
    let by_bytes = run("by-bytes");
    let ok = value(&by_bytes, "ok");
    assert!((2.0..=3.0).contains(&ok), "{by_bytes:?}");
    assert!(value(&by_bytes, "bytes") <= 2500.0, "{by_bytes:?}");
    assert_eq!(value(&by_bytes, "run_limit"), 50.0 - ok);

    let host_header = run("host-header");
    assert_eq!(value(&host_header, "ok"), 0.0);
    assert_eq!(value(&host_header, "invalid_request"), 3.0);
    assert!(
        first_error(&host_header).contains("header `host` is set by the host"),
        "{host_header:?}"
    );
    // by-count connected 5 times, by-bytes at most 3 times, host-header never.
    let connections = server.connections();
    assert!((7..=8).contains(&connections), "{connections} connections");
}

#[test]
fn a_probe_default_interval_below_the_floor_is_refused_naming_the_job() {
    let dir = common::scratch();
    let memory = common::probe("memory").display().to_string();
    let config = dir.path().join("host.toml");
    std::fs::write(
        &config,
        format!(
            "[[job]]\nname = \"storm\"\nprobe = \"{}\"\nparams = {{ url = \"http://x.invalid/\" }}\n\n\
             [[job]]\nprobe = \"{memory}\"\n",
            storm()
        ),
    )
    .expect("write host.toml");
    let config = config.display().to_string();
    let out = common::run_host(dir.path(), &["--once", "--config", &config]);
    assert!(!out.success, "a refused job makes --once fail");
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("min_interval_ms=1000"))
        .unwrap_or_else(|| panic!("no min_interval_ms refusal in:\n{}", out.stderr));
    assert!(
        line.contains("\"storm\"") && line.contains(&format!("{config}:1")),
        "{line}"
    );
    assert!(line.contains("interval 1 ms"), "{line}");
    assert_eq!(out.messages.len(), 1, "the memory job still runs");
    assert_eq!(out.messages[0].job, "memory");

    // From --probes too: the file's job is refused, the others run.
    let out = common::run_host(dir.path(), &["--once", "--probes", &storm(), &memory]);
    assert!(!out.success);
    assert!(
        out.stderr.contains("min_interval_ms=1000"),
        "{}",
        out.stderr
    );
    assert_eq!(out.messages.len(), 1);

    // An explicit interval below the floor is a config error naming the line.
    std::fs::write(
        &config,
        format!("min_interval_ms = 500\n[[job]]\nprobe = \"{memory}\"\ninterval_ms = 100\n"),
    )
    .expect("write host.toml");
    let out = common::run_host(dir.path(), &["--once", "--config", &config]);
    assert!(!out.success);
    assert!(
        out.stderr.contains(&format!("{config}:2"))
            && out.stderr.contains("interval 100 ms")
            && out.stderr.contains("min_interval_ms=500"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_a_run_ends_its_dns_lookups() {
    let dns = TestDns::silent().await;
    let cache = common::scratch();
    let runtime = Runtime::new(Some(cache.path().to_path_buf())).expect("engine");
    let limits = HttpLimits {
        dns_servers: Some(vec![dns.addr]),
        ..HttpLimits::default()
    };
    let host = Host::new(runtime, "test-host".into(), limits).expect("host");
    let path = common::test_probe("fetch-storm");
    let probe = host.load(&path).await.unwrap_or_else(|e| panic!("{e:#}"));
    // Each fetch asks for the host's longest timeout: only the run's end stops them.
    let params = [
        ("url", "http://name-{n}.never-answers.test/"),
        ("count", "1000"),
        ("timeout_ms", "0"),
    ];
    let spec = JobSpec {
        name: "storm".into(),
        probe_path: path.clone(),
        interval_ms: Some(1000),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        allow_http: vec!["*".into()],
        limits: RunLimits {
            timeout_ms: 1000,
            ..RunLimits::default()
        },
        min_interval_ms: 1000,
        origin: "test".into(),
    };
    let mut job = Job::new(&host, spec, probe).unwrap_or_else(|e| panic!("{e:#}"));
    let run = tokio::time::timeout(Duration::from_secs(30), job.run_once(&host, "test-host"))
        .await
        .expect("the run ends");
    let sent = dns.queries();
    assert!(
        sent >= 1,
        "the run's lookups reached the DNS server: {run:?}"
    );
    // The resolver retries an unanswered query after 2 s: a lookup that outlived its run
    // would send it now.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert_eq!(dns.queries(), sent, "a query after the run ended: {run:?}");
}
