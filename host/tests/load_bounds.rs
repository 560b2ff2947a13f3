//! Loading untrusted code is bounded: the file by `max_component_bytes`, compilation by
//! `compile_timeout_ms`, instantiation (start functions included) plus `describe()` by
//! `describe_timeout_ms` in wall time, also while the guest is blocked in a host call.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

/// `host [--config CONFIG] probes describe FILE`: (success, stderr, how long it took).
fn describe(dir: &Path, config: Option<&str>, wasm: &Path) -> (bool, String, Duration) {
    let mut cmd = common::host_command(&dir.join("cache"));
    if let Some(config) = config {
        cmd.args(["--config", config]);
    }
    let started = Instant::now();
    let out = cmd
        .args(["probes", "describe"])
        .arg(wasm)
        .output()
        .expect("run host");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn a_describe_sleeping_in_a_host_call_ends_at_the_describe_timeout() {
    let dir = common::scratch();
    let wasm = common::test_probe("sleepy-describe");
    let (ok, stderr, took) = describe(dir.path(), None, &wasm);
    eprintln!("`host probes describe` of a sleeping describe(): {took:?}");
    assert!(!ok);
    assert!(
        stderr.contains(
            "describe() failed: timeout: instantiation and describe() did not finish within describe_timeout_ms=5000"
        ),
        "{stderr}"
    );
    // The probe sleeps for an hour; the command ends at the 5 s deadline (plus start-up
    // and compilation).
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn a_start_function_sleeping_in_a_host_call_ends_at_the_describe_timeout() {
    let dir = common::scratch();
    let wasm = common::wat_probe("sleepy-start", dir.path());
    let config = common::write_config(dir.path(), "describe_timeout_ms = 1000\n");
    let (ok, stderr, took) = describe(dir.path(), Some(&config), &wasm);
    eprintln!("`host probes describe` of a sleeping start function: {took:?}");
    assert!(!ok);
    assert!(
        stderr.contains("instantiation failed: timeout: instantiation and describe() did not finish within describe_timeout_ms=1000"),
        "{stderr}"
    );
}

#[test]
fn oversized_components_are_not_read() {
    let dir = common::scratch();
    // A sparse 40 MiB file: refused from its size, before anything is read.
    let big = dir.path().join("big.wasm");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(40 << 20))
        .expect("create a sparse file");
    let (ok, stderr, _) = describe(dir.path(), None, &big);
    assert!(!ok);
    assert!(
        stderr.contains("the component is 41943040 bytes > max_component_bytes=33554432"),
        "{stderr}"
    );
    // The limit is a host.toml key.
    let config = common::write_config(dir.path(), "max_component_bytes = 1000\n");
    let (ok, stderr, _) = describe(dir.path(), Some(&config), &common::probe("memory"));
    assert!(!ok);
    assert!(
        stderr.contains("bytes > max_component_bytes=1000"),
        "{stderr}"
    );
}

#[test]
fn compilation_past_its_budget_fails_the_load() {
    let dir = common::scratch();
    // A fresh cache: the probe must be compiled, which takes longer than 1 ms.
    let config = common::write_config(dir.path(), "compile_timeout_ms = 1\n");
    let (ok, stderr, _) = describe(dir.path(), Some(&config), &common::probe("cpu"));
    assert!(!ok);
    assert!(
        stderr.contains("compiling took longer than compile_timeout_ms=1; not loaded"),
        "{stderr}"
    );
    // Nothing of the abandoned compile was cached.
    let cached = std::fs::read_dir(dir.path().join("cache"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(cached, 0, "an abandoned compile was cached");
}
