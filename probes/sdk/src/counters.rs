//! Cumulative counters (bytes sent, CPU time, disk operations) turned into what changed
//! since the previous run. Keep a [`Counters`] in the probe's struct: it lives across
//! the runs of a job.

use std::time::Instant;

/// How one key's counters changed since the previous update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change<const N: usize> {
    /// The key was not in the previous update (first run, new device).
    New,
    /// A counter went backwards (reset, device replaced): no delta this time; the next
    /// update compares with the new values.
    Reset,
    /// What each counter grew by, over `elapsed_secs` of the monotonic clock.
    Grew { by: [u64; N], elapsed_secs: f64 },
}

impl<const N: usize> Change<N> {
    /// What each counter grew by; `None` for [`Change::New`] and [`Change::Reset`].
    pub fn delta(&self) -> Option<[u64; N]> {
        match self {
            Change::Grew { by, .. } => Some(*by),
            _ => None,
        }
    }

    /// The growth per second; `None` unless the counters were compared over a positive
    /// time.
    pub fn per_second(&self) -> Option<[f64; N]> {
        match self {
            Change::Grew { by, elapsed_secs } if *elapsed_secs > 0.0 => {
                Some(by.map(|d| d as f64 / elapsed_secs))
            }
            _ => None,
        }
    }
}

/// One key's reading of this update and its change since the previous one.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading<K, const N: usize> {
    pub key: K,
    pub now: [u64; N],
    pub change: Change<N>,
}

/// The previous readings of `N` counters per key (an interface, a cpu, a disk).
#[derive(Debug, Clone)]
pub struct Counters<K, const N: usize> {
    previous: Vec<(K, [u64; N])>,
    at: Option<Instant>,
}

impl<K, const N: usize> Default for Counters<K, N> {
    fn default() -> Self {
        Counters {
            previous: Vec::new(),
            at: None,
        }
    }
}

impl<K: PartialEq + Clone, const N: usize> Counters<K, N> {
    /// Record `readings`, taken now, and return each with its change since the previous
    /// update. Keys missing from `readings` are forgotten.
    pub fn update(&mut self, readings: Vec<(K, [u64; N])>) -> Vec<Reading<K, N>> {
        self.update_at(Instant::now(), readings)
    }

    /// [`Counters::update`] with the time of the readings given.
    pub fn update_at(&mut self, at: Instant, readings: Vec<(K, [u64; N])>) -> Vec<Reading<K, N>> {
        let elapsed_secs = self.at.map_or(0.0, |before| {
            at.saturating_duration_since(before).as_secs_f64()
        });
        let out = readings
            .iter()
            .map(|(key, now)| {
                let before = self.previous.iter().find(|(k, _)| k == key);
                Reading {
                    key: key.clone(),
                    now: *now,
                    change: match before {
                        None => Change::New,
                        Some((_, before)) => grew(before, now)
                            .map_or(Change::Reset, |by| Change::Grew { by, elapsed_secs }),
                    },
                }
            })
            .collect();
        self.previous = readings;
        self.at = Some(at);
        out
    }
}

fn grew<const N: usize>(before: &[u64; N], now: &[u64; N]) -> Option<[u64; N]> {
    let mut by = [0u64; N];
    for (d, (b, n)) in by.iter_mut().zip(before.iter().zip(now)) {
        *d = n.checked_sub(*b)?;
    }
    Some(by)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn new_then_growth_then_reset_then_growth_again() {
        let t0 = Instant::now();
        let mut c: Counters<&str, 2> = Counters::default();
        let first = c.update_at(t0, vec![("eth0", [100, 10])]);
        assert_eq!(first[0].change, Change::New);
        assert_eq!(first[0].change.per_second(), None);

        let second = c.update_at(
            t0 + Duration::from_secs(2),
            vec![("eth0", [300, 10]), ("wlan0", [5, 5])],
        );
        assert_eq!(second[0].change.delta(), Some([200, 0]));
        assert_eq!(second[0].change.per_second(), Some([100.0, 0.0]));
        assert_eq!(second[1].change, Change::New);

        let third = c.update_at(t0 + Duration::from_secs(3), vec![("eth0", [50, 11])]);
        assert_eq!(third[0].change, Change::Reset);
        assert_eq!(third[0].now, [50, 11]);

        // wlan0 was forgotten when it went missing; eth0 compares with the reset value.
        let fourth = c.update_at(
            t0 + Duration::from_secs(4),
            vec![("eth0", [60, 11]), ("wlan0", [9, 9])],
        );
        assert_eq!(fourth[0].change.per_second(), Some([10.0, 0.0]));
        assert_eq!(fourth[1].change, Change::New);
    }

    #[test]
    fn no_time_passed_has_a_delta_but_no_rate() {
        let t0 = Instant::now();
        let mut c: Counters<u32, 1> = Counters::default();
        c.update_at(t0, vec![(0, [1])]);
        let r = c.update_at(t0, vec![(0, [4])]);
        assert_eq!(r[0].change.delta(), Some([3]));
        assert_eq!(r[0].change.per_second(), None);
    }
}
