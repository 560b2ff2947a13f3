//! `host-metrics` of the older contract versions: the same readings as the newest
//! version's, in each version's own (identically shaped) records.

use crate::runtime::bindings::host_metrics as newest;
use crate::runtime::bindings::v0_1::sonde::probe::host_metrics::{
    self as v0_1, CpuTime as CpuTime01, MemoryInfo as MemoryInfo01, NetCounters as NetCounters01,
};
use crate::runtime::capabilities::metrics::MetricsView;

/// `From` between two versions' records with the same fields.
macro_rules! same_record {
    ($from:ty => $to:ident { $($field:ident),* $(,)? }) => {
        impl From<$from> for $to {
            fn from(r: $from) -> $to {
                $to { $($field: r.$field),* }
            }
        }
    };
}

same_record!(newest::CpuTime => CpuTime01 {
    cpu, user_ms, nice_ms, system_ms, idle_ms, iowait_ms, irq_ms, softirq_ms, steal_ms,
});
same_record!(newest::MemoryInfo => MemoryInfo01 {
    total_bytes, available_bytes, used_bytes, free_bytes, swap_total_bytes, swap_used_bytes,
});
same_record!(newest::NetCounters => NetCounters01 {
    name, rx_bytes, tx_bytes, rx_packets, tx_packets, rx_errors, tx_errors,
});

impl v0_1::Host for MetricsView<'_> {
    fn hostname(&mut self) -> wasmtime::Result<String> {
        Ok(self.0.hostname())
    }
    fn cpu_times(&mut self) -> wasmtime::Result<Vec<CpuTime01>> {
        Ok(self.0.cpu_times().into_iter().map(Into::into).collect())
    }
    fn memory(&mut self) -> wasmtime::Result<MemoryInfo01> {
        Ok(self.0.memory().into())
    }
    fn network(&mut self) -> wasmtime::Result<Vec<NetCounters01>> {
        Ok(self.0.network().into_iter().map(Into::into).collect())
    }
}
