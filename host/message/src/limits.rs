//! The message limits, shared by both ends: the host refuses to publish a run that breaks
//! one (`output invalid: ...`), the recorder's [`crate::decode`] dead-letters it.
//!
//! Why these bounds exist: every text ends up in PostgreSQL, which cannot store U+0000 in
//! `text`, and in log lines and terminals, where control characters rewrite what an operator
//! sees. Lengths are in UTF-8 bytes, what PostgreSQL and Kafka count. The table in
//! `docs/limits.md` ("Message limits") lists the same numbers; a test keeps them in step.

use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::{RunMessage, RunStatus, Sample};

pub const MAX_HOST_BYTES: usize = 255;
pub const MAX_PROBE_BYTES: usize = 64;
pub const MAX_PROBE_VERSION_BYTES: usize = 64;
pub const MAX_JOB_BYTES: usize = 128;
pub const MAX_METRIC_NAME_BYTES: usize = 255;
pub const MAX_UNIT_BYTES: usize = 63;
pub const MAX_LABEL_KEY_BYTES: usize = 128;
pub const MAX_LABEL_VALUE_BYTES: usize = 2048;
pub const MAX_ERROR_BYTES: usize = 8192;
pub const MAX_LABELS_PER_SAMPLE: usize = 64;
pub const MAX_SAMPLES_PER_MESSAGE: usize = 10_000;
/// `duration_us` is stored as PostgreSQL `bigint`.
pub const MAX_DURATION_US: u64 = i64::MAX as u64;
/// How far in the future a run may claim to have started (clock skew between hosts).
pub const MAX_FUTURE_SKEW_SECS: i64 = 3600;
/// The earliest `started_at` accepted, as seconds since the Unix epoch (1970-01-01T00:00:00Z):
/// a clock before it is broken, and PostgreSQL's daily partitions are only made for sane days.
pub const MIN_STARTED_AT_UNIX_SECS: i64 = 0;

/// The earliest `started_at` accepted.
pub fn min_started_at() -> DateTime<Utc> {
    Utc.timestamp_opt(MIN_STARTED_AT_UNIX_SECS, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// One text field of a message, with its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Host,
    Probe,
    ProbeVersion,
    Job,
    MetricName,
    Unit,
    LabelKey,
    LabelValue,
    Error,
}

impl Field {
    pub const fn max_bytes(self) -> usize {
        match self {
            Field::Host => MAX_HOST_BYTES,
            Field::Probe => MAX_PROBE_BYTES,
            Field::ProbeVersion => MAX_PROBE_VERSION_BYTES,
            Field::Job => MAX_JOB_BYTES,
            Field::MetricName => MAX_METRIC_NAME_BYTES,
            Field::Unit => MAX_UNIT_BYTES,
            Field::LabelKey => MAX_LABEL_KEY_BYTES,
            Field::LabelValue => MAX_LABEL_VALUE_BYTES,
            Field::Error => MAX_ERROR_BYTES,
        }
    }

    /// Names a series or a run: must say something.
    const fn must_be_nonempty(self) -> bool {
        matches!(
            self,
            Field::Host | Field::Probe | Field::Job | Field::MetricName | Field::LabelKey
        )
    }

    /// Error text is prose (a panic message, a backtrace): tab and line breaks are fine in it.
    fn allows(self, c: char) -> bool {
        !c.is_control() || (matches!(self, Field::Error) && matches!(c, '\t' | '\n' | '\r'))
    }
}

/// Why a message breaks the limits: the field (as a JSON path) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub problem: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

impl std::error::Error for Violation {}

/// A [`Violation`] of `path`.
pub fn violation(path: impl Into<String>, problem: impl Into<String>) -> Violation {
    Violation {
        path: path.into(),
        problem: problem.into(),
    }
}

/// Check one text `value` of `field` found at `path`.
pub fn check_text(field: Field, path: &str, value: &str) -> Result<(), Violation> {
    text_problem(field, value).map_or(Ok(()), |problem| Err(violation(path, problem)))
}

/// What is wrong with `value` as a `field`, if anything. The path of a failing field is
/// only formatted once there is a failure: decoding checks every field of every message.
fn text_problem(field: Field, value: &str) -> Option<String> {
    if field.must_be_nonempty() && value.is_empty() {
        return Some("empty".into());
    }
    if value.len() > field.max_bytes() {
        return Some(format!(
            "{} bytes, more than the {} allowed",
            value.len(),
            field.max_bytes()
        ));
    }
    let (at, c) = first_disallowed(field, value)?;
    Some(format!("control character U+{:04X} at byte {at}", c as u32))
}

/// The first character `field` does not allow, by a scan of bytes: C0 controls and DEL are
/// single bytes, C1 controls (U+0080..=U+009F) are 0xC2 followed by 0x80..=0x9F.
fn first_disallowed(field: Field, value: &str) -> Option<(usize, char)> {
    let bytes = value.as_bytes();
    // Nearly every text has none of the bytes a control can start with: find that out in
    // one pass without branches (which the compiler vectorises) before looking closer.
    let suspect = bytes.iter().fold(false, |any, &b| {
        any | (b < 0x20) | (b == 0x7f) | (b == 0xc2)
    });
    if !suspect {
        return None;
    }
    bytes.iter().enumerate().find_map(|(i, &b)| {
        let control = b < 0x20
            || b == 0x7f
            || (b == 0xc2 && bytes.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)));
        if !control {
            return None;
        }
        let c = value.get(i..)?.chars().next()?;
        (!field.allows(c)).then_some((i, c))
    })
}

/// Check the fields that name a run's origin (what the host knows before any run):
/// a host name, probe name or version, or job name that breaks them breaks every run.
pub fn check_identity(
    host: &str,
    probe: &str,
    probe_version: &str,
    job: &str,
) -> Result<(), Violation> {
    check_text(Field::Host, "host", host)?;
    check_text(Field::Probe, "probe", probe)?;
    check_text(Field::ProbeVersion, "probe_version", probe_version)?;
    check_text(Field::Job, "job", job)
}

/// Every limit of the table, `now` being the checking side's clock.
pub fn validate(m: &RunMessage, now: DateTime<Utc>) -> Result<(), Violation> {
    check_identity(&m.host, &m.probe, &m.probe_version, &m.job)?;
    if m.started_at < min_started_at() {
        return Err(violation(
            "started_at",
            format!("{} is before {}", m.started_at, min_started_at()),
        ));
    }
    if m.started_at > now + Duration::seconds(MAX_FUTURE_SKEW_SECS) {
        return Err(violation(
            "started_at",
            format!(
                "{} is in the future (more than {MAX_FUTURE_SKEW_SECS} s ahead of {now})",
                m.started_at
            ),
        ));
    }
    if m.duration_us > MAX_DURATION_US {
        return Err(violation(
            "duration_us",
            format!("{} is more than {MAX_DURATION_US}", m.duration_us),
        ));
    }
    match (m.status, &m.error) {
        (RunStatus::Error, None) => {
            return Err(violation("error", "missing on a run with status `error`"))
        }
        (RunStatus::Ok, Some(_)) => {
            return Err(violation("error", "set on a run with status `ok`"))
        }
        (_, Some(text)) => check_text(Field::Error, "error", text)?,
        (RunStatus::Ok, None) => {}
    }
    if let Some(sha) = &m.component_sha256 {
        if !is_sha256_hex(sha) {
            return Err(violation("component_sha256", "not 64 lowercase hex digits"));
        }
    }
    if m.samples.len() > MAX_SAMPLES_PER_MESSAGE {
        return Err(violation(
            "samples",
            format!(
                "{} samples, more than the {MAX_SAMPLES_PER_MESSAGE} allowed",
                m.samples.len()
            ),
        ));
    }
    if m.dropped_non_finite as usize > MAX_SAMPLES_PER_MESSAGE {
        return Err(violation(
            "dropped_non_finite",
            format!(
                "{} is more than the {MAX_SAMPLES_PER_MESSAGE} samples a run may have",
                m.dropped_non_finite
            ),
        ));
    }
    for (i, s) in m.samples.iter().enumerate() {
        check_sample(i, s)?;
    }
    Ok(())
}

/// The limits of one sample, `i` being its index in the message (or in a probe's output).
pub fn check_sample(i: usize, s: &Sample) -> Result<(), Violation> {
    if let Some(problem) = text_problem(Field::MetricName, &s.name) {
        return Err(violation(format!("samples[{i}].name"), problem));
    }
    if let Some(problem) = text_problem(Field::Unit, &s.unit) {
        return Err(violation(format!("samples[{i}].unit"), problem));
    }
    if !s.value.is_finite() {
        return Err(violation(
            format!("samples[{i}].value"),
            "not a finite number",
        ));
    }
    if s.labels.len() > MAX_LABELS_PER_SAMPLE {
        return Err(violation(
            format!("samples[{i}].labels"),
            format!(
                "{} labels, more than the {MAX_LABELS_PER_SAMPLE} allowed",
                s.labels.len()
            ),
        ));
    }
    for (key, value) in &s.labels {
        if let Some(problem) = text_problem(Field::LabelKey, key) {
            let path = format!("samples[{i}].labels key \"{}\"", preview(key));
            return Err(violation(path, problem));
        }
        if let Some(problem) = text_problem(Field::LabelValue, value) {
            let path = format!("samples[{i}].labels[\"{}\"]", preview(key));
            return Err(violation(path, problem));
        }
    }
    Ok(())
}

/// At most the first 40 characters of `s`, control characters escaped: safe to quote in a
/// reason or a log line whatever `s` holds.
pub fn preview(s: &str) -> String {
    const CHARS: usize = 40;
    let mut out: String = s
        .chars()
        .take(CHARS)
        .flat_map(|c| -> Box<dyn Iterator<Item = char>> {
            if c.is_control() {
                Box::new(c.escape_unicode())
            } else {
                Box::new(std::iter::once(c))
            }
        })
        .collect();
    if s.chars().nth(CHARS).is_some() {
        out.push('…');
    }
    out
}

/// `text` made fit for the `error` field: control characters other than tab and line breaks
/// escaped (`\u{1b}`), cut at a character boundary to [`MAX_ERROR_BYTES`] (ending in `…`).
/// The host passes every error text through this, since part of it can come from a probe.
pub fn sanitize_error_text(text: &str) -> String {
    escape_and_cut(text, MAX_ERROR_BYTES, |c| Field::Error.allows(c))
}

/// `text` on one line and at most `max_bytes` long: every control character escaped, cut at
/// a character boundary (ending in `…`). For reasons and log lines quoting outside input.
pub fn one_line(text: &str, max_bytes: usize) -> String {
    escape_and_cut(text, max_bytes, |c| !c.is_control())
}

fn escape_and_cut(text: &str, max_bytes: usize, keep: impl Fn(char) -> bool) -> String {
    const MARK: char = '…';
    let mut out = String::with_capacity(text.len().min(max_bytes));
    for c in text.chars() {
        if keep(c) {
            out.push(c);
        } else {
            out.extend(c.escape_unicode());
        }
        if out.len() > max_bytes {
            let mut cut = max_bytes.saturating_sub(MARK.len_utf8());
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push(MARK);
            break;
        }
    }
    out
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
