//! A write that does not go through is never silent: the first failure, every change of
//! cause, a reminder at a fixed interval with how long it has lasted, and the recovery are
//! logged; identical retries in between are not.

use std::time::{Duration, Instant};

/// How often a write that keeps failing (or a statement that keeps running) is reported.
pub const STALL_WARNING_INTERVAL: Duration = Duration::from_secs(30);

/// What to log, decided without a clock of its own so it can be tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Warn(String),
    Info(String),
}

#[derive(Debug, Default)]
pub struct Stall {
    since: Option<Instant>,
    cause: String,
    warned_at: Option<Instant>,
}

impl Stall {
    /// A write of `messages` messages failed with `cause` at `now`.
    pub fn failed(&mut self, cause: &str, messages: usize, now: Instant) -> Option<Report> {
        let since = *self.since.get_or_insert(now);
        let lasted = now.duration_since(since);
        let report = if self.warned_at.is_none() {
            format!(
                "writing a batch of {messages} messages to PostgreSQL failed, retrying with backoff: {cause}"
            )
        } else if cause != self.cause {
            format!(
                "a batch of {messages} messages still not written after {}; the cause changed: {cause}",
                human(lasted)
            )
        } else if self
            .warned_at
            .is_some_and(|at| now.duration_since(at) >= STALL_WARNING_INTERVAL)
        {
            format!(
                "a batch of {messages} messages still not written after {}: {cause}",
                human(lasted)
            )
        } else {
            return None;
        };
        self.cause = cause.to_owned();
        self.warned_at = Some(now);
        Some(Report::Warn(report))
    }

    /// How long the failures have lasted at `now` (zero when none).
    pub fn lasted(&self, now: Instant) -> Duration {
        self.since
            .map_or(Duration::ZERO, |since| now.duration_since(since))
    }

    /// The write went through at `now`.
    pub fn succeeded(&mut self, now: Instant) -> Option<Report> {
        let since = self.since.take()?;
        self.warned_at = None;
        self.cause.clear();
        Some(Report::Info(format!(
            "PostgreSQL writes recovered after {}",
            human(now.duration_since(since))
        )))
    }

    /// Log `report` (if any).
    pub fn log(report: Option<Report>) {
        match report {
            Some(Report::Warn(text)) => tracing::warn!("{text}"),
            Some(Report::Info(text)) => tracing::info!("{text}"),
            None => {}
        }
    }
}

/// `95 s` or `3 min 5 s`: stall durations in logs.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 120 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_state_changes_and_reminders_only() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut stall = Stall::default();
        let warn = |r: Option<Report>| match r {
            Some(Report::Warn(text)) => text,
            other => panic!("expected a warning, got {other:?}"),
        };
        assert!(warn(stall.failed("disk full", 10, t0)).contains("failed, retrying"));
        assert_eq!(stall.failed("disk full", 10, t0 + s(1)), None);
        assert_eq!(stall.failed("disk full", 10, t0 + s(29)), None);
        assert!(warn(stall.failed("disk full", 10, t0 + s(31))).contains("after 31.0 s"));
        assert_eq!(stall.failed("disk full", 10, t0 + s(40)), None);
        assert!(warn(stall.failed("read-only", 10, t0 + s(41))).contains("cause changed"));
        assert_eq!(
            stall.succeeded(t0 + s(200)),
            Some(Report::Info(
                "PostgreSQL writes recovered after 3 min 20 s".into()
            ))
        );
        assert_eq!(stall.succeeded(t0 + s(201)), None);
        assert!(warn(stall.failed("disk full", 1, t0 + s(300))).contains("failed, retrying"));
    }
}
