//! The Kafka sink against the local mutual-TLS broker (`just up`): runs arrive and decode,
//! in order per key; a wrong CA or plaintext is refused and the runs stay spooled.

mod kafka_support;

use std::time::Duration;

use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::ClientConfig;
use sonde_host::kafka::{KafkaArgs, KafkaSink};
use sonde_host::output::Sink;
use sonde_tests::{create_topic, kafka_client_config, unique_topic, Env};

use kafka_support::*;

#[test]
fn runs_arrive_decoded_in_order_per_key() {
    let env = Env::load();
    let topic = unique_topic("host-delivery");
    block_on(create_topic(&env, &topic, 3));
    let spool = tempfile::tempdir().unwrap();
    let sink = KafkaSink::start(&settings(
        &env.kafka_brokers,
        &env.host_cert_dir,
        &topic,
        spool.path(),
    ))
    .unwrap();
    let mut published = Vec::new();
    for seq in 0..40 {
        let msg = numbered_run("web-1", ["cpu", "memory"][seq as usize % 2], seq);
        published.push(msg.run_id);
        sink.publish(msg);
    }
    sink.shutdown(Duration::from_secs(60)).unwrap();
    assert_eq!(
        sink.pending(),
        0,
        "everything acknowledged by the broker before shutdown returned"
    );

    let got = consume(&env, &topic, published.len(), Duration::from_secs(60));
    let (counts, per_key) = tally(&got);
    assert_each_arrived_once(&counts, &published);
    assert_eq!(per_key.len(), 2);
    assert_ordered_per_key(&per_key);
}

#[test]
fn host_with_wrong_ca_logs_the_tls_failure_and_keeps_runs_spooled() {
    capture_logs();
    let env = Env::load();
    let topic = unique_topic("host-wrong-ca");
    let spool = tempfile::tempdir().unwrap();
    let wrong_ca = env.wrong_cert_dir().join("ca.pem");
    let args = KafkaArgs {
        brokers: Some(env.kafka_brokers.clone()),
        topic: Some(topic.clone()),
        cert_dir: Some(env.host_cert_dir.clone()),
        kafka_ca: Some(wrong_ca.clone()),
        spool_dir: Some(spool.path().to_owned()),
        ..Default::default()
    };
    let settings = sonde_host::kafka::Settings::resolve(&args, None)
        .unwrap()
        .unwrap();
    let sink = KafkaSink::start(&settings).unwrap();
    for seq in 0..5 {
        sink.publish(numbered_run("web-1", "cpu", seq));
    }
    let ca = wrong_ca.display().to_string();
    wait_until(
        "the TLS failure in the log",
        Duration::from_secs(60),
        || {
            logs()
                .lines()
                .any(|l| l.contains("TLS handshake with Kafka broker failed") && l.contains(&ca))
        },
    );
    assert_eq!(sink.pending(), 5, "runs wait in the spool");
    sink.shutdown(Duration::ZERO).unwrap();
    drop(sink);
    // The spool kept them for the next start.
    let (_, recovery) =
        sonde_host::kafka::spool::Spool::open(spool.path(), 1 << 30, 1 << 20).unwrap();
    assert_eq!(recovery.pending, 5);
}

#[test]
fn plaintext_client_is_refused_by_the_tls_port() {
    let env = Env::load();
    // The port is up and speaks TLS to a client with a certificate...
    std::net::TcpStream::connect(&env.kafka_brokers)
        .unwrap_or_else(|e| panic!("nothing listens on {}: {e}", env.kafka_brokers));
    let tls: BaseProducer = kafka_client_config(&env, &env.host_cert_dir)
        .create()
        .unwrap();
    tls.client()
        .fetch_metadata(None, Duration::from_secs(30))
        .unwrap_or_else(|e| {
            panic!(
                "a TLS client got no metadata from {}: {e}",
                env.kafka_brokers
            )
        });
    // ...and gives a plaintext client nothing.
    let plain: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &env.kafka_brokers)
        .set("security.protocol", "plaintext")
        .create()
        .unwrap();
    let metadata = plain.client().fetch_metadata(None, Duration::from_secs(5));
    assert!(
        metadata.is_err(),
        "a plaintext client got metadata from the TLS port {}",
        env.kafka_brokers
    );
}

#[test]
fn missing_key_file_fails_at_start_naming_the_file() {
    let env = Env::load();
    let certs = tempfile::tempdir().unwrap();
    for f in ["ca.pem", "service.cert"] {
        std::fs::copy(env.host_cert_dir.join(f), certs.path().join(f)).unwrap();
    }
    let args = KafkaArgs {
        brokers: Some(env.kafka_brokers.clone()),
        cert_dir: Some(certs.path().to_owned()),
        ..Default::default()
    };
    let err = match sonde_host::kafka::start(&args, None, None) {
        Ok(_) => panic!("started without a key file"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains(&certs.path().join("service.key").display().to_string()),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn tls_weakenings_and_a_readable_key_are_logged_at_start() {
    use std::os::unix::fs::PermissionsExt;
    capture_logs();
    let env = Env::load();
    let certs = tempfile::tempdir().expect("temp dir for certificates");
    for f in ["ca.pem", "service.cert", "service.key"] {
        std::fs::copy(env.host_cert_dir.join(f), certs.path().join(f))
            .expect("copy a stack certificate");
    }
    let key = certs.path().join("service.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod the key");
    let spool = tempfile::tempdir().expect("temp spool dir");
    let mut s = settings(&env.kafka_brokers, certs.path(), "unused", spool.path());
    s.options.push((
        "ssl.endpoint.identification.algorithm".into(),
        "none".into(),
    ));
    let sink = KafkaSink::start(&s).expect("a weakened TLS setting still starts");
    sink.shutdown(Duration::ZERO).expect("shutdown");
    let logs = logs();
    assert!(
        logs.lines().any(|l| l.contains(
            "!!! Kafka option `ssl.endpoint.identification.algorithm=none`: the Kafka brokers' host names are NOT checked"
        )),
        "{logs}"
    );
    assert!(
        logs.lines()
            .any(|l| l.contains(&key.display().to_string()) && l.contains("mode 0644")),
        "{logs}"
    );
}
