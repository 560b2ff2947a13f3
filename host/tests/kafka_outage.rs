//! Outage drill: a private broker's TLS front is stopped for 30 s while a run is published
//! every second; once it is back, every run arrives exactly once and in order per key.

mod kafka_support;

use std::time::Duration;

use sonde_host::kafka::KafkaSink;
use sonde_host::output::Sink;
use sonde_tests::{create_topic, unique_topic, Env, PrivateBroker};

use kafka_support::*;

const OUTAGE_RUNS: u64 = 30;

#[test]
fn runs_published_during_an_outage_arrive_exactly_once_in_order() {
    capture_logs();
    let env = Env::load();
    let broker = PrivateBroker::start();
    let env = broker.env(&env);
    let topic = unique_topic("host-outage");
    block_on(create_topic(&env, &topic, 2));
    let spool = tempfile::tempdir().unwrap();
    let sink = KafkaSink::start(&settings(
        &env.kafka_brokers,
        &env.host_cert_dir,
        &topic,
        spool.path(),
    ))
    .unwrap();

    let mut published = Vec::new();
    let mut seq = 0;
    let mut publish_for = |sink: &KafkaSink, n: u64| {
        for _ in 0..n {
            let msg = numbered_run(
                "web-1",
                ["cpu", "memory", "bandwidth"][seq as usize % 3],
                seq,
            );
            published.push(msg.run_id);
            sink.publish(msg);
            seq += 1;
            std::thread::sleep(Duration::from_secs(1));
        }
    };
    publish_for(&sink, 3);
    wait_until("the first runs delivered", Duration::from_secs(60), || {
        sink.pending() == 0
    });

    broker.front_stop();
    // SONDE_TEST_OUTAGE_RUNS shortens the outage when investigating.
    let outage_runs = std::env::var("SONDE_TEST_OUTAGE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(OUTAGE_RUNS);
    publish_for(&sink, outage_runs);
    assert!(
        sink.pending() > 0,
        "runs published during the outage wait in the spool"
    );
    broker.front_start();
    publish_for(&sink, 3);
    sink.shutdown(Duration::from_secs(120)).unwrap();
    assert_eq!(
        sink.pending(),
        0,
        "spool drained after the broker came back"
    );

    let got = consume(&env, &topic, published.len(), Duration::from_secs(90));
    let (counts, per_key) = tally(&got);
    assert_each_arrived_once(&counts, &published);
    assert_eq!(got.len(), published.len(), "nothing else arrived");
    assert_ordered_per_key(&per_key);

    let logs = logs();
    let lines = |needle: &str| {
        logs.lines()
            .filter(|l| l.contains(needle) && l.contains(&env.kafka_brokers))
            .count()
    };
    assert_eq!(
        lines("broker unreachable, spooling"),
        1,
        "logged once per outage:\n{logs}"
    );
    assert!(logs.contains("broker reachable again, replaying"), "{logs}");
}

/// A run of job `job` (probe `cpu`) numbered `seq`.
fn job_run(job: &str, seq: u64) -> sonde_message::RunMessage {
    let mut msg = numbered_run("web-1", "cpu", seq);
    msg.job = job.into();
    msg
}

#[test]
fn a_flooding_job_cannot_push_out_another_jobs_runs_during_an_outage() {
    capture_logs();
    let env = Env::load();
    let broker = PrivateBroker::start();
    let env = broker.env(&env);
    let topic = unique_topic("host-flood");
    block_on(create_topic(&env, &topic, 2));
    let spool = tempfile::tempdir().unwrap();
    let mut s = settings(&env.kafka_brokers, &env.host_cert_dir, &topic, spool.path());
    // About 3,000 of these runs fit; the flood publishes 8,000.
    s.spool_max_bytes = 1 << 20;
    let sink = KafkaSink::start(&s).unwrap();

    broker.front_stop();
    let mut normal = Vec::new();
    for seq in 0..8_000 {
        sink.publish(job_run("flood", seq));
        if seq % 200 == 0 {
            let msg = job_run("steady", seq);
            normal.push(msg.run_id);
            sink.publish(msg);
        }
    }
    let dropped = sink.dropped();
    assert!(
        dropped > 4_000,
        "the flood was held back ({dropped} dropped)"
    );
    broker.front_start();
    sink.shutdown(Duration::from_secs(120)).unwrap();
    assert_eq!(sink.pending(), 0, "spool drained after the outage");

    let got = consume(
        &env,
        &topic,
        8_040 - dropped as usize,
        Duration::from_secs(120),
    );
    let (counts, _) = tally(&got);
    assert_each_arrived_once(&counts, &normal);
    let flood = got.iter().filter(|(_, m)| m.job == "flood").count() as u64;
    assert_eq!(
        flood + dropped,
        8_000,
        "every flood run arrived or was counted as dropped"
    );
    let logs = logs();
    assert_eq!(
        logs.lines()
            .filter(|l| l.contains("job `flood`") && l.contains("more than its share"))
            .count(),
        1,
        "logged once when the job went over its share:\n{logs}"
    );
}
