//! Hostile probes are contained: each breaks a limit (or tries to), its runs are reported
//! as errors, its instance is replaced, and a well-behaved job alongside keeps running.

mod common;

use std::time::Duration;

use sonde_message::RunStatus;

#[test]
fn hostile_probes_are_stopped_and_reported_while_a_steady_job_keeps_running() {
    let dir = common::scratch();
    let p = |path: std::path::PathBuf| path.display().to_string();
    let config = format!(
        r#"
max_concurrency = 16
# The steady job runs faster than the default floor, to show it is not held up.
min_interval_ms = 200

[[job]]
name = "steady"
probe = "{memory}"
interval_ms = 200

[[job]]
name = "spin"
probe = "{spin}"
interval_ms = 1000
timeout_ms = 500

[[job]]
name = "membomb"
probe = "{membomb}"
interval_ms = 1000
max_memory_bytes = 67108864

[[job]]
name = "trap"
probe = "{trap}"
interval_ms = 1000

# Room in memory, time and output for a million samples, so it is max_samples that stops it.
[[job]]
name = "flood"
probe = "{flood}"
interval_ms = 1000
timeout_ms = 60000
max_memory_bytes = 1073741824
max_output_bytes = 268435456
max_samples = 10000

# The same flood under the default output budget never reaches the host.
[[job]]
name = "flood-default"
probe = "{flood}"
interval_ms = 1000
timeout_ms = 60000
max_memory_bytes = 1073741824

[[job]]
name = "sleepy-run"
probe = "{sleepy_run}"
interval_ms = 1000
timeout_ms = 500

[[job]]
name = "log-bomb"
probe = "{log_bomb}"
interval_ms = 1000

[[job]]
name = "fetch-bomb"
probe = "{fetch_bomb}"
interval_ms = 1000

[[job]]
name = "alias-names"
probe = "{alias_names}"
interval_ms = 1000

[[job]]
name = "four-memories"
probe = "{four_memories}"
interval_ms = 1000

[[job]]
name = "sneaky"
probe = "{sneaky}"
interval_ms = 1000
params = {{ url = "http://127.0.0.1:9/elsewhere" }}
allow_http = ["http://127.0.0.1:9/only-this"]
"#,
        memory = p(common::probe("memory")),
        spin = p(common::test_probe("spin")),
        membomb = p(common::test_probe("membomb")),
        trap = p(common::test_probe("trap")),
        flood = p(common::test_probe("flood")),
        sneaky = p(common::test_probe("sneaky-fetch")),
        sleepy_run = p(common::test_probe("sleepy-run")),
        log_bomb = p(common::test_probe("log-bomb")),
        fetch_bomb = p(common::test_probe("fetch-bomb")),
        alias_names = p(common::wat_probe("alias-names", dir.path())),
        four_memories = p(common::wat_probe("four-memories", dir.path())),
    );
    let config_path = dir.path().join("host.toml");
    std::fs::write(&config_path, config).expect("write host.toml");
    let cache = dir.path().join("cache");
    let host =
        common::RunningHost::start(&cache, &["--config", &config_path.display().to_string()]);
    let hostile = [
        "spin",
        "membomb",
        "trap",
        "flood",
        "flood-default",
        "sneaky",
        "sleepy-run",
        "log-bomb",
        "fetch-bomb",
        "alias-names",
        "four-memories",
    ];
    host.wait_for(
        "two runs of every hostile job",
        Duration::from_secs(120),
        |msgs, _| hostile.iter().all(|j| common::by_job(msgs, j).len() >= 2),
    );
    let (_, msgs, log) = host.stop();

    let expect = [
        ("spin", "timeout: run exceeded timeout_ms=500"),
        ("membomb", "memory limit: "),
        ("trap", "trap: "),
        ("flood", "too many samples: 1000000 > max_samples=10000"),
        ("sneaky", "not allowed (not-allowed)"),
        ("sleepy-run", "timeout: run exceeded timeout_ms=500"),
        ("flood-default", "output limit: "),
        ("log-bomb", "output limit: "),
        ("fetch-bomb", "output limit: "),
        ("alias-names", "output limit: "),
        ("four-memories", "memory limit: "),
    ];
    for (job, text) in expect {
        let runs = common::by_job(&msgs, job);
        assert!(runs.len() >= 2, "{job}: {} runs; log:\n{log}", runs.len());
        for run in &runs {
            assert_eq!(run.status, RunStatus::Error, "{job} should fail: {run:?}");
            let err = run.error.as_deref().unwrap_or_default();
            assert!(
                err.contains(text),
                "{job}: error {err:?} should contain {text:?}"
            );
            assert!(run.samples.is_empty());
        }
    }
    // The steady job ran, successfully, while the hostile ones were failing.
    let hostile_runs: Vec<_> = msgs
        .iter()
        .filter(|m| hostile.contains(&m.job.as_str()))
        .collect();
    let first = hostile_runs
        .iter()
        .map(|m| m.started_at)
        .min()
        .expect("hostile runs");
    let last = hostile_runs
        .iter()
        .map(|m| m.started_at)
        .max()
        .expect("hostile runs");
    let steady: Vec<_> = common::by_job(&msgs, "steady")
        .into_iter()
        .filter(|m| m.started_at >= first && m.started_at <= last)
        .collect();
    assert!(
        steady.len() >= 3,
        "steady job ran {} times between the hostile runs; log:\n{log}",
        steady.len()
    );
    assert!(
        steady.iter().all(|m| m.status == RunStatus::Ok),
        "steady runs failed: {steady:?}"
    );
}
