//! `bandwidth` probe: per-interface network rates from counter deltas.
//!
//! Samples, each with labels `interface` and `direction` (`receive`/`transmit`):
//! - `system.network.io` (By/s), `system.network.packets` (1/s),
//!   `system.network.errors` (1/s);
//! - `system.network.threshold_exceeded` (By/s, extra label `threshold`): an event
//!   sample, emitted only when a byte rate is above `threshold_bytes_per_sec`; its
//!   value is the rate. Each one is also logged at `warn`.
//!
//! Rates need two readings: the counters and the time of the previous run live in
//! this instance's memory. The first run of an instance (and an interface seen
//! for the first time) only records the baseline and returns no samples for it.
//! An interface whose counters went backwards (reset, replaced) is skipped for
//! one run. Time comes from the WASI monotonic clock.
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
            description: "Network bytes, packets and errors per second per interface and \
                          direction; an event sample when a byte rate passes a threshold. \
                          The first run only records a baseline."
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
                    description: "Emit system.network.threshold_exceeded when a byte rate is \
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
        if let Some(before) = previous.as_ref() {
            let elapsed_secs = at.duration_since(before.at).as_secs_f64();
            for (name, current) in &now {
                let selected = params
                    .interfaces
                    .as_ref()
                    .is_none_or(|w| w.iter().any(|i| i == name));
                let Some((_, old)) = before.counters.iter().find(|(n, _)| n == name) else {
                    continue;
                };
                if !selected {
                    continue;
                }
                if let Some(r) = rates::per_second(old, current, elapsed_secs) {
                    push_samples(&mut samples, name, &r, params.threshold_bytes_per_sec);
                }
            }
        }
        *previous = Some(Snapshot { at, counters: now });
        Ok(samples)
    }
}

fn push_samples(out: &mut Vec<Sample>, interface: &str, r: &[f64; 6], threshold: Option<f64>) {
    let metrics = [
        ("system.network.io", "By/s"),
        ("system.network.packets", "1/s"),
        ("system.network.errors", "1/s"),
    ];
    for (i, (name, unit)) in metrics.iter().enumerate() {
        for (j, direction) in DIRECTIONS.iter().enumerate() {
            out.push(sample(name, r[2 * i + j], unit, interface, direction));
        }
    }
    let Some(threshold) = threshold else { return };
    for (j, rate) in rates::over_threshold(r, threshold) {
        let direction = DIRECTIONS[j];
        log(
            Level::Warn,
            &format!(
                "{interface} {direction} at {rate:.0} B/s is above the threshold of \
                 {threshold} B/s"
            ),
        );
        let mut event = sample(
            "system.network.threshold_exceeded",
            rate,
            "By/s",
            interface,
            direction,
        );
        event
            .labels
            .push(("threshold".into(), threshold.to_string()));
        out.push(event);
    }
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
