//! Runs every job on its interval.
//!
//! - Each job is one task: its runs never overlap.
//! - Tick `k` of a job is due at `start + k * interval + jitter_k`, jitter_k in
//!   `[0, min(interval / 10, MAX_JITTER_MS))`, so jobs with the same interval spread out
//!   and the schedule does not drift.
//! - At most `max_concurrency` runs at a time (a semaphore); waiting counts as lateness.
//! - A run that ends after later ticks were due skips them: they are counted and logged,
//!   never queued.
//! - A probe swapped by hot-load takes effect before the job's next run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::output::Sink;
use crate::runtime::probe::{Host, LoadedProbe};
use crate::schedule::job::Job;
use crate::telemetry::{JobMetrics, Telemetry};

pub const MAX_JITTER_MS: u64 = 1_000;

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
            self.hostname.clone(),
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

fn jitter(interval: Duration) -> Duration {
    let cap_ms = (interval.as_millis() as u64 / 10).min(MAX_JITTER_MS);
    if cap_ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::rng().random_range(0..cap_ms))
}

/// After tick `tick` ran and `elapsed` has passed since the schedule started: the next
/// tick strictly in the future, and how many ticks in between were missed (skipped, not
/// queued).
pub fn next_tick(elapsed: Duration, interval: Duration, tick: u64) -> (u64, u64) {
    let next = (elapsed.as_nanos() / interval.as_nanos().max(1)) as u64 + 1;
    let next = next.max(tick + 1);
    (next, next - (tick + 1))
}

#[allow(clippy::too_many_arguments)]
async fn job_loop(
    mut job: Job,
    host: Host,
    sink: Arc<dyn Sink>,
    hostname: Arc<str>,
    permits: Arc<Semaphore>,
    (counters, metrics): (Arc<RunCounters>, JobMetrics),
    mut probe_rx: watch::Receiver<Arc<LoadedProbe>>,
    mut stop_rx: watch::Receiver<bool>,
) {
    let start = Instant::now();
    let mut tick: u64 = 0;
    let mut missed_total: u64 = 0;
    loop {
        let interval = job.interval();
        let offset_nanos = interval
            .as_nanos()
            .saturating_mul(tick as u128)
            .min(u64::MAX as u128) as u64;
        let due = start + Duration::from_nanos(offset_nanos) + jitter(interval);
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
        let (next, missed) = next_tick(
            Instant::now().saturating_duration_since(start),
            interval,
            tick,
        );
        if missed > 0 {
            missed_total += missed;
            counters.missed_ticks.fetch_add(missed, Ordering::Relaxed);
            metrics.missed_ticks.increment(missed);
            tracing::warn!(job = %job.spec.name, missed, missed_total, "run ended after later ticks were due; skipped them");
        }
        tick = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_ticks_are_counted_not_queued() {
        let s = Duration::from_secs(1);
        let ms = Duration::from_millis;
        // (elapsed, tick that ran) -> (next tick, missed)
        let cases = [
            (ms(10), 0, (1, 0)),   // ran on time
            (ms(999), 0, (1, 0)),  // ran long, still before the next tick
            (ms(1000), 0, (2, 1)), // exactly at the next tick: it is past, skip it
            (ms(3500), 1, (4, 2)), // ticks 2 and 3 missed
            (ms(500), 3, (4, 0)),  // never schedules backwards
        ];
        for (elapsed, tick, want) in cases {
            assert_eq!(
                next_tick(elapsed, s, tick),
                want,
                "elapsed {elapsed:?} tick {tick}"
            );
        }
    }

    #[test]
    fn jitter_stays_within_a_tenth_and_a_second() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(200)) < Duration::from_millis(20));
            assert!(jitter(Duration::from_secs(60)) < Duration::from_millis(MAX_JITTER_MS));
        }
        assert_eq!(jitter(Duration::from_millis(5)), Duration::ZERO);
    }
}
