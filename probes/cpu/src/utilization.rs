//! The arithmetic of CPU utilisation, kept apart from the bindings so it is
//! unit-tested natively.

/// The states, in the order of [`Counters`]: OpenTelemetry's `cpu.mode` values, with
/// the kernel's hard interrupts as `interrupt` and its soft interrupts as the custom
/// value `softirq` (as the OpenTelemetry Collector reports them).
pub const STATES: [&str; 8] = [
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "interrupt",
    "softirq",
    "steal",
];

/// Cumulative milliseconds per state, in the order of [`STATES`].
pub type Counters = [u64; 8];

/// Share of each state in the time between two readings; `None` when no time
/// passed. A counter that went backwards (a core's counters reset) counts as 0
/// for this window rather than producing a negative share.
pub fn between(before: &Counters, now: &Counters) -> Option<[f64; 8]> {
    let mut delta = [0u64; 8];
    for (d, (b, n)) in delta.iter_mut().zip(before.iter().zip(now)) {
        *d = n.saturating_sub(*b);
    }
    let total: u64 = delta.iter().sum();
    if total == 0 {
        return None;
    }
    let mut shares = [0f64; 8];
    for (s, d) in shares.iter_mut().zip(delta) {
        *s = d as f64 / total as f64;
    }
    Some(shares)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_of_the_window_sum_to_one() {
        let before = [100, 0, 50, 1000, 0, 0, 0, 0];
        let now = [400, 0, 150, 1600, 0, 0, 0, 0];
        let s = between(&before, &now).expect("time passed");
        assert_eq!(s[0], 0.3);
        assert_eq!(s[2], 0.1);
        assert_eq!(s[3], 0.6);
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn no_time_passed_gives_none() {
        let c = [5, 1, 2, 3, 0, 0, 0, 0];
        assert_eq!(between(&c, &c), None);
        assert_eq!(between(&[0; 8], &[0; 8]), None);
    }

    #[test]
    fn from_zero_is_the_since_boot_average() {
        let s = between(&[0; 8], &[1, 1, 1, 1, 0, 0, 0, 1]).expect("counters");
        assert_eq!(s[7], 0.2);
    }

    #[test]
    fn counters_going_backwards_do_not_go_negative() {
        let s = between(&[500, 0, 0, 500, 0, 0, 0, 0], &[100, 0, 0, 600, 0, 0, 0, 0])
            .expect("idle moved");
        assert_eq!(s[0], 0.0);
        assert_eq!(s[3], 1.0);
    }
}
