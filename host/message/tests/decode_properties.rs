//! Properties of the message decoder: no input makes it panic, and every message the host
//! can encode decodes to itself. Bounded case counts keep this within CI's budget.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use sonde_message::{decode, RunMessage, RunStatus, Sample};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 20, 0, 0).unwrap()
}

/// Plain identifiers, as probes and operators name things.
fn ident() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9._-]{0,30}"
}

/// Printable text without control characters (labels, error texts).
fn text() -> impl Strategy<Value = String> {
    "[ -~\u{a0}-\u{2fff}]{0,40}"
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        -1e6..1e6f64,
        Just(0.0),
        Just(-0.0),
        Just(f64::MIN_POSITIVE),
        Just(f64::MAX),
    ]
}

fn sample() -> impl Strategy<Value = Sample> {
    (
        ident(),
        finite(),
        "[a-zA-Z0-9/{}%.]{0,10}",
        prop::collection::btree_map(ident(), text(), 0..5),
    )
        .prop_map(|(name, value, unit, labels)| Sample {
            name,
            value,
            unit,
            labels: labels.into(),
        })
}

prop_compose! {
    fn message()(
        host in ident(),
        probe in ident(),
        version in "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}",
        job in ident(),
        micros_ago in 0i64..(366 * 86_400 * 1_000_000),
        duration_us in 0u64..3_600_000_000,
        error in prop::option::of(text()),
        samples in prop::collection::vec(sample(), 0..20),
    ) -> RunMessage {
        let mut m = RunMessage::new(&host, &probe, &version, &job, now() - Duration::microseconds(micros_ago));
        m.duration_us = duration_us;
        match error {
            Some(e) => {
                m.status = RunStatus::Error;
                m.error = Some(e);
            }
            None => m.samples = samples,
        }
        m
    }
}

/// JSON-shaped noise: valid JSON of any shape, or a real message with a field changed.
fn json_like() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,20}".prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("v".to_string()),
                    Just("samples".to_string()),
                    Just("labels".to_string()),
                    ".{0,8}"
                ],
                inner,
                0..8
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        value
            .clone()
            .prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        (message(), ".{0,12}", value).prop_map(|(m, field, v)| {
            let mut obj: BTreeMap<String, serde_json::Value> =
                serde_json::from_slice(&m.encode()).unwrap_or_default();
            obj.insert(field, v);
            serde_json::to_vec(&obj).unwrap_or_default()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(payload in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&payload, now());
    }

    #[test]
    fn json_shaped_input_never_panics(payload in json_like()) {
        if let Ok(m) = decode(&payload, now()) {
            // Whatever is accepted encodes and decodes to itself again.
            prop_assert_eq!(decode(&m.encode(), now()), Ok(m));
        }
    }

    #[test]
    fn every_message_round_trips(m in message()) {
        prop_assert_eq!(decode(&m.encode(), now()), Ok(m));
    }

    #[test]
    fn a_truncated_message_is_refused_not_misread(m in message(), cut in 0.0..1.0f64) {
        let bytes = m.encode();
        let at = ((bytes.len() - 1) as f64 * cut) as usize;
        prop_assert!(decode(&bytes[..at], now()).is_err());
    }
}
