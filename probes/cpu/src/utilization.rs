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

/// Milliseconds per state, in the order of [`STATES`].
pub type Counters = [u64; 8];

/// Share of each state in the time of `window`; `None` when no time passed.
pub fn shares(window: &Counters) -> Option<[f64; 8]> {
    let total: u64 = window.iter().sum();
    if total == 0 {
        return None;
    }
    Some(window.map(|ms| ms as f64 / total as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_of_the_window_sum_to_one() {
        let s = shares(&[300, 0, 100, 600, 0, 0, 0, 0]).expect("time passed");
        assert_eq!(s[0], 0.3);
        assert_eq!(s[2], 0.1);
        assert_eq!(s[3], 0.6);
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn no_time_passed_gives_none() {
        assert_eq!(shares(&[0; 8]), None);
    }
}
