//! SIGHUP reloads host.toml while `host` runs: added, removed and changed jobs take effect,
//! unchanged jobs keep running untouched, an invalid file keeps the running configuration.
//! The host logs as JSON (`--log-format json`) here, and every stderr line must be one
//! JSON object with the event's fields as keys.

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

fn job(name: &str, probe: &str, interval_ms: u64) -> String {
    format!(
        "[[job]]\nname = \"{name}\"\nprobe = \"{}\"\ninterval_ms = {interval_ms}\n\n",
        common::probe(probe).display()
    )
}

/// Every stderr line as JSON; panics on a line that is not one object.
fn events(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v) if v.is_object() => v,
            _ => panic!("log line is not a JSON object: {l}"),
        })
        .collect()
}

fn count(stderr: &str, message: &str, job: &str) -> usize {
    events(stderr)
        .iter()
        .filter(|e| e["message"] == message && e["job"] == job)
        .count()
}

fn write(path: &Path, text: &str) {
    // The jobs here run faster than the host's default floor.
    let text = format!("min_interval_ms = 200\n{text}");
    std::fs::write(path, text).expect("write host.toml");
}

/// The value of a series in the host's /metrics (found through its log line).
fn metric(stderr: &str, series: &str) -> Option<f64> {
    let url = events(stderr).iter().find_map(|e| {
        let m = e["message"].as_str()?;
        Some(m.split("http://").nth(1)?.to_owned())
    })?;
    let (_, body) = sonde_tests::http_get(&url, "/metrics").ok()?;
    body.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn sighup_applies_job_changes_and_refuses_a_bad_file() {
    let dir = common::scratch();
    let config = dir.path().join("host.toml");
    write(
        &config,
        &format!("{}{}", job("cpu", "cpu", 300), job("mem", "memory", 300)),
    );
    let cfg = config.display().to_string();
    let host = common::RunningHost::start(
        &dir.path().join("cache"),
        &[
            "--config",
            &cfg,
            "--log-format",
            "json",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
    );
    host.wait_for("runs of both jobs", Duration::from_secs(60), |msgs, _| {
        common::by_job(msgs, "cpu").len() >= 2 && common::by_job(msgs, "mem").len() >= 2
    });

    // mem removed, bw added, cpu unchanged but on other lines, a restart-only key changed.
    write(
        &config,
        &format!(
            "# reloaded\nmax_concurrency = 4\n\n{}{}",
            job("bw", "bandwidth", 300),
            job("cpu", "cpu", 300)
        ),
    );
    host.signal("HUP");
    host.wait_for(
        "the added job's runs",
        Duration::from_secs(60),
        |msgs, _| common::by_job(msgs, "bw").len() >= 2,
    );
    host.wait_for(
        "the removed job to stop",
        Duration::from_secs(30),
        |_, log| count(log, "job stopped", "mem") == 1,
    );
    let log = host.stderr();
    assert_eq!(
        count(&log, "job started", "cpu"),
        1,
        "cpu restarted:\n{log}"
    );
    assert_eq!(count(&log, "job stopped", "cpu"), 0, "cpu stopped:\n{log}");
    assert!(
        events(&log).iter().any(|e| e["level"] == "WARN"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("max_concurrency changed"))),
        "no restart-only warning:\n{log}"
    );
    let mem_runs = common::by_job(&host.messages(), "mem").len();

    // cpu's interval changes: only cpu restarts.
    write(
        &config,
        &format!("{}{}", job("bw", "bandwidth", 300), job("cpu", "cpu", 200)),
    );
    host.signal("HUP");
    host.wait_for("cpu to restart", Duration::from_secs(30), |_, log| {
        count(log, "job started", "cpu") == 2
    });
    assert_eq!(count(&host.stderr(), "job started", "bw"), 1);

    // A broken file: logged with its line, the running jobs go on.
    std::fs::write(&config, "[[job]]\nprobe = \"cpu\"\nintervall_ms = 5\n").expect("write");
    host.signal("HUP");
    host.wait_for("the refusal", Duration::from_secs(30), |_, log| {
        log.contains("the running configuration stays")
    });
    let log = host.stderr();
    assert!(
        log.contains("host.toml:3:") && log.contains("intervall_ms"),
        "{log}"
    );
    let before = common::by_job(&host.messages(), "cpu").len();
    host.wait_for("cpu to keep running", Duration::from_secs(30), |msgs, _| {
        common::by_job(msgs, "cpu").len() >= before + 3
    });
    assert_eq!(
        common::by_job(&host.messages(), "mem").len(),
        mem_runs,
        "mem came back"
    );
    let log = host.stderr();
    assert_eq!(
        metric(&log, "sonde_host_config_reloads_total{result=\"ok\"}"),
        Some(2.0)
    );
    assert_eq!(
        metric(&log, "sonde_host_config_reloads_total{result=\"error\"}"),
        Some(1.0)
    );
    assert_eq!(metric(&log, "sonde_host_jobs"), Some(2.0));
    // Fields of events are keys of their own, not text in the message.
    assert!(
        events(&log)
            .iter()
            .any(|e| e["message"] == "job started" && e["probe"] == "bandwidth"),
        "{log}"
    );
}
