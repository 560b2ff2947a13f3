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

use sonde_probe::host::{self, MemoryInfo};
use sonde_probe::{Info, Params, Probe, ProbeError, Samples};

#[derive(Default)]
struct Memory;

impl Probe for Memory {
    fn describe() -> Info {
        Info::new(
            "memory",
            "Memory (used, available, free, utilisation) and swap (used, free, utilisation).",
        )
    }

    fn run(&mut self, _params: &Params) -> Result<Samples, ProbeError> {
        samples(&host::memory())
    }
}

fn samples(m: &MemoryInfo) -> Result<Samples, ProbeError> {
    if m.total_bytes == 0 {
        return Err(ProbeError::Unavailable(
            "the host reported 0 bytes of memory".into(),
        ));
    }
    let swap_used = m.swap_used_bytes.min(m.swap_total_bytes);
    let swap_share = match m.swap_total_bytes {
        0 => 0.0,
        total => swap_used as f64 / total as f64,
    };
    let mut out = Samples::new();
    out.add("system.memory.limit", m.total_bytes as f64, "By");
    for (state, bytes) in [("used", m.used_bytes), ("free", m.free_bytes)] {
        out.add("system.memory.usage", bytes as f64, "By")
            .label("state", state);
    }
    out.add(
        "system.memory.linux.available",
        m.available_bytes as f64,
        "By",
    );
    let used_share = m.used_bytes as f64 / m.total_bytes as f64;
    out.add("system.memory.utilization", used_share, "1")
        .label("state", "used");
    let swap_free = m.swap_total_bytes - swap_used;
    for (state, bytes) in [("used", swap_used), ("free", swap_free)] {
        out.add("system.paging.usage", bytes as f64, "By")
            .label("state", state);
    }
    out.add("system.paging.utilization", swap_share, "1")
        .label("state", "used");
    Ok(out)
}

sonde_probe::export!(Memory);

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

    fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
        samples
            .find(name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?}"))
            .value
    }

    #[test]
    fn utilisation_and_swap_split() {
        let s = samples(&info(1000, 250, 400, 100)).expect("samples");
        let used = [("state", "used")];
        assert_eq!(s.len(), 8);
        assert_eq!(value(&s, "system.memory.limit", &[]), 1000.0);
        assert_eq!(value(&s, "system.memory.utilization", &used), 0.25);
        assert_eq!(value(&s, "system.memory.linux.available", &[]), 750.0);
        assert_eq!(
            value(&s, "system.paging.usage", &[("state", "free")]),
            300.0
        );
        assert_eq!(value(&s, "system.paging.utilization", &used), 0.25);
    }

    #[test]
    fn no_swap_is_zero_not_nan() {
        let s = samples(&info(1000, 1, 0, 0)).expect("samples");
        let used = [("state", "used")];
        assert_eq!(value(&s, "system.paging.utilization", &used), 0.0);
    }

    #[test]
    fn zero_total_is_unavailable() {
        assert!(matches!(
            samples(&info(0, 0, 0, 0)),
            Err(ProbeError::Unavailable(_))
        ));
    }

    #[test]
    fn params_are_refused() {
        let e = Params::of::<Memory>(&[("x", "1")]).unwrap_err();
        assert_eq!(
            e,
            ProbeError::BadConfig("unknown param \"x\" (the memory probe takes: none)".into())
        );
    }
}
