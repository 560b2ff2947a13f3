//! What a report shows, already downsampled: the renderer's input, built by `fetch` from
//! the queries and by tests directly. Times are UTC seconds since the epoch.

use chrono::{DateTime, Utc};

/// The time range charted and the width of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First bucket start (seconds since the epoch, UTC).
    pub from: i64,
    /// End of the last bucket.
    pub to: i64,
    pub bucket_secs: i64,
}

/// One line of a chart: (bucket start, value) in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: String,
    pub points: Vec<(i64, f64)>,
    /// Drawn dashed (p95 beside the solid p50).
    pub dashed: bool,
}

impl Line {
    pub fn new(label: impl Into<String>) -> Line {
        Line {
            label: label.into(),
            points: Vec::new(),
            dashed: false,
        }
    }
}

/// Something that happened in one bucket, drawn as a vertical mark.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub time: i64,
    pub text: String,
}

/// One row of a timeline: per bucket, the share (0–1) of runs that were "good".
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub label: String,
    pub cells: Vec<(i64, f64)>,
}

/// One host's machine charts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostCharts {
    pub host: String,
    /// Per CPU state, percent.
    pub cpu: Vec<Line>,
    /// Used and available, bytes.
    pub memory: Vec<Line>,
    /// Per interface and direction, bytes/s.
    pub network: Vec<Line>,
    pub threshold_events: Vec<Event>,
}

/// One HTTP check (a URL checked from a host).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CheckCharts {
    pub host: String,
    pub url: String,
    /// One lane, share of runs up per bucket.
    pub up: Vec<(i64, f64)>,
    /// One lane per status code, share of runs with that code per bucket.
    pub status: Vec<Lane>,
    /// p50 (solid) and p95 (dashed) per phase, milliseconds.
    pub latency: Vec<Line>,
    /// One lane per regex, share of runs matching per bucket.
    pub regex: Vec<Lane>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FailedRun {
    pub time: DateTime<Utc>,
    pub host: String,
    pub probe: String,
    pub job: String,
    pub error: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub time: DateTime<Utc>,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
    /// The first bytes, non-ASCII as octal escapes.
    pub payload_start: String,
}

/// Everything on the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub generated_at: DateTime<Utc>,
    pub window: Window,
    /// Start of the requested window (`--since`): the tables cover it all, the charts
    /// start at the first run in it.
    pub since: i64,
    /// `--host`, when the report is about one host.
    pub host_filter: Option<String>,
    pub runs: i64,
    pub hosts: Vec<HostCharts>,
    pub checks: Vec<CheckCharts>,
    pub failed_runs: Vec<FailedRun>,
    pub failed_runs_total: i64,
    pub dead_letters: Vec<DeadLetter>,
    pub dead_letters_total: i64,
}
