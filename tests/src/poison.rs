//! Poison messages: every way a payload written straight to the topic can break the wire
//! format or the message limits, for the drills that check no message can halt the recorder.
//!
//! [`poison`] `i` is kind `i % KINDS.len()`, made unique by `i`. All but one kind must be
//! refused by `decode`; [`Kind::RefusedByPostgres`] decodes fine and is refused by PostgreSQL
//! only once a test adds [`REFUSE_SQL`] to the database (what slips past validation).

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use sonde_message::limits::{
    MAX_ERROR_BYTES, MAX_HOST_BYTES, MAX_LABELS_PER_SAMPLE, MAX_LABEL_VALUE_BYTES,
    MAX_METRIC_NAME_BYTES, MAX_SAMPLES_PER_MESSAGE,
};
use sonde_message::{RunMessage, Sample};

/// Jobs of [`Kind::RefusedByPostgres`] messages start with this.
pub const REFUSED_JOB_PREFIX: &str = "poison-pg-";

/// A constraint that makes PostgreSQL refuse the [`Kind::RefusedByPostgres`] runs.
pub const REFUSE_SQL: &str = "ALTER TABLE probe_run ADD CONSTRAINT poison_refused \
     CHECK (job NOT LIKE 'poison-pg-%')";

macro_rules! kinds {
    ($($kind:ident),* $(,)?) => {
        /// One way to poison a message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Kind { $($kind),* }
        /// Every kind, in the order [`poison`] cycles through them.
        pub const KINDS: &[Kind] = &[$(Kind::$kind),*];
    };
}

kinds!(
    NotJson,
    TruncatedJson,
    EmptyPayload,
    JsonNull,
    InvalidUtf8,
    DeeplyNested,
    OtherVersion,
    MissingRunId,
    NulInProbeVersion,
    BadComponentSha256,
    DuplicateField,
    DuplicateLabelKey,
    WrongTypeValue,
    WrongTypeSamples,
    HugeNumber,
    NullValue,
    NegativeDuration,
    DurationOverI64,
    DurationOverU64,
    Year10000,
    Before4713Bc,
    Before1970,
    FarFuture,
    EmptyHost,
    OkWithError,
    ErrorWithoutText,
    NulInError,
    EscapeInError,
    NulInHost,
    NulInMetricName,
    NulInLabelKey,
    NulInLabelValue,
    ControlInJob,
    ControlInUnit,
    OversizeHost,
    OversizeMetricName,
    OversizeLabelValue,
    OversizeError,
    TooManyLabels,
    TooManySamples,
    TooManyDropped,
    RefusedByPostgres,
);

/// Poison message `i`: its kind, Kafka key and payload.
pub fn poison(i: usize) -> (Kind, String, Vec<u8>) {
    let kind = KINDS[i % KINDS.len()];
    let job = match kind {
        Kind::RefusedByPostgres => format!("{REFUSED_JOB_PREFIX}{i}"),
        _ => format!("poison-{i}"),
    };
    let mut run = RunMessage::new("poison-host", "cpu", "0.1.0", &job, Utc::now());
    run.duration_us = 10;
    run.samples.push(Sample {
        name: "system.cpu.utilization".into(),
        value: 0.5,
        unit: "1".into(),
        labels: [("state".to_string(), "user".to_string())].into(),
    });
    let key = run.key();
    let good = run.encode();
    let v: Value = serde_json::from_slice(&good).expect("a RunMessage encodes to JSON");
    let edit = |mut v: Value, f: &dyn Fn(&mut Value)| {
        f(&mut v);
        v.to_string().into_bytes()
    };
    let sample = |f: &dyn Fn(&mut Value)| edit(v.clone(), &|v| f(&mut v["samples"][0]));
    let raw = String::from_utf8(good.clone()).expect("JSON is UTF-8");
    let payload = match kind {
        Kind::NotJson => format!("this is not JSON #{i}").into_bytes(),
        Kind::TruncatedJson => good[..good.len() / 2].to_vec(),
        Kind::EmptyPayload => Vec::new(),
        Kind::JsonNull => b"null".to_vec(),
        Kind::InvalidUtf8 => {
            let mut bytes = good.clone();
            let at = raw.find("poison-host").expect("host in the payload");
            bytes[at] = 0xff;
            bytes
        }
        Kind::DeeplyNested => {
            let depth = 10_000 + i;
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        }
        Kind::OtherVersion => edit(v.clone(), &|v| v["v"] = json!(2)),
        Kind::MissingRunId => edit(v.clone(), &|v| {
            v.as_object_mut().map(|o| o.remove("run_id"));
        }),
        Kind::NulInProbeVersion => edit(v.clone(), &|v| {
            v["probe_version"] = json!(format!("0.1.0\u{0}{i}"))
        }),
        Kind::BadComponentSha256 => edit(v.clone(), &|v| {
            v["component_sha256"] = json!(format!("not-a-sha256-{i}"))
        }),
        Kind::DuplicateField => raw
            .replacen("\"host\":", "\"host\":\"evil\",\"host\":", 1)
            .into_bytes(),
        Kind::DuplicateLabelKey => raw
            .replacen("\"state\":", "\"state\":\"idle\",\"state\":", 1)
            .into_bytes(),
        Kind::WrongTypeValue => sample(&|s| s["value"] = json!("0.5")),
        Kind::WrongTypeSamples => edit(v.clone(), &|v| v["samples"] = json!({"n": i})),
        Kind::HugeNumber => raw
            .replacen("\"value\":0.5", "\"value\":1e999", 1)
            .into_bytes(),
        Kind::NullValue => sample(&|s| s["value"] = Value::Null),
        Kind::NegativeDuration => edit(v.clone(), &|v| v["duration_us"] = json!(-1)),
        Kind::DurationOverI64 => edit(v.clone(), &|v| {
            v["duration_us"] = json!(i64::MAX as u64 + 1)
        }),
        Kind::DurationOverU64 => raw
            .replacen(
                "\"duration_us\":10",
                "\"duration_us\":18446744073709551616",
                1,
            )
            .into_bytes(),
        Kind::Year10000 => edit(v.clone(), &|v| {
            v["started_at"] = json!("+10000-01-01T00:00:00Z")
        }),
        Kind::Before4713Bc => edit(v.clone(), &|v| {
            v["started_at"] = json!("-4714-11-23T00:00:00Z")
        }),
        Kind::Before1970 => edit(v.clone(), &|v| {
            v["started_at"] = json!("1969-12-31T23:59:59Z")
        }),
        Kind::FarFuture => edit(v.clone(), &|v| {
            v["started_at"] = json!((Utc::now() + Duration::days(2)).to_rfc3339())
        }),
        Kind::EmptyHost => edit(v.clone(), &|v| v["host"] = json!("")),
        Kind::OkWithError => edit(v.clone(), &|v| {
            v["error"] = json!("an ok run with an error")
        }),
        Kind::ErrorWithoutText => edit(v.clone(), &|v| v["status"] = json!("error")),
        Kind::NulInError => error_run(&v, "refused\0by PostgreSQL text"),
        Kind::EscapeInError => error_run(&v, "\u{1b}[2J cleared your terminal"),
        Kind::NulInHost => edit(v.clone(), &|v| v["host"] = json!("poison\0host")),
        Kind::NulInMetricName => sample(&|s| s["name"] = json!("system.\0cpu")),
        Kind::NulInLabelKey => sample(&|s| s["labels"] = json!({"st\0ate": "user"})),
        Kind::NulInLabelValue => sample(&|s| s["labels"] = json!({"state": "us\0er"})),
        Kind::ControlInJob => edit(v.clone(), &|v| v["job"] = json!(format!("job\u{7}{i}"))),
        Kind::ControlInUnit => sample(&|s| s["unit"] = json!("\u{1b}[31m")),
        Kind::OversizeHost => edit(v.clone(), &|v| {
            v["host"] = json!("h".repeat(MAX_HOST_BYTES + 1))
        }),
        Kind::OversizeMetricName => {
            sample(&|s| s["name"] = json!("m".repeat(MAX_METRIC_NAME_BYTES + 1)))
        }
        Kind::OversizeLabelValue => {
            sample(&|s| s["labels"] = json!({"url": "u".repeat(MAX_LABEL_VALUE_BYTES + 1)}))
        }
        Kind::OversizeError => error_run(&v, &"e".repeat(MAX_ERROR_BYTES + 1)),
        Kind::TooManyLabels => sample(&|s| {
            let labels: serde_json::Map<String, Value> = (0..=MAX_LABELS_PER_SAMPLE)
                .map(|n| (format!("k{n}"), json!("v")))
                .collect();
            s["labels"] = Value::Object(labels);
        }),
        Kind::TooManySamples => edit(v.clone(), &|v| {
            let one = json!({"name": "m", "value": 0, "unit": ""});
            v["samples"] = Value::Array(vec![one; MAX_SAMPLES_PER_MESSAGE + 1]);
        }),
        Kind::TooManyDropped => edit(v.clone(), &|v| {
            v["dropped_non_finite"] = json!(MAX_SAMPLES_PER_MESSAGE + 1)
        }),
        Kind::RefusedByPostgres => good,
    };
    (kind, key, payload)
}

fn error_run(v: &Value, error: &str) -> Vec<u8> {
    let mut v = v.clone();
    v["status"] = json!("error");
    v["error"] = json!(error);
    v["samples"] = json!([]);
    v.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_but_one_is_refused_by_decode() {
        for i in 0..KINDS.len() * 2 {
            let (kind, _, payload) = poison(i);
            let decoded = sonde_message::decode(&payload, Utc::now());
            match kind {
                Kind::RefusedByPostgres => {
                    let run = decoded.expect("RefusedByPostgres decodes");
                    assert!(run.job.starts_with(REFUSED_JOB_PREFIX));
                }
                _ => assert!(decoded.is_err(), "{kind:?} decodes"),
            }
        }
    }

    #[test]
    fn payloads_differ_from_one_another() {
        let payloads: std::collections::BTreeSet<Vec<u8>> =
            (0..KINDS.len() * 3).map(|i| poison(i).2).collect();
        // Only the empty payload and `null` repeat.
        assert_eq!(payloads.len(), KINDS.len() * 3 - 4);
    }
}
