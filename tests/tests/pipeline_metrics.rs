//! Both binaries as a Prometheus server sees them: during a pipeline run, `/metrics` of
//! the host and of the recorder pass `promtool check metrics`, `/readyz` turns ready, and a
//! real Prometheus (started here on a free loopback port with a throw-away config and data
//! directory) scrapes both: `up == 1` for each and the host's run counter increases.

mod pipeline;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipeline::{cpu_and_memory_jobs, Pipeline, Proc};
use sonde_tests::{free_port, http_get, program, Env};

const HOST_METRICS: &[&str] = &[
    "sonde_host_runs_total",
    "sonde_host_run_duration_seconds",
    "sonde_host_missed_ticks_total",
    "sonde_host_jobs",
    "sonde_host_probe_load_failures_total",
    "sonde_host_config_reloads_total",
    "sonde_host_spool_messages",
    "sonde_host_spool_bytes",
    "sonde_host_spool_oldest_age_seconds",
    "sonde_host_runs_dropped_total",
    "sonde_host_kafka_connected",
    "sonde_host_kafka_delivery_errors_total",
    "sonde_host_kafka_delivery_latency_seconds",
    "sonde_host_build_info",
];

const RECORDER_METRICS: &[&str] = &[
    "sonde_recorder_messages_consumed_total",
    "sonde_recorder_rows_written_total",
    "sonde_recorder_duplicate_runs_total",
    "sonde_recorder_batches_total",
    "sonde_recorder_batch_duration_seconds",
    "sonde_recorder_dead_letters_total",
    "sonde_recorder_postgres_connected",
    "sonde_recorder_kafka_connected",
    "sonde_recorder_committed_offset",
    "sonde_recorder_build_info",
];

/// Poll `f` every 500 ms until it returns `Some`; panic with `what` after `patience`.
fn wait_for<T>(what: &str, patience: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + patience;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < until, "waited {patience:?} for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn metrics_of(addr: &str) -> String {
    let (status, body) = http_get(addr, "/metrics").unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(status, 200, "GET {addr}/metrics: {body}");
    body
}

/// `promtool check metrics` on `text`: no error, no lint finding.
fn promtool_check(text: &str, who: &str) {
    let mut child = Command::new(program("promtool", "prometheus"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("promtool stdin");
        stdin.write_all(text.as_bytes()).expect("feed promtool");
    }
    let out = child.wait_with_output().expect("promtool result");
    assert!(
        out.status.success(),
        "promtool check metrics failed on the {who}'s /metrics: {}{}\n--- metrics ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One instant-query result of Prometheus's HTTP API: (labels, value) per series.
fn query(prometheus: &str, promql: &str) -> Vec<(serde_json::Value, f64)> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'(' | b')' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, body) = match http_get(prometheus, &format!("/api/v1/query?query={encoded}")) {
        Ok(r) => r,
        Err(_) => return Vec::new(), // not listening yet
    };
    if status != 200 {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_str(&body).expect("Prometheus answers JSON");
    v["data"]["result"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| {
                    let value = r["value"][1].as_str()?.parse().ok()?;
                    Some((r["metric"].clone(), value))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn start_prometheus(dir: &Path, host: &str, recorder: &str) -> (Proc, String) {
    let port = free_port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n\
             \x20 - job_name: sonde-host\n    static_configs: [{{targets: ['{host}']}}]\n\
             \x20 - job_name: sonde-recorder\n    static_configs: [{{targets: ['{recorder}']}}]\n"
        ),
    )
    .expect("write prometheus.yml");
    let mut cmd = Command::new(program("prometheus", "prometheus"));
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.console.templates=/nonexistent")
        .arg("--web.console.libraries=/nonexistent");
    let proc = Proc::spawn("prometheus", cmd, dir.join("prometheus.log"));
    (proc, format!("127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_both_binaries_during_a_pipeline_run() {
    let mut p = Pipeline::new(Env::load(), "metrics", 2).await;
    p.write_host_config(&cpu_and_memory_jobs());
    let host_addr = format!("127.0.0.1:{}", free_port());
    let recorder_addr = format!("127.0.0.1:{}", free_port());
    let mut host = p.start_host_with(&["--metrics-addr", &host_addr]);
    let mut recorder = p.start_recorder_with(
        &format!("metrics.addr = {recorder_addr}\n"),
        &["--log-format", "json"],
    );

    for (who, addr) in [("host", &host_addr), ("recorder", &recorder_addr)] {
        wait_for(
            &format!("{who} /readyz to answer 200"),
            Duration::from_secs(90),
            || {
                host.assert_running();
                recorder.assert_running();
                matches!(http_get(addr, "/readyz"), Ok((200, _))).then_some(())
            },
        );
        let (status, body) = http_get(addr, "/healthz").expect("healthz");
        assert_eq!((status, body.trim()), (200, "ok"), "{who} /healthz");
    }

    // Runs flow into PostgreSQL; then both outputs carry every metric and pass promtool.
    wait_for(
        "the recorder to commit runs",
        Duration::from_secs(90),
        || {
            let text = metrics_of(&recorder_addr);
            text.lines()
                .find(|l| l.starts_with("sonde_recorder_rows_written_total{table=\"probe_run\"}"))
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .filter(|n| *n > 0.0)
        },
    );
    let host_text = metrics_of(&host_addr);
    let recorder_text = metrics_of(&recorder_addr);
    for name in HOST_METRICS {
        assert!(
            host_text.contains(&format!("# TYPE {name} ")),
            "host lacks {name}:\n{host_text}"
        );
    }
    for name in RECORDER_METRICS {
        assert!(
            recorder_text.contains(&format!("# TYPE {name} ")),
            "recorder lacks {name}:\n{recorder_text}"
        );
    }
    assert!(
        host_text.contains("sonde_host_kafka_connected 1"),
        "{host_text}"
    );
    assert!(
        host_text.contains("sonde_host_runs_total{sonde_job=\"cpu\",status=\"ok\"}"),
        "{host_text}"
    );
    assert!(
        recorder_text.contains("sonde_recorder_postgres_connected 1"),
        "{recorder_text}"
    );
    promtool_check(&host_text, "host");
    promtool_check(&recorder_text, "recorder");

    // A real Prometheus scrapes both.
    let (mut prometheus, prom_addr) = start_prometheus(p.dir(), &host_addr, &recorder_addr);
    let up = wait_for(
        "Prometheus to see both targets up",
        Duration::from_secs(60),
        || {
            prometheus.assert_running();
            let rows = query(&prom_addr, "up");
            let up = |job: &str| rows.iter().any(|(m, v)| m["job"] == job && *v == 1.0);
            (up("sonde-host") && up("sonde-recorder")).then_some(rows)
        },
    );
    assert_eq!(up.len(), 2, "{up:?}");
    let runs = |prom: &str| {
        query(prom, "sum(sonde_host_runs_total)")
            .first()
            .map(|(_, v)| *v)
    };
    let first = wait_for(
        "Prometheus to store the run counter",
        Duration::from_secs(30),
        || runs(&prom_addr),
    );
    wait_for(
        "the run counter to increase in Prometheus",
        Duration::from_secs(30),
        || runs(&prom_addr).filter(|v| *v > first),
    );

    // The recorder is restart-only: SIGHUP is logged and changes nothing.
    let hup = Command::new("kill")
        .arg("-HUP")
        .arg(recorder.pid().to_string())
        .status();
    assert!(hup.is_ok_and(|s| s.success()));
    wait_for(
        "the recorder to log the ignored SIGHUP",
        Duration::from_secs(10),
        || recorder.log().contains("SIGHUP ignored").then_some(()),
    );
    std::thread::sleep(Duration::from_secs(1));
    recorder.assert_running();
    // Its log is JSON, one object per line.
    let log = recorder.log();
    // Whole lines only: the recorder may be writing the last one.
    for line in log.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("recorder log line is not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }

    p.stop_host(&mut host);
    assert!(
        recorder.terminate(Duration::from_secs(60)),
        "recorder did not stop"
    );
    assert!(
        prometheus.terminate(Duration::from_secs(30)),
        "prometheus did not stop"
    );
}
