//! The local stack does what every other test relies on: mutual TLS to the broker and
//! nothing less, SSL-only PostgreSQL with verify-full. If the stack is down these fail
//! with "local stack not running: run `just up`".

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openssl::ssl::{SslConnector, SslFiletype, SslMethod};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sonde_tests::{
    create_topic, kafka_client_config, pg_config, pg_connect, test_consumer_config, unique_topic,
    verify_full_tls, Env, PrivateBroker, PrivatePostgres,
};
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

/// Guards against a hang only; nothing here asserts on time.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// What librdkafka reports through its log and error callbacks: TLS failures show up
/// there, while the requests themselves only fail with "transport failure".
#[derive(Clone, Default)]
struct Reports(Arc<Mutex<Vec<String>>>);

impl Reports {
    fn push(&self, line: String) {
        if let Ok(mut lines) = self.0.lock() {
            lines.push(line);
        }
    }
    fn joined(&self) -> String {
        self.0
            .lock()
            .map(|lines| lines.join("\n"))
            .unwrap_or_default()
    }
}

impl ClientContext for Reports {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.push(format!("{fac}: {log_message}"));
    }
    fn error(&self, error: KafkaError, reason: &str) {
        self.push(format!("{error}: {reason}"));
    }
}

/// Sends one message with `config` and waits until librdkafka reports a line containing
/// one of `expected`. Panics if the message is delivered (the client was not refused) or
/// if no such report comes.
async fn assert_refused(config: &ClientConfig, topic: &str, expected: &[&str]) {
    let reports = Reports::default();
    let producer: FutureProducer<Reports> = config
        .clone()
        .set("message.timeout.ms", "30000")
        .create_with_context(reports.clone())
        .expect("client config is valid");
    let mut delivery = Box::pin(producer.send(
        FutureRecord::to(topic).key("k").payload("must not arrive"),
        Duration::from_secs(0),
    ));
    let mut delivery_pending = true;
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        let text = reports.joined();
        if expected.iter().any(|e| text.contains(e)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not refused with any of {expected:?}; librdkafka reported:\n{text}"
        );
        tokio::select! {
            result = &mut delivery, if delivery_pending => {
                delivery_pending = false;
                assert!(result.is_err(), "broker accepted a message from a client it must refuse");
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

/// TLS client settings with the CA `ca` and, optionally, the client cert in `cert_dir`.
fn tls_config(env: &Env, ca: &Path, cert_dir: Option<&Path>) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &env.kafka_brokers)
        .set("security.protocol", "ssl")
        .set("ssl.ca.location", path(ca))
        .set("reconnect.backoff.max.ms", "1000");
    if let Some(dir) = cert_dir {
        config
            .set("ssl.certificate.location", path(&dir.join("service.cert")))
            .set("ssl.key.location", path(&dir.join("service.key")));
    }
    config
}

fn path(p: &Path) -> &str {
    p.to_str().expect("stack paths are UTF-8")
}

#[tokio::test]
async fn tls_client_with_cert_produces_and_consumes() {
    let env = Env::load();
    let topic = unique_topic("stack-roundtrip");
    create_topic(&env, &topic, 2).await;

    let producer: FutureProducer = kafka_client_config(&env, &env.host_cert_dir)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer config is valid");
    let payloads = ["one", "two", "three"];
    for p in payloads {
        let record = FutureRecord::to(&topic).key("host/probe").payload(p);
        if let Err((e, _)) = producer.send(record, HANG_GUARD).await {
            panic!("producing to {topic} over TLS failed: {e}");
        }
    }

    let consumer: StreamConsumer =
        test_consumer_config(&env, &env.recorder_cert_dir, &unique_topic("stack-group"))
            .create()
            .expect("consumer config is valid");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut received = Vec::new();
    while received.len() < payloads.len() {
        let message = tokio::time::timeout(HANG_GUARD, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("no message on {topic} after {HANG_GUARD:?}; got {received:?}")
            })
            .expect("consume over TLS");
        assert_eq!(message.key(), Some(&b"host/probe"[..]));
        received.push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned());
    }
    received.sort();
    let mut expected: Vec<String> = payloads.iter().map(|p| p.to_string()).collect();
    expected.sort();
    assert_eq!(received, expected);
}

#[tokio::test]
async fn kafka_client_without_cert_is_refused() {
    let env = Env::load();
    let config = tls_config(&env, &env.kafka_ca, None);
    assert_refused(
        &config,
        &unique_topic("stack-nocert"),
        &["certificate required"],
    )
    .await;
}

#[tokio::test]
async fn kafka_client_trusting_an_unrelated_ca_refuses_the_broker() {
    let env = Env::load();
    let wrong = env.wrong_cert_dir().to_path_buf();
    let config = tls_config(&env, &wrong.join("ca.pem"), Some(&env.host_cert_dir));
    assert_refused(
        &config,
        &unique_topic("stack-wrongca"),
        &["certificate verify failed"],
    )
    .await;
}

#[tokio::test]
async fn kafka_client_with_cert_from_an_unrelated_ca_is_refused() {
    let env = Env::load();
    let config = tls_config(&env, &env.kafka_ca, Some(env.wrong_cert_dir()));
    // librdkafka withholds a cert the server's CA list does not name, so the front sees
    // no certificate; the raw TLS test below presents it anyway.
    assert_refused(
        &config,
        &unique_topic("stack-wrongcert"),
        &["certificate required", "unknown ca"],
    )
    .await;
}

#[test]
fn tls_front_rejects_a_presented_cert_from_an_unrelated_ca() {
    let env = Env::load();
    let wrong = env.wrong_cert_dir();
    let mut builder = SslConnector::builder(SslMethod::tls_client()).expect("openssl");
    builder.set_ca_file(&env.kafka_ca).expect("stack CA");
    builder
        .set_certificate_file(wrong.join("service.cert"), SslFiletype::PEM)
        .expect("wrong cert");
    builder
        .set_private_key_file(wrong.join("service.key"), SslFiletype::PEM)
        .expect("wrong key");
    let tcp = TcpStream::connect(&env.kafka_brokers)
        .unwrap_or_else(|e| panic!("cannot reach {}: {e} (run `just up`)", env.kafka_brokers));
    tcp.set_read_timeout(Some(HANG_GUARD))
        .expect("socket option");
    let mut tls = match builder.build().connect("localhost", tcp) {
        Ok(tls) => tls,
        Err(e) => panic!("the client side of the handshake should succeed: {e}"),
    };
    // In TLS 1.3 the server judges the client cert after the client considers the
    // handshake done: the refusal arrives as an alert on the first read. (Nothing is
    // written first: data arriving after the server closed would draw a reset that can
    // discard the alert.)
    let mut buf = [0u8; 1];
    let err = match tls.read(&mut buf) {
        Ok(n) => panic!("TLS front accepted a cert from an unrelated CA (read {n} bytes)"),
        Err(e) => format!("{e:?} / {e}"),
    };
    assert!(err.contains("unknown ca"), "unexpected failure: {err}");
}

#[tokio::test]
async fn postgres_over_ssl_with_verify_full_works() {
    let env = Env::load();
    let client = pg_connect(&env, &env.pg_database)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("query pg_stat_ssl");
    assert!(row.get::<_, bool>(0), "connection is not encrypted");
}

#[tokio::test]
async fn postgres_refuses_a_connection_without_ssl() {
    let env = Env::load();
    let mut config = pg_config(&env, &env.pg_database);
    config.ssl_mode(SslMode::Disable);
    let err = match config.connect(NoTls).await {
        Ok(_) => panic!("PostgreSQL accepted a connection without SSL"),
        Err(e) => e,
    };
    let db = err
        .as_db_error()
        .unwrap_or_else(|| panic!("expected a server refusal, got: {err}"));
    assert_eq!(
        db.code(),
        &SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
        "{db}"
    );
    assert!(
        db.message().contains("no encryption"),
        "unexpected refusal: {db}"
    );
}

#[tokio::test]
async fn postgres_with_an_unrelated_root_cert_is_refused() {
    let env = Env::load();
    let tls = verify_full_tls(&env.wrong_cert_dir().join("ca.pem")).expect("wrong CA loads");
    let err = match pg_config(&env, &env.pg_database).connect(tls).await {
        Ok(_) => panic!("client accepted a server cert not signed by the CA it trusts"),
        Err(e) => e,
    };
    let chain = format!("{err:?}");
    assert!(
        chain.contains("certificate verify failed"),
        "unexpected failure: {chain}"
    );
}

#[tokio::test]
async fn private_broker_front_stops_and_starts_without_losing_data() {
    let env = Env::load();
    let broker = PrivateBroker::start();
    let env = broker.env(&env);
    let topic = unique_topic("stack-private");
    create_topic(&env, &topic, 1).await;
    let producer: FutureProducer = kafka_client_config(&env, &env.host_cert_dir)
        .create()
        .expect("producer config is valid");
    let record = FutureRecord::to(&topic)
        .key("k")
        .payload("before the outage");
    if let Err((e, _)) = producer.send(record, HANG_GUARD).await {
        panic!("producing to the private broker failed: {e}");
    }

    broker.front_stop();
    let refused = TcpStream::connect(broker.brokers());
    assert!(refused.is_err(), "TLS front still accepts after front_stop");
    broker.front_start();

    let consumer: StreamConsumer = test_consumer_config(
        &env,
        &env.recorder_cert_dir,
        &unique_topic("stack-private-group"),
    )
    .create()
    .expect("consumer config is valid");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let message = tokio::time::timeout(HANG_GUARD, consumer.recv())
        .await
        .expect("message produced before the outage is still there")
        .expect("consume from the private broker");
    assert_eq!(message.payload(), Some(&b"before the outage"[..]));
}

#[tokio::test]
async fn private_postgres_restart_cuts_connections_and_keeps_data() {
    let env = Env::load();
    let pg = PrivatePostgres::start();
    let env = pg.env(&env);
    let client = pg_connect(&env, &env.pg_database)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    client
        .batch_execute("CREATE TABLE drill (v int); INSERT INTO drill VALUES (42);")
        .await
        .expect("write to the private cluster");

    pg.restart();
    assert!(
        client.query_one("SELECT 1", &[]).await.is_err(),
        "old connection survived a restart"
    );

    let client = pg_connect(&env, &env.pg_database)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let row = client
        .query_one("SELECT v FROM drill", &[])
        .await
        .expect("read after restart");
    assert_eq!(row.get::<_, i32>(0), 42);
}
