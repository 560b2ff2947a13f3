//! Axis arithmetic: bucket widths, tick positions and labels with units. Pure functions.

use chrono::{DateTime, Utc};

/// Widths a bucket or a time-axis step may take, in seconds (round numbers on a clock).
const STEPS_SECS: [i64; 19] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    604800,
];

/// The smallest clock-round width that cuts `span_secs` into at most `max_buckets` buckets.
pub fn bucket_secs(span_secs: i64, max_buckets: i64) -> i64 {
    let (span, n) = (span_secs.max(1), max_buckets.max(1));
    let want = (span + n - 1) / n;
    STEPS_SECS
        .iter()
        .copied()
        .find(|s| *s >= want)
        .unwrap_or_else(|| (want + 86399) / 86400 * 86400)
}

/// Tick times for an axis from `from` to `to`: multiples of a round step, at most `max_ticks`.
pub fn time_ticks(from: i64, to: i64, max_ticks: i64) -> (Vec<i64>, i64) {
    let span = (to - from).max(1);
    let step = bucket_secs(span, max_ticks.max(1));
    let first = from.div_euclid(step) * step + if from % step == 0 { 0 } else { step };
    let ticks = (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= to)
        .collect();
    (ticks, step)
}

/// A tick label in UTC: seconds shown when the step is under a minute, the date when the
/// axis spans more than a day.
pub fn time_label(t: i64, step: i64, span: i64) -> String {
    let Some(at) = DateTime::<Utc>::from_timestamp(t, 0) else {
        return String::new();
    };
    let format = if step < 60 {
        "%H:%M:%S"
    } else if span > 86400 {
        "%d %b %H:%M"
    } else {
        "%H:%M"
    };
    at.format(format).to_string()
}

/// What a chart's values measure, and how to print them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Percent,
    Bytes,
    BytesPerSecond,
    Milliseconds,
}

impl Unit {
    /// Axis caption.
    pub fn caption(self) -> &'static str {
        match self {
            Unit::Percent => "percent",
            Unit::Bytes => "bytes (binary prefixes)",
            Unit::BytesPerSecond => "bytes per second (binary prefixes)",
            Unit::Milliseconds => "milliseconds",
        }
    }

    /// The divisor and suffix to print values up to `max` with.
    fn scale_for(self, max: f64) -> (f64, &'static str) {
        match self {
            Unit::Percent => (1.0, " %"),
            Unit::Milliseconds => (1.0, " ms"),
            Unit::Bytes | Unit::BytesPerSecond => {
                const PREFIXES: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
                let mut i = 0;
                while i + 1 < PREFIXES.len() && max >= 1024f64.powi(i as i32 + 1) {
                    i += 1;
                }
                let per_second = self == Unit::BytesPerSecond;
                let suffix = match (PREFIXES[i], per_second) {
                    ("B", false) => " B",
                    ("KiB", false) => " KiB",
                    ("MiB", false) => " MiB",
                    ("GiB", false) => " GiB",
                    ("TiB", false) => " TiB",
                    ("B", true) => " B/s",
                    ("KiB", true) => " KiB/s",
                    ("MiB", true) => " MiB/s",
                    ("GiB", true) => " GiB/s",
                    _ => " TiB/s",
                };
                (1024f64.powi(i as i32), suffix)
            }
        }
    }
}

/// Value ticks from 0 to at least `max` (about `target` of them, round numbers in the
/// unit's scale) and their labels. `max` ≤ 0 or not finite gives the ticks of 1.
pub fn value_ticks(max: f64, unit: Unit, target: usize) -> Vec<(f64, String)> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let (divisor, suffix) = unit.scale_for(max);
    let scaled = max / divisor;
    let raw_step = scaled / target.max(1) as f64;
    let magnitude = 10f64.powf(raw_step.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|f| f * magnitude)
        .find(|s| *s >= raw_step)
        .unwrap_or(10.0 * magnitude);
    let count = (scaled / step).ceil().max(1.0) as usize;
    (0..=count)
        .map(|i| {
            let v = i as f64 * step;
            (v * divisor, format!("{}{suffix}", trim_number(v, step)))
        })
        .collect()
}

/// `v` with as many decimals as `step` needs, no trailing zeros.
fn trim_number(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize + 1
    };
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// A value printed with its unit, for tables and tooltips.
pub fn format_value(v: f64, unit: Unit) -> String {
    let (divisor, suffix) = unit.scale_for(v.abs());
    let scaled = v / divisor;
    let decimals = if scaled.abs() >= 100.0 { 0 } else { 1 };
    format!("{scaled:.decimals$}{suffix}")
}

/// `90s`, `15m`, `1h`, `7d` (a number and one of s, m, h, d) in seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => {
            return Err(format!(
                "`{text}`: expected a number and s, m, h or d, e.g. 1h"
            ))
        }
    };
    let n: i64 = number
        .parse()
        .map_err(|_| format!("`{text}`: expected a number and s, m, h or d, e.g. 1h"))?;
    match n.checked_mul(per_unit) {
        Some(secs) if secs > 0 && secs <= MAX_DURATION_SECS => Ok(secs),
        _ => Err(format!("`{text}`: must be from 1s to 3660d")),
    }
}

/// Ten years and a bit: longer windows are a typo.
const MAX_DURATION_SECS: i64 = 3660 * 86400;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_width_is_round_and_bounded() {
        assert_eq!(bucket_secs(8, 300), 1);
        assert_eq!(bucket_secs(3600, 300), 15);
        assert_eq!(bucket_secs(6 * 3600, 360), 60);
        assert_eq!(bucket_secs(86400, 300), 300);
        assert_eq!(bucket_secs(0, 300), 1);
        assert_eq!(bucket_secs(400 * 86400, 10), 40 * 86400);
    }

    #[test]
    fn time_ticks_are_aligned_multiples_inside_the_range() {
        let (ticks, step) = time_ticks(1_000_000_007, 1_000_003_600, 6);
        assert_eq!(step, 600);
        assert!(ticks.iter().all(|t| t % 600 == 0));
        assert!(ticks.len() <= 7 && ticks.len() >= 3, "{ticks:?}");
        assert!(ticks[0] >= 1_000_000_007 && *ticks.last().unwrap() <= 1_000_003_600);
    }

    #[test]
    fn time_labels_are_utc_with_seconds_or_dates_when_needed() {
        let t = 1_700_000_000; // 2023-11-14 22:13:20 UTC
        assert_eq!(time_label(t, 10, 60), "22:13:20");
        assert_eq!(time_label(t, 600, 3600), "22:13");
        assert_eq!(time_label(t, 21600, 3 * 86400), "14 Nov 22:13");
    }

    #[test]
    fn value_ticks_cover_the_maximum_in_the_right_unit() {
        let ticks = value_ticks(7.6 * 1024f64.powi(3), Unit::Bytes, 4);
        assert_eq!(ticks.last().unwrap().1, "8 GiB");
        assert!(ticks.last().unwrap().0 >= 7.6 * 1024f64.powi(3));
        let ticks = value_ticks(100.0, Unit::Percent, 4);
        assert_eq!(
            ticks.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(),
            ["0 %", "25 %", "50 %", "75 %", "100 %"]
        );
        let ticks = value_ticks(0.3, Unit::Milliseconds, 3);
        assert_eq!(ticks[1].1, "0.1 ms");
        assert_eq!(value_ticks(f64::NAN, Unit::BytesPerSecond, 4).len(), 5);
        assert_eq!(
            value_ticks(1500.0, Unit::BytesPerSecond, 4)[1].1,
            "0.5 KiB/s"
        );
    }

    #[test]
    fn values_print_with_units() {
        assert_eq!(format_value(1536.0, Unit::Bytes), "1.5 KiB");
        assert_eq!(format_value(12.34, Unit::Percent), "12.3 %");
        assert_eq!(format_value(250.0, Unit::Milliseconds), "250 ms");
    }

    #[test]
    fn durations_parse_or_say_what_is_expected() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("24h"), Ok(86400));
        assert_eq!(parse_duration("7d"), Ok(604800));
        for bad in [
            "",
            "h",
            "1",
            "1w",
            "-1h",
            "0s",
            "99999999999999999d",
            "1.5h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
