//! Per-second rates from two readings of cumulative counters, kept apart from the
//! bindings so they are unit-tested natively.

/// `rx_bytes, tx_bytes, rx_packets, tx_packets, rx_errors, tx_errors`.
pub type Counters = [u64; 6];

/// Rates in the order of [`Counters`], or `None` when they cannot be told:
/// no time passed, or a counter went backwards (the interface was reset or
/// replaced), which would otherwise show as a huge or negative rate.
pub fn per_second(before: &Counters, now: &Counters, elapsed_secs: f64) -> Option<[f64; 6]> {
    if elapsed_secs <= 0.0 || !elapsed_secs.is_finite() {
        return None;
    }
    let mut rates = [0f64; 6];
    for (r, (b, n)) in rates.iter_mut().zip(before.iter().zip(now)) {
        *r = n.checked_sub(*b)? as f64 / elapsed_secs;
    }
    Some(rates)
}

/// The byte rates (index 0 receive, 1 transmit) strictly above `threshold`.
pub fn over_threshold(rates: &[f64; 6], threshold: f64) -> impl Iterator<Item = (usize, f64)> + '_ {
    rates[..2]
        .iter()
        .copied()
        .enumerate()
        .filter(move |(_, rate)| *rate > threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_divide_deltas_by_seconds() {
        let r = per_second(&[1000, 0, 10, 0, 0, 0], &[3000, 500, 30, 5, 1, 0], 2.0).expect("rates");
        assert_eq!(r, [1000.0, 250.0, 10.0, 2.5, 0.5, 0.0]);
    }

    #[test]
    fn no_elapsed_time_or_reset_counter_gives_none() {
        assert_eq!(per_second(&[0; 6], &[1; 6], 0.0), None);
        assert_eq!(per_second(&[0; 6], &[1; 6], f64::NAN), None);
        assert_eq!(
            per_second(&[5, 0, 0, 0, 0, 0], &[4, 9, 9, 9, 9, 9], 1.0),
            None
        );
    }

    #[test]
    fn only_byte_rates_strictly_above_the_threshold_count() {
        let r = [100.0, 50.0, 1e9, 1e9, 1e9, 1e9];
        assert_eq!(
            over_threshold(&r, 50.0).collect::<Vec<_>>(),
            vec![(0, 100.0)]
        );
        assert_eq!(over_threshold(&r, 0.0).count(), 2);
        assert_eq!(over_threshold(&r, 100.0).count(), 0);
    }
}
