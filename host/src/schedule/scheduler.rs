//! Runs every job on its interval.
//!
//! - Each job is one task: its runs never overlap.
//! - A job runs once when it starts (after the host's phase for its interval), then on
//!   the host's grid for that interval: `origin + phase + k * interval`, where `origin` is
//!   when the scheduler was made and `phase`, in `[0, min(interval / 10, MAX_PHASE_MS))`,
//!   is fixed by the host name and the interval. Jobs of one host with the same interval
//!   therefore wake together (one wake-up, one batch to Kafka), different hosts spread
//!   out, and the schedule does not drift.
//! - At most `max_concurrency` runs at a time (a semaphore); waiting counts as lateness.
//! - A run that ends after later ticks were due skips them: they are counted and logged,
//!   never queued.
//! - A probe swapped by hot-load takes effect before the job's next run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::output::Sink;
use crate::runtime::probe::{Host, LoadedProbe};
use crate::schedule::job::Job;
use crate::telemetry::{JobMetrics, Telemetry};

pub const MAX_PHASE_MS: u64 = 1_000;

/// Counters shared with the caller.
#[derive(Debug, Default)]
pub struct RunCounters {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub missed_ticks: AtomicU64,
}

struct JobHandle {
    probe_tx: watch::Sender<Arc<LoadedProbe>>,
    stop_tx: watch::Sender<bool>,
    task: JoinHandle<()>,
}

pub struct Scheduler {
    host: Host,
    sink: Arc<dyn Sink>,
    hostname: Arc<str>,
    permits: Arc<Semaphore>,
    /// Where every job's grid starts.
    origin: Instant,
    jobs: HashMap<String, JobHandle>,
    pub counters: Arc<RunCounters>,
    telemetry: Option<Telemetry>,
}

impl Scheduler {
    pub fn new(host: Host, sink: Arc<dyn Sink>, hostname: &str, max_concurrency: usize) -> Self {
        Scheduler {
            host,
            sink,
            hostname: hostname.into(),
            permits: Arc::new(Semaphore::new(max_concurrency.max(1))),
            origin: Instant::now(),
            jobs: HashMap::new(),
            counters: Arc::new(RunCounters::default()),
            telemetry: None,
        }
    }

    /// Count runs, durations and missed ticks per job in `telemetry`.
    pub fn with_telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    fn jobs_changed(&self) {
        if let Some(t) = &self.telemetry {
            t.jobs.set(self.jobs.len() as f64);
        }
    }

    pub fn job_names(&self) -> Vec<String> {
        self.jobs.keys().cloned().collect()
    }

    pub fn has_job(&self, name: &str) -> bool {
        self.jobs.contains_key(name)
    }

    /// Start a job's schedule; a job of the same name is stopped first.
    pub async fn start(&mut self, job: Job) {
        let name = job.spec.name.clone();
        self.stop(&name).await;
        let (probe_tx, probe_rx) = watch::channel(job.probe.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        tracing::info!(job = %name, probe = %job.probe.info.name, interval_ms = job.interval().as_millis() as u64, "job started");
        let metrics = self
            .telemetry
            .as_ref()
            .map(|t| t.job(&name))
            .unwrap_or_default();
        let task = tokio::spawn(job_loop(
            job,
            self.host.clone(),
            self.sink.clone(),
            (self.hostname.clone(), self.origin),
            self.permits.clone(),
            (self.counters.clone(), metrics),
            probe_rx,
            stop_rx,
        ));
        self.jobs.insert(
            name,
            JobHandle {
                probe_tx,
                stop_tx,
                task,
            },
        );
        self.jobs_changed();
    }

    /// Use `probe` from the job's next run on.
    pub fn swap(&self, name: &str, probe: Arc<LoadedProbe>) {
        if let Some(h) = self.jobs.get(name) {
            let _ = h.probe_tx.send(probe);
        }
    }

    /// Stop a job after its current run (if any) has been published.
    pub async fn stop(&mut self, name: &str) {
        if let Some(h) = self.jobs.remove(name) {
            let _ = h.stop_tx.send(true);
            let _ = h.task.await;
            tracing::info!(job = %name, "job stopped");
            self.jobs_changed();
        }
    }

    pub async fn shutdown(&mut self) {
        for name in self.job_names() {
            self.stop(&name).await;
        }
    }
}

/// This host's offset into every interval-long period for jobs of `interval`: the same
/// for every job of that interval on the host (so they wake together), spread across
/// hosts by the host name, in `[0, min(interval / 10, MAX_PHASE_MS))`.
pub fn phase(hostname: &str, interval: Duration) -> Duration {
    let cap_ms = (interval.as_millis() as u64 / 10).min(MAX_PHASE_MS);
    if cap_ms == 0 {
        return Duration::ZERO;
    }
    let digest = Sha256::new()
        .chain_update(hostname.as_bytes())
        .chain_update(interval.as_nanos().to_le_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Duration::from_millis(u64::from_le_bytes(first) % cap_ms)
}

/// A run that was due `due` after its grid's start ended `now` after it: the index of the
/// next grid point strictly after `now` and at least half an interval after `due` (a first
/// run off the grid does not get a second one moments later), and how many grid points
/// after `due` were missed (skipped, not queued).
pub fn next_tick(due: Duration, now: Duration, interval: Duration) -> (u64, u64) {
    let interval = interval.as_nanos().max(1);
    let due = due.as_nanos();
    let after_now = (now.as_nanos() / interval) as u64 + 1;
    let after_due = (due / interval) as u64 + 1;
    let half_after_due = due.saturating_add(interval / 2).div_ceil(interval) as u64;
    (
        after_now.max(half_after_due),
        after_now.saturating_sub(after_due),
    )
}

#[allow(clippy::too_many_arguments)]
async fn job_loop(
    mut job: Job,
    host: Host,
    sink: Arc<dyn Sink>,
    (hostname, origin): (Arc<str>, Instant),
    permits: Arc<Semaphore>,
    (counters, metrics): (Arc<RunCounters>, JobMetrics),
    mut probe_rx: watch::Receiver<Arc<LoadedProbe>>,
    mut stop_rx: watch::Receiver<bool>,
) {
    // The grid for the job's interval, hashed again only when a swapped probe changes it.
    let grid_for = |interval: Duration| (interval, origin + phase(&hostname, interval));
    let (mut grid_interval, mut grid) = grid_for(job.interval());
    // The first run is due after the host's phase; the next ones on the grid.
    let mut due = Instant::now() + grid.saturating_duration_since(origin);
    let mut missed_total: u64 = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = stop_rx.changed() => return,
        }
        if *stop_rx.borrow() {
            return;
        }
        if probe_rx.has_changed().unwrap_or(false) {
            let probe = probe_rx.borrow_and_update().clone();
            match job.swap_probe(probe) {
                Ok(()) => {
                    tracing::info!(job = %job.spec.name, version = %job.probe.info.version, "probe replaced")
                }
                Err(e) => tracing::error!("{e:#}; keeping the previous probe"),
            }
        }
        let Ok(_permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let msg = job.run_once(&host, &hostname).await;
        metrics
            .duration
            .record(Duration::from_micros(msg.duration_us).as_secs_f64());
        match &msg.error {
            None => {
                metrics.runs_ok.increment(1);
                counters.ok.fetch_add(1, Ordering::Relaxed)
            }
            Some(e) => {
                tracing::warn!(job = %job.spec.name, "run failed: {e}");
                metrics.runs_error.increment(1);
                counters.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        let (run_id, status) = (msg.run_id, msg.status);
        sink.publish(msg);
        tracing::debug!(job = %job.spec.name, %run_id, ?status, "run published");
        drop(_permit);
        let interval = job.interval();
        if interval != grid_interval {
            (grid_interval, grid) = grid_for(interval);
        }
        let (next, missed) = next_tick(
            due.saturating_duration_since(grid),
            Instant::now().saturating_duration_since(grid),
            interval,
        );
        if missed > 0 {
            missed_total += missed;
            counters.missed_ticks.fetch_add(missed, Ordering::Relaxed);
            metrics.missed_ticks.increment(missed);
            tracing::warn!(job = %job.spec.name, missed, missed_total, "run ended after later ticks were due; skipped them");
        }
        let offset = interval.as_nanos().saturating_mul(u128::from(next));
        due = grid + Duration::from_nanos(offset.min(u128::from(u64::MAX)) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_ticks_are_counted_not_queued() {
        let s = Duration::from_secs(1);
        let ms = Duration::from_millis;
        // (due, ended) since the grid's start -> (next grid point, missed)
        let cases = [
            (ms(0), ms(10), (1, 0)),      // ran on time
            (ms(0), ms(999), (1, 0)),     // ran long, still before the next tick
            (ms(0), ms(1000), (2, 1)),    // exactly at the next tick: it is past, skip it
            (ms(1000), ms(3500), (4, 2)), // ticks 2 and 3 missed
            (ms(300), ms(400), (1, 0)),   // a first run off the grid joins it
            (ms(300), ms(1300), (2, 1)),  // ... and can miss its first grid point
            (ms(950), ms(951), (2, 0)),   // ... but not moments after its first run
        ];
        for (due, now, want) in cases {
            assert_eq!(next_tick(due, now, s), want, "due {due:?} now {now:?}");
        }
    }

    #[test]
    fn a_hosts_jobs_of_one_interval_share_a_phase_and_hosts_spread() {
        let minute = Duration::from_secs(60);
        let phases: std::collections::HashSet<Duration> = (0..100)
            .map(|i| phase(&format!("host-{i}"), minute))
            .collect();
        assert!(phases.len() > 80, "100 hosts share {} phases", phases.len());
        assert!(phases
            .iter()
            .all(|p| *p < Duration::from_millis(MAX_PHASE_MS)));
        assert_eq!(phase("web-1", minute), phase("web-1", minute));
        assert!(phase("web-1", Duration::from_millis(200)) < Duration::from_millis(20));
        assert_eq!(phase("web-1", Duration::from_millis(5)), Duration::ZERO);
    }
}
