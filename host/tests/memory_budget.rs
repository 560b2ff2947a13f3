//! One memory budget per probe: `max_memory_bytes` bounds the sum of every linear memory
//! and table of a component's core instances, and the number of instances, memories and
//! tables is capped, so splitting memory over many instances gains nothing.

mod common;

use sonde_message::RunStatus;

#[test]
fn four_instances_growing_48_mib_each_break_the_64_mib_budget() {
    let dir = common::scratch();
    let wasm = common::wat_probe("four-memories", dir.path());
    let config = common::write_config(
        dir.path(),
        &format!(
            "[[job]]\nname = \"default\"\nprobe = \"{p}\"\n\n\
             [[job]]\nname = \"roomy\"\nprobe = \"{p}\"\nmax_memory_bytes = 268435456\n",
            p = wasm.display()
        ),
    );
    let out = common::run_host(&dir.path().join("cache"), &["--once", "--config", &config]);
    let default = common::by_job(&out.messages, "default");
    assert_eq!(default.len(), 1, "{}", out.stderr);
    assert_eq!(default[0].status, RunStatus::Error);
    let err = default[0].error.as_deref().unwrap_or_default();
    assert!(
        err.starts_with("memory limit: linear memories and tables would grow to ")
            && err.ends_with("> max_memory_bytes=67108864"),
        "{err}"
    );
    // The same component with room for all four memories runs.
    let roomy = common::by_job(&out.messages, "roomy");
    assert_eq!(roomy[0].status, RunStatus::Ok, "{:?}", roomy[0].error);
}

#[test]
fn memories_declared_at_48_mib_each_do_not_even_load() {
    let dir = common::scratch();
    let wasm = common::wat_probe("four-memories-static", dir.path());
    let d = common::probes_describe(&dir.path().join("cache"), None, &wasm);
    d.assert_refused(
        "instantiation failed: memory limit: linear memories and tables would grow to",
    );
    d.assert_refused("> max_memory_bytes=67108864");
}

#[test]
fn instance_memory_and_table_counts_are_capped() {
    let dir = common::scratch();
    for (fixture, text) in [
        ("many-instances", "instance count too high"),
        ("many-memories", "memory count too high"),
        ("many-tables", "table count too high"),
    ] {
        let wasm = common::wat_probe(fixture, dir.path());
        let d = common::probes_describe(&dir.path().join("cache"), None, &wasm);
        d.assert_refused("instantiation failed: memory limit: resource limit exceeded: ");
        d.assert_refused(text);
    }
}
