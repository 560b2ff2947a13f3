use super::*;
use crate::{decode, Sample};

fn run() -> RunMessage {
    let mut m = RunMessage::new("web-1", "cpu", "0.1.0", "cpu", Utc::now());
    m.samples.push(Sample {
        name: "system.cpu.utilization".into(),
        value: 0.5,
        unit: "1".into(),
        labels: [("state".to_string(), "user".to_string())].into(),
    });
    m
}

fn refused(m: &RunMessage) -> String {
    match validate(m, Utc::now()) {
        Ok(()) => panic!("accepted: {m:?}"),
        Err(v) => v.to_string(),
    }
}

#[test]
fn a_plain_run_and_the_largest_allowed_values_pass() {
    assert_eq!(validate(&run(), Utc::now()), Ok(()));
    let mut m = run();
    m.host = "h".repeat(MAX_HOST_BYTES);
    m.job = "j".repeat(MAX_JOB_BYTES);
    m.probe = "p".repeat(MAX_PROBE_BYTES);
    m.probe_version = String::new();
    m.duration_us = MAX_DURATION_US;
    m.started_at = min_started_at();
    m.status = RunStatus::Error;
    m.error = Some(format!("line 1\n\tline 2\r\n{}", "e".repeat(100)));
    m.samples[0].name = "n".repeat(MAX_METRIC_NAME_BYTES);
    m.samples[0].unit = String::new();
    m.samples[0].labels = (0..MAX_LABELS_PER_SAMPLE)
        .map(|i| (format!("{i:0>128}"), "v".repeat(MAX_LABEL_VALUE_BYTES)))
        .collect();
    let copy = m.samples[0].clone();
    m.samples = vec![copy; 3];
    assert_eq!(validate(&m, Utc::now()), Ok(()));
}

#[test]
fn every_text_field_has_its_length_limit() {
    type Set = fn(&mut RunMessage, String);
    let fields: [(Set, usize, &str); 8] = [
        (|m, s| m.host = s, MAX_HOST_BYTES, "host"),
        (|m, s| m.probe = s, MAX_PROBE_BYTES, "probe"),
        (
            |m, s| m.probe_version = s,
            MAX_PROBE_VERSION_BYTES,
            "probe_version",
        ),
        (|m, s| m.job = s, MAX_JOB_BYTES, "job"),
        (
            |m, s| m.samples[0].name = s,
            MAX_METRIC_NAME_BYTES,
            "samples[0].name",
        ),
        (
            |m, s| m.samples[0].unit = s,
            MAX_UNIT_BYTES,
            "samples[0].unit",
        ),
        (
            |m, s| {
                m.samples[0].labels.insert(s, "v".into());
            },
            MAX_LABEL_KEY_BYTES,
            "samples[0].labels key",
        ),
        (
            |m, s| {
                m.samples[0].labels.insert("state".into(), s);
            },
            MAX_LABEL_VALUE_BYTES,
            "samples[0].labels[\"state\"]",
        ),
    ];
    for (set, max, path) in fields {
        let mut m = run();
        // Multi-byte characters: the limit counts bytes, not characters.
        set(&mut m, "é".repeat(max / 2 + 1));
        let why = refused(&m);
        assert!(why.starts_with(path), "{why}");
        assert!(
            why.contains(&format!("more than the {max} allowed")),
            "{why}"
        );
    }
    let mut m = run();
    m.status = RunStatus::Error;
    m.error = Some("x".repeat(MAX_ERROR_BYTES + 1));
    assert!(refused(&m).starts_with("error: 8193 bytes"));
}

#[test]
fn nul_and_control_characters_are_refused_where_they_do_harm() {
    for bad in ["a\0b", "a\u{1b}[31m", "a\nb", "\u{7f}", "\u{85}"] {
        let mut m = run();
        m.host = bad.into();
        assert!(refused(&m).contains("control character U+"), "{bad:?}");
        let mut m = run();
        m.samples[0].labels.insert("k".into(), bad.into());
        assert!(refused(&m).contains("control character"), "{bad:?}");
    }
    for fine in ["\u{a0}no-break", "éx", "\u{100}\u{2028}"] {
        let mut m = run();
        m.host = fine.into();
        assert_eq!(validate(&m, Utc::now()), Ok(()), "{fine:?}");
    }
    let mut m = run();
    m.status = RunStatus::Error;
    m.error = Some("tab\tnewline\ncarriage\r".into());
    assert_eq!(validate(&m, Utc::now()), Ok(()));
    for bad in ["nul\0", "escape\u{1b}[2J", "bell\u{7}"] {
        m.error = Some(bad.into());
        assert!(
            refused(&m).starts_with("error: control character"),
            "{bad:?}"
        );
    }
}

#[test]
fn names_may_not_be_empty_but_unit_and_label_value_may() {
    let mut m = run();
    m.samples[0].unit.clear();
    m.samples[0].labels.insert("empty".into(), String::new());
    assert_eq!(validate(&m, Utc::now()), Ok(()));
    type Set = fn(&mut RunMessage);
    let empties: [(Set, &str); 5] = [
        (|m| m.host.clear(), "host: empty"),
        (|m| m.probe.clear(), "probe: empty"),
        (|m| m.job.clear(), "job: empty"),
        (|m| m.samples[0].name.clear(), "samples[0].name: empty"),
        (
            |m| {
                m.samples[0].labels.insert(String::new(), "v".into());
            },
            "samples[0].labels key \"\": empty",
        ),
    ];
    for (set, want) in empties {
        let mut m = run();
        set(&mut m);
        assert_eq!(refused(&m), want);
    }
}

#[test]
fn counts_times_and_durations_have_bounds() {
    let mut m = run();
    m.samples[0].labels = (0..=MAX_LABELS_PER_SAMPLE)
        .map(|i| (i.to_string(), String::new()))
        .collect();
    assert!(refused(&m).contains("65 labels, more than the 64 allowed"));
    let mut m = run();
    let copy = m.samples[0].clone();
    m.samples = vec![copy; MAX_SAMPLES_PER_MESSAGE + 1];
    assert!(refused(&m).starts_with("samples: 10001 samples"));
    let mut m = run();
    m.dropped_non_finite = MAX_SAMPLES_PER_MESSAGE as u32 + 1;
    assert!(refused(&m).starts_with("dropped_non_finite"));
    let mut m = run();
    m.duration_us = MAX_DURATION_US + 1;
    assert!(refused(&m).starts_with("duration_us"));
    let mut m = run();
    m.started_at = min_started_at() - Duration::microseconds(1);
    assert!(refused(&m).contains("is before 1970-01-01"));
    let mut m = run();
    m.started_at = Utc::now() + Duration::seconds(MAX_FUTURE_SKEW_SECS + 60);
    assert!(refused(&m).contains("in the future"));
    let mut m = run();
    m.samples[0].value = f64::INFINITY;
    assert_eq!(refused(&m), "samples[0].value: not a finite number");
}

#[test]
fn status_and_error_go_together() {
    let mut m = run();
    m.status = RunStatus::Error;
    assert_eq!(refused(&m), "error: missing on a run with status `error`");
    let mut m = run();
    m.error = Some("oops".into());
    assert_eq!(refused(&m), "error: set on a run with status `ok`");
}

#[test]
fn sanitized_error_text_always_passes() {
    let cases = [
        String::from("plain"),
        String::from("nul\0 and escape \u{1b}[2J and newline\n"),
        "ü".repeat(MAX_ERROR_BYTES),
        format!("{}\0", "x".repeat(MAX_ERROR_BYTES - 1)),
        "\0".repeat(MAX_ERROR_BYTES),
    ];
    for text in cases {
        let clean = sanitize_error_text(&text);
        assert!(clean.len() <= MAX_ERROR_BYTES, "{} bytes", clean.len());
        assert_eq!(check_text(Field::Error, "error", &clean), Ok(()));
    }
    assert_eq!(sanitize_error_text("a\0b\nc"), "a\\u{0}b\nc");
    assert_eq!(sanitize_error_text("short"), "short");
    let long = sanitize_error_text(&"x".repeat(MAX_ERROR_BYTES + 10));
    assert!(long.ends_with('…'));
}

#[test]
fn one_line_escapes_everything_and_cuts() {
    assert_eq!(one_line("a\nb\0", 100), "a\\u{a}b\\u{0}");
    let cut = one_line(&"é".repeat(100), 11);
    assert!(cut.len() <= 11 && cut.ends_with('…'), "{cut}");
    assert_eq!(preview("a\u{1b}b"), "a\\u{1b}b");
    assert!(preview(&"x".repeat(100)).ends_with('…'));
}

#[test]
fn decode_refuses_what_validate_refuses_with_the_same_words() {
    let mut m = run();
    m.samples[0].labels.insert("k".into(), "v\0".into());
    let err = decode(&m.encode(), Utc::now()).unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid message: samples[0].labels[\"k\"]: control character U+0000 at byte 1"
    );
}

/// docs/limits.md's "Message limits" table names each constant with its value.
#[test]
fn the_documented_table_matches_the_constants() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/limits.md");
    let doc = std::fs::read_to_string(path).expect("docs/limits.md");
    let section = doc
        .split("## Message limits")
        .nth(1)
        .expect("docs/limits.md has a \"## Message limits\" section");
    let rows = [
        ("host", MAX_HOST_BYTES),
        ("probe", MAX_PROBE_BYTES),
        ("probe_version", MAX_PROBE_VERSION_BYTES),
        ("job", MAX_JOB_BYTES),
        ("metric name", MAX_METRIC_NAME_BYTES),
        ("unit", MAX_UNIT_BYTES),
        ("label key", MAX_LABEL_KEY_BYTES),
        ("label value", MAX_LABEL_VALUE_BYTES),
        ("error", MAX_ERROR_BYTES),
        ("labels per sample", MAX_LABELS_PER_SAMPLE),
        ("samples per message", MAX_SAMPLES_PER_MESSAGE),
    ];
    for (name, value) in rows {
        let row = format!("| {name} | {value} |");
        assert!(
            section.contains(&row),
            "docs/limits.md lacks the row {row:?}"
        );
    }
}
