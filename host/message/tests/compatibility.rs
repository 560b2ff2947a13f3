//! Old and new hosts against old and new recorders, by the rule of docs/message-format.md.
//!
//! "Old host": the wire forms earlier hosts wrote, kept as fixtures. "Old recorder": the
//! decoder before the rule, which refused any field it did not know (kept here as
//! [`OldRunMessage`], field for field). "New": this crate.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sonde_message::{decode, DecodeError, RunMessage};

const ORIGINAL: &str = include_str!("fixtures/v1-original.json");
const DROPPED_NON_FINITE: &str = include_str!("fixtures/v1-dropped-non-finite.json");
const WITH_SHA: &str = include_str!("fixtures/v1-component-sha256.json");
const FUTURE: &str = include_str!("fixtures/v1-future-fields.json");
const BREAKING: &str = include_str!("fixtures/v2-breaking.json");

const SHA: &str = "b15946829886ddf705e08eddd4cd41ca6480206781ffa14ab678fbfbff837542";

/// The message as recorders before the rule decoded it: unknown fields refused.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OldRunMessage {
    v: u32,
    run_id: uuid::Uuid,
    host: String,
    probe: String,
    probe_version: String,
    job: String,
    started_at: DateTime<Utc>,
    duration_us: u64,
    status: String,
    error: Option<String>,
    #[serde(default)]
    samples: Vec<OldSample>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OldSample {
    name: String,
    value: f64,
    unit: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

fn old_decode(payload: &str) -> Result<OldRunMessage, serde_json::Error> {
    serde_json::from_str(payload)
}

fn now() -> DateTime<Utc> {
    "2026-11-22T20:00:01Z".parse().unwrap()
}

#[test]
fn old_host_to_new_recorder() {
    for fixture in [ORIGINAL, DROPPED_NON_FINITE] {
        let m = decode(fixture.as_bytes(), now()).unwrap();
        assert_eq!(m.component_sha256, None);
        assert_eq!(m.samples.len(), 1);
    }
}

#[test]
fn old_host_to_old_recorder() {
    old_decode(ORIGINAL).unwrap();
}

#[test]
fn new_host_to_new_recorder() {
    let m = decode(WITH_SHA.as_bytes(), now()).unwrap();
    assert_eq!(m.component_sha256.as_deref(), Some(SHA));
    let again = decode(&m.encode(), now()).unwrap();
    assert_eq!(again, m);
}

#[test]
fn a_message_without_optional_fields_keeps_the_original_wire_form() {
    // What a new host writes when it has no sha256 to give is what old recorders read.
    let m = decode(ORIGINAL.as_bytes(), now()).unwrap();
    let written: serde_json::Value = serde_json::from_slice(&m.encode()).unwrap();
    let original: serde_json::Value = serde_json::from_str(ORIGINAL).unwrap();
    assert_eq!(written, original);
    old_decode(&String::from_utf8(m.encode()).unwrap()).unwrap();
}

#[test]
fn new_host_to_old_recorder_is_why_recorders_upgrade_first() {
    let err = old_decode(WITH_SHA).unwrap_err().to_string();
    assert!(err.contains("unknown field `component_sha256`"), "{err}");
}

#[test]
fn future_fields_are_ignored_by_the_new_recorder() {
    let m = decode(FUTURE.as_bytes(), now()).unwrap();
    assert_eq!(m.component_sha256.as_deref(), Some(SHA));
    assert_eq!(m.samples[0].labels["state"], "user");
    // Re-encoded, only the fields this version knows remain.
    let text = String::from_utf8(m.encode()).unwrap();
    assert!(
        !text.contains("region") && !text.contains("exemplar"),
        "{text}"
    );
}

#[test]
fn a_breaking_change_takes_a_new_version_and_is_refused_with_the_reason() {
    match decode(BREAKING.as_bytes(), now()) {
        Err(DecodeError::Version { found }) => assert_eq!(found, "2"),
        other => panic!("expected a version refusal, got {other:?}"),
    }
}

#[test]
fn known_fields_stay_strict() {
    let bad_sha = [
        "abc".to_string(),
        SHA.to_uppercase(),
        format!("{}g", &SHA[..63]),
        format!("{SHA}00"),
    ];
    for sha in bad_sha {
        let payload = WITH_SHA.replace(SHA, &sha);
        let err = decode(payload.as_bytes(), now()).unwrap_err().to_string();
        assert!(err.contains("component_sha256"), "{sha}: {err}");
    }
    let wrong_type = WITH_SHA.replace(&format!("\"{SHA}\""), "42");
    assert!(decode(wrong_type.as_bytes(), now()).is_err());
    let mut m: RunMessage = serde_json::from_str(ORIGINAL).unwrap();
    m.samples[0].value = f64::INFINITY;
    assert!(decode(&m.encode(), now()).is_err());
}
