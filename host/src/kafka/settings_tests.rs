use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};

use super::*;

/// A cert dir with a self-signed certificate standing in for all three files.
fn cert_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "test").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build().to_pem().unwrap();
    std::fs::write(dir.path().join(CERT_DIR_CA), &cert).unwrap();
    std::fs::write(dir.path().join(CERT_DIR_CERT), &cert).unwrap();
    std::fs::write(
        dir.path().join(CERT_DIR_KEY),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    dir
}

fn args(brokers: &str, dir: &Path) -> KafkaArgs {
    KafkaArgs {
        brokers: Some(brokers.into()),
        cert_dir: Some(dir.to_owned()),
        ..Default::default()
    }
}

fn get(c: &ClientConfig, key: &str) -> Option<String> {
    c.get(key).map(str::to_owned)
}

#[test]
fn no_broker_means_no_kafka() {
    assert_eq!(Settings::resolve(&KafkaArgs::default(), None), Ok(None));
}

#[test]
fn cert_dir_layout_and_defaults() {
    let dir = cert_dir();
    let s = Settings::resolve(&args("b:9093", dir.path()), None)
        .unwrap()
        .unwrap();
    assert_eq!(s.topic, DEFAULT_TOPIC);
    assert_eq!(s.tls.ca, Some(dir.path().join("ca.pem")));
    assert_eq!(
        s.tls.client,
        Some((
            dir.path().join("service.cert"),
            dir.path().join("service.key")
        ))
    );
    assert_eq!(s.spool_max_bytes, DEFAULT_SPOOL_MAX_BYTES);
    let c = s.client_config();
    assert_eq!(get(&c, "security.protocol").as_deref(), Some("ssl"));
    assert_eq!(
        get(&c, "ssl.endpoint.identification.algorithm").as_deref(),
        Some("https")
    );
    assert_eq!(get(&c, "enable.idempotence").as_deref(), Some("true"));
    assert_eq!(get(&c, "acks").as_deref(), Some("all"));
    assert_eq!(get(&c, "compression.type").as_deref(), Some("lz4"));
}

#[test]
fn flags_win_over_toml() {
    let dir = cert_dir();
    let toml = KafkaToml {
        brokers: Some("from-toml:1".into()),
        topic: Some("toml.topic".into()),
        spool_max_bytes: Some(5),
        options: [("linger.ms".to_string(), "50".to_string())].into(),
        ..Default::default()
    };
    let mut a = args("from-flag:2", dir.path());
    a.topic = Some("flag.topic".into());
    a.options = vec!["linger.ms=1".into()];
    let s = Settings::resolve(&a, Some(&toml)).unwrap().unwrap();
    assert_eq!(
        (s.brokers.as_str(), s.topic.as_str(), s.spool_max_bytes),
        ("from-flag:2", "flag.topic", 5)
    );
    assert_eq!(get(&s.client_config(), "linger.ms").as_deref(), Some("1"));
}

#[test]
fn toml_alone_configures_kafka() {
    let dir = cert_dir();
    let toml = KafkaToml {
        brokers: Some("t:1".into()),
        cert_dir: Some(dir.path().to_owned()),
        ..Default::default()
    };
    let s = Settings::resolve(&KafkaArgs::default(), Some(&toml))
        .unwrap()
        .unwrap();
    assert_eq!(s.brokers, "t:1");
    assert!(s.tls.client.is_some());
}

#[test]
fn insecure_skip_verify_turns_verification_off() {
    let dir = cert_dir();
    let mut a = args("b:1", dir.path());
    a.kafka_insecure_skip_verify = true;
    let c = Settings::resolve(&a, None)
        .unwrap()
        .unwrap()
        .client_config();
    assert_eq!(
        get(&c, "enable.ssl.certificate.verification").as_deref(),
        Some("false")
    );
    assert_eq!(
        get(&c, "ssl.endpoint.identification.algorithm").as_deref(),
        Some("none")
    );
}

#[test]
fn bad_option_syntax_names_the_option() {
    let dir = cert_dir();
    for bad in ["linger.ms", "=5"] {
        let mut a = args("b:1", dir.path());
        a.options = vec![bad.into()];
        let err = Settings::resolve(&a, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("--kafka-option `{bad}` is not KEY=VALUE")
        );
    }
    assert_eq!(parse_option("a=b=c"), Ok(("a".into(), "b=c".into())));
}

#[test]
fn missing_key_file_names_the_file() {
    let dir = cert_dir();
    std::fs::remove_file(dir.path().join(CERT_DIR_KEY)).unwrap();
    let err = Settings::resolve(&args("b:1", dir.path()), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Kafka client key") && err.contains("service.key"),
        "{err}"
    );
    assert!(!err.contains('\n'));
}

#[test]
fn garbage_ca_file_names_the_file() {
    let dir = cert_dir();
    std::fs::write(dir.path().join(CERT_DIR_CA), "not a certificate").unwrap();
    let err = Settings::resolve(&args("b:1", dir.path()), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Kafka CA file")
            && err.contains("ca.pem")
            && err.contains("no PEM certificate"),
        "{err}"
    );
}

#[test]
fn certificate_without_key_is_refused() {
    let dir = cert_dir();
    let a = KafkaArgs {
        brokers: Some("b:1".into()),
        kafka_cert: Some(dir.path().join(CERT_DIR_CERT)),
        ..Default::default()
    };
    assert_eq!(
        Settings::resolve(&a, None),
        Err(SettingsError::HalfClientCert("--kafka-cert", "--kafka-key"))
    );
}

#[test]
fn every_tls_weakening_is_warned_about_alike() {
    use std::os::unix::fs::PermissionsExt;
    let dir = cert_dir();
    let key = dir.path().join(CERT_DIR_KEY);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let plain = Settings::resolve(&args("b:1", dir.path()), None)
        .unwrap()
        .unwrap();
    assert_eq!(plain.warnings(), Vec::<String>::new());

    let mut a = args("b:1", dir.path());
    a.kafka_insecure_skip_verify = true;
    a.options = vec![
        "security.protocol=plaintext".into(),
        "enable.ssl.certificate.verification=false".into(),
        "ssl.endpoint.identification.algorithm=none".into(),
        "linger.ms=0".into(),
    ];
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let warnings = Settings::resolve(&a, None).unwrap().unwrap().warnings();
    let loud: Vec<&String> = warnings.iter().filter(|w| w.starts_with("!!! ")).collect();
    assert_eq!(loud.len(), 4, "{warnings:#?}");
    for option in ["security.protocol", "enable.ssl", "identification"] {
        assert!(
            loud.iter().any(|w| w.contains(option)),
            "{option}: {warnings:#?}"
        );
    }
    let mode = warnings
        .iter()
        .find(|w| w.contains("mode 0640"))
        .unwrap_or_else(|| panic!("no key mode warning: {warnings:#?}"));
    assert!(mode.contains(&key.display().to_string()), "{mode}");
}

#[test]
fn spool_dir_defaults_to_a_state_directory_never_the_working_directory() {
    let dir = cert_dir();
    let s = Settings::resolve(&args("b:1", dir.path()), None)
        .unwrap()
        .unwrap();
    assert!(s.spool_dir.is_absolute(), "{}", s.spool_dir.display());
    assert!(s.spool_dir.ends_with("sonde/spool") || s.spool_dir.ends_with("spool"));
    assert_eq!(s.spool_dir, location::default_dir_here().unwrap());
}
