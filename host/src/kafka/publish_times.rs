//! When each spooled message was appended, for the publish→ack latency histogram and the
//! age of the oldest undelivered message.
//!
//! Bounded: while [`MAX_TRACKED`] messages are timed, further ones are not (a long outage
//! must not grow memory with the spool). Messages left in the spool by an earlier process
//! are not timed either. So the latency is measured on the messages of the live stream,
//! and the oldest age covers the messages this process spooled.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most this many append instants are kept (≈ 3 MiB).
pub const MAX_TRACKED: usize = 65_536;

#[derive(Debug, Default)]
pub struct PublishTimes {
    by_seq: Mutex<BTreeMap<u64, Instant>>,
}

impl PublishTimes {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Instant>> {
        self.by_seq.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Message `seq` was spooled at `at`.
    pub fn appended(&self, seq: u64, at: Instant) {
        let mut times = self.lock();
        if times.len() < MAX_TRACKED {
            times.insert(seq, at);
        }
    }

    /// The spool's cap pushed out its `count` oldest undelivered messages.
    pub fn dropped_oldest(&self, count: u64) {
        let mut times = self.lock();
        for _ in 0..count {
            if times.pop_first().is_none() {
                break;
            }
        }
    }

    /// Message `seq` left the spool (acknowledged or refused for good); how long it was in
    /// it, if it was timed.
    pub fn removed(&self, seq: u64, now: Instant) -> Option<Duration> {
        self.lock()
            .remove(&seq)
            .map(|at| now.saturating_duration_since(at))
    }

    /// Age of the oldest timed message still in the spool.
    pub fn oldest_age(&self, now: Instant) -> Duration {
        self.lock()
            .values()
            .next()
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(*at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_oldest_age_and_the_bound() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let times = PublishTimes::default();
        times.appended(1, t0);
        times.appended(2, t0 + s(5));
        assert_eq!(times.oldest_age(t0 + s(10)), s(10));
        assert_eq!(times.removed(1, t0 + s(3)), Some(s(3)));
        assert_eq!(times.removed(1, t0 + s(3)), None, "removed once");
        assert_eq!(times.oldest_age(t0 + s(10)), s(5));
        times.appended(3, t0);
        times.dropped_oldest(1);
        assert_eq!(times.oldest_age(t0 + s(10)), s(10), "3 is left");
        times.dropped_oldest(5);
        assert_eq!(times.oldest_age(t0 + s(10)), Duration::ZERO);
        for seq in 0..(MAX_TRACKED as u64 + 10) {
            times.appended(seq, t0);
        }
        assert_eq!(times.lock().len(), MAX_TRACKED);
        assert_eq!(times.removed(MAX_TRACKED as u64 + 5, t0), None, "not timed");
    }
}
