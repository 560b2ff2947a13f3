//! `recorder --check-config` against the local stack: a good configuration passes; a wrong
//! PostgreSQL root certificate and a plain-text connection are refused with a clear line.

mod common;

use std::process::Output;

use common::*;

fn check(t: &Target, extra: &str) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("recorder.ini");
    std::fs::write(&path, ini(t, extra)).expect("write ini");
    recorder_command(&path)
        .arg("--check-config")
        .output()
        .expect("run recorder --check-config")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn check_config_passes_with_the_stack_settings() {
    let t = fresh_target("rec-check", 1).await;
    let out = check(&t, "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("configuration OK"), "{}", text(&out));
    assert!(text(&out).contains("VerifyFull"), "{}", text(&out));
}

#[tokio::test]
async fn a_wrong_root_certificate_is_refused() {
    let t = fresh_target("rec-wrongca", 1).await;
    let wrong = t.env.wrong_cert_dir().join("ca.pem");
    // The file's key would come after the common one: replace the line instead.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("recorder.ini");
    let good = t.env.pg_root_cert.display().to_string();
    let text_ini = ini(&t, "").replace(
        &format!("rootcertfile = {good}"),
        &format!("rootcertfile = {}", wrong.display()),
    );
    assert!(text_ini.contains(&wrong.display().to_string()));
    std::fs::write(&path, text_ini).expect("write ini");
    let out = recorder_command(&path)
        .arg("--check-config")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("certificate verify failed"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn a_plain_text_connection_is_refused_by_the_server() {
    let t = fresh_target("rec-nossl", 1).await;
    let out = check(&t, "postgres.sslmode = disable\n");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no encryption") || text(&out).contains("pg_hba"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_bad_key_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.ini");
    std::fs::write(&path, "[recorder]\nkafka.topic = t\npostgres.port = many\n").expect("write");
    let out = recorder_command(&path)
        .arg("--check-config")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.ini:3: key `postgres.port`"), "{err}");
}
