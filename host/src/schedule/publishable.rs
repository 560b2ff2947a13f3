//! What a run may publish. The host never publishes what the recorder would dead-letter:
//! the probe's samples become message samples here and the finished message is checked
//! against the message limits of `sonde-message`, which the recorder enforces too.
//!
//! - A sample whose value is NaN or ±infinity is dropped and counted in the run's
//!   `dropped_non_finite`; the run and its other samples are published.
//! - A label key given twice in one sample fails the run (no "last one wins": which value a
//!   series gets must not depend on the probe's order).
//! - Anything else over the limits fails the run with one line, `output invalid: ...`.
//! - Every error text passes through `sanitize_error_text` (part of it comes from the probe).

use chrono::{DateTime, Utc};
use sonde_message::limits::{check_sample, preview, sanitize_error_text, violation, Violation};
use sonde_message::{Labels, RunMessage, RunStatus, Sample};

use crate::runtime::bindings::Sample as ProbeSample;

/// The samples a probe returned, as the message will carry them.
#[derive(Debug, Default, PartialEq)]
pub struct Samples {
    pub samples: Vec<Sample>,
    pub dropped_non_finite: u32,
}

/// `raw` made publishable, or the first violation (indexes are the probe's own).
pub fn samples(raw: Vec<ProbeSample>) -> Result<Samples, Violation> {
    let mut out = Samples::default();
    for (i, s) in raw.into_iter().enumerate() {
        if !s.value.is_finite() {
            out.dropped_non_finite += 1;
            continue;
        }
        let labels = Labels::from_unique(s.labels).map_err(|key| {
            violation(
                format!("samples[{i}].labels"),
                format!("key \"{}\" given twice", preview(&key)),
            )
        })?;
        let sample = Sample {
            name: s.name,
            value: s.value,
            unit: s.unit,
            labels,
        };
        check_sample(i, &sample)?;
        out.samples.push(sample);
    }
    Ok(out)
}

/// Make `msg` an error run with `error` (sanitised); its samples are not published.
pub fn fail(msg: &mut RunMessage, error: &str) {
    msg.status = RunStatus::Error;
    msg.error = Some(sanitize_error_text(error));
    msg.samples.clear();
    msg.dropped_non_finite = 0;
}

/// The last check before publishing, `now` being the host's clock: a message over the
/// limits becomes an error run saying why.
pub fn finish(msg: &mut RunMessage, now: DateTime<Utc>) {
    if let Err(v) = sonde_message::validate(msg, now) {
        fail(msg, &format!("output invalid: {v}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, value: f64, labels: &[(&str, &str)]) -> ProbeSample {
        ProbeSample {
            name: name.into(),
            value,
            unit: "1".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn non_finite_values_are_dropped_and_counted() {
        let out = samples(vec![
            raw("a", 1.0, &[]),
            raw("b", f64::NAN, &[]),
            raw("c", f64::INFINITY, &[]),
            raw("d", f64::NEG_INFINITY, &[]),
            raw("e", -0.0, &[]),
        ])
        .expect("publishable");
        let names: Vec<&str> = out.samples.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "e"]);
        assert_eq!(out.dropped_non_finite, 3);
    }

    #[test]
    fn duplicate_label_keys_and_limits_fail_with_the_probe_index() {
        let dup = samples(vec![
            raw("ok", 1.0, &[]),
            raw("x", 1.0, &[("k", "1"), ("k", "2")]),
        ]);
        assert_eq!(
            dup.unwrap_err().to_string(),
            "samples[1].labels: key \"k\" given twice"
        );
        let nul = samples(vec![raw("bad", f64::NAN, &[]), raw("a\0b", 1.0, &[])]);
        assert_eq!(
            nul.unwrap_err().to_string(),
            "samples[1].name: control character U+0000 at byte 1"
        );
    }

    #[test]
    fn a_message_over_the_limits_becomes_an_error_run_that_passes() {
        let now = Utc::now();
        let mut msg = RunMessage::new("h", "p", "1", "j", now);
        msg.samples = vec![
            Sample {
                name: "m".into(),
                value: 1.0,
                unit: "1".into(),
                labels: Labels::new(),
            };
            sonde_message::limits::MAX_SAMPLES_PER_MESSAGE + 1
        ];
        msg.dropped_non_finite = 2;
        finish(&mut msg, now);
        assert_eq!(msg.status, RunStatus::Error);
        assert!(msg.samples.is_empty() && msg.dropped_non_finite == 0);
        let error = msg.error.clone().unwrap_or_default();
        assert!(
            error.starts_with("output invalid: samples: 10001 samples"),
            "{error}"
        );
        assert_eq!(sonde_message::validate(&msg, now), Ok(()));

        let mut msg = RunMessage::new("h", "p", "1", "j", now);
        fail(&mut msg, "trap: \u{1b}[2J\0gone");
        assert_eq!(msg.error.as_deref(), Some("trap: \\u{1b}[2J\\u{0}gone"));
        finish(&mut msg, now);
        assert_eq!(msg.error.as_deref(), Some("trap: \\u{1b}[2J\\u{0}gone"));
    }
}
