//! `host-metrics`: CPU times (from `/proc/stat`, since sysinfo exposes no cumulative
//! times), memory and swap (sysinfo), network counters (`/proc/net/dev` on Linux: one
//! read instead of sysinfo's eight sysfs files per interface; sysinfo elsewhere), load
//! and uptime (`/proc/loadavg`, `/proc/uptime`; sysinfo elsewhere), disk counters
//! (`/proc/diskstats`) and filesystems ([`filesystems`]).
//!
//! One [`HostMetrics`] is shared by every job and serves every contract version: the
//! newest version's trait here, older ones in [`versions`], all through [`MetricsView`].
//! Memory and filesystem readings younger than [`MAX_SNAPSHOT_AGE`] are reused, so many
//! jobs asking at once cost one refresh.

pub mod filesystems;
pub mod mounts;
pub mod procfs;
mod versions;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sysinfo::{MemoryRefreshKind, Networks, RefreshKind, System};
use wasmtime::component::HasData;

use crate::runtime::bindings::host_metrics::{
    self as wit, CpuTime, DiskCounters, FilesystemUsage, LoadAverage, MemoryInfo, NetCounters,
};
use filesystems::Filesystems;
use procfs::{
    parse_diskstats, parse_loadavg, parse_proc_net_dev, parse_proc_stat, parse_uptime_ms,
};

/// Readings this fresh are shared instead of re-read.
pub const MAX_SNAPSHOT_AGE: Duration = Duration::from_millis(50);

pub struct HostMetrics {
    hostname: String,
    memory: Mutex<Cached<MemoryInfo>>,
    network: Mutex<(Networks, Option<Instant>)>,
    filesystems: Filesystems,
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
            filesystems: Filesystems::default(),
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
        read_proc("/proc/stat").map_or_else(Vec::new, |t| parse_proc_stat(&t))
    }

    pub fn load(&self) -> LoadAverage {
        if let Some(load) = read_proc("/proc/loadavg").and_then(|t| parse_loadavg(&t)) {
            return load;
        }
        let l = System::load_average();
        LoadAverage {
            one_minute: l.one,
            five_minutes: l.five,
            fifteen_minutes: l.fifteen,
        }
    }

    pub fn uptime_ms(&self) -> u64 {
        read_proc("/proc/uptime")
            .and_then(|t| parse_uptime_ms(&t))
            .unwrap_or_else(|| System::uptime().saturating_mul(1000))
    }

    /// Sorted by name, at most [`procfs::MAX_DISKS`]; empty without `/proc/diskstats`.
    pub fn disks(&self) -> Vec<DiskCounters> {
        read_proc("/proc/diskstats").map_or_else(Vec::new, |t| parse_diskstats(&t))
    }

    /// See [`Filesystems::usage`].
    pub async fn filesystems(&self, include_remote: bool) -> Vec<FilesystemUsage> {
        self.filesystems.usage(include_remote).await
    }
}

/// A `/proc` file's text; `None` (logged at debug) where it does not exist (non-Linux).
fn read_proc(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .map_err(|e| tracing::debug!("cannot read {path}: {e}"))
        .ok()
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
    fn load(&mut self) -> wasmtime::Result<LoadAverage> {
        Ok(self.0.load())
    }
    fn uptime_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(self.0.uptime_ms())
    }
    async fn filesystems(
        &mut self,
        include_remote: bool,
    ) -> wasmtime::Result<Vec<FilesystemUsage>> {
        Ok(self.0.filesystems(include_remote).await)
    }
    fn disks(&mut self) -> wasmtime::Result<Vec<DiskCounters>> {
        Ok(self.0.disks())
    }
}
