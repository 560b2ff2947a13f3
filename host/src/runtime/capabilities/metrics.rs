//! `host-metrics`: CPU times (from `/proc/stat`, since sysinfo exposes no cumulative
//! times), memory and swap (sysinfo), network counters (`/proc/net/dev` on Linux: one
//! read instead of sysinfo's eight sysfs files per interface; sysinfo elsewhere).
//!
//! One [`HostMetrics`] is shared by every job. Readings younger than
//! [`MAX_SNAPSHOT_AGE`] are reused, so many jobs asking at once cost one refresh.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sysinfo::{MemoryRefreshKind, Networks, RefreshKind, System};
use wasmtime::component::HasData;

use crate::runtime::bindings::host_metrics::{self as wit, CpuTime, MemoryInfo, NetCounters};

/// Readings this fresh are shared instead of re-read.
pub const MAX_SNAPSHOT_AGE: Duration = Duration::from_millis(50);

/// Linux reports `/proc/stat` in USER_HZ ticks, fixed at 100 for user space on every
/// architecture Linux supports as a stable ABI.
const USER_HZ: u64 = 100;

pub struct HostMetrics {
    hostname: String,
    memory: Mutex<Cached<MemoryInfo>>,
    network: Mutex<(Networks, Option<Instant>)>,
}

struct Cached<T> {
    value: Option<(Instant, T)>,
    system: System,
}

impl HostMetrics {
    /// `hostname` is what `hostname()` returns to probes (the host's reported name).
    pub fn new(hostname: String) -> Self {
        HostMetrics {
            hostname,
            memory: Mutex::new(Cached {
                value: None,
                system: System::new_with_specifics(RefreshKind::nothing()),
            }),
            network: Mutex::new((Networks::new(), None)),
        }
    }

    pub fn hostname(&self) -> String {
        self.hostname.clone()
    }

    pub fn memory(&self) -> MemoryInfo {
        let mut cached = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, v)) = &cached.value {
            if at.elapsed() < MAX_SNAPSHOT_AGE {
                return *v;
            }
        }
        let sys = &mut cached.system;
        sys.refresh_memory_specifics(MemoryRefreshKind::everything());
        let info = MemoryInfo {
            total_bytes: sys.total_memory(),
            available_bytes: sys.available_memory(),
            used_bytes: sys.used_memory(),
            free_bytes: sys.free_memory(),
            swap_total_bytes: sys.total_swap(),
            swap_used_bytes: sys.used_swap(),
        };
        cached.value = Some((Instant::now(), info));
        info
    }

    pub fn network(&self) -> Vec<NetCounters> {
        if let Ok(text) = std::fs::read_to_string("/proc/net/dev") {
            return parse_proc_net_dev(&text);
        }
        let mut guard = self.network.lock().unwrap_or_else(|p| p.into_inner());
        let (networks, refreshed) = &mut *guard;
        if refreshed.is_none_or(|at| at.elapsed() >= MAX_SNAPSHOT_AGE) {
            networks.refresh(true);
            *refreshed = Some(Instant::now());
        }
        let mut out: Vec<NetCounters> = networks
            .iter()
            .map(|(name, d)| NetCounters {
                name: name.clone(),
                rx_bytes: d.total_received(),
                tx_bytes: d.total_transmitted(),
                rx_packets: d.total_packets_received(),
                tx_packets: d.total_packets_transmitted(),
                rx_errors: d.total_errors_on_received(),
                tx_errors: d.total_errors_on_transmitted(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Total first, then per core. Empty where `/proc/stat` is unreadable (non-Linux).
    pub fn cpu_times(&self) -> Vec<CpuTime> {
        match std::fs::read_to_string("/proc/stat") {
            Ok(text) => parse_proc_stat(&text),
            Err(e) => {
                tracing::debug!("cannot read /proc/stat: {e}");
                Vec::new()
            }
        }
    }
}

/// Parse `/proc/net/dev`: after `name:` come 8 receive counters (bytes, packets, errs,
/// drop, fifo, frame, compressed, multicast) then 8 transmit ones. Sorted by name;
/// malformed lines are skipped.
pub fn parse_proc_net_dev(text: &str) -> Vec<NetCounters> {
    let mut out: Vec<NetCounters> = text
        .lines()
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            let n: Vec<u64> = counters
                .split_whitespace()
                .map(|f| f.parse().ok())
                .collect::<Option<_>>()?;
            (n.len() >= 16).then(|| NetCounters {
                name: name.trim().to_string(),
                rx_bytes: n[0],
                rx_packets: n[1],
                rx_errors: n[2],
                tx_bytes: n[8],
                tx_packets: n[9],
                tx_errors: n[10],
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Parse the `cpu` and `cpuN` lines of `/proc/stat` into milliseconds.
pub fn parse_proc_stat(text: &str) -> Vec<CpuTime> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(label) = fields.next() else { continue };
        let Some(rest) = label.strip_prefix("cpu") else {
            continue;
        };
        let cpu = if rest.is_empty() {
            None
        } else {
            match rest.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => continue,
            }
        };
        let v: Vec<u64> = fields
            .map(|f| f.parse::<u64>().unwrap_or(0) * 1000 / USER_HZ)
            .collect();
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        out.push(CpuTime {
            cpu,
            user_ms: at(0),
            nice_ms: at(1),
            system_ms: at(2),
            idle_ms: at(3),
            iowait_ms: at(4),
            irq_ms: at(5),
            softirq_ms: at(6),
            steal_ms: at(7),
        });
    }
    // The kernel lists the total first; keep that order guaranteed.
    out.sort_by_key(|c| c.cpu.map_or(0, |n| n as u64 + 1));
    out
}

/// What the `host-metrics` import sees of a store: the shared readings.
pub struct MetricsView<'a>(pub &'a HostMetrics);

/// Selects [`MetricsView`] as the `host-metrics` implementation when linking.
pub struct HasMetrics;

impl HasData for HasMetrics {
    type Data<'a> = MetricsView<'a>;
}

impl wit::Host for MetricsView<'_> {
    fn hostname(&mut self) -> wasmtime::Result<String> {
        Ok(self.0.hostname())
    }
    fn cpu_times(&mut self) -> wasmtime::Result<Vec<CpuTime>> {
        Ok(self.0.cpu_times())
    }
    fn memory(&mut self) -> wasmtime::Result<MemoryInfo> {
        Ok(self.0.memory())
    }
    fn network(&mut self) -> wasmtime::Result<Vec<NetCounters>> {
        Ok(self.0.network())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
  eth0: 1000 10 1 0 0 0 0 0 2000 20 2 0 0 0 0 0
    lo:  500  5 0 0 0 0 0 0  500  5 0 0 0 0 0 0
";
        let n = parse_proc_net_dev(text);
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].name, "eth0");
        assert_eq!(
            (n[0].rx_bytes, n[0].rx_packets, n[0].rx_errors),
            (1000, 10, 1)
        );
        assert_eq!(
            (n[0].tx_bytes, n[0].tx_packets, n[0].tx_errors),
            (2000, 20, 2)
        );
        assert_eq!(n[1].name, "lo");
    }

    #[test]
    fn parses_total_and_cores_in_ms() {
        let text = "cpu  100 2 30 400 5 6 7 8 0 0\ncpu1 10 0 3 40 0 0 0 0 0 0\ncpu0 90 2 27 360 5 6 7 8 0 0\nintr 1 2\n";
        let t = parse_proc_stat(text);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].cpu, None);
        assert_eq!(t[0].user_ms, 1000);
        assert_eq!(t[0].steal_ms, 80);
        assert_eq!(t[1].cpu, Some(0));
        assert_eq!(t[2].cpu, Some(1));
        assert_eq!(t[2].idle_ms, 400);
    }
}
