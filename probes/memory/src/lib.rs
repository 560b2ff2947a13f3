//! `memory` probe: memory and swap, in bytes and as a share of the total, under
//! OpenTelemetry's `system.memory.*` and `system.paging.*` names.
//!
//! Samples (no params):
//! - `system.memory.limit` (By): total memory;
//! - `system.memory.usage` (By) with `state` = `used` (total − available, as
//!   OpenTelemetry defines it), `free` (unused pages; cache is neither);
//! - `system.memory.linux.available` (By): what can be given to new programs without
//!   swapping, reclaimable cache included (`MemAvailable`);
//! - `system.memory.utilization` (1) with `state` = `used`: used / total;
//! - `system.paging.usage` (By) with `state` = `used`, `free` (they sum to the swap total);
//! - `system.paging.utilization` (1) with `state` = `used`: 0 on a machine without swap.
//!
//! A host that reports a total of 0 bytes makes the run fail as `unavailable`.

wit_bindgen::generate!({ world: "probe", path: "../../wit" });

use sonde::probe::host_metrics::{self, MemoryInfo};

struct Memory;

impl Guest for Memory {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "memory".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Memory (used, available, free, utilisation) and swap (used, free, \
                          utilisation)."
                .into(),
            default_interval_ms: 10_000,
            params: Vec::new(),
        }
    }

    fn run(params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        if let Some((name, _)) = params.first() {
            return Err(ProbeError::BadConfig(format!(
                "unknown param {name:?} (the memory probe takes none)"
            )));
        }
        samples(&host_metrics::memory())
    }
}

fn samples(m: &MemoryInfo) -> Result<Vec<Sample>, ProbeError> {
    if m.total_bytes == 0 {
        return Err(ProbeError::Unavailable(
            "the host reported 0 bytes of memory".into(),
        ));
    }
    let swap_used = m.swap_used_bytes.min(m.swap_total_bytes);
    let swap_share = if m.swap_total_bytes == 0 {
        0.0
    } else {
        swap_used as f64 / m.swap_total_bytes as f64
    };
    Ok(vec![
        sample("system.memory.limit", m.total_bytes as f64, "By", None),
        sample(
            "system.memory.usage",
            m.used_bytes as f64,
            "By",
            Some("used"),
        ),
        sample(
            "system.memory.usage",
            m.free_bytes as f64,
            "By",
            Some("free"),
        ),
        sample(
            "system.memory.linux.available",
            m.available_bytes as f64,
            "By",
            None,
        ),
        sample(
            "system.memory.utilization",
            m.used_bytes as f64 / m.total_bytes as f64,
            "1",
            Some("used"),
        ),
        sample("system.paging.usage", swap_used as f64, "By", Some("used")),
        sample(
            "system.paging.usage",
            (m.swap_total_bytes - swap_used) as f64,
            "By",
            Some("free"),
        ),
        sample("system.paging.utilization", swap_share, "1", Some("used")),
    ])
}

fn sample(name: &str, value: f64, unit: &str, state: Option<&str>) -> Sample {
    Sample {
        name: name.into(),
        value,
        unit: unit.into(),
        labels: state
            .map(|s| vec![("state".to_string(), s.to_string())])
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(total: u64, used: u64, swap_total: u64, swap_used: u64) -> MemoryInfo {
        MemoryInfo {
            total_bytes: total,
            available_bytes: total - used,
            used_bytes: used,
            free_bytes: total - used,
            swap_total_bytes: swap_total,
            swap_used_bytes: swap_used,
        }
    }

    fn value(samples: &[Sample], name: &str, state: Option<&str>) -> f64 {
        samples
            .iter()
            .find(|s| s.name == name && s.labels.first().map(|(_, v)| v.as_str()) == state)
            .map(|s| s.value)
            .unwrap_or_else(|| panic!("no {name} {state:?}"))
    }

    #[test]
    fn utilisation_and_swap_split() {
        let s = samples(&info(1000, 250, 400, 100)).expect("samples");
        assert_eq!(value(&s, "system.memory.limit", None), 1000.0);
        assert_eq!(value(&s, "system.memory.utilization", Some("used")), 0.25);
        assert_eq!(value(&s, "system.memory.linux.available", None), 750.0);
        assert_eq!(value(&s, "system.paging.usage", Some("free")), 300.0);
        assert_eq!(value(&s, "system.paging.utilization", Some("used")), 0.25);
    }

    #[test]
    fn no_swap_is_zero_not_nan() {
        let s = samples(&info(1000, 1, 0, 0)).expect("samples");
        assert_eq!(value(&s, "system.paging.utilization", Some("used")), 0.0);
    }

    #[test]
    fn zero_total_is_unavailable() {
        assert!(matches!(
            samples(&info(0, 0, 0, 0)),
            Err(ProbeError::Unavailable(_))
        ));
    }
}

export!(Memory);
