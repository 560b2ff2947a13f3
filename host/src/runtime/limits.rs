//! Per-run limits and how breaking one is reported.
//!
//! - `timeout_ms`: an epoch deadline (checked at every engine tick, see
//!   [`crate::runtime::engine::EPOCH_TICK_MS`]) plus a wall-clock bound on the whole call,
//!   so time blocked in a host call (a WASI sleep, HTTP) is bounded too;
//! - `max_memory_bytes`: the sum of every linear memory and table of the probe's instances
//!   ([`ProbeLimiter`]), with the number of core instances, memories and tables capped;
//! - `max_output_bytes`: what the host copies out of the probe in one call (a run's result,
//!   `describe()`, the arguments of one host call), enforced by wasmtime while it lifts
//!   the values, before anything over the budget is allocated;
//! - `max_samples`: checked on the result of `run`;
//! - `max_fetches`, `max_fetched_bytes`: the run's HTTP allowance ([`crate::http::FetchBudget`]);
//!   a fetch past them is refused to the probe, the run goes on.
//!
//! Any of these discards the job's instance; its next run starts a fresh one.

use serde::Deserialize;
use wasmtime::ResourceLimiter;

pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
pub const DEFAULT_MAX_SAMPLES: u32 = 10_000;
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 1024 * 1024;
/// Core wasm instances one probe may create (a Rust wasip2 component has about five).
pub const MAX_CORE_INSTANCES: usize = 32;
/// Linear memories one probe may define.
pub const MAX_MEMORIES: usize = 8;
/// Tables one probe may define.
pub const MAX_TABLES: usize = 32;
/// What one table element counts against `max_memory_bytes`: wasmtime keeps a pointer
/// per element.
pub const TABLE_ELEMENT_BYTES: u64 = std::mem::size_of::<usize>() as u64;

/// The limits of one job's runs. Units are in the names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct RunLimits {
    pub timeout_ms: u64,
    pub max_memory_bytes: u64,
    pub max_samples: u32,
    pub max_output_bytes: u64,
    /// Calls to `http.fetch` in one run.
    pub max_fetches: u32,
    /// Bytes all fetches of one run may send and receive (headers and bodies).
    pub max_fetched_bytes: u64,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            max_samples: DEFAULT_MAX_SAMPLES,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            max_fetches: crate::http::DEFAULT_MAX_FETCHES,
            max_fetched_bytes: crate::http::DEFAULT_MAX_FETCHED_BYTES,
        }
    }
}

pub const DEFAULT_MAX_COMPONENT_BYTES: u64 = 32 * 1024 * 1024;
pub const DEFAULT_COMPILE_TIMEOUT_MS: u64 = 120_000;
pub const DEFAULT_DESCRIBE_TIMEOUT_MS: u64 = 5_000;

/// Host-wide bounds on loading a component (reading, compiling, `describe()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadLimits {
    pub max_component_bytes: u64,
    pub compile_timeout_ms: u64,
    /// Instantiation plus `describe()`, wall clock.
    pub describe_timeout_ms: u64,
    /// `describe()` runs under the host-wide defaults of these.
    pub max_memory_bytes: u64,
    pub max_output_bytes: u64,
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits {
            max_component_bytes: DEFAULT_MAX_COMPONENT_BYTES,
            compile_timeout_ms: DEFAULT_COMPILE_TIMEOUT_MS,
            describe_timeout_ms: DEFAULT_DESCRIBE_TIMEOUT_MS,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

/// Why a run produced no samples. The `Display` text is the message's `error`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunFailure {
    #[error("timeout: run exceeded timeout_ms={timeout_ms}")]
    Timeout { timeout_ms: u64 },
    #[error("memory limit: linear memories and tables would grow to {requested_bytes} bytes in total > max_memory_bytes={max_memory_bytes}")]
    Memory {
        requested_bytes: u64,
        max_memory_bytes: u64,
    },
    /// Too many core instances, memories or tables (wasmtime's text).
    #[error("memory limit: {0} (a probe may have at most {MAX_CORE_INSTANCES} core instances, {MAX_MEMORIES} memories and {MAX_TABLES} tables)")]
    Resources(String),
    #[error("output limit: the probe passed more than max_output_bytes={max_output_bytes} to the host in one call (a run's result or a host call's arguments)")]
    Output { max_output_bytes: u64 },
    #[error("too many samples: {count} > max_samples={max_samples}")]
    TooManySamples { count: usize, max_samples: u32 },
    #[error("trap: {0}")]
    Trap(String),
    /// The probe returned `probe-error`: its own report, the instance is kept.
    #[error("{0}")]
    Probe(String),
    /// The host could not make an instance (e.g. instantiation failed).
    #[error("instantiate: {0}")]
    Instantiate(String),
}

impl RunFailure {
    /// Whether the instance must be discarded (anything but the probe's own error report).
    pub fn discards_instance(&self) -> bool {
        !matches!(self, RunFailure::Probe(_))
    }
}

/// wasmtime's text when lifting a value would exceed the store's hostcall fuel (its type
/// is private, so the text is what identifies it; `tests/output_limit.rs` would notice a
/// change).
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";
/// wasmtime's text when a store's instance, memory or table count is over the limiter's.
const RESOURCE_COUNT_EXCEEDED: &str = "resource limit exceeded:";

/// Whether `e` (from an instantiation or a call) is the output budget running out.
pub fn is_output_limit(e: &wasmtime::Error) -> bool {
    e.chain()
        .any(|c| c.to_string().contains(HOSTCALL_FUEL_EXHAUSTED))
}

/// wasmtime's text when `e` is a count limit of [`ProbeLimiter`].
pub fn resource_count_exceeded(e: &wasmtime::Error) -> Option<String> {
    e.chain()
        .map(|c| c.to_string())
        .find(|t| t.contains(RESOURCE_COUNT_EXCEEDED))
}

/// One budget for every linear memory and table of a probe's store: a growth that would
/// take the total past `max_memory_bytes` traps (rather than letting `memory.grow` return
/// -1) so the run is reported as a memory-limit error, and records the total asked for.
#[derive(Debug)]
pub struct ProbeLimiter {
    pub max_memory_bytes: u64,
    /// Bytes of memories and tables granted so far.
    total_bytes: u64,
    /// The last grant, taken back if wasmtime then fails to perform the growth.
    last_grant_bytes: u64,
    pub refused_bytes: Option<u64>,
}

impl ProbeLimiter {
    pub fn new(max_memory_bytes: u64) -> Self {
        ProbeLimiter {
            max_memory_bytes,
            total_bytes: 0,
            last_grant_bytes: 0,
            refused_bytes: None,
        }
    }

    fn grow(&mut self, grow_bytes: u64) -> wasmtime::Result<bool> {
        let total = self.total_bytes.saturating_add(grow_bytes);
        if total > self.max_memory_bytes {
            self.refused_bytes = Some(total);
            wasmtime::bail!(
                "memory limit: linear memories and tables would grow to {total} bytes in total > max_memory_bytes={}",
                self.max_memory_bytes
            );
        }
        self.total_bytes = total;
        self.last_grant_bytes = grow_bytes;
        Ok(true)
    }

    fn grow_failed(&mut self) {
        self.total_bytes = self.total_bytes.saturating_sub(self.last_grant_bytes);
        self.last_grant_bytes = 0;
    }
}

impl ResourceLimiter for ProbeLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(desired.saturating_sub(current) as u64)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failed();
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let elements = desired.saturating_sub(current) as u64;
        self.grow(elements.saturating_mul(TABLE_ELEMENT_BYTES))
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failed();
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_CORE_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memories_and_tables_share_one_budget() {
        let mib = 1024 * 1024;
        let mut l = ProbeLimiter::new(64 * mib as u64);
        // Four 16 MiB memories fill the budget exactly; one more page does not fit.
        for _ in 0..4 {
            assert!(l.memory_growing(0, 16 * mib, None).expect("fits"));
        }
        assert!(l.memory_growing(0, 64 * 1024, None).is_err());
        assert_eq!(l.refused_bytes, Some(64 * mib as u64 + 64 * 1024));
        // A grant wasmtime could not carry out is given back.
        let mut l = ProbeLimiter::new(64 * mib as u64);
        assert!(l.memory_growing(0, 48 * mib, None).expect("fits"));
        l.memory_grow_failed(wasmtime::Error::msg("mmap failed"))
            .expect("ignored");
        assert!(l.memory_growing(0, 48 * mib, None).expect("fits again"));
        // Table elements count at a pointer each.
        assert!(l
            .table_growing(0, (16 * mib) / TABLE_ELEMENT_BYTES as usize, None)
            .expect("fits"));
        assert!(l.table_growing(0, 1, None).is_err());
    }
}
