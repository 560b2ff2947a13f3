use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "recorder.ini")
}

#[test]
fn defaults_match_the_seed_writer() {
    let c = parse("[writer]\n").unwrap();
    assert_eq!(c.kafka.bootstrap_servers, "localhost:9092");
    assert_eq!(c.kafka.topic, "aiven_monitor_measure");
    assert_eq!(c.kafka.connect_interval, Duration::from_secs(1));
    assert_eq!(c.kafka.ca_file, None);
    assert_eq!(c.kafka.security_protocol, SecurityProtocol::Ssl);
    assert_eq!(c.postgres.measure_table, "aiven_monitor_measure");
    assert_eq!(c.postgres.host, None);
    assert_eq!(c.postgres.port, 5432);
    assert_eq!(c.postgres.database, None);
    assert_eq!(c.postgres.user, None);
    assert_eq!(c.postgres.connect_interval, Duration::from_secs(1));
    assert_eq!(c.postgres.retention_days, 0);
    assert_eq!(c.postgres.sessions, 2);
    assert_eq!(c.kafka.group_id, "sonde-recorder");
    assert_eq!(c.subscription(), "aiven_monitor_measure");
}

#[test]
fn the_default_topic_is_the_hosts_except_in_a_seed_writer_file() {
    for text in [
        "",
        "[recorder]\n",
        "[recorder]\n[writer]\n",
        "[other]\nkafka.topic = x\n",
    ] {
        let c = parse(text).unwrap();
        assert_eq!(c.kafka.topic, sonde_message::DEFAULT_TOPIC, "{text:?}");
    }
    assert_eq!(sonde_message::DEFAULT_TOPIC, "sonde.measurements");
    let c = parse("[writer]\npostgres.port = 5433\n").unwrap();
    assert_eq!(c.kafka.topic, SEED_WRITER_TOPIC);
    let c = parse("[writer]\nkafka.topic = t\n").unwrap();
    assert_eq!(c.kafka.topic, "t");
    assert_eq!(Config::default().kafka.topic, "sonde.measurements");
}

#[test]
fn every_seed_key_is_read() {
    // (key, value, check)
    type Check = fn(&Config) -> bool;
    let cases: &[(&str, &str, Check)] = &[
        ("kafka.bootstrap_servers", "a:1,b:2", |c| {
            c.kafka.bootstrap_servers == "a:1,b:2"
        }),
        ("kafka.topic", "t1", |c| c.kafka.topic == "t1"),
        ("kafka.ssl.cafile", "/s/ca.pem", |c| {
            c.kafka.ca_file == Some("/s/ca.pem".into())
        }),
        ("kafka.ssl.certfile", "/s/c.pem", |c| {
            c.kafka.cert_file == Some("/s/c.pem".into())
        }),
        ("kafka.ssl.keyfile", "/s/k.pem", |c| {
            c.kafka.key_file == Some("/s/k.pem".into())
        }),
        ("kafka.connect_interval_secs", "2.5", |c| {
            c.kafka.connect_interval == Duration::from_millis(2500)
        }),
        ("postgres.measure_table", "metrics", |c| {
            c.postgres.measure_table == "metrics"
        }),
        ("postgres.host", "db.example", |c| {
            c.postgres.host.as_deref() == Some("db.example")
        }),
        ("postgres.port", "6543", |c| c.postgres.port == 6543),
        ("postgres.database", "mon", |c| {
            c.postgres.database.as_deref() == Some("mon")
        }),
        ("postgres.user", "writer", |c| {
            c.postgres.user.as_deref() == Some("writer")
        }),
        ("postgres.passwordfile", "/s/pw", |c| {
            c.postgres.password_file == Some("/s/pw".into())
        }),
        ("postgres.ssl.rootcertfile", "/s/root.pem", |c| {
            c.postgres.root_cert_file == Some("/s/root.pem".into())
        }),
        ("postgres.connect_interval_secs", "0.25", |c| {
            c.postgres.connect_interval == Duration::from_millis(250)
        }),
        ("kafka.group_id", "g", |c| c.kafka.group_id == "g"),
        ("kafka.security_protocol", "plaintext", |c| {
            c.kafka.security_protocol == SecurityProtocol::Plaintext
        }),
        ("kafka.topic_regex", "^sonde\\..*", |c| {
            c.subscription() == "^sonde\\..*"
        }),
        ("kafka.topic_prefix", "sonde.", |c| {
            c.subscription() == "^sonde\\..*"
        }),
        ("kafka.option.session.timeout.ms", "6000", |c| {
            c.kafka.options["session.timeout.ms"] == "6000"
        }),
        ("batch.max_rows", "10", |c| c.batch.max_rows == 10),
        ("batch.max_bytes", "4096", |c| c.batch.max_bytes == 4096),
        ("batch.max_delay_ms", "20", |c| {
            c.batch.max_delay == Duration::from_millis(20)
        }),
        ("postgres.sslmode", "verify-ca", |c| {
            c.postgres.sslmode == Some(SslMode::VerifyCa)
        }),
        ("postgres.retention_days", "30", |c| {
            c.postgres.retention_days == 30
        }),
        ("postgres.sessions", "1", |c| c.postgres.sessions == 1),
    ];
    for (key, value, check) in cases {
        for section in ["recorder", "writer"] {
            let text = format!("# comment\n[{section}]\n{key} = {value}\n");
            let c = parse(&text).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert!(check(&c), "{key} = {value} in [{section}] not applied");
        }
    }
}

#[test]
fn errors_name_key_and_line() {
    let cases = [
        (
            "[writer]\n\nkafka.nope = 1\n",
            "recorder.ini:3: key `kafka.nope`: unknown key",
        ),
        (
            "[writer]\npostgres.port = http\n",
            "recorder.ini:2: key `postgres.port`",
        ),
        (
            "[writer]\npostgres.port = 0\n",
            "expected an integer from 1 to 65535",
        ),
        (
            "[writer]\npostgres.sessions = 0\n",
            "recorder.ini:2: key `postgres.sessions`: expected an integer from 1 to 16",
        ),
        (
            "[writer]\nkafka.connect_interval_secs = -1\n",
            "key `kafka.connect_interval_secs`",
        ),
        (
            "[writer]\npostgres.sslmode = maybe\n",
            "expected disable, require",
        ),
        (
            "[writer]\npostgres.measure_table = a;drop\n",
            "SQL identifier",
        ),
        (
            "[writer]\nkafka.topic = a\nkafka.topic = b\n",
            "recorder.ini:3: key `kafka.topic`: set twice (first on line 2)",
        ),
        ("[writer\n", "recorder.ini:1: unterminated section header"),
        (
            "[writer]\njust words\n",
            "recorder.ini:2: expected `key = value`",
        ),
        ("[writer]\nbatch.max_rows = 0\n", "key `batch.max_rows`"),
        (
            "[writer]\nkafka.security_protocol = tls\n",
            "expected ssl or plaintext",
        ),
    ];
    for (text, want) in cases {
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
}

#[test]
fn other_sections_are_ignored_and_colon_works() {
    let c = parse("[other]\nwhatever = 1\n[recorder]\nkafka.topic: t\n; note\n").unwrap();
    assert_eq!(c.kafka.topic, "t");
}

#[test]
fn cross_key_checks() {
    let c = parse("[recorder]\nkafka.topic_regex = ^a\nkafka.topic_prefix = b\n").unwrap();
    assert!(c.validate().unwrap_err().contains("either"));
    let c = parse("[recorder]\npostgres.sslmode = verify-ca\n").unwrap();
    assert!(c.validate().unwrap_err().contains("rootcertfile"));
    let c = parse("[recorder]\npostgres.sslmode = verify-full\n").unwrap();
    assert_eq!(c.validate(), Ok(()), "verify-full against the system's CAs");
    let c = parse("[recorder]\nkafka.ssl.certfile = c\n").unwrap();
    assert!(c.validate().is_err());
}

#[test]
fn metrics_addr_is_off_by_default_and_checked() {
    assert_eq!(parse("").unwrap().metrics_addr, None);
    let c = parse("[recorder]\nmetrics.addr = 127.0.0.1:9465\n").unwrap();
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9465".parse().unwrap()));
    let err = parse("[recorder]\nmetrics.addr = localhost\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("recorder.ini:2: key `metrics.addr`: expected an IP address and port"),
        "{err}"
    );
}
