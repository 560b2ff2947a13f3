//! Loading untrusted code is bounded: the file by `max_component_bytes`, compilation by
//! `compile_timeout_ms`, instantiation (start functions included) plus `describe()` by
//! `describe_timeout_ms` in wall time, also while the guest is blocked in a host call.

mod common;

use std::path::Path;
use std::time::Duration;

fn describe(dir: &Path, config: Option<&str>, wasm: &Path) -> common::Described {
    common::probes_describe(&dir.join("cache"), config, wasm)
}

#[test]
fn a_describe_sleeping_in_a_host_call_ends_at_the_describe_timeout() {
    let dir = common::scratch();
    let wasm = common::test_probe("sleepy-describe");
    let d = describe(dir.path(), None, &wasm);
    let took = d.took;
    eprintln!("`host probes describe` of a sleeping describe(): {took:?}");
    d.assert_refused(
        "describe() failed: timeout: instantiation and describe() did not finish within describe_timeout_ms=5000",
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
    let d = describe(dir.path(), Some(&config), &wasm);
    eprintln!(
        "`host probes describe` of a sleeping start function: {:?}",
        d.took
    );
    d.assert_refused("instantiation failed: timeout: instantiation and describe() did not finish within describe_timeout_ms=1000");
}

#[test]
fn oversized_components_are_not_read() {
    let dir = common::scratch();
    // A sparse 40 MiB file: refused from its size, before anything is read.
    let big = dir.path().join("big.wasm");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(40 << 20))
        .expect("create a sparse file");
    describe(dir.path(), None, &big)
        .assert_refused("the component is 41943040 bytes > max_component_bytes=33554432");
    // The limit is a host.toml key.
    let config = common::write_config(dir.path(), "max_component_bytes = 1000\n");
    describe(dir.path(), Some(&config), &common::probe("memory"))
        .assert_refused("bytes > max_component_bytes=1000");
}

#[test]
fn compilation_past_its_budget_fails_the_load() {
    let dir = common::scratch();
    // A fresh cache: the probe must be compiled, which takes longer than 1 ms.
    let config = common::write_config(dir.path(), "compile_timeout_ms = 1\n");
    describe(dir.path(), Some(&config), &common::probe("cpu"))
        .assert_refused("compiling took longer than compile_timeout_ms=1; not loaded");
    // Nothing of the abandoned compile was cached.
    let cached = std::fs::read_dir(dir.path().join("cache"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(cached, 0, "an abandoned compile was cached");
}
