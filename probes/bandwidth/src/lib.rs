//! `bandwidth` probe: per-interface network counters and rates.
//!
//! Samples, each with labels `interface` and `direction` (`receive`/`transmit`):
//! - on every run, the cumulative counters under their OpenTelemetry names:
//!   `system.network.io` (By), `system.network.packet.count` ({packet}),
//!   `system.network.errors` ({error});
//! - from an instance's second run on, the per-second rates over the time since
//!   the previous run: `sonde.network.io.rate` (By/s), `sonde.network.packet.rate`
//!   ({packet}/s), `sonde.network.error.rate` ({error}/s);
//! - `sonde.network.threshold_exceeded` (By/s, extra label `threshold`): an event
//!   sample, emitted only when a byte rate is above `threshold_bytes_per_sec`; its
//!   value is the rate. Each one is also logged at `warn`.
//!
//! Why both: the counters are what OpenTelemetry's names mean and need no history,
//! so the first run (and `host --once`) already reports every interface; the rates
//! are what a person and the threshold look at. Rates need two readings: the
//! counters and the time of the previous run live in this instance's memory. An
//! interface seen for the first time has no rate yet; one whose counters went
//! backwards (reset, replaced) has none for one run. Time comes from the WASI
//! monotonic clock.
//!
//! Params: `interface` (optional; one name or a comma-separated list; a listed
//! interface the host does not have fails the run as `unavailable`),
//! `threshold_bytes_per_sec` (optional, a non-negative number).

use sonde_probe::host::{self, NetCounters};
use sonde_probe::{log, only_named, Counters, Info, Params, Probe, ProbeError, Samples};

const DIRECTIONS: [&str; 2] = ["receive", "transmit"];

/// (counter name, its unit, rate name, its unit), in the order of the counters
/// taken two at a time (receive, transmit).
const METRICS: [(&str, &str, &str, &str); 3] = [
    ("system.network.io", "By", "sonde.network.io.rate", "By/s"),
    (
        "system.network.packet.count",
        "{packet}",
        "sonde.network.packet.rate",
        "{packet}/s",
    ),
    (
        "system.network.errors",
        "{error}",
        "sonde.network.error.rate",
        "{error}/s",
    ),
];

#[derive(Default)]
struct Bandwidth {
    /// rx/tx bytes, rx/tx packets, rx/tx errors of the previous run, by interface.
    previous: Counters<String, 6>,
}

impl Probe for Bandwidth {
    fn describe() -> Info {
        Info::new(
            "bandwidth",
            "Network bytes, packets and errors per interface and direction: cumulative \
             counters on every run, per-second rates from the second run on; an event sample \
             when a byte rate passes a threshold.",
        )
        .param(
            "interface",
            "Only these interfaces (comma-separated names); all if unset.",
        )
        .param(
            "threshold_bytes_per_sec",
            "Emit sonde.network.threshold_exceeded when a byte rate is above this.",
        )
    }

    fn run(&mut self, params: &Params) -> Result<Samples, ProbeError> {
        let (wanted, threshold) = settings(params)?;
        let selected = only_named(host::network(), wanted.as_deref(), "interface", |n| {
            n.name.as_str()
        })?
        .into_iter()
        .map(|n| (n.name.clone(), counters(&n)))
        .collect();
        let mut out = Samples::new();
        for reading in self.previous.update(selected) {
            let interface = reading.key.as_str();
            push(&mut out, interface, reading.now.map(|c| c as f64), false);
            let Some(rates) = reading.change.per_second() else {
                continue;
            };
            push(&mut out, interface, rates, true);
            if let Some(threshold) = threshold {
                for message in threshold_events(&mut out, interface, &rates, threshold) {
                    log::warn(&message);
                }
            }
        }
        Ok(out)
    }
}

/// The interfaces asked for (all when `None`) and the threshold.
fn settings(params: &Params) -> Result<(Option<Vec<String>>, Option<f64>), ProbeError> {
    let threshold = params.get_if(
        "threshold_bytes_per_sec",
        |t: &f64| *t >= 0.0,
        "a non-negative number",
    )?;
    Ok((params.get("interface")?, threshold))
}

/// The counters (exact up to 2^53, 9 PB: a value is a float on the wire) or the rates.
fn push(out: &mut Samples, interface: &str, values: [f64; 6], rates: bool) {
    for (i, (counter, counter_unit, rate, rate_unit)) in METRICS.iter().enumerate() {
        let (name, unit) = if rates {
            (rate, rate_unit)
        } else {
            (counter, counter_unit)
        };
        for (j, direction) in DIRECTIONS.iter().enumerate() {
            out.add(name, values[2 * i + j], unit)
                .label("interface", interface)
                .label("direction", *direction);
        }
    }
}

/// One event sample per byte rate strictly above `threshold`; returns the lines to log.
fn threshold_events(
    out: &mut Samples,
    interface: &str,
    rates: &[f64; 6],
    threshold: f64,
) -> Vec<String> {
    let mut messages = Vec::new();
    for (direction, rate) in DIRECTIONS.iter().zip(&rates[..2]) {
        if *rate <= threshold {
            continue;
        }
        out.add("sonde.network.threshold_exceeded", *rate, "By/s")
            .label("interface", interface)
            .label("direction", *direction)
            .label("threshold", threshold.to_string());
        messages.push(format!(
            "{interface} {direction} at {rate:.0} B/s is above the threshold of {threshold} B/s"
        ));
    }
    messages
}

fn counters(n: &NetCounters) -> [u64; 6] {
    [
        n.rx_bytes,
        n.tx_bytes,
        n.rx_packets,
        n.tx_packets,
        n.rx_errors,
        n.tx_errors,
    ]
}

sonde_probe::export!(Bandwidth);

#[cfg(test)]
mod tests {
    use super::*;

    fn names(samples: &Samples) -> Vec<(&str, &str, &str)> {
        samples
            .iter()
            .map(|s| (s.name.as_str(), s.unit.as_str(), s.labels[1].1.as_str()))
            .collect()
    }

    #[test]
    fn counters_are_reported_under_the_opentelemetry_names() {
        let mut out = Samples::new();
        push(
            &mut out,
            "eth0",
            [1000.0, 2000.0, 10.0, 20.0, 1.0, 2.0],
            false,
        );
        assert_eq!(
            names(&out),
            vec![
                ("system.network.io", "By", "receive"),
                ("system.network.io", "By", "transmit"),
                ("system.network.packet.count", "{packet}", "receive"),
                ("system.network.packet.count", "{packet}", "transmit"),
                ("system.network.errors", "{error}", "receive"),
                ("system.network.errors", "{error}", "transmit"),
            ]
        );
        let values: Vec<f64> = out.iter().map(|s| s.value).collect();
        assert_eq!(values, [1000.0, 2000.0, 10.0, 20.0, 1.0, 2.0]);
        assert!(out
            .iter()
            .all(|s| s.label_value("interface") == Some("eth0")));
    }

    #[test]
    fn rates_have_sonde_names_and_the_threshold_event_follows() {
        let r = [500.0, 50.0, 1.0, 1.0, 0.0, 0.0];
        let mut out = Samples::new();
        push(&mut out, "lo", r, true);
        let messages = threshold_events(&mut out, "lo", &r, 100.0);
        assert_eq!(
            messages,
            ["lo receive at 500 B/s is above the threshold of 100 B/s"]
        );
        let got = names(&out);
        assert_eq!(got[0], ("sonde.network.io.rate", "By/s", "receive"));
        assert_eq!(
            got[2],
            ("sonde.network.packet.rate", "{packet}/s", "receive")
        );
        assert_eq!(
            got[5],
            ("sonde.network.error.rate", "{error}/s", "transmit")
        );
        assert_eq!(
            got[6..],
            [("sonde.network.threshold_exceeded", "By/s", "receive")]
        );
        assert_eq!(out[6].value, 500.0);
        assert_eq!(out[6].label_value("threshold"), Some("100"));
        assert!(
            threshold_events(&mut out, "lo", &r, 500.0).is_empty(),
            "strictly above"
        );
    }

    #[test]
    fn params_are_checked() {
        let of = |pairs: &[(&str, &str)]| Params::of::<Bandwidth>(pairs).and_then(|p| settings(&p));
        assert_eq!(
            of(&[("threshold_bytes_per_sec", "-1")]),
            Err(ProbeError::BadConfig(
                "param threshold_bytes_per_sec: \"-1\" is not a non-negative number".into()
            ))
        );
        assert!(of(&[("interface", " , ")]).is_err(), "an empty list");
        assert_eq!(
            of(&[("interface", "lo,eth0"), ("threshold_bytes_per_sec", "1e6")]),
            Ok((Some(vec!["lo".into(), "eth0".into()]), Some(1e6)))
        );
    }
}
