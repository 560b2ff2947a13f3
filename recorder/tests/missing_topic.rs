//! A recorder whose topic does not exist says so once, naming the topic and what to do,
//! and says again when the topic appears (the real broker over mutual TLS).

mod common;

use std::time::Duration;

use common::*;
use sonde_recorder::topic_watch::CHECK_INTERVAL;

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_topic_is_reported_once_and_its_arrival_too() {
    let env = sonde_tests::Env::load();
    let topic = sonde_tests::unique_topic("rec-missing");
    let t = Target {
        database: sonde_tests::create_test_database(&env).await,
        group: format!("{topic}-group"),
        topic,
        env,
    };
    let recorder = Recorder::start(&t, "");
    let warning = format!("Kafka topic {} does not exist on", t.topic);
    recorder.wait_for_log(&warning).await;
    let log = recorder.log();
    assert!(
        log.contains("set kafka.topic (or --topic) to the topic your hosts use"),
        "{log}"
    );
    // Two more checks while the topic is still missing: no second warning.
    tokio::time::sleep(CHECK_INTERVAL * 2 + Duration::from_secs(1)).await;
    assert_eq!(
        recorder.log().matches(&warning).count(),
        1,
        "{}",
        recorder.log()
    );

    sonde_tests::create_topic(&t.env, &t.topic, 1).await;
    recorder
        .wait_for_log(&format!("Kafka topic {} now exists", t.topic))
        .await;

    // And what is published to it is recorded.
    let runs = make_runs(3, 2);
    produce(&producer(&t.env), &t.topic, &encoded(&runs)).await;
    let db = sonde_tests::pg_connect(&t.env, &t.database)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    wait_for_count(&db, "SELECT count(*) FROM probe_run", 3).await;
    assert_eq!(recorder.log().matches(&warning).count(), 1);
}
