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
//! `dropped_non_finite` (absent when 0) counts the samples the host dropped because their
//! value was NaN or infinite; the run's other samples are published.
//!
//! [`decode`] is strict about the fields it knows: anything it rejects belongs in the
//! recorder's dead-letter table. [`limits`] holds the bounds both ends enforce.
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

mod labels;
pub mod limits;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use labels::Labels;
pub use limits::{validate, Violation, MAX_FUTURE_SKEW_SECS};

/// The only message version this crate writes and accepts.
pub const VERSION: u32 = 1;

/// The topic the host publishes to and the recorder consumes from when neither is told
/// otherwise: one constant, so that both started with their defaults meet.
pub const DEFAULT_TOPIC: &str = "sonde.measurements";

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
    /// Samples the host dropped for a non-finite value (NaN, ±infinity). Written only when
    /// not 0, so runs without such samples keep the original wire form.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_non_finite: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
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
    /// A label key given twice in one sample is refused (no "last one wins").
    #[serde(default)]
    pub labels: Labels,
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
            dropped_non_finite: 0,
        }
    }

    /// The Kafka key: `host/probe`, so one host's runs of one probe stay in one partition, in order.
    pub fn key(&self) -> String {
        format!("{}/{}", self.host, self.probe)
    }

    /// JSON encoding (the Kafka value).
    pub fn encode(&self) -> Vec<u8> {
        // Serialising these plain types cannot fail; a non-finite float would be written as
        // null and rejected by `decode` (the host drops those samples before encoding).
        serde_json::to_vec(self).expect("RunMessage is always serialisable")
    }
}

/// The longest text a [`DecodeError`] carries: serde quotes parts of the payload.
pub const MAX_REASON_BYTES: usize = 1024;

/// Why a payload is not a valid message. The `Display` text is stored as the dead-letter
/// reason; it is one line without control characters, whatever the payload held.
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
/// Rejects: malformed JSON (invalid UTF-8, nesting deeper than 128, numbers out of range),
/// a `v` other than [`VERSION`], missing, duplicate or mistyped fields (unknown fields are
/// ignored: see the module's evolution rule), a label key given twice, a `component_sha256`
/// that is not 64 lowercase hex digits, an `ok` run carrying an error or an `error` run
/// without one, and anything breaking [`limits`] (lengths, counts, control characters,
/// timestamps).
pub fn decode(payload: &[u8], now: DateTime<Utc>) -> Result<RunMessage, DecodeError> {
    // Fast path: one parse straight into the struct. Only a payload that fails it is
    // parsed again, to tell a bad version from bad JSON or a bad field.
    let parsed = match std::str::from_utf8(payload) {
        // UTF-8 checked once for the whole payload instead of string by string.
        Ok(text) => serde_json::from_str::<RunMessage>(text),
        // Fails too; parsing the bytes says where.
        Err(_) => serde_json::from_slice::<RunMessage>(payload),
    };
    match parsed {
        Ok(msg) if msg.v == VERSION => {
            validate(&msg, now).map_err(|v| DecodeError::Invalid(reason(v)))?;
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
        Err(e) => DecodeError::Json(reason(e)),
        Ok(VersionOnly { v: None }) => DecodeError::Invalid("missing field `v`".into()),
        Ok(VersionOnly { v: Some(v) }) if v.as_u64() != Some(VERSION as u64) => {
            DecodeError::Version { found: reason(v) }
        }
        Ok(_) => DecodeError::Invalid(reason(err)),
    }
}

/// A reason safe to store and log: serde and the limits quote parts of the payload.
fn reason(e: impl std::fmt::Display) -> String {
    limits::one_line(&e.to_string(), MAX_REASON_BYTES)
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
