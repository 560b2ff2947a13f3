use std::collections::{BTreeMap, HashSet};

use chrono::Utc;
use sonde_message::{decode, Labels, RunMessage, RunStatus};

use super::*;

const SHAPE: Shape = Shape {
    cores: 4,
    http_checks: 3,
};

fn fleet() -> Fleet {
    Fleet::new(SHAPE, 20, 10.0, 7)
}

/// Every job's run of host 3, encoded and decoded as the recorder does.
fn decoded_runs(fleet: &mut Fleet) -> Vec<RunMessage> {
    SHAPE
        .jobs()
        .into_iter()
        .map(|job| {
            let msg = fleet.run(3, job, Utc::now());
            let back = decode(&msg.encode(), Utc::now()).unwrap_or_else(|e| panic!("{job:?}: {e}"));
            assert_eq!(back, msg, "{job:?} changed in the round trip");
            back
        })
        .collect()
}

fn values<'a>(run: &'a RunMessage, name: &str) -> Vec<(&'a Labels, f64)> {
    run.samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| (&s.labels, s.value))
        .collect()
}

#[test]
fn every_job_decodes_with_the_recorders_decoder_and_counts_as_declared() {
    let mut fleet = fleet();
    let runs = decoded_runs(&mut fleet);
    assert_eq!(runs.len(), 6);
    for (run, job) in runs.iter().zip(SHAPE.jobs()) {
        assert_eq!(run.samples.len() as u32, job.samples(&SHAPE), "{job:?}");
        assert_eq!(run.status, RunStatus::Ok);
        assert_eq!(run.host, "sim-00003");
        assert_eq!(run.probe, job.probe());
        assert_eq!(run.job, job.name());
        // Keyed as the host keys its runs: one host's runs of one probe stay in order.
        assert_eq!(run.key(), format!("sim-00003/{}", job.probe()));
        // One sample per series in a run, as the bundled probes give.
        let series: HashSet<_> = run.samples.iter().map(|s| (&s.name, &s.labels)).collect();
        assert_eq!(series.len(), run.samples.len(), "{job:?} repeats a series");
        assert!(
            run.samples
                .iter()
                .all(|s| s.value.is_finite() && s.value >= 0.0),
            "{job:?}"
        );
    }
    assert_eq!(SHAPE.samples_per_interval(), 40 + 8 + 24 + 3 * 8);
}

#[test]
fn cpu_states_of_each_cpu_sum_to_one_with_the_cpu_probes_labels() {
    let mut fleet = fleet();
    let cpu = &decoded_runs(&mut fleet)[0];
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    for (labels, v) in values(cpu, "system.cpu.utilization") {
        assert!(CPU_STATES.contains(&labels["state"].as_str()));
        *sums.entry(labels["cpu"].clone()).or_default() += v;
    }
    assert_eq!(
        sums.keys().collect::<Vec<_>>(),
        ["0", "1", "2", "3", "total"]
    );
    assert!(sums.values().all(|s| (s - 1.0).abs() < 1e-9), "{sums:?}");
}

#[test]
fn memory_states_add_up_to_the_limit() {
    let mut fleet = fleet();
    let memory = &decoded_runs(&mut fleet)[1];
    let limit = values(memory, "system.memory.limit")[0].1;
    let usage: f64 = values(memory, "system.memory.usage")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(usage, limit);
    let available = values(memory, "system.memory.linux.available")[0].1;
    assert!(available <= limit);
}

#[test]
fn network_counters_only_grow_and_rates_are_their_change_per_second() {
    let mut fleet = fleet();
    let first = fleet.run(5, Job::Bandwidth, Utc::now());
    let second = fleet.run(5, Job::Bandwidth, Utc::now());
    let counter = |run: &RunMessage, dir: &str| {
        values(run, "system.network.io")
            .into_iter()
            .find(|(l, _)| l["interface"] == "eth0" && l["direction"] == dir)
            .map(|(_, v)| v)
            .expect("eth0 bytes")
    };
    let rate = values(&second, "sonde.network.io.rate")
        .into_iter()
        .find(|(l, _)| l["interface"] == "eth0" && l["direction"] == "receive")
        .map(|(_, v)| v)
        .expect("eth0 rate");
    let grew = counter(&second, "receive") - counter(&first, "receive");
    assert!(grew > 0.0);
    assert!(
        (grew / 10.0 - rate).abs() < 1e-6,
        "{grew} over 10 s vs rate {rate}"
    );
    // Another host's counters are its own.
    let other = fleet.run(6, Job::Bandwidth, Utc::now());
    assert!(counter(&other, "receive") < counter(&second, "receive") + 5e7);
}

#[test]
fn http_checks_carry_their_url_and_phases() {
    let mut fleet = fleet();
    let runs = decoded_runs(&mut fleet);
    let urls: HashSet<_> = runs[3..]
        .iter()
        .map(|r| r.samples[0].labels["url"].clone())
        .collect();
    assert_eq!(urls.len(), 3, "each check of a host probes its own URL");
    for run in &runs[3..] {
        let phases: Vec<_> = values(run, "sonde.http.check.duration")
            .iter()
            .map(|(l, _)| l["phase"].clone())
            .collect();
        assert_eq!(phases, ["dns", "connect", "tls", "first_byte", "total"]);
        let up = values(run, "sonde.http.check.up")[0].1;
        assert!(up == 0.0 || up == 1.0);
    }
}

#[test]
fn the_same_seed_gives_the_same_values_and_fresh_run_ids() {
    let at = Utc::now();
    let a = Fleet::new(SHAPE, 2, 10.0, 9).run(1, Job::Cpu, at);
    let b = Fleet::new(SHAPE, 2, 10.0, 9).run(1, Job::Cpu, at);
    assert_eq!(a.samples, b.samples);
    assert_ne!(a.run_id, b.run_id);
    assert_eq!(component_sha256("cpu").len(), 64);
}
