//! Each job's share of the spool, so that during an outage one job flooding runs cannot
//! make the size cap push out the runs of the others.
//!
//! Policy ([`admits`]): while the spool is at most half full every run is spooled. Beyond
//! that a job may hold at most an equal share of the cap (the cap divided by the number of
//! jobs with runs in the spool); a new run of a job over its share is dropped, so the
//! flooding job loses its own newest runs and nobody else's. Only when the spool is full
//! nonetheless (one job alone, or jobs that started after it filled) are the oldest
//! segments dropped, whoever's runs they hold.

use std::collections::HashMap;

/// Whether a run of `record_bytes` from a job holding `job_bytes` may be spooled, with
/// `spool_bytes` in the spool, a cap of `max_bytes` and `jobs` jobs holding runs
/// (this one included).
pub fn admits(
    spool_bytes: u64,
    max_bytes: u64,
    job_bytes: u64,
    jobs: u64,
    record_bytes: u64,
) -> bool {
    if jobs < 2 || spool_bytes + record_bytes <= max_bytes / 2 {
        return true;
    }
    job_bytes + record_bytes <= max_bytes / jobs
}

/// Bytes per job in the segments that still hold undelivered runs. A segment whose runs
/// are all delivered leaves the ledger at once, though its file stays until the next sync.
#[derive(Debug, Default)]
pub struct Ledger {
    bytes: HashMap<String, u64>,
}

impl Ledger {
    pub fn add(&mut self, job: &str, bytes: u64) {
        match self.bytes.get_mut(job) {
            Some(b) => *b += bytes,
            None => {
                self.bytes.insert(job.to_owned(), bytes);
            }
        }
    }

    pub fn add_all(&mut self, jobs: &HashMap<String, u64>) {
        for (job, bytes) in jobs {
            self.add(job, *bytes);
        }
    }

    pub fn remove_all(&mut self, jobs: &HashMap<String, u64>) {
        for (job, bytes) in jobs {
            if let Some(b) = self.bytes.get_mut(job) {
                *b = b.saturating_sub(*bytes);
                if *b == 0 {
                    self.bytes.remove(job);
                }
            }
        }
    }

    pub fn of(&self, job: &str) -> u64 {
        self.bytes.get(job).copied().unwrap_or(0)
    }

    /// Jobs holding runs, counting `job` whether or not it holds any yet.
    pub fn jobs_counting(&self, job: &str) -> u64 {
        self.bytes.len() as u64 + u64::from(!self.bytes.contains_key(job))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_table() {
        // (spool, max, job, jobs, record, admitted)
        let cases = [
            (0, 1000, 0, 5, 10, true),      // empty spool
            (490, 1000, 490, 2, 10, true),  // up to half full, anything goes
            (495, 1000, 495, 2, 10, false), // past half: the hog is over 1000 / 2
            (495, 1000, 5, 2, 10, true),    // ...and the other job is not
            (990, 1000, 990, 1, 10, true),  // alone: the cap alone decides
            (900, 1000, 320, 3, 10, true),  // 330 <= 1000 / 3
            (900, 1000, 324, 3, 10, false), // 334 > 1000 / 3
            (1000, 1000, 100, 2, 10, true), // full but within its share: cap evicts
        ];
        for (spool, max, job, jobs, record, want) in cases {
            assert_eq!(
                admits(spool, max, job, jobs, record),
                want,
                "spool {spool} job {job} jobs {jobs}"
            );
        }
    }

    #[test]
    fn ledger_counts_jobs_and_forgets_emptied_ones() {
        let mut l = Ledger::default();
        assert_eq!(l.jobs_counting("a"), 1);
        l.add("a", 10);
        l.add("b", 5);
        assert_eq!(l.jobs_counting("a"), 2);
        assert_eq!(l.jobs_counting("c"), 3);
        let seg = HashMap::from([("a".to_string(), 10), ("b".to_string(), 1)]);
        l.remove_all(&seg);
        assert_eq!(l.of("a"), 0);
        assert_eq!(l.of("b"), 4);
        assert_eq!(l.jobs_counting("a"), 2);
    }
}
