//! One host runs components of both contract versions it implements: the four probes as
//! built against `sonde:probe@0.1.0` (committed fixtures, `tests/fixtures/wit-0.1.0/`)
//! next to the `load`, `disk` and `filesystem` probes that call what 0.2.0 added, and
//! `host probes list` tells them apart.

mod common;
#[path = "http_capability/test_server.rs"]
mod test_server;

use std::path::PathBuf;

use common::sample_value as value;
use sonde_message::{RunMessage, RunStatus};
use test_server::{response, Reply, TestServer};

fn fixture(name: &str) -> PathBuf {
    let path = common::repo_root()
        .join("tests/fixtures/wit-0.1.0")
        .join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

fn proc_secs(file: &str, field: usize) -> f64 {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    text.split_whitespace()
        .nth(field)
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("no field {field} in {file}: {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn fixtures_built_against_0_1_0_and_the_new_probes_run_in_one_host() {
    let page = response("200 OK", "", b"sonde");
    let server = TestServer::start(Reply::Fixed(page)).await;
    let url = server.url("http", "/");

    let dir = common::scratch();
    let mut config = String::new();
    for name in ["cpu", "memory", "bandwidth"] {
        config += &format!(
            "[[job]]\nname = \"old-{name}\"\nprobe = {:?}\n\n",
            fixture(name).display().to_string()
        );
    }
    config += &format!(
        "[[job]]\nname = \"old-http-check\"\nprobe = {:?}\nparams = {{ url = {url:?}, regex = \"s.nde\" }}\nallow_http = [{url:?}]\n\n",
        fixture("http-check").display().to_string()
    );
    for name in ["load", "disk", "filesystem", "cpu"] {
        config += &format!(
            "[[job]]\nname = \"new-{name}\"\nprobe = {:?}\n\n",
            common::probe(name).display().to_string()
        );
    }
    let config_path = dir.path().join("host.toml");
    std::fs::write(&config_path, config).expect("write host.toml");

    let uptime_before = proc_secs("/proc/uptime", 0);
    let cache = dir.path().join("cache");
    let args = [
        "--config".to_string(),
        config_path.display().to_string(),
        "--once".into(),
    ];
    let finished = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::run_host(&cache, &args)
    })
    .await
    .expect("host run");
    let uptime_after = proc_secs("/proc/uptime", 0);
    assert!(finished.success, "{}", finished.stderr);

    let run = |job: &str| -> &RunMessage {
        let run = finished
            .messages
            .iter()
            .find(|m| m.job == job)
            .unwrap_or_else(|| panic!("no run of {job}; log:\n{}", finished.stderr));
        assert_eq!(run.status, RunStatus::Ok, "{job}: {:?}", run.error);
        run
    };

    // The old components call 0.1.0's imports and get the same readings.
    let old_cpu = run("old-cpu");
    let user = value(
        old_cpu,
        "system.cpu.utilization",
        &[("cpu", "total"), ("state", "user")],
    );
    assert!((0.0..=1.0).contains(&user), "{user}");
    let mem_total_kib = proc_secs("/proc/meminfo", 1);
    let limit = value(run("old-memory"), "system.memory.limit", &[]);
    assert_eq!(limit, mem_total_kib * 1024.0, "MemTotal");
    let lo = [("interface", "lo"), ("direction", "receive")];
    assert!(value(run("old-bandwidth"), "system.network.io", &lo) >= 0.0);
    let old_http = run("old-http-check");
    assert_eq!(value(old_http, "sonde.http.check.up", &[]), 1.0);
    assert_eq!(value(old_http, "sonde.http.check.regex_match", &[]), 1.0);

    // The new probes, on what 0.2.0 added.
    let load = run("new-load");
    let uptime = value(load, "system.uptime", &[]);
    assert!(
        uptime_before - 0.01 <= uptime && uptime <= uptime_after + 0.01,
        "uptime {uptime} not within [{uptime_before}, {uptime_after}]"
    );
    for window in ["1m", "5m", "15m"] {
        let v = value(load, &format!("system.cpu.load_average.{window}"), &[]);
        assert!(v.is_finite() && v >= 0.0, "{window}: {v}");
    }

    let fs = run("new-filesystem");
    let root = [("mountpoint", "/")];
    let total = value(fs, "system.filesystem.limit", &root);
    let states: f64 = ["used", "free", "reserved"]
        .iter()
        .map(|s| {
            value(
                fs,
                "system.filesystem.usage",
                &[("mountpoint", "/"), ("state", s)],
            )
        })
        .sum();
    assert_eq!(states, total, "used + free + reserved is the size of /");
    let share = value(fs, "system.filesystem.utilization", &root);
    assert!((0.0..=1.0).contains(&share), "{share}");
    assert!(
        fs.samples
            .iter()
            .all(|s| s.labels.get("type").map(String::as_str) != Some("proc")),
        "kernel interfaces are left out"
    );

    // Every block device that did any I/O and is not a loop or ram device is reported.
    let disk = run("new-disk");
    let diskstats = std::fs::read_to_string("/proc/diskstats").expect("/proc/diskstats");
    let busy: Vec<&str> = diskstats
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = *f.get(2)?;
            let active = f.iter().skip(3).take(10).any(|c| *c != "0");
            (active && !name.starts_with("loop") && !name.starts_with("ram")).then_some(name)
        })
        .collect();
    assert!(
        !busy.is_empty(),
        "this machine has no active block device:\n{diskstats}"
    );
    for device in busy {
        let read = [("device", device), ("direction", "read")];
        assert!(value(disk, "system.disk.operations", &read) >= 0.0);
        assert!(value(disk, "system.disk.io_time", &[("device", device)]) >= 0.0);
    }

    let new_cpu = run("new-cpu");
    assert_eq!(
        new_cpu.samples.len(),
        old_cpu.samples.len(),
        "same report from both builds"
    );
}

#[test]
fn probes_list_shows_contract_version_language_and_size() {
    let dir = common::scratch();
    let listed = common::host_stdout(
        dir.path(),
        [
            "probes".to_string(),
            "list".into(),
            fixture("cpu").display().to_string(),
            common::probe("cpu").display().to_string(),
            common::probe("filesystem").display().to_string(),
        ],
    );
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 4, "{listed}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header[..6],
        ["NAME", "VERSION", "WIT", "LANGUAGE", "SIZE", "FILE"],
        "{listed}"
    );
    let row = |file: &PathBuf| -> Vec<&str> {
        let shown = file.display().to_string();
        lines
            .iter()
            .find(|l| l.contains(&shown))
            .unwrap_or_else(|| panic!("{shown} not in:\n{listed}"))
            .split_whitespace()
            .collect()
    };
    let kib = |file: &PathBuf| {
        let bytes = std::fs::metadata(file).expect("size").len();
        format!("{:.1}", bytes as f64 / 1024.0)
    };
    for (file, contract) in [
        (fixture("cpu"), "0.1.0"),
        (common::probe("cpu"), "0.2.0"),
        (common::probe("filesystem"), "0.2.0"),
    ] {
        let cells = row(&file);
        assert_eq!(cells[2], contract, "{listed}");
        assert_eq!(cells[3], "Rust", "{listed}");
        assert_eq!(
            (cells[4], cells[5]),
            (kib(&file).as_str(), "KiB"),
            "{listed}"
        );
        assert!(
            cells[7..].contains(&"wit-bindgen-rust"),
            "the producers section names the bindings generator: {listed}"
        );
    }
}
