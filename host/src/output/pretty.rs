//! `--format pretty`: one readable line per sample for a person at a terminal,
//! `job metric label-values value unit`, e.g. `cpu  system.cpu.utilization total user  0.5 %`.
//!
//! Values are shown in the unit a person reads: utilizations as percentages, bytes in
//! KiB/MiB/GiB, seconds below one as ms or µs. Label values appear in key order without
//! their keys (the JSON output has everything). The lines of one run are aligned.

use sonde_message::RunMessage;

/// The lines printed for one run: one per sample, or one with the error of a failed run.
pub fn lines(msg: &RunMessage) -> Vec<String> {
    if let Some(error) = &msg.error {
        return vec![format!("{}  error: {error}", msg.job)];
    }
    if msg.samples.is_empty() {
        return vec![format!("{}  (no samples)", msg.job)];
    }
    let rows: Vec<(String, String)> = msg
        .samples
        .iter()
        .map(|s| {
            let mut what = format!("{}  {}", msg.job, s.name);
            for value in s.labels.values() {
                what.push(' ');
                if value.is_empty() || value.contains(char::is_whitespace) {
                    what.push_str(&format!("{value:?}"));
                } else {
                    what.push_str(value);
                }
            }
            (what, reading(&s.name, s.value, &s.unit))
        })
        .collect();
    let width = rows
        .iter()
        .map(|(what, _)| what.chars().count())
        .max()
        .unwrap_or(0);
    rows.into_iter()
        .map(|(what, reading)| format!("{what:<width$}  {reading}"))
        .collect()
}

/// The value with its unit, scaled for reading.
pub fn reading(name: &str, value: f64, unit: &str) -> String {
    const BINARY: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let (value, unit) = match unit {
        "1" if name.ends_with(".utilization") => (value * 100.0, "%".to_string()),
        "1" => return number(value),
        "By" | "By/s" => {
            let per_second = if unit == "By/s" { "/s" } else { "" };
            let mut v = value;
            let mut step = 0;
            while v.abs() >= 1024.0 && step < BINARY.len() - 1 {
                v /= 1024.0;
                step += 1;
            }
            (v, format!("{}{per_second}", BINARY[step]))
        }
        "s" if value != 0.0 && value.abs() < 1e-3 => (value * 1e6, "µs".to_string()),
        "s" if value != 0.0 && value.abs() < 1.0 => (value * 1e3, "ms".to_string()),
        other => (value, annotation(other, value)),
    };
    format!("{} {unit}", number(value))
}

/// A UCUM annotation as a word: `{packet}` counts packets, `{error}/s` is errors per
/// second; the plural except for exactly one. Other units are shown as they are.
fn annotation(unit: &str, value: f64) -> String {
    let Some((word, rest)) = unit.strip_prefix('{').and_then(|u| u.split_once('}')) else {
        return unit.to_string();
    };
    let plural = if value == 1.0 { "" } else { "s" };
    format!("{word}{plural}{rest}")
}

/// At most three decimals, fewer as the number grows; no trailing zeros.
fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let decimals = match v.abs() {
        a if a >= 100.0 => 1,
        a if a >= 10.0 => 2,
        _ => 3,
    };
    let text = format!("{v:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    match text {
        "-0" => "0".to_string(),
        t => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use sonde_message::Sample;

    use super::*;

    fn sample(name: &str, value: f64, unit: &str, labels: &[(&str, &str)]) -> Sample {
        Sample {
            name: name.into(),
            value,
            unit: unit.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn one_aligned_line_per_sample() {
        let mut m = RunMessage::new("h", "cpu", "0.1.0", "cpu", Utc::now());
        m.samples = vec![
            sample(
                "system.cpu.utilization",
                0.005,
                "1",
                &[("cpu", "total"), ("state", "user")],
            ),
            sample(
                "system.cpu.utilization",
                0.98,
                "1",
                &[("cpu", "1"), ("state", "idle")],
            ),
        ];
        assert_eq!(
            lines(&m),
            [
                "cpu  system.cpu.utilization total user  0.5 %",
                "cpu  system.cpu.utilization 1 idle      98 %",
            ]
        );
    }

    #[test]
    fn a_failed_run_or_an_empty_one_is_one_line() {
        let mut m = RunMessage::new("h", "http-check", "0.1.0", "shop", Utc::now());
        assert_eq!(lines(&m), ["shop  (no samples)"]);
        m.error = Some("bad config: param url: missing".into());
        assert_eq!(lines(&m), ["shop  error: bad config: param url: missing"]);
    }

    #[test]
    fn units_are_scaled_for_reading() {
        let r = reading;
        assert_eq!(r("system.memory.utilization", 0.4567, "1"), "45.67 %");
        assert_eq!(r("sonde.http.check.status_code", 200.0, "1"), "200");
        assert_eq!(r("sonde.http.check.up", 1.0, "1"), "1");
        assert_eq!(
            r("system.memory.usage", 3.5 * 1024.0 * 1024.0 * 1024.0, "By"),
            "3.5 GiB"
        );
        assert_eq!(r("system.network.io", 512.0, "By"), "512 B");
        assert_eq!(r("sonde.network.io.rate", 2048.0, "By/s"), "2 KiB/s");
        assert_eq!(r("sonde.http.check.duration", 0.0123, "s"), "12.3 ms");
        assert_eq!(r("sonde.http.check.duration", 0.000_25, "s"), "250 µs");
        assert_eq!(r("sonde.http.check.duration", 0.0, "s"), "0 s");
        assert_eq!(r("sonde.http.check.duration", 2.5, "s"), "2.5 s");
        assert_eq!(
            r("system.network.packet.count", 12345.0, "{packet}"),
            "12345 packets"
        );
        assert_eq!(
            r("sonde.network.packet.rate", 0.25, "{packet}/s"),
            "0.25 packets/s"
        );
        assert_eq!(r("system.network.errors", 1.0, "{error}"), "1 error");
        assert_eq!(r("custom", 3.0, "Cel"), "3 Cel");
        assert_eq!(r("custom", -0.0001, "1"), "0");
    }

    #[test]
    fn label_values_with_spaces_are_quoted() {
        let mut m = RunMessage::new("h", "p", "0.1.0", "j", Utc::now());
        m.samples = vec![sample("x", 1.0, "1", &[("k", "a b"), ("l", "")])];
        assert_eq!(lines(&m), [r#"j  x "a b" ""  1"#]);
    }
}
