//! The drills' verdict: the runs the host published (its `run published` log lines), what
//! reached the topic (the [`Tap`]) and what PostgreSQL holds must agree exactly: every
//! published run in `probe_run` once, every one of its samples in `measurement` once.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::tap::Tapped;
use super::{Pipeline, Tap};

/// A run as the host logged it when handing it to the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedRun {
    pub job: String,
    /// `Ok` or `Error` (the `RunStatus` debug form).
    pub status: String,
}

/// Every `run published` line in `logs`; panics if a run_id is logged twice.
pub fn published(logs: &[PathBuf]) -> HashMap<Uuid, PublishedRun> {
    let mut runs = HashMap::new();
    for path in logs {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("run published")) {
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .map(str::to_owned)
            };
            // A line cut short by kill -9 has no parseable run_id; the run then counts as
            // unlogged (see `Expect::unlogged_allowance`).
            let Some(run_id) = field("run_id=").and_then(|id| Uuid::parse_str(&id).ok()) else {
                continue;
            };
            let run = PublishedRun {
                job: field("job=").unwrap_or_default(),
                status: field("status=").unwrap_or_default(),
            };
            if let Some(earlier) = runs.insert(run_id, run) {
                panic!("run {run_id} ({earlier:?}) logged as published twice");
            }
        }
    }
    runs
}

/// One row of `probe_run`.
#[derive(Debug, Clone)]
pub struct StoredRun {
    pub job: String,
    pub status: String,
    pub started_at: DateTime<Utc>,
}

/// What PostgreSQL holds.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub runs: HashMap<Uuid, StoredRun>,
    pub probe_run_rows: i64,
    pub measurements: i64,
    pub distinct_measurements: i64,
    pub dead_letters: i64,
}

impl Stored {
    /// Reads the drill's database; before the recorder migrated it, everything is empty.
    pub async fn read(p: &Pipeline) -> anyhow::Result<Stored> {
        let db = sonde_tests::pg_connect(&p.env, &p.database).await?;
        let mut stored = Stored::default();
        let rows = match db
            .query(
                "SELECT run_id, job, status::text, started_at FROM probe_run",
                &[],
            )
            .await
        {
            Ok(rows) => rows,
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => return Ok(stored),
            Err(e) => return Err(e.into()),
        };
        stored.probe_run_rows = rows.len() as i64;
        for row in rows {
            let run = StoredRun {
                job: row.try_get(1)?,
                status: row.try_get(2)?,
                started_at: row.try_get(3)?,
            };
            stored.runs.insert(row.try_get(0)?, run);
        }
        let m = db
            .query_one(
                "SELECT count(*), count(DISTINCT (series_id, time)) FROM measurement",
                &[],
            )
            .await?;
        stored.measurements = m.try_get(0)?;
        stored.distinct_measurements = m.try_get(1)?;
        stored.dead_letters = db
            .query_one("SELECT count(*) FROM dead_letter", &[])
            .await?
            .try_get(0)?;
        Ok(stored)
    }

    /// Runs of `job`, oldest first.
    pub fn runs_of(&self, job: &str) -> Vec<&StoredRun> {
        let mut runs: Vec<&StoredRun> = self.runs.values().filter(|r| r.job == job).collect();
        runs.sort_by_key(|r| r.started_at);
        runs
    }
}

/// What a drill expects besides the runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expect {
    /// Rows `dead_letter` must end with.
    pub dead_letters: i64,
    /// Runs that may be in PostgreSQL (and on the topic) without a `run published` line:
    /// a host killed with -9 between spooling a run and logging it. Each must still have
    /// reached the topic from this drill's host.
    pub unlogged_allowance: usize,
}

/// The agreed state once the pipeline settled.
#[derive(Debug)]
pub struct Ledger {
    pub published: HashMap<Uuid, PublishedRun>,
    pub tapped: Tapped,
    pub stored: Stored,
    pub samples: i64,
}

/// Waits (bounded by the drill scale's patience) until PostgreSQL holds exactly the
/// published runs and their samples, then checks it stays so. Panics with the difference.
pub async fn assert_exactly_once(p: &Pipeline, tap: &Tap, expect: Expect) -> Ledger {
    let started = Instant::now();
    let deadline = started + p.scale.settle_patience();
    loop {
        let diff = match verdict(p, tap, expect).await {
            Ok(ledger) => {
                // Settled; anything arriving later would be a duplicate.
                tokio::time::sleep(Duration::from_secs(3)).await;
                let again = verdict(p, tap, expect)
                    .await
                    .unwrap_or_else(|diff| panic!("pipeline changed after settling: {diff}"));
                assert_eq!(
                    (again.stored.probe_run_rows, again.stored.measurements),
                    (ledger.stored.probe_run_rows, ledger.stored.measurements),
                    "rows were added after the pipeline had settled"
                );
                eprintln!(
                    "settled in {:.1} s: {} runs published, {} in probe_run, {} samples, {} dead letters, {} topic messages",
                    started.elapsed().as_secs_f64(),
                    ledger.published.len(),
                    ledger.stored.probe_run_rows,
                    ledger.samples,
                    ledger.stored.dead_letters,
                    ledger.tapped.messages
                );
                return ledger;
            }
            Err(diff) => diff,
        };
        assert!(
            Instant::now() < deadline,
            "pipeline did not settle within {:?}: {diff}",
            p.scale.settle_patience()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn some<'a>(ids: impl IntoIterator<Item = &'a Uuid>) -> String {
    let ids: BTreeSet<&Uuid> = ids.into_iter().collect();
    let shown: Vec<String> = ids.iter().take(8).map(|id| id.to_string()).collect();
    format!(
        "{} [{}{}]",
        ids.len(),
        shown.join(", "),
        if ids.len() > 8 { ", ..." } else { "" }
    )
}

/// `Ok` when the three views agree; `Err` describes how they differ.
async fn verdict(p: &Pipeline, tap: &Tap, expect: Expect) -> Result<Ledger, String> {
    let published = published(&p.host_logs());
    let tapped = tap.snapshot();
    let stored = Stored::read(p)
        .await
        .map_err(|e| format!("reading PostgreSQL: {e:#}"))?;
    let mut problems = Vec::new();

    let missing: Vec<&Uuid> = published
        .keys()
        .filter(|id| !stored.runs.contains_key(id))
        .collect();
    if !missing.is_empty() {
        let off_topic = missing
            .iter()
            .filter(|id| !tapped.runs.contains_key(id))
            .count();
        problems.push(format!(
            "published runs missing from probe_run: {} ({off_topic} of them not on the topic either)",
            some(missing.iter().copied())
        ));
    }
    let unlogged: Vec<&Uuid> = stored
        .runs
        .keys()
        .filter(|id| !published.contains_key(id))
        .collect();
    if unlogged.len() > expect.unlogged_allowance {
        problems.push(format!(
            "probe_run rows the host never logged as published (allowed {}): {}",
            expect.unlogged_allowance,
            some(unlogged.iter().copied())
        ));
    }
    let not_tapped: Vec<&Uuid> = stored
        .runs
        .keys()
        .filter(|id| !tapped.runs.contains_key(id))
        .collect();
    if !not_tapped.is_empty() {
        problems.push(format!(
            "probe_run rows not (yet) seen on the topic: {}",
            some(not_tapped)
        ));
    }
    for (id, run) in &stored.runs {
        if let Some(pubd) = published.get(id) {
            if pubd.job != run.job || !pubd.status.eq_ignore_ascii_case(&run.status) {
                problems.push(format!(
                    "run {id}: published as {pubd:?}, stored as {run:?}"
                ));
            }
        }
    }
    let samples: i64 = stored
        .runs
        .keys()
        .filter_map(|id| tapped.runs.get(id))
        .map(|r| r.samples)
        .sum();
    if stored.measurements != samples {
        problems.push(format!(
            "measurement rows {} != {samples} samples in the stored runs",
            stored.measurements
        ));
    }
    if stored.probe_run_rows != stored.runs.len() as i64 {
        problems.push(format!(
            "probe_run holds {} rows for {} distinct run_ids",
            stored.probe_run_rows,
            stored.runs.len()
        ));
    }
    if stored.distinct_measurements != stored.measurements {
        problems.push(format!(
            "duplicate measurements: {} rows, {} distinct (series_id, time)",
            stored.measurements, stored.distinct_measurements
        ));
    }
    if stored.dead_letters != expect.dead_letters {
        problems.push(format!(
            "dead_letter rows {} != {} expected",
            stored.dead_letters, expect.dead_letters
        ));
    }
    if published.is_empty() {
        problems.push(
            "the host logged no `run published` lines (is target/debug/host current? \
             `cargo build -p sonde-host`)"
                .to_owned(),
        );
    }
    if problems.is_empty() {
        Ok(Ledger {
            published,
            tapped,
            stored,
            samples,
        })
    } else {
        Err(problems.join("; "))
    }
}

/// Waits until `probe_run` holds at least `n` runs (the pipeline is flowing).
pub async fn wait_for_stored(p: &Pipeline, n: usize, patience: Duration) -> Stored {
    let deadline = Instant::now() + patience;
    loop {
        if let Ok(stored) = Stored::read(p).await {
            if stored.runs.len() >= n {
                return stored;
            }
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {n} runs reached probe_run within {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until the hosts started so far logged at least `n` published runs in total.
pub async fn wait_for_published(p: &Pipeline, n: usize, patience: Duration) -> usize {
    let deadline = Instant::now() + patience;
    loop {
        let got = published(&p.host_logs()).len();
        if got >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "the host logged only {got} of {n} published runs within {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
