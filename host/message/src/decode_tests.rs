use super::*;
use chrono::Duration;

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

/// `text` with `"<field>":<old>` replaced by `"<field>":<new>`, once.
fn with(text: &str, old: &str, new: &str) -> Vec<u8> {
    assert!(text.contains(old), "{old} not in {text}");
    text.replacen(old, new, 1).into_bytes()
}

#[test]
fn poison_payloads_are_refused_with_a_safe_reason() {
    let now = Utc::now();
    let msg = sample_msg();
    let good = String::from_utf8(msg.encode()).unwrap();
    let started = format!(
        "\"started_at\":{}",
        serde_json::to_string(&msg.started_at).unwrap()
    );
    let mut invalid_utf8 = good.clone().into_bytes();
    let at = good.find("web-1").unwrap();
    invalid_utf8[at] = 0xff;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            with(&good, &started, "\"started_at\":\"+10000-01-01T00:00:00Z\""),
            "started_at",
        ),
        (
            with(&good, &started, "\"started_at\":\"-4714-11-24T00:00:00Z\""),
            "started_at",
        ),
        (
            with(&good, &started, "\"started_at\":\"1969-12-31T23:59:59Z\""),
            "before 1970",
        ),
        (
            with(
                &good,
                "\"duration_us\":412",
                "\"duration_us\":9223372036854775808",
            ),
            "duration_us",
        ),
        (
            with(
                &good,
                "\"duration_us\":412",
                "\"duration_us\":18446744073709551616",
            ),
            "invalid",
        ),
        (
            with(&good, "\"value\":0.12", "\"value\":1e999"),
            "number out of range",
        ),
        (
            with(&good, "\"value\":0.12", "\"value\":\"0.12\""),
            "invalid type",
        ),
        (
            with(&good, "\"duration_us\":412", "\"duration_us\":-1"),
            "invalid",
        ),
        (
            with(
                &good,
                "\"host\":\"web-1\"",
                "\"host\":\"web-1\",\"host\":\"evil\"",
            ),
            "duplicate field `host`",
        ),
        (
            with(
                &good,
                "\"state\":\"user\"",
                "\"state\":\"user\",\"state\":\"idle\"",
            ),
            "label key \"state\" given twice",
        ),
        (
            with(&good, "\"host\":\"web-1\"", "\"host\":\"we\\u0000b\""),
            "control character U+0000",
        ),
        (
            with(
                &good,
                "\"status\":\"ok\",\"error\":null",
                "\"status\":\"error\",\"error\":\"x\\u0000y\"",
            ),
            "error: control character",
        ),
        (invalid_utf8, "invalid"),
        (
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            "recursion limit exceeded",
        ),
    ];
    for (payload, want) in cases {
        let err = decode(&payload, now)
            .expect_err(&String::from_utf8_lossy(&payload))
            .to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
        assert!(
            err.len() <= MAX_REASON_BYTES + 40,
            "reason of {} bytes",
            err.len()
        );
        assert!(
            !err.chars().any(char::is_control),
            "control character in {err:?}"
        );
    }
}

#[test]
fn dropped_non_finite_is_on_the_wire_only_when_not_zero() {
    let mut m = sample_msg();
    assert!(!String::from_utf8(m.encode())
        .unwrap()
        .contains("dropped_non_finite"));
    m.dropped_non_finite = 2;
    let wire = m.encode();
    assert!(String::from_utf8(wire.clone())
        .unwrap()
        .contains("\"dropped_non_finite\":2"));
    assert_eq!(decode(&wire, Utc::now()).unwrap(), m);
}

#[test]
fn unknown_fields_are_ignored_whatever_their_name() {
    let m = sample_msg();
    let good = String::from_utf8(m.encode()).unwrap();
    // A NUL and 5000 bytes in the name of a field this version does not know: nothing of it
    // is stored, so nothing of it can be refused.
    let odd = good.replacen(
        "\"v\":1,",
        &format!("\"v\":1,\"x\\u0000{}\":[1],", "y".repeat(5000)),
        1,
    );
    assert_eq!(decode(odd.as_bytes(), Utc::now()).unwrap(), m);
    // Skipped without recursion or allocation, however deep it nests.
    let depth = 100_000;
    let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let deep = good.replacen("\"v\":1,", &format!("\"v\":1,\"nested\":{nested},"), 1);
    assert_eq!(decode(deep.as_bytes(), Utc::now()).unwrap(), m);
    let in_sample = good.replacen("\"unit\":", "\"later\":{\"a\":1},\"unit\":", 1);
    assert_eq!(decode(in_sample.as_bytes(), Utc::now()).unwrap(), m);
}
