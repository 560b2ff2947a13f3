//! `recorder --check-config` against the local stack, the failures one meets setting a
//! recorder up: an unreachable broker, a TLS failure, a wrong key password, a missing or
//! wrong PostgreSQL password. Each exits 1 with one line saying which end failed and why.

mod common;

use common::*;
use openssl::pkey::PKey;
use openssl::symm::Cipher;

fn refused(checked: &Checked, needles: &[&str]) {
    assert!(!checked.ok, "check passed:\n{}", checked.text);
    let line = checked
        .text
        .lines()
        .find(|l| l.starts_with("recorder: "))
        .unwrap_or_else(|| panic!("no `recorder:` error line:\n{}", checked.text));
    for needle in needles {
        assert!(line.contains(needle), "{needle:?} not in {line:?}");
    }
}

#[tokio::test]
async fn an_unreachable_broker_is_named() {
    let t = fresh_target("check-unreachable", 1).await;
    let port = sonde_tests::free_port();
    let broker = format!("127.0.0.1:{port}");
    let checked = check_config(
        &ini_with(&t, &[("kafka.bootstrap_servers", Some(&broker))], ""),
        &[],
    );
    refused(
        &checked,
        &[&format!("Kafka {broker}"), "Connection refused"],
    );
}

#[tokio::test]
async fn a_broker_certificate_from_another_ca_is_a_tls_failure() {
    let t = fresh_target("check-kafka-ca", 1).await;
    let wrong = t.env.wrong_cert_dir().join("ca.pem");
    let checked = check_config(
        &ini_with(&t, &[("kafka.ssl.cafile", wrong.to_str())], ""),
        &[],
    );
    refused(
        &checked,
        &[
            &format!("Kafka {}", t.env.kafka_brokers),
            "certificate verify failed",
        ],
    );
}

#[tokio::test]
async fn a_client_key_with_the_wrong_password_is_refused_and_the_right_one_works() {
    let t = fresh_target("check-key-pw", 1).await;
    let certs = tempfile::tempdir().expect("temp dir");
    let pem = std::fs::read(t.env.recorder_cert_dir.join("service.key")).expect("stack key");
    let key = PKey::private_key_from_pem(&pem).expect("stack key parses");
    let encrypted = key
        .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"right horse")
        .expect("encrypt key");
    let key_path = certs.path().join("service.key");
    std::fs::write(&key_path, encrypted).expect("write key");
    let with_password = |password: &str| {
        ini_with(
            &t,
            &[("kafka.ssl.keyfile", key_path.to_str())],
            &format!("kafka.option.ssl.key.password = {password}\n"),
        )
    };
    let checked = check_config(&with_password("wrong horse"), &[]);
    refused(&checked, &["Kafka", "ssl.key"]);
    let checked = check_config(&with_password("right horse"), &[]);
    assert!(checked.ok, "{}", checked.text);
}

#[tokio::test]
async fn a_missing_password_file_is_named() {
    let t = fresh_target("check-pw-missing", 1).await;
    let checked = check_config(
        &ini_with(
            &t,
            &[("postgres.passwordfile", Some("/nonexistent/pg-password"))],
            "",
        ),
        &[],
    );
    refused(
        &checked,
        &[
            "postgres.passwordfile /nonexistent/pg-password",
            "cannot read",
        ],
    );
}

#[tokio::test]
async fn a_wrong_postgres_password_is_named() {
    let t = fresh_target("check-pw-wrong", 1).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("password");
    std::fs::write(&file, "not-the-password\n").expect("write password");
    let checked = check_config(
        &ini_with(&t, &[("postgres.passwordfile", file.to_str())], ""),
        &[],
    );
    refused(&checked, &["PostgreSQL", "password authentication failed"]);
}
