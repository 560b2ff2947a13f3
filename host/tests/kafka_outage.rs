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
