//! The four probes, run through the host library in real wasmtime, report values that
//! agree with what /proc says about this machine.

mod common;

use std::path::Path;

use common::sample_value as value;
use sonde_host::config::JobSpec;
use sonde_host::http::HttpLimits;
use sonde_host::runtime::engine::Runtime;
use sonde_host::runtime::limits::RunLimits;
use sonde_host::runtime::probe::Host;
use sonde_host::schedule::job::Job;
use sonde_message::{RunMessage, RunStatus};

fn host(cache: &Path) -> Host {
    let runtime = Runtime::new(Some(cache.to_path_buf())).expect("engine");
    Host::new(runtime, "test-host".into(), HttpLimits::default()).expect("host")
}

async fn job(host: &Host, probe: &Path, params: &[(&str, &str)]) -> Job {
    let loaded = host
        .load(probe)
        .await
        .unwrap_or_else(|e| panic!("loading {}: {e:#}", probe.display()));
    let spec = JobSpec {
        name: "t".into(),
        probe_path: probe.to_path_buf(),
        interval_ms: Some(1000),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        allow_http: Vec::new(),
        limits: RunLimits::default(),
        min_interval_ms: sonde_host::config::DEFAULT_MIN_INTERVAL_MS,
        origin: "test".into(),
    };
    Job::new(host, spec, loaded).unwrap_or_else(|e| panic!("{e:#}"))
}

fn ok(msg: RunMessage) -> RunMessage {
    assert_eq!(msg.status, RunStatus::Ok, "run failed: {:?}", msg.error);
    assert!(!msg.samples.is_empty(), "an ok run without samples");
    msg
}

fn meminfo_kib(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
    text.lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .strip_prefix(':')?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {key} in /proc/meminfo"))
}

#[tokio::test]
async fn memory_total_is_the_machines() {
    let cache = common::scratch();
    let host = host(cache.path());
    let mut job = job(&host, &common::probe("memory"), &[]).await;
    let msg = ok(job.run_once(&host, "test-host").await);
    assert_eq!(msg.probe, "memory");
    assert_eq!(msg.host, "test-host");
    let used = value(&msg, "system.memory.usage", &[("state", "used")]);
    let available = value(&msg, "system.memory.linux.available", &[]);
    let total_bytes = meminfo_kib("MemTotal") * 1024;
    assert_eq!(
        (used + available) as u64,
        total_bytes,
        "used + available should be MemTotal"
    );
    let util = value(&msg, "system.memory.utilization", &[("state", "used")]);
    assert!((0.0..=1.0).contains(&util), "utilization {util}");
    let swap_used = value(&msg, "system.paging.usage", &[("state", "used")]);
    let swap_free = value(&msg, "system.paging.usage", &[("state", "free")]);
    assert_eq!(
        (swap_used + swap_free) as u64,
        meminfo_kib("SwapTotal") * 1024,
        "paging used + free should be SwapTotal"
    );
}

#[tokio::test]
async fn cpu_states_sum_to_one_on_the_second_run() {
    let cache = common::scratch();
    let host = host(cache.path());
    let mut job = job(&host, &common::probe("cpu"), &[]).await;
    ok(job.run_once(&host, "test-host").await);
    // Burn a little CPU so the counters move between the runs.
    let t = std::time::Instant::now();
    let mut x = 0u64;
    while t.elapsed() < std::time::Duration::from_millis(300) {
        x = std::hint::black_box(x.wrapping_add(1));
    }
    let msg = ok(job.run_once(&host, "test-host").await);
    let total: Vec<_> = msg
        .samples
        .iter()
        .filter(|s| {
            s.name == "system.cpu.utilization"
                && s.labels.get("cpu").map(String::as_str) == Some("total")
        })
        .collect();
    assert!(
        total.len() >= 4,
        "expected one sample per state, got {total:?}"
    );
    for s in &total {
        assert!((0.0..=1.0).contains(&s.value), "{s:?} out of [0, 1]");
    }
    let sum: f64 = total.iter().map(|s| s.value).sum();
    assert!((sum - 1.0).abs() < 0.02, "states sum to {sum}");
    let states: std::collections::BTreeSet<_> = total
        .iter()
        .filter_map(|s| s.labels.get("state").map(String::as_str))
        .collect();
    assert_eq!(
        states,
        [
            "idle",
            "interrupt",
            "iowait",
            "nice",
            "softirq",
            "steal",
            "system",
            "user"
        ]
        .into(),
        "OpenTelemetry's cpu.mode values"
    );
    let cores = std::fs::read_to_string("/proc/stat")
        .expect("/proc/stat")
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    let cores_seen: std::collections::BTreeSet<_> = msg
        .samples
        .iter()
        .filter_map(|s| s.labels.get("cpu"))
        .filter(|c| *c != "total")
        .collect();
    assert_eq!(
        cores_seen.len(),
        cores,
        "one set of samples per core in /proc/stat"
    );
}

/// The loopback counters of `/proc/net/dev`: (receive bytes, transmit bytes).
fn proc_lo_bytes() -> (f64, f64) {
    let text = std::fs::read_to_string("/proc/net/dev").expect("/proc/net/dev");
    let fields: Vec<f64> = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("lo:"))
        .expect("no lo in /proc/net/dev")
        .split_whitespace()
        .map(|f| f.parse().expect("counter"))
        .collect();
    (fields[0], fields[8])
}

#[tokio::test]
async fn bandwidth_reports_counters_at_once_and_rates_from_the_second_run() {
    let cache = common::scratch();
    let host = host(cache.path());
    let mut job = job(&host, &common::probe("bandwidth"), &[("interface", "lo")]).await;
    let before = proc_lo_bytes();
    let first = ok(job.run_once(&host, "test-host").await);
    let after = proc_lo_bytes();
    // The first run has no previous reading: cumulative counters only, no rates.
    assert!(
        first
            .samples
            .iter()
            .all(|s| s.name.starts_with("system.network.")),
        "{:?}",
        first.samples
    );
    assert_eq!(first.samples.len(), 6, "3 counters x 2 directions");
    let rx = value(
        &first,
        "system.network.io",
        &[("interface", "lo"), ("direction", "receive")],
    );
    let tx = value(
        &first,
        "system.network.io",
        &[("interface", "lo"), ("direction", "transmit")],
    );
    assert!(
        before.0 <= rx && rx <= after.0,
        "{before:?} <= {rx} <= {after:?}"
    );
    assert!(
        before.1 <= tx && tx <= after.1,
        "{before:?} <= {tx} <= {after:?}"
    );
    assert!(first.samples.iter().all(|s| match s.name.as_str() {
        "system.network.io" => s.unit == "By",
        "system.network.packet.count" => s.unit == "{packet}",
        _ => s.unit == "{error}",
    }));

    // Traffic on lo between the runs, so the byte rate is above zero.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut client =
        std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    std::io::Write::write_all(&mut client, &[0u8; 64 * 1024]).expect("write");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let second = ok(job.run_once(&host, "test-host").await);
    let rate = value(
        &second,
        "sonde.network.io.rate",
        &[("interface", "lo"), ("direction", "transmit")],
    );
    assert!(rate > 0.0 && rate.is_finite(), "lo transmit rate {rate}");
    for (name, unit) in [
        ("system.network.io", "By"),
        ("sonde.network.io.rate", "By/s"),
        ("sonde.network.packet.rate", "{packet}/s"),
        ("sonde.network.error.rate", "{error}/s"),
    ] {
        let n = second
            .samples
            .iter()
            .filter(|s| s.name == name && s.unit == unit)
            .count();
        assert_eq!(
            n, 2,
            "{name} ({unit}) per direction in {:?}",
            second.samples
        );
    }
    for s in &second.samples {
        assert!(s.value >= 0.0 && s.value.is_finite(), "{s:?}");
    }
}
