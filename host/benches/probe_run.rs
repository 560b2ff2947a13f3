//! What running a probe through the host costs.
//!
//! - `cpu_run/host`: one run of the cpu probe (host-metrics call, deltas in wasm, samples
//!   lifted back, message built) on a live instance;
//! - `cpu_run/native`: the same computation in plain Rust (read /proc/stat, deltas,
//!   utilisation per state and cpu, samples; like the probe, a cpu whose counters did not
//!   move since the last call is skipped, which at benchmark call rates is most calls);
//! - `instantiate/*`: `InstancePre::instantiate` of the cpu probe, on-demand vs pooling
//!   allocator;
//! - `load_from_disk_cache`: read + sha256 + deserialize + link of a cached component.
//!
//! Needs `just build-probes` (probes/cpu.wasm).

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion};
use sonde_host::config::JobSpec;
use sonde_host::http::{AllowList, HttpLimits};
use sonde_host::runtime::capabilities::metrics::procfs::parse_proc_stat;
use sonde_host::runtime::engine::{InstanceAllocator, Runtime};
use sonde_host::runtime::limits::RunLimits;
use sonde_host::runtime::probe::Host;
use sonde_host::schedule::job::Job;
use sonde_message::{Labels, Sample};

fn cpu_wasm() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../probes/cpu.wasm");
    assert!(
        p.is_file(),
        "{} is missing: run `just build-probes` first",
        p.display()
    );
    p
}

fn host(cache: &Path, allocator: InstanceAllocator) -> Host {
    let runtime = Runtime::with_allocator(Some(cache.to_path_buf()), allocator).expect("engine");
    Host::new(runtime, "bench".into(), HttpLimits::default()).expect("host")
}

/// The cpu probe's computation, natively: counters per cpu, utilisation per state.
struct NativeCpu {
    previous: Vec<(Option<u32>, [u64; 8])>,
}

impl NativeCpu {
    fn run(&mut self) -> Vec<Sample> {
        const STATES: [&str; 8] = [
            "user",
            "nice",
            "system",
            "idle",
            "iowait",
            "interrupt",
            "softirq",
            "steal",
        ];
        let text = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
        let mut samples = Vec::new();
        let mut now = Vec::new();
        for t in parse_proc_stat(&text) {
            let c = [
                t.user_ms,
                t.nice_ms,
                t.system_ms,
                t.idle_ms,
                t.iowait_ms,
                t.irq_ms,
                t.softirq_ms,
                t.steal_ms,
            ];
            let before = self
                .previous
                .iter()
                .find(|(cpu, _)| *cpu == t.cpu)
                .map(|(_, b)| *b)
                .unwrap_or([0; 8]);
            let delta: Vec<u64> = c
                .iter()
                .zip(before)
                .map(|(n, b)| n.saturating_sub(b))
                .collect();
            let total: u64 = delta.iter().sum();
            // Like the probe: a cpu whose counters did not move keeps its older reading.
            if total == 0 && before != [0; 8] {
                now.push((t.cpu, before));
                continue;
            }
            let label = t.cpu.map_or_else(|| "total".to_string(), |n| n.to_string());
            for (state, d) in STATES.iter().zip(&delta) {
                samples.push(Sample {
                    name: "system.cpu.utilization".into(),
                    value: if total == 0 {
                        0.0
                    } else {
                        *d as f64 / total as f64
                    },
                    unit: "1".into(),
                    labels: Labels::from([
                        ("cpu".to_string(), label.clone()),
                        ("state".to_string(), state.to_string()),
                    ]),
                });
            }
            now.push((t.cpu, c));
        }
        self.previous = now;
        samples
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let cache = tempfile::tempdir().expect("tempdir");
    let wasm = cpu_wasm();

    let host_on_demand = host(cache.path(), InstanceAllocator::OnDemand);
    let probe = rt
        .block_on(host_on_demand.load(&wasm))
        .expect("load cpu probe");
    let spec = JobSpec {
        name: "cpu".into(),
        probe_path: wasm.clone(),
        interval_ms: None,
        params: Vec::new(),
        allow_http: Vec::new(),
        limits: RunLimits::default(),
        min_interval_ms: sonde_host::config::DEFAULT_MIN_INTERVAL_MS,
        origin: "bench".into(),
    };
    let mut job = Job::new(&host_on_demand, spec, probe.clone()).expect("job");
    let mut group = c.benchmark_group("cpu_run");
    group.bench_function("host", |b| {
        b.iter(|| {
            let msg = rt.block_on(job.run_once(&host_on_demand, "bench"));
            assert!(msg.error.is_none(), "{:?}", msg.error);
            msg
        })
    });
    let mut native = NativeCpu {
        previous: Vec::new(),
    };
    group.bench_function("native", |b| b.iter(|| native.run()));
    group.finish();

    let mut group = c.benchmark_group("instantiate");
    for (name, allocator) in [
        ("on_demand", InstanceAllocator::OnDemand),
        ("pooling", InstanceAllocator::Pooling { max_instances: 100 }),
    ] {
        let h = host(cache.path(), allocator);
        let p = rt.block_on(h.load(&wasm)).expect("load");
        let limits = RunLimits::default();
        let caps = h.capabilities("bench", AllowList::deny_all(), &limits);
        group.bench_function(name, |b| {
            b.iter(|| {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                rt.block_on(p.instantiate(&h, &caps, &limits, deadline))
                    .map(drop)
                    .expect("instantiate")
            })
        });
    }
    group.finish();

    c.bench_function("load_from_disk_cache", |b| {
        b.iter(|| host_on_demand.load_blocking(&wasm).map(drop).expect("load"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
