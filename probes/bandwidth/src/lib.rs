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

mod rates;

wit_bindgen::generate!({ world: "probe", path: "../../wit" });

use std::sync::Mutex;
use std::time::Instant;

use sonde::probe::host_metrics::{self, NetCounters};
use sonde::probe::log::{log, Level};
use sonde::probe::types::ParamInfo;

struct Snapshot {
    at: Instant,
    counters: Vec<(String, rates::Counters)>,
}

const DIRECTIONS: [&str; 2] = ["receive", "transmit"];

/// (counter name, its unit, rate name, its unit), in the order of [`rates::Counters`]
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

static PREVIOUS: Mutex<Option<Snapshot>> = Mutex::new(None);

struct Params {
    interfaces: Option<Vec<String>>,
    threshold_bytes_per_sec: Option<f64>,
}

struct Bandwidth;

impl Guest for Bandwidth {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "bandwidth".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Network bytes, packets and errors per interface and direction: \
                          cumulative counters on every run, per-second rates from the second \
                          run on; an event sample when a byte rate passes a threshold."
                .into(),
            default_interval_ms: 10_000,
            params: vec![
                ParamInfo {
                    name: "interface".into(),
                    description: "Only these interfaces (comma-separated names); all if unset."
                        .into(),
                    required: false,
                    default: None,
                },
                ParamInfo {
                    name: "threshold_bytes_per_sec".into(),
                    description: "Emit sonde.network.threshold_exceeded when a byte rate is \
                                  above this."
                        .into(),
                    required: false,
                    default: None,
                },
            ],
        }
    }

    fn run(params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        let params = parse_params(&params)?;
        let at = Instant::now();
        let now: Vec<(String, rates::Counters)> = host_metrics::network()
            .into_iter()
            .map(|n| {
                let c = counters(&n);
                (n.name, c)
            })
            .collect();
        if let Some(wanted) = &params.interfaces {
            let missing: Vec<&str> = wanted
                .iter()
                .filter(|w| !now.iter().any(|(name, _)| name == *w))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                let have: Vec<&str> = now.iter().map(|(n, _)| n.as_str()).collect();
                return Err(ProbeError::Unavailable(format!(
                    "interface {} not found; the host has: {}",
                    missing.join(", "),
                    have.join(", ")
                )));
            }
        }

        let mut previous = PREVIOUS.lock().unwrap_or_else(|e| e.into_inner());
        let mut samples = Vec::new();
        for (name, current) in &now {
            let selected = params
                .interfaces
                .as_ref()
                .is_none_or(|w| w.iter().any(|i| i == name));
            if !selected {
                continue;
            }
            push_counters(&mut samples, name, current);
            let Some(before) = previous.as_ref() else {
                continue;
            };
            let Some((_, old)) = before.counters.iter().find(|(n, _)| n == name) else {
                continue;
            };
            let elapsed_secs = at.duration_since(before.at).as_secs_f64();
            let Some(r) = rates::per_second(old, current, elapsed_secs) else {
                continue;
            };
            push_rates(&mut samples, name, &r);
            if let Some(threshold) = params.threshold_bytes_per_sec {
                for (message, event) in threshold_events(name, &r, threshold) {
                    log(Level::Warn, &message);
                    samples.push(event);
                }
            }
        }
        *previous = Some(Snapshot { at, counters: now });
        Ok(samples)
    }
}

fn push_counters(out: &mut Vec<Sample>, interface: &str, c: &rates::Counters) {
    for (i, (name, unit, _, _)) in METRICS.iter().enumerate() {
        for (j, direction) in DIRECTIONS.iter().enumerate() {
            // Exact up to 2^53 (9 PB); a counter is a float on the wire.
            out.push(sample(
                name,
                c[2 * i + j] as f64,
                unit,
                interface,
                direction,
            ));
        }
    }
}

fn push_rates(out: &mut Vec<Sample>, interface: &str, r: &[f64; 6]) {
    for (i, (_, _, name, unit)) in METRICS.iter().enumerate() {
        for (j, direction) in DIRECTIONS.iter().enumerate() {
            out.push(sample(name, r[2 * i + j], unit, interface, direction));
        }
    }
}

/// One event sample, with the line to log, per byte rate above `threshold`.
fn threshold_events(interface: &str, r: &[f64; 6], threshold: f64) -> Vec<(String, Sample)> {
    rates::over_threshold(r, threshold)
        .map(|(j, rate)| {
            let direction = DIRECTIONS[j];
            let message = format!(
                "{interface} {direction} at {rate:.0} B/s is above the threshold of \
                 {threshold} B/s"
            );
            let mut event = sample(
                "sonde.network.threshold_exceeded",
                rate,
                "By/s",
                interface,
                direction,
            );
            event
                .labels
                .push(("threshold".into(), threshold.to_string()));
            (message, event)
        })
        .collect()
}

fn sample(name: &str, value: f64, unit: &str, interface: &str, direction: &str) -> Sample {
    Sample {
        name: name.into(),
        value,
        unit: unit.into(),
        labels: vec![
            ("interface".into(), interface.into()),
            ("direction".into(), direction.into()),
        ],
    }
}

fn counters(n: &NetCounters) -> rates::Counters {
    [
        n.rx_bytes,
        n.tx_bytes,
        n.rx_packets,
        n.tx_packets,
        n.rx_errors,
        n.tx_errors,
    ]
}

fn parse_params(params: &[(String, String)]) -> Result<Params, ProbeError> {
    let mut parsed = Params {
        interfaces: None,
        threshold_bytes_per_sec: None,
    };
    for (name, value) in params {
        match name.as_str() {
            "interface" => {
                let names: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                if names.is_empty() {
                    return Err(ProbeError::BadConfig(
                        "param interface is empty (leave it out to measure every interface)".into(),
                    ));
                }
                parsed.interfaces = Some(names);
            }
            "threshold_bytes_per_sec" => match value.trim().parse::<f64>() {
                Ok(t) if t.is_finite() && t >= 0.0 => parsed.threshold_bytes_per_sec = Some(t),
                _ => {
                    return Err(ProbeError::BadConfig(format!(
                        "param threshold_bytes_per_sec: {value:?} is not a non-negative number"
                    )))
                }
            },
            other => {
                return Err(ProbeError::BadConfig(format!(
                    "unknown param {other:?} (the bandwidth probe takes: interface, \
                     threshold_bytes_per_sec)"
                )))
            }
        }
    }
    Ok(parsed)
}

export!(Bandwidth);

#[cfg(test)]
mod tests {
    use super::*;

    fn names(samples: &[Sample]) -> Vec<(&str, &str, &str)> {
        samples
            .iter()
            .map(|s| (s.name.as_str(), s.unit.as_str(), s.labels[1].1.as_str()))
            .collect()
    }

    #[test]
    fn counters_are_reported_under_the_opentelemetry_names() {
        let mut out = Vec::new();
        push_counters(&mut out, "eth0", &[1000, 2000, 10, 20, 1, 2]);
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
            .all(|s| s.labels[0] == ("interface".into(), "eth0".into())));
    }

    #[test]
    fn rates_have_sonde_names_and_the_threshold_event_follows() {
        let r = [500.0, 50.0, 1.0, 1.0, 0.0, 0.0];
        let mut out = Vec::new();
        push_rates(&mut out, "lo", &r);
        let events = threshold_events("lo", &r, 100.0);
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].0,
            "lo receive at 500 B/s is above the threshold of 100 B/s"
        );
        out.extend(events.into_iter().map(|(_, event)| event));
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
        assert_eq!(out[6].labels[2], ("threshold".into(), "100".into()));
    }
}
