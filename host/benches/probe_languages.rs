//! What a probe's language costs the host, for three probes doing the same work — one HTTP
//! fetch of a small JSON document from a local server and a verdict on it: `http-check`
//! (Rust, body regex), `json-health` (Python, field condition) and `http-slo` (JavaScript,
//! latency objective and header rule).
//!
//! Per probe: component size; first compile (no cache); load from the on-disk compile cache
//! (read, hash, deserialize, link); instantiation; the smallest `max_memory_bytes` under
//! which it instantiates and runs 20 times (found by bisection, 64 KiB steps, through the
//! host's own limit); the mean of 100 runs on one live instance.
//!
//! Prints a markdown table and one `BENCH_LANG key=value ...` line per probe (read by
//! tests/stack/bench-sections.sh). Needs `just build-probes`. `BENCH_RUNS` changes the
//! number of timed runs.

#[path = "../tests/http_capability/test_server.rs"]
mod test_server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sonde_host::http::{AllowList, HttpLimits};
use sonde_host::runtime::engine::Runtime;
use sonde_host::runtime::limits::RunLimits;
use sonde_host::runtime::probe::{Host, LoadedProbe};

const PAGE: u64 = 64 * 1024;
/// The bisection's upper end: 16 times the default budget.
const MAX_SEARCHED_BYTES: u64 = 1024 * 1024 * 1024;
const MEMORY_PROBE_RUNS: usize = 20;

struct Subject {
    language: &'static str,
    probe: &'static str,
    params: Vec<(&'static str, String)>,
}

fn wasm(probe: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../probes/{probe}.wasm"));
    assert!(
        p.is_file(),
        "{} is missing: run `just build-probes` first",
        p.display()
    );
    p
}

/// Each instantiation and run ends within the default run timeout, as in a job.
fn deadline() -> Instant {
    Instant::now() + Duration::from_millis(RunLimits::default().timeout_ms)
}

fn mean_ms(samples: &[Duration]) -> f64 {
    samples.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / samples.len() as f64
}

fn host(cache: Option<&Path>) -> Host {
    let runtime = Runtime::new(cache.map(Path::to_path_buf)).expect("engine");
    Host::new(runtime, "bench".into(), HttpLimits::default()).expect("host")
}

/// Whether a fresh instance under `max_memory_bytes` runs `runs` times without failing.
async fn runs_within(
    host: &Host,
    probe: &LoadedProbe,
    allow: &[String],
    params: &[(String, String)],
    max_memory_bytes: u64,
    runs: usize,
) -> bool {
    let limits = RunLimits {
        max_memory_bytes,
        ..RunLimits::default()
    };
    let caps = host.capabilities("bench", AllowList::new(allow).expect("allow"), &limits);
    let Ok(mut instance) = probe.instantiate(host, &caps, &limits, deadline()).await else {
        return false;
    };
    for _ in 0..runs {
        if instance.run(params, &limits, deadline()).await.is_err() {
            return false;
        }
    }
    true
}

/// The smallest budget (a multiple of 64 KiB) the probe runs under.
async fn memory_needed(
    host: &Host,
    probe: &LoadedProbe,
    allow: &[String],
    params: &[(String, String)],
) -> u64 {
    let (mut low, mut high) = (0u64, MAX_SEARCHED_BYTES / PAGE);
    assert!(
        runs_within(host, probe, allow, params, high * PAGE, MEMORY_PROBE_RUNS).await,
        "{} does not run even with {MAX_SEARCHED_BYTES} bytes",
        probe.path.display()
    );
    // Invariant: `high` pages are enough, `low` pages are not.
    while high - low > 1 {
        let mid = (low + high) / 2;
        if runs_within(host, probe, allow, params, mid * PAGE, MEMORY_PROBE_RUNS).await {
            high = mid;
        } else {
            low = mid;
        }
    }
    high * PAGE
}

struct Measured {
    size_bytes: u64,
    compile_ms: f64,
    load_ms: f64,
    instantiate_ms: f64,
    memory_bytes: u64,
    run_ms: f64,
}

async fn measure(subject: &Subject, url: &str, timed_runs: usize) -> Measured {
    let path = wasm(subject.probe);
    let bytes = std::fs::read(&path).expect("read component");
    let allow = vec![url.to_string()];
    let params: Vec<(String, String)> = subject
        .params
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();

    let started = Instant::now();
    host(None).runtime.compile(&bytes, &path).expect("compile");
    let compile_ms = started.elapsed().as_secs_f64() * 1000.0;

    let cache = tempfile::tempdir().expect("tempdir");
    let cached = host(Some(cache.path()));
    let probe = cached.load(&path).await.expect("load");
    let loads: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            cached
                .load_blocking(&path)
                .map(drop)
                .expect("load from cache");
            t.elapsed()
        })
        .collect();

    let limits = RunLimits::default();
    let caps = cached.capabilities("bench", AllowList::new(&allow).expect("allow"), &limits);
    let mut instantiations = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let instance = probe
            .instantiate(&cached, &caps, &limits, deadline())
            .await
            .expect("instantiate");
        instantiations.push(t.elapsed());
        drop(instance);
    }

    let mut instance = probe
        .instantiate(&cached, &caps, &limits, deadline())
        .await
        .expect("instantiate");
    for _ in 0..5 {
        instance
            .run(&params, &limits, deadline())
            .await
            .expect("warm-up run");
    }
    let mut runs = Vec::with_capacity(timed_runs);
    for _ in 0..timed_runs {
        let t = Instant::now();
        let samples = instance
            .run(&params, &limits, deadline())
            .await
            .expect("run");
        runs.push(t.elapsed());
        assert!(!samples.is_empty(), "{}: no samples", subject.probe);
    }

    Measured {
        size_bytes: bytes.len() as u64,
        compile_ms,
        load_ms: mean_ms(&loads),
        instantiate_ms: mean_ms(&instantiations),
        memory_bytes: memory_needed(&cached, &probe, &allow, &params).await,
        run_ms: mean_ms(&runs),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments.
    let timed_runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let body = br#"{"status": "ok", "queue": {"depth": 12}, "version": "2.14.1"}"#;
        let server = test_server::TestServer::start(test_server::Reply::Fixed(
            test_server::response("200 OK", "Content-Type: application/json\r\n", body),
        ))
        .await;
        let url = server.url("http", "/health");
        let subjects = [
            Subject {
                language: "Rust",
                probe: "http-check",
                params: vec![("url", url.clone()), ("regex", r#""status": "ok""#.into())],
            },
            Subject {
                language: "Python",
                probe: "json-health",
                params: vec![("url", url.clone()), ("field", "status".into()), ("expect", "ok".into())],
            },
            Subject {
                language: "JavaScript",
                probe: "http-slo",
                params: vec![("url", url.clone()), ("header", "content-type: ^application/json".into())],
            },
        ];
        println!("| probe | language | component | first compile | cached load | instantiate | memory needed | one run |");
        println!("|---|---|---|---|---|---|---|---|");
        let mut lines = Vec::new();
        for s in &subjects {
            let m = measure(s, &url, timed_runs).await;
            println!(
                "| {} | {} | {:.1} MB | {:.0} ms | {:.1} ms | {:.2} ms | {:.1} MiB | {:.2} ms |",
                s.probe,
                s.language,
                m.size_bytes as f64 / 1e6,
                m.compile_ms,
                m.load_ms,
                m.instantiate_ms,
                m.memory_bytes as f64 / (1024.0 * 1024.0),
                m.run_ms
            );
            lines.push(format!(
                "BENCH_LANG language={} probe={} size_bytes={} compile_ms={:.0} load_ms={:.2} \
                 instantiate_ms={:.3} memory_bytes={} run_ms={:.3}",
                s.language,
                s.probe,
                m.size_bytes,
                m.compile_ms,
                m.load_ms,
                m.instantiate_ms,
                m.memory_bytes,
                m.run_ms
            ));
        }
        for line in lines {
            println!("{line}");
        }
    });
}
