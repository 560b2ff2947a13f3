//! TLS by default on both of the recorder's connections, checked with `--check-config`
//! against the local stack. "The system's trusted CAs" are made to hold the stack's CA
//! with `SSL_CERT_FILE` (OpenSSL's own override of its default locations), and to lack it
//! by removing that variable: the stack CA is in no system store.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

const SYSTEM_CA_VARS: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

fn without_system_ca() -> Vec<(&'static str, Option<&'static Path>)> {
    SYSTEM_CA_VARS.iter().map(|v| (*v, None)).collect()
}

fn with_system_ca(ca: &Path) -> Vec<(&'static str, Option<&Path>)> {
    vec![("SSL_CERT_FILE", Some(ca)), ("SSL_CERT_DIR", None)]
}

/// `ini_text` names no CA file for one end: it must fail verification while the system
/// store lacks `ca` and pass once it holds it. Returns the passing run's output.
fn verified_against_the_system_store(ini_text: &str, ca: &Path) -> String {
    let refused = check_config(ini_text, &without_system_ca());
    assert!(!refused.ok, "trusted a CA in no store:\n{}", refused.text);
    assert!(
        refused.text.contains("certificate verify failed"),
        "{}",
        refused.text
    );
    let passed = check_config(ini_text, &with_system_ca(ca));
    assert!(passed.ok, "{}", passed.text);
    passed.text
}

fn loud_warnings(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains("!!! ")).collect()
}

#[tokio::test]
async fn kafka_without_a_ca_file_uses_tls_and_the_system_cas() {
    let t = fresh_target("tls-kafka-system", 1).await;
    let ini_text = ini_with(&t, &[("kafka.ssl.cafile", None)], "");
    let text = verified_against_the_system_store(&ini_text, &t.env.kafka_ca);
    assert!(text.contains("security.protocol ssl"), "{text}");
    assert_eq!(loud_warnings(&text), Vec::<&str>::new());
}

#[tokio::test]
async fn plaintext_kafka_only_when_asked_and_then_loudly() {
    let t = fresh_target("tls-kafka-plain", 1).await;
    let plain =
        t.env.kafka_plain.clone().expect(
            "SONDE_KAFKA_PLAIN (the broker's plaintext listener) is not set: run `just up`",
        );
    let to_plain = [("kafka.bootstrap_servers", Some(plain.as_str()))];
    let checked = check_config(&ini_with(&t, &to_plain, ""), &[]);
    assert!(
        !checked.ok,
        "TLS client got through to the plaintext listener:\n{}",
        checked.text
    );
    for ask in [
        "kafka.security_protocol = plaintext\n",
        "kafka.option.security.protocol = plaintext\n",
    ] {
        let checked = check_config(&ini_with(&t, &to_plain, ask), &[]);
        // The local broker advertises only its TLS address: the plaintext bootstrap
        // connection works, but librdkafka may then send the metadata request to the
        // advertised address in plaintext and be reset there. Either outcome shows the
        // plaintext listener accepted the recorder; a TLS client (above) it did not.
        // librdkafka names the advertised broker `host:port/id`, or `host:port:` when the
        // reset reaches it through the group coordinator.
        let brokers = &t.env.kafka_brokers;
        if checked.ok {
            assert!(
                checked.text.contains("security.protocol plaintext"),
                "{}",
                checked.text
            );
        } else {
            assert!(
                checked.text.contains(&format!("{brokers}/"))
                    || checked.text.contains(&format!("{brokers}: ")),
                "{ask}{}",
                checked.text
            );
        }
        let loud = loud_warnings(&checked.text);
        assert!(
            loud.len() == 1 && loud[0].contains("not encrypted"),
            "{ask}{}",
            checked.text
        );
    }
}

#[tokio::test]
async fn every_kafka_option_that_weakens_tls_is_loud() {
    let t = fresh_target("tls-kafka-weak", 1).await;
    let extra = "kafka.option.enable.ssl.certificate.verification = false\n\
                 kafka.option.ssl.endpoint.identification.algorithm = none\n";
    let checked = check_config(&ini(&t, extra), &[]);
    assert!(checked.ok, "{}", checked.text);
    let loud = loud_warnings(&checked.text);
    assert_eq!(loud.len(), 2, "{}", checked.text);
    assert!(
        loud[0].contains("certificate.verification")
            || loud[1].contains("certificate.verification")
    );
}

#[tokio::test]
async fn postgres_without_a_root_file_is_verify_full_against_the_system_cas() {
    let t = fresh_target("tls-pg-system", 1).await;
    let ini_text = ini_with(&t, &[("postgres.ssl.rootcertfile", None)], "");
    let text = verified_against_the_system_store(&ini_text, &t.env.pg_root_cert);
    assert!(text.contains("sslmode VerifyFull"), "{text}");
}

#[tokio::test]
async fn a_root_file_is_the_only_root_trusted() {
    let t = fresh_target("tls-pg-root-only", 1).await;
    let wrong = t.env.wrong_cert_dir().join("ca.pem");
    for mode in ["verify-ca", "verify-full"] {
        // The right CA is in the "system" store; the file names an unrelated one.
        let checked = check_config(
            &ini_with(
                &t,
                &[("postgres.ssl.rootcertfile", wrong.to_str())],
                &format!("postgres.sslmode = {mode}\n"),
            ),
            &with_system_ca(&t.env.pg_root_cert),
        );
        assert!(
            !checked.ok,
            "{mode} fell back to the system CAs:\n{}",
            checked.text
        );
        assert!(
            checked.text.contains("certificate verify failed"),
            "{mode}: {}",
            checked.text
        );
    }
}

#[tokio::test]
async fn require_works_only_when_asked_and_loudly() {
    let t = fresh_target("tls-pg-require", 1).await;
    let checked = check_config(
        &ini_with(
            &t,
            &[("postgres.ssl.rootcertfile", None)],
            "postgres.sslmode = require\n",
        ),
        &without_system_ca(),
    );
    assert!(checked.ok, "{}", checked.text);
    let loud = loud_warnings(&checked.text);
    assert!(
        loud.len() == 1 && loud[0].contains("NOT verified"),
        "{}",
        checked.text
    );
}

#[tokio::test]
async fn secret_files_readable_by_others_are_named_with_their_mode() {
    let t = fresh_target("tls-secret-modes", 1).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("service.key");
    let password = dir.path().join("password");
    std::fs::copy(t.env.recorder_cert_dir.join("service.key"), &key).expect("copy key");
    std::fs::copy(&t.env.pg_password_file, &password).expect("copy password");
    let set_mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    set_mode(&key, 0o644);
    set_mode(&password, 0o640);
    let ini_text = ini_with(
        &t,
        &[
            ("kafka.ssl.keyfile", key.to_str()),
            ("postgres.passwordfile", password.to_str()),
        ],
        "",
    );
    let checked = check_config(&ini_text, &[]);
    assert!(checked.ok, "{}", checked.text);
    for (path, mode) in [(&key, "0644"), (&password, "0640")] {
        assert!(
            checked
                .text
                .lines()
                .any(|l| l.contains(&path.display().to_string()) && l.contains(mode)),
            "no warning naming {} and {mode}:\n{}",
            path.display(),
            checked.text
        );
    }
    set_mode(&key, 0o600);
    set_mode(&password, 0o600);
    let checked = check_config(&ini_text, &[]);
    assert!(checked.ok, "{}", checked.text);
    assert!(!checked.text.contains(" has mode "), "{}", checked.text);
}
