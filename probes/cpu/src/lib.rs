//! `cpu` probe: `system.cpu.utilization` (unit `1`, 0..=1) per state for the
//! machine total and, with `per_core` (default `true`), for each core.
//!
//! Labels: `cpu` (`"total"` for the machine, `"0"`, `"1"`, ... per core; OpenTelemetry's
//! `cpu.logical_number`) and `state` (OpenTelemetry's `cpu.mode`: `user`, `nice`,
//! `system`, `idle`, `iowait`, `interrupt`, `softirq`, `steal`). The states of one cpu
//! sum to 1.
//!
//! Utilisation is the share of each state in the CPU time that passed between
//! two runs; the previous counters live in this instance's memory. The first run
//! of an instance (and a core seen for the first time) has no previous reading,
//! so it reports the average since boot instead of returning nothing. A cpu whose
//! counters did not move since the last run is left out of that run and keeps
//! its older reading, so the next run covers the longer window.

mod utilization;

wit_bindgen::generate!({ world: "probe", path: "../../wit" });

use std::sync::Mutex;

use sonde::probe::host_metrics::{self, CpuTime};
use sonde::probe::types::ParamInfo;
use utilization::{Counters, STATES};

/// Counters of the previous run, by cpu (`None` = total).
static PREVIOUS: Mutex<Vec<(Option<u32>, Counters)>> = Mutex::new(Vec::new());

struct Cpu;

impl Guest for Cpu {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "cpu".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "CPU utilisation per state (user, nice, system, idle, iowait, \
                          interrupt, softirq, steal), machine total and per core; first run: \
                          since boot."
                .into(),
            default_interval_ms: 10_000,
            params: vec![ParamInfo {
                name: "per_core".into(),
                description: "Also report each core (label cpu=\"0\"...), not only the total."
                    .into(),
                required: false,
                default: Some("true".into()),
            }],
        }
    }

    fn run(params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        let per_core = parse_params(&params)?;
        let now: Vec<(Option<u32>, Counters)> = host_metrics::cpu_times()
            .iter()
            .filter(|t| per_core || t.cpu.is_none())
            .map(|t| (t.cpu, counters(t)))
            .collect();
        if now.is_empty() {
            return Err(ProbeError::Unavailable(
                "the host reported no CPU times".into(),
            ));
        }
        let mut previous = PREVIOUS.lock().unwrap_or_else(|e| e.into_inner());
        let mut samples = Vec::with_capacity(now.len() * STATES.len());
        let mut kept = Vec::with_capacity(now.len());
        for (cpu, current) in now {
            let before = previous
                .iter()
                .find(|(c, _)| *c == cpu)
                .map(|(_, counters)| *counters)
                .unwrap_or_default();
            match utilization::between(&before, &current) {
                Some(shares) => {
                    let label = cpu.map_or_else(|| "total".to_string(), |c| c.to_string());
                    for (state, share) in STATES.iter().zip(shares) {
                        samples.push(Sample {
                            name: "system.cpu.utilization".into(),
                            value: share,
                            unit: "1".into(),
                            labels: vec![
                                ("cpu".into(), label.clone()),
                                ("state".into(), (*state).into()),
                            ],
                        });
                    }
                    kept.push((cpu, current));
                }
                None => kept.push((cpu, before)),
            }
        }
        *previous = kept;
        Ok(samples)
    }
}

fn parse_params(params: &[(String, String)]) -> Result<bool, ProbeError> {
    let mut per_core = true;
    for (name, value) in params {
        match name.as_str() {
            "per_core" => {
                per_core = match value.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => true,
                    "false" | "0" | "no" | "off" => false,
                    _ => {
                        return Err(ProbeError::BadConfig(format!(
                            "param per_core: {value:?} is not a boolean (true/false)"
                        )))
                    }
                }
            }
            other => {
                return Err(ProbeError::BadConfig(format!(
                    "unknown param {other:?} (the cpu probe takes: per_core)"
                )))
            }
        }
    }
    Ok(per_core)
}

fn counters(t: &CpuTime) -> Counters {
    [
        t.user_ms,
        t.nice_ms,
        t.system_ms,
        t.idle_ms,
        t.iowait_ms,
        t.irq_ms,
        t.softirq_ms,
        t.steal_ms,
    ]
}

export!(Cpu);
