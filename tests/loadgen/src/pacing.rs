//! When each run is due.
//!
//! One interval holds `hosts × jobs` slots at equal spacing. Slot `j` of an interval
//! belongs to host `j % hosts`, job `j / hosts`: consecutive slots go to different hosts,
//! and each host's jobs are `interval / jobs` apart, so a host's runs are spread evenly
//! across the interval and the fleet's load is flat rather than one burst per interval.

use std::time::Duration;

/// The slot layout of a fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    hosts: u32,
    jobs: u32,
    interval: Duration,
}

/// One due run: which host, which of its jobs, and when (from the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub host: u32,
    pub job: u32,
    pub due: Duration,
}

impl Schedule {
    /// `hosts` hosts with `jobs` jobs each, every job once per `interval`.
    ///
    /// # Errors
    /// When a count or the interval is zero.
    pub fn new(hosts: u32, jobs: u32, interval: Duration) -> anyhow::Result<Schedule> {
        anyhow::ensure!(hosts > 0, "the fleet needs at least one host");
        anyhow::ensure!(jobs > 0, "a host needs at least one job");
        anyhow::ensure!(!interval.is_zero(), "the interval must be above 0");
        Ok(Schedule {
            hosts,
            jobs,
            interval,
        })
    }

    /// Slots in one interval.
    pub fn per_interval(&self) -> u64 {
        u64::from(self.hosts) * u64::from(self.jobs)
    }

    /// Target runs per second.
    pub fn runs_per_sec(&self) -> f64 {
        self.per_interval() as f64 / self.interval.as_secs_f64()
    }

    /// Slot number `k` (from 0, counting across intervals).
    pub fn slot(&self, k: u64) -> Slot {
        let per = self.per_interval();
        let j = k % per;
        Slot {
            host: (j % u64::from(self.hosts)) as u32,
            job: (j / u64::from(self.hosts)) as u32,
            due: self.due(k),
        }
    }

    /// When slot `k` is due.
    pub fn due(&self, k: u64) -> Duration {
        let nanos = u128::from(k) * self.interval.as_nanos() / u128::from(self.per_interval());
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// How many slots are due at or before `elapsed` (slot 0 is due at once).
    pub fn due_by(&self, elapsed: Duration) -> u64 {
        let slots = elapsed.as_nanos() * u128::from(self.per_interval()) / self.interval.as_nanos();
        u64::try_from(slots).unwrap_or(u64::MAX).saturating_add(1)
    }

    /// Slots of a run lasting `length`: those due strictly before it ends.
    pub fn total(&self, length: Duration) -> u64 {
        let slots = length.as_nanos() * u128::from(self.per_interval());
        let whole = slots.div_ceil(self.interval.as_nanos());
        u64::try_from(whole).unwrap_or(u64::MAX)
    }
}

/// How far behind its schedule a run was sent, summarised as the generator goes.
#[derive(Debug, Default, Clone)]
pub struct Lateness {
    /// Late sends by bucket: `[0]` under 10 ms, `[1]` under 100 ms, `[2]` under 1 s, `[3]` later.
    pub buckets: [u64; 4],
    pub max: Duration,
}

impl Lateness {
    pub fn add(&mut self, late: Duration) {
        let bucket = match late.as_millis() {
            0..10 => 0,
            10..100 => 1,
            100..1000 => 2,
            _ => 3,
        };
        self.buckets[bucket] += 1;
        self.max = self.max.max(late);
    }

    /// Sends that were at least 1 s late: the generator could not keep the pace.
    pub fn late_1s(&self) -> u64 {
        self.buckets[3]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn schedule(hosts: u32, jobs: u32, interval_ms: u64) -> Schedule {
        Schedule::new(hosts, jobs, Duration::from_millis(interval_ms)).expect("valid schedule")
    }

    #[test]
    fn every_job_of_every_host_runs_once_per_interval() {
        let s = schedule(7, 3, 1000);
        for interval in 0..3 {
            let mut seen = HashMap::new();
            for k in interval * s.per_interval()..(interval + 1) * s.per_interval() {
                let slot = s.slot(k);
                *seen.entry((slot.host, slot.job)).or_insert(0) += 1;
            }
            assert_eq!(seen.len(), 21);
            assert!(seen.values().all(|&n| n == 1), "{seen:?}");
        }
    }

    #[test]
    fn a_hosts_runs_are_spread_evenly_across_the_interval() {
        let s = schedule(10_000, 6, 10_000);
        let host = 4321;
        let dues: Vec<Duration> = (0..s.per_interval())
            .map(|k| s.slot(k))
            .filter(|slot| slot.host == host)
            .map(|slot| slot.due)
            .collect();
        assert_eq!(dues.len(), 6);
        for pair in dues.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap.abs_diff(Duration::from_millis(10_000 / 6)) < Duration::from_millis(2),
                "{gap:?}"
            );
        }
    }

    #[test]
    fn slots_are_equally_spaced_and_due_by_counts_them() {
        let s = schedule(100, 6, 10_000);
        assert_eq!(s.runs_per_sec(), 60.0);
        assert_eq!(s.due(0), Duration::ZERO);
        assert_eq!(s.due(60), Duration::from_secs(1));
        assert_eq!(s.due(600), Duration::from_secs(10));
        assert_eq!(s.due_by(Duration::ZERO), 1);
        assert_eq!(s.due_by(Duration::from_millis(999)), 60);
        assert_eq!(s.due_by(Duration::from_secs(1)), 61);
        // The slot due exactly at the end belongs to the next run.
        assert_eq!(s.total(Duration::from_secs(1)), 60);
        assert_eq!(s.total(Duration::from_millis(1001)), 61);
        // Every slot counted by due_by is due by then.
        for ms in [0, 1, 17, 999, 1000, 12_345] {
            let elapsed = Duration::from_millis(ms);
            let n = s.due_by(elapsed);
            assert!(s.due(n - 1) <= elapsed && s.due(n) > elapsed, "{ms} ms");
        }
    }

    #[test]
    fn a_degenerate_fleet_is_refused() {
        assert!(Schedule::new(0, 6, Duration::from_secs(10)).is_err());
        assert!(Schedule::new(10, 0, Duration::from_secs(10)).is_err());
        assert!(Schedule::new(10, 6, Duration::ZERO).is_err());
    }

    #[test]
    fn lateness_buckets_and_maximum() {
        let mut l = Lateness::default();
        for ms in [0, 9, 10, 99, 100, 999, 1000, 5000] {
            l.add(Duration::from_millis(ms));
        }
        assert_eq!(l.buckets, [2, 2, 2, 2]);
        assert_eq!(l.late_1s(), 2);
        assert_eq!(l.max, Duration::from_secs(5));
    }
}
