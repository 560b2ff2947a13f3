//! The message format shared by the host (producer) and the recorder (consumer).
//!
//! One Kafka message is one probe run, encoded as JSON:
//!
//! ```json
//! {"v":1,"run_id":"0190…","host":"web-1","probe":"cpu","probe_version":"0.1.0",
//!  "job":"cpu","started_at":"2026-11-22T20:00:00.123Z","duration_us":412,
//!  "status":"ok","error":null,
//!  "samples":[{"name":"system.cpu.utilization","value":0.12,"unit":"1","labels":{"state":"user"}}],
//!  "component_sha256":"b159…7542"}
//! ```
//!
//! A failed run is a message too (`status: "error"`, `error` set, no samples).
//! [`decode`] is strict about the fields it knows: anything it rejects belongs in the
//! recorder's dead-letter table.
//!
//! # How the format evolves (docs/message-format.md)
//!
//! Within a version `v`:
//! - a new field is optional: absent means its default, and a writer leaves it out when
//!   it has nothing to say (`component_sha256` from hosts that predate it, or any other
//!   optional field such as a count that is 0), so every earlier message stays valid;
//! - a decoder ignores fields it does not know, in the run and in its samples, so a newer
//!   writer never breaks an older reader that follows this rule;
//! - what a field means never changes: removing one, making one required or changing its
//!   type, unit or meaning takes a new `v`, which older readers refuse with the reason.
//!
//! Recorders before this rule refused unknown fields; upgrade recorders before hosts once.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The only message version this crate writes and accepts.
pub const VERSION: u32 = 1;

/// The topic the host publishes to and the recorder consumes from when neither is told
/// otherwise: one constant, so that both started with their defaults meet.
pub const DEFAULT_TOPIC: &str = "sonde.measurements";

/// How far in the future a run may claim to have started before it is rejected
/// (clock skew between hosts is tolerated up to this).
pub const MAX_FUTURE_SKEW_SECS: i64 = 3600;

/// One probe run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMessage {
    pub v: u32,
    /// UUID v7: unique per run, the recorder's de-duplication key.
    pub run_id: Uuid,
    pub host: String,
    pub probe: String,
    pub probe_version: String,
    pub job: String,
    pub started_at: DateTime<Utc>,
    pub duration_us: u64,
    pub status: RunStatus,
    pub error: Option<String>,
    #[serde(default)]
    pub samples: Vec<Sample>,
    /// sha256 (lowercase hex) of the component that ran: which build produced this run.
    /// Absent from hosts that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_sha256: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Ok,
    Error,
}

/// One measured value, OpenTelemetry-style name and unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub name: String,
    pub value: f64,
    pub unit: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl RunMessage {
    /// A new run with a fresh UUID v7 `run_id`.
    pub fn new(
        host: &str,
        probe: &str,
        probe_version: &str,
        job: &str,
        started_at: DateTime<Utc>,
    ) -> Self {
        RunMessage {
            v: VERSION,
            run_id: Uuid::now_v7(),
            host: host.to_owned(),
            probe: probe.to_owned(),
            probe_version: probe_version.to_owned(),
            job: job.to_owned(),
            started_at,
            duration_us: 0,
            status: RunStatus::Ok,
            error: None,
            samples: Vec::new(),
            component_sha256: None,
        }
    }

    /// The Kafka key: `host/probe`, so one host's runs of one probe stay in one partition, in order.
    pub fn key(&self) -> String {
        format!("{}/{}", self.host, self.probe)
    }

    /// JSON encoding (the Kafka value).
    pub fn encode(&self) -> Vec<u8> {
        // Serialising these plain types cannot fail; non-finite floats are written as null
        // and rejected by `decode`, so a broken probe value is caught at the recorder.
        serde_json::to_vec(self).expect("RunMessage is always serialisable")
    }
}

/// Why a payload is not a valid message. The `Display` text is stored as the dead-letter reason.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("unsupported message version {found} (this recorder reads version {VERSION})")]
    Version { found: String },
    #[error("invalid message: {0}")]
    Invalid(String),
}

impl DecodeError {
    /// A short, fixed name of the kind of problem (`json`, `version`, `invalid`), for
    /// metrics labels; the message itself is in `Display`.
    pub fn class(&self) -> &'static str {
        match self {
            DecodeError::Json(_) => "json",
            DecodeError::Version { .. } => "version",
            DecodeError::Invalid(_) => "invalid",
        }
    }
}

/// Decode and validate one payload, `now` being the receiver's clock.
///
/// Rejects: malformed JSON, a `v` other than [`VERSION`], missing fields, a
/// `component_sha256` that is not 64 lowercase hex digits,
/// empty host/probe, non-finite values, a `started_at` more than [`MAX_FUTURE_SKEW_SECS`]
/// in the future, and an `ok` run carrying an error or an `error` run without one.
pub fn decode(payload: &[u8], now: DateTime<Utc>) -> Result<RunMessage, DecodeError> {
    // Fast path: one parse straight into the struct. Only a payload that fails it is
    // parsed again, to tell a bad version from bad JSON or a bad field.
    match serde_json::from_slice::<RunMessage>(payload) {
        Ok(msg) if msg.v == VERSION => {
            msg.validate(now)?;
            Ok(msg)
        }
        Ok(msg) => Err(DecodeError::Version {
            found: msg.v.to_string(),
        }),
        Err(e) => Err(classify_failure(payload, e)),
    }
}

/// Why a payload did not parse as a [`RunMessage`]: not JSON, another version, or a bad field.
fn classify_failure(payload: &[u8], err: serde_json::Error) -> DecodeError {
    #[derive(Deserialize)]
    struct VersionOnly {
        v: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<VersionOnly>(payload) {
        Err(e) => DecodeError::Json(e.to_string()),
        Ok(VersionOnly { v: None }) => DecodeError::Invalid("missing field `v`".into()),
        Ok(VersionOnly { v: Some(v) }) if v.as_u64() != Some(VERSION as u64) => {
            DecodeError::Version {
                found: v.to_string(),
            }
        }
        Ok(_) => DecodeError::Invalid(err.to_string()),
    }
}

impl RunMessage {
    fn validate(&self, now: DateTime<Utc>) -> Result<(), DecodeError> {
        let invalid = |s: String| Err(DecodeError::Invalid(s));
        if self.host.is_empty() || self.probe.is_empty() {
            return invalid("empty `host` or `probe`".into());
        }
        if self.started_at > now + Duration::seconds(MAX_FUTURE_SKEW_SECS) {
            return invalid(format!(
                "`started_at` {} is in the future",
                self.started_at.to_rfc3339()
            ));
        }
        match (self.status, &self.error) {
            (RunStatus::Error, None) => {
                return invalid("status `error` without an `error` text".into())
            }
            (RunStatus::Ok, Some(_)) => return invalid("status `ok` with an `error` text".into()),
            _ => {}
        }
        if let Some(sha) = &self.component_sha256 {
            if !is_sha256_hex(sha) {
                return invalid("`component_sha256` is not 64 lowercase hex digits".into());
            }
        }
        for (i, s) in self.samples.iter().enumerate() {
            if s.name.is_empty() {
                return invalid(format!("sample {i} has an empty name"));
            }
            if !s.value.is_finite() {
                return invalid(format!("sample {i} (`{}`) has a non-finite value", s.name));
            }
        }
        Ok(())
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_msg() -> RunMessage {
        let mut m = RunMessage::new("web-1", "cpu", "0.1.0", "cpu", Utc::now());
        m.duration_us = 412;
        m.samples.push(Sample {
            name: "system.cpu.utilization".into(),
            value: 0.12,
            unit: "1".into(),
            labels: [("state".to_string(), "user".to_string())].into(),
        });
        m
    }

    #[test]
    fn round_trip() {
        let m = sample_msg();
        let back = decode(&m.encode(), Utc::now()).unwrap();
        assert_eq!(back, m);
        assert_eq!(m.key(), "web-1/cpu");
    }

    #[test]
    fn wire_format_matches_the_documented_example() {
        let json = r#"{"v":1,"run_id":"0190a0a0-0000-7000-8000-000000000000","host":"web-1","probe":"cpu",
            "probe_version":"0.1.0","job":"cpu","started_at":"2026-11-22T20:00:00.123Z","duration_us":412,
            "status":"ok","error":null,
            "samples":[{"name":"system.cpu.utilization","value":0.12,"unit":"1","labels":{"state":"user","cpu":"0"}}]}"#;
        let m = decode(json.as_bytes(), "2026-11-22T20:00:01Z".parse().unwrap()).unwrap();
        assert_eq!(m.samples[0].labels["cpu"], "0");
        assert_eq!(m.duration_us, 412);
    }

    #[test]
    fn rejects_bad_input_with_reason() {
        let now = Utc::now();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"not json".to_vec(), "invalid JSON"),
            (br#"{"v":2}"#.to_vec(), "unsupported message version 2"),
            (br#"{"host":"x"}"#.to_vec(), "missing field `v`"),
            (br#"{"v":1,"host":"x"}"#.to_vec(), "missing field"),
        ];
        for (payload, want) in cases {
            let err = decode(&payload, now).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
        let mut future = sample_msg();
        future.started_at = now + Duration::days(2);
        assert!(decode(&future.encode(), now)
            .unwrap_err()
            .to_string()
            .contains("future"));
        let mut nan = sample_msg();
        nan.samples[0].value = f64::NAN;
        // NaN is encoded as null, which is not a number: rejected.
        assert!(decode(&nan.encode(), now).is_err());
        let mut err_no_text = sample_msg();
        err_no_text.status = RunStatus::Error;
        assert!(decode(&err_no_text.encode(), now).is_err());
    }
}
