//! A generated fleet for the report's tests and benchmark: `hosts` hosts running the four
//! bundled probes' metrics every `step_secs` over a time range ending now, a share of failed
//! runs, bandwidth threshold events, HTTP outages and a few dead letters. Written through
//! the recorder's own `Writer` (the same series and partition code as real ingest), without
//! Kafka.

use chrono::{DateTime, Utc};
use sonde_message::{RunMessage, RunStatus, Sample};
use sonde_recorder::batch::Batch;
use sonde_recorder::config::Config;
use sonde_recorder::db::PgTarget;
use sonde_recorder::report::metrics as m;
use sonde_recorder::writer::Writer;
use sonde_tests::Env;

/// The shape of the generated data.
#[derive(Debug, Clone, Copy)]
pub struct Fleet {
    pub hosts: usize,
    pub span_secs: i64,
    pub step_secs: i64,
    pub end: DateTime<Utc>,
}

/// What was written.
#[derive(Debug, Default, Clone, Copy)]
pub struct Generated {
    pub runs: usize,
    pub failed_runs: usize,
    pub samples: usize,
    pub threshold_events: usize,
    pub dead_letters: usize,
}

pub const DEAD_LETTERS: usize = 3;
/// Runs per committed batch.
const BATCH_RUNS: usize = 20_000;
const TOPIC: &str = "generated";
/// Every this many steps a host's bandwidth passes the threshold.
const SPIKE_EVERY: usize = 45;
/// Every this many steps a host's cpu run fails.
const FAIL_EVERY: usize = 97;
/// Every this many steps a host's HTTP check is down.
const DOWN_EVERY: usize = 31;
pub const THRESHOLD_BYTES_PER_SEC: f64 = 5_000_000.0;

pub fn host_name(i: usize) -> String {
    format!("host-{i:03}")
}

pub fn check_url(i: usize) -> String {
    format!("https://shop.example/{}/health", host_name(i))
}

/// Recorder settings for `database` on `env`'s PostgreSQL (verify-full).
pub fn recorder_config(env: &Env, database: &str) -> Config {
    let mut config = Config::default();
    let pw = env.pg_password_file.display().to_string();
    let root = env.pg_root_cert.display().to_string();
    let port = env.pg_port.to_string();
    for (k, v) in [
        ("postgres.host", env.pg_host.as_str()),
        ("postgres.port", port.as_str()),
        ("postgres.user", env.pg_user.as_str()),
        ("postgres.database", database),
        ("postgres.passwordfile", pw.as_str()),
        ("postgres.ssl.rootcertfile", root.as_str()),
    ] {
        config.set(k, v).expect("valid recorder setting");
    }
    config
}

fn sample(name: &str, value: f64, unit: &str, labels: &[(&str, &str)]) -> Sample {
    Sample {
        name: name.into(),
        value,
        unit: unit.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// The four runs of host `h` at step `step`.
fn runs_at(h: usize, step: usize, at: DateTime<Utc>, g: &mut Generated) -> Vec<RunMessage> {
    let host = host_name(h);
    let wave = ((step as f64 / 30.0) + h as f64).sin(); // slow swing, out of phase per host
    let mut out = Vec::with_capacity(4);

    let mut cpu = RunMessage::new(&host, "cpu", "0.1.0", "cpu", at);
    if step % FAIL_EVERY == h % FAIL_EVERY {
        cpu.status = RunStatus::Error;
        cpu.error = Some("probe trapped: wasm `unreachable` instruction executed".into());
        g.failed_runs += 1;
    } else {
        let user = 0.25 + 0.15 * wave;
        let states = [
            ("user", user),
            ("system", 0.06),
            ("iowait", 0.02 + 0.01 * wave.abs()),
            ("nice", 0.0),
            ("interrupt", 0.002),
            ("softirq", 0.004),
            ("steal", 0.0),
        ];
        let busy: f64 = states.iter().map(|s| s.1).sum();
        for (state, v) in states.iter().chain([("idle", 1.0 - busy)].iter()) {
            cpu.samples.push(sample(
                m::CPU_UTILIZATION,
                *v,
                "1",
                &[("cpu", m::CPU_TOTAL), ("state", state)],
            ));
        }
    }
    out.push(cpu);

    let total = 8.0 * 1024f64.powi(3);
    let used = total * (0.45 + 0.1 * wave);
    let mut mem = RunMessage::new(&host, "memory", "0.1.0", "memory", at);
    mem.samples
        .push(sample("system.memory.limit", total, "By", &[]));
    mem.samples.push(sample(
        m::MEMORY_USAGE,
        used,
        "By",
        &[("state", m::MEMORY_USED_STATE)],
    ));
    mem.samples.push(sample(
        m::MEMORY_USAGE,
        (total - used) * 0.6,
        "By",
        &[("state", "free")],
    ));
    mem.samples
        .push(sample(m::MEMORY_AVAILABLE, total - used, "By", &[]));
    mem.samples.push(sample(
        "system.memory.utilization",
        used / total,
        "1",
        &[("state", "used")],
    ));
    out.push(mem);

    let mut bw = RunMessage::new(&host, "bandwidth", "0.1.0", "bandwidth", at);
    let spike = step % SPIKE_EVERY == h % SPIKE_EVERY;
    for (interface, base) in [("eth0", 2_000_000.0), ("lo", 50_000.0)] {
        for (direction, share) in [("receive", 1.0), ("transmit", 0.4)] {
            let rate = base * share * (1.2 + wave)
                + if spike && interface == "eth0" {
                    8_000_000.0
                } else {
                    0.0
                };
            let labels = [("interface", interface), ("direction", direction)];
            bw.samples
                .push(sample(m::NETWORK_RATE, rate, "By/s", &labels));
            if rate > THRESHOLD_BYTES_PER_SEC {
                let threshold = THRESHOLD_BYTES_PER_SEC.to_string();
                let labels = [
                    ("interface", interface),
                    ("direction", direction),
                    ("threshold", threshold.as_str()),
                ];
                bw.samples
                    .push(sample(m::NETWORK_THRESHOLD, rate, "By/s", &labels));
                g.threshold_events += 1;
            }
        }
    }
    out.push(bw);

    let url = check_url(h);
    let regex = "status: (ok|healthy)";
    let mut http = RunMessage::new(&host, "http-check", "0.1.0", "shop", at);
    let down = step % DOWN_EVERY == h % DOWN_EVERY;
    let slow = 1.0 + 0.5 * wave.abs() + (step % 7) as f64 * 0.1;
    for (phase, ms) in [
        ("dns", 1.5),
        ("connect", 4.0),
        ("tls", 12.0),
        ("first_byte", 35.0),
        ("total", 60.0),
    ] {
        http.samples.push(sample(
            m::HTTP_DURATION,
            ms * slow / 1000.0,
            "s",
            &[("url", &url), ("phase", phase)],
        ));
    }
    let code = if down { 503.0 } else { 200.0 };
    http.samples
        .push(sample(m::HTTP_STATUS, code, "1", &[("url", &url)]));
    http.samples.push(sample(
        m::HTTP_REGEX_MATCH,
        if down { 0.0 } else { 1.0 },
        "1",
        &[("url", &url), ("regex", regex)],
    ));
    http.samples.push(sample(
        m::HTTP_UP,
        if down { 0.0 } else { 1.0 },
        "1",
        &[("url", &url)],
    ));
    out.push(http);

    out
}

/// Write `fleet` into `database` (schema created if needed). Returns what was written.
pub async fn write(env: &Env, database: &str, fleet: Fleet) -> Generated {
    let config = recorder_config(env, database);
    let target = PgTarget::new(&config.postgres).expect("PostgreSQL settings");
    let (_keep, mut abort) = tokio::sync::watch::channel(false);
    let mut writer = Writer::start(target, &config.postgres.measure_table, 0, &mut abort)
        .await
        .expect("connect the writer")
        .expect("not aborted");
    let steps = (fleet.span_secs / fleet.step_secs) as usize;
    let start = fleet.end - chrono::Duration::seconds(fleet.span_secs);
    let mut g = Generated::default();
    let mut batch = Batch::default();
    let mut offset = 0i64;
    let now = Utc::now();
    for step in 0..steps {
        let at = start + chrono::Duration::seconds(step as i64 * fleet.step_secs);
        for h in 0..fleet.hosts {
            for run in runs_at(h, step, at, &mut g) {
                g.runs += 1;
                g.samples += run.samples.len();
                batch.push(TOPIC, 0, offset, &run.encode(), now);
                offset += 1;
            }
        }
        if step == steps / 2 {
            for i in 0..DEAD_LETTERS {
                let payload = format!("{{\"v\":1,\"host\":\"<b>poison {i}</b>\"\u{0}");
                batch.push(TOPIC, 0, offset, payload.as_bytes(), now);
                offset += 1;
                g.dead_letters += 1;
            }
        }
        if batch.runs.len() >= BATCH_RUNS || step + 1 == steps {
            writer
                .write(&batch.take(), &mut abort, Default::default())
                .await
                .expect("write a generated batch");
        }
    }
    g
}
