//! `max_output_bytes`: what the host copies out of a probe in one call (a run's result,
//! `describe()`, a `log` message, `http.fetch` arguments) is bounded before it is copied.
//! Over the budget the run is an error (`output limit: ...`) and nothing of it is
//! published; the job's budget can be raised in host.toml.

mod common;

use std::time::Duration;

use sonde_message::RunStatus;

const OUTPUT_LIMIT: &str = "output limit: the probe passed more than max_output_bytes=";

fn job(name: &str, probe: &std::path::Path, extra: &str) -> String {
    format!(
        "[[job]]\nname = \"{name}\"\nprobe = \"{}\"\ninterval_ms = 1000\n{extra}\n",
        probe.display()
    )
}

/// Runs `jobs` until each named job has run three times; returns the host's peak RSS
/// (KiB) and the messages.
fn peak_rss_running(
    dir: &std::path::Path,
    jobs: &str,
    names: &[&str],
) -> (u64, Vec<sonde_message::RunMessage>) {
    let config = common::write_config(dir, jobs);
    let host = common::RunningHost::start(&dir.join("cache"), &["--config", &config]);
    host.wait_for(
        "three runs of each job",
        Duration::from_secs(90),
        |msgs, _| names.iter().all(|n| common::by_job(msgs, n).len() >= 3),
    );
    let peak = host.peak_rss_kib();
    let (_, msgs, _) = host.stop();
    (peak, msgs)
}

#[test]
fn aliased_sample_names_are_refused_without_the_host_copying_them() {
    let dir = common::scratch();
    let alias = common::wat_probe("alias-names", dir.path());
    let memory = common::probe("memory");

    let (baseline_kib, _) = peak_rss_running(dir.path(), &job("steady", &memory, ""), &["steady"]);
    let jobs = format!("{}{}", job("steady", &memory, ""), job("alias", &alias, ""));
    let (peak_kib, msgs) = peak_rss_running(dir.path(), &jobs, &["steady", "alias"]);

    let alias_runs = common::by_job(&msgs, "alias");
    for run in &alias_runs {
        assert_eq!(run.status, RunStatus::Error, "{run:?}");
        let err = run.error.as_deref().unwrap_or_default();
        assert!(
            err.starts_with(OUTPUT_LIMIT) && err.contains("=1048576 "),
            "{err}"
        );
        assert!(run.samples.is_empty());
    }
    assert!(common::by_job(&msgs, "steady")
        .iter()
        .all(|m| m.status == RunStatus::Ok));
    // 100 names of 1.2 MiB each would be 120 MiB lifted plus a 125 MB JSON line.
    eprintln!(
        "host peak RSS: {} KiB ({:.1} MiB) with the aliasing probe, {} KiB ({:.1} MiB) without it",
        peak_kib,
        peak_kib as f64 / 1024.0,
        baseline_kib,
        baseline_kib as f64 / 1024.0
    );
    assert!(
        peak_kib < baseline_kib + 64 * 1024,
        "host peak RSS {peak_kib} KiB vs {baseline_kib} KiB without the aliasing probe"
    );
}

/// `host --once` with `jobs`; the messages by job name, and stderr.
fn once(dir: &std::path::Path, jobs: &str) -> (Vec<sonde_message::RunMessage>, String) {
    let config = common::write_config(dir, jobs);
    let out = common::run_host(&dir.join("cache"), &["--once", "--config", &config]);
    (out.messages, out.stderr)
}

fn error_of<'a>(msgs: &'a [sonde_message::RunMessage], job: &str) -> &'a str {
    let runs = common::by_job(msgs, job);
    assert_eq!(runs.len(), 1, "{job}: {msgs:?}");
    runs[0].error.as_deref().unwrap_or_default()
}

#[test]
fn aliased_names_each_under_the_budget_count_together() {
    let dir = common::scratch();
    let alias = common::wat_probe("alias-small-names", dir.path());
    let jobs = [
        job("alias", &alias, ""),
        // Room for all 100 copies of the 64 KiB name: the same run passes the budget.
        job("alias-roomy", &alias, "max_output_bytes = 8388608"),
    ]
    .concat();
    let (msgs, stderr) = once(dir.path(), &jobs);
    assert!(
        error_of(&msgs, "alias").starts_with(OUTPUT_LIMIT),
        "{stderr}"
    );
    let roomy = error_of(&msgs, "alias-roomy");
    assert!(!roomy.starts_with("output limit"), "{roomy}");
}

#[test]
fn a_30_mib_sample_name_is_never_published() {
    let dir = common::scratch();
    let huge = common::wat_probe("huge-name", dir.path());
    let config = common::write_config(dir.path(), &job("huge", &huge, ""));
    let out = common::host_command(&dir.path().join("cache"))
        .args(["--once", "--config", &config])
        .output()
        .expect("run host");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.len() < 4096,
        "{} bytes on stdout: something of the name was published",
        stdout.len()
    );
    let msgs = common::decode_lines(&stdout);
    assert!(error_of(&msgs, "huge").starts_with(OUTPUT_LIMIT));
}

#[test]
fn log_and_fetch_arguments_over_the_budget_are_refused_before_the_call() {
    let dir = common::scratch();
    let log_bomb = common::test_probe("log-bomb");
    let fetch_bomb = common::test_probe("fetch-bomb");
    let jobs = [
        job("log", &log_bomb, ""),
        job("log-small", &log_bomb, "params = { bytes = \"100000\" }"),
        job("fetch", &fetch_bomb, ""),
        // Room for the request: the fetch is made and refused by the allow-list instead.
        job("fetch-roomy", &fetch_bomb, "max_output_bytes = 33554432"),
    ]
    .concat();
    let (msgs, stderr) = once(dir.path(), &jobs);
    assert!(error_of(&msgs, "log").starts_with(OUTPUT_LIMIT), "{stderr}");
    assert!(
        error_of(&msgs, "fetch").starts_with(OUTPUT_LIMIT),
        "{stderr}"
    );
    // Under the budget a long message is logged cut to 2 KiB, and the run is fine.
    let small = common::by_job(&msgs, "log-small");
    assert_eq!(small[0].status, RunStatus::Ok, "{:?}", small[0].error);
    let logged = stderr
        .lines()
        .find(|l| l.contains("log-small") && l.contains("probe: L"))
        .unwrap_or_else(|| panic!("no log line of log-small:\n{stderr}"));
    let ls = logged.chars().filter(|c| *c == 'L').count();
    assert!(
        (2048..2100).contains(&ls),
        "{ls} bytes of the message logged"
    );
    let roomy = error_of(&msgs, "fetch-roomy");
    assert!(roomy.contains("NotAllowed"), "{roomy}");
}

#[test]
fn describe_over_the_budget_is_refused_not_printed() {
    let dir = common::scratch();
    let bomb = common::wat_probe("describe-bomb", dir.path());
    let d = common::probes_describe(&dir.path().join("cache"), None, &bomb);
    d.assert_refused("describe() failed: output limit");
    assert!(d.stderr.len() < 4096, "{} bytes on stderr", d.stderr.len());
}
