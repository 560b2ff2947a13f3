//! The README's quick start, run as written: the `host` command of its first code block
//! (the `cargo run ... --` part is the binary this test runs) on the built probes prints a
//! reading from each of the four bundled probes, and the output the README shows has the
//! lines the command prints today.
//!
//! Also the issue that motivated it: `host --once --probes ...` shows the bandwidth probe
//! on its very first run.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

/// The README's quick start: its first ```sh block and the ```text block after it.
fn quick_start() -> (String, String) {
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).expect("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Quick start"))
        .expect("README has a `## Quick start` section");
    let block = |fence: &str, after: usize| -> (String, usize) {
        let start = section[after..]
            .find(fence)
            .map(|i| after + i + fence.len())
            .unwrap_or_else(|| panic!("no {fence} block in the quick start"));
        let end = start + section[start..].find("\n```").expect("unterminated block");
        (section[start..end].to_string(), end)
    };
    let (commands, end) = block("```sh\n", 0);
    let (output, _) = block("```text\n", end);
    (commands, output)
}

/// The arguments after `cargo run ... --` in the quick start's commands (comment cut off).
fn host_args(commands: &str) -> Vec<String> {
    let line = commands
        .lines()
        .find(|l| l.starts_with("cargo run") && l.contains("-p sonde-host"))
        .expect("a `cargo run ... -p sonde-host -- ...` line in the quick start");
    let (_, args) = line
        .split_once(" -- ")
        .expect("`--` before the host's arguments");
    let args = args.split(" #").next().unwrap_or_default();
    args.split_whitespace().map(str::to_owned).collect()
}

/// (job, metric) of each pretty line: its first two words.
fn jobs_and_metrics(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect()
}

#[test]
fn the_readme_quick_start_prints_a_reading_from_each_bundled_probe() {
    for probe in ["cpu", "memory", "bandwidth", "http-check"] {
        common::probe(probe);
    }
    let (commands, shown) = quick_start();
    let args = host_args(&commands);
    assert!(
        args.iter().any(|a| a == "--once"),
        "the quick start runs the probes once: {args:?}"
    );
    let cache = common::scratch();
    let out = Command::new(env!("CARGO_BIN_EXE_host"))
        .args(&args)
        .current_dir(common::repo_root())
        // Only where compiled components go, so the test leaves the user's cache alone.
        .env("SONDE_CACHE_DIR", cache.path())
        .env_remove("KAFKA_SERVER")
        .output()
        .expect("run host");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "host {args:?} failed:\n{stdout}\n{stderr}"
    );

    let printed = jobs_and_metrics(&stdout);
    let reading_of =
        |job: &str, metric: &str| printed.contains(&(job.to_string(), metric.to_string()));
    for (job, metric) in [
        ("cpu", "system.cpu.utilization"),
        ("memory", "system.memory.usage"),
        ("bandwidth", "system.network.io"),
        ("example.com", "sonde.http.check.up"),
    ] {
        assert!(
            reading_of(job, metric),
            "no {job} {metric} line in:\n{stdout}"
        );
    }
    assert!(!stdout.contains("error:"), "a run failed:\n{stdout}");

    let shown = jobs_and_metrics(&shown);
    assert!(!shown.is_empty(), "the quick start shows no output");
    let stale: Vec<_> = shown.difference(&printed).collect();
    assert!(
        stale.is_empty(),
        "the README shows lines the command no longer prints: {stale:?}\nit prints:\n{stdout}"
    );
}

#[test]
fn once_shows_bandwidth_on_its_first_run() {
    let cache = common::scratch();
    let stdout = common::host_stdout(
        cache.path(),
        [
            "--once".into(),
            "--probes".into(),
            common::probe("cpu").into_os_string(),
            common::probe("memory").into_os_string(),
            common::probe("bandwidth").into_os_string(),
        ],
    );
    let runs = common::decode_lines(&stdout);
    let probes: BTreeSet<&str> = runs
        .iter()
        .filter(|r| !r.samples.is_empty())
        .map(|r| r.probe.as_str())
        .collect();
    assert_eq!(probes, ["bandwidth", "cpu", "memory"].into(), "{stdout}");
    let bandwidth = runs
        .iter()
        .find(|r| r.probe == "bandwidth")
        .expect("bandwidth run");
    assert!(
        bandwidth
            .samples
            .iter()
            .any(|s| s.name == "system.network.io"
                && s.labels.get("interface").map(String::as_str) == Some("lo")),
        "{bandwidth:?}"
    );
}

#[test]
fn pretty_output_is_refused_when_runs_go_to_kafka() {
    let cache = common::scratch();
    let memory = common::probe("memory");
    let out = common::run_host(
        cache.path(),
        &[
            "--once",
            "--format",
            "pretty",
            "--kafka-brokers",
            "127.0.0.1:1",
            "--probes",
            &memory.display().to_string(),
        ],
    );
    assert!(!out.success);
    assert!(out.messages.is_empty());
    assert!(
        out.stderr
            .contains("--format pretty prints runs on stdout, but a Kafka broker is configured"),
        "{}",
        out.stderr
    );
}
