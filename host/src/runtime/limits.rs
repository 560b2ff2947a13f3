//! Per-run limits and how breaking one is reported.
//!
//! - `timeout_ms`: an epoch deadline (checked at every engine tick, see
//!   [`crate::runtime::engine::EPOCH_TICK_MS`]) plus an async backstop for time spent in host calls;
//! - `max_memory_bytes`: linear memory growth beyond it traps ([`MemoryLimiter`]);
//! - `max_samples`: checked on the result of `run`.
//!
//! Any of these discards the job's instance; its next run starts a fresh one.

use serde::Deserialize;
use wasmtime::ResourceLimiter;

pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
pub const DEFAULT_MAX_SAMPLES: u32 = 10_000;
/// Table growth cap (elements); probes have no reason to need more.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The limits of one job's runs. Units are in the names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct RunLimits {
    pub timeout_ms: u64,
    pub max_memory_bytes: u64,
    pub max_samples: u32,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            max_samples: DEFAULT_MAX_SAMPLES,
        }
    }
}

/// Why a run produced no samples. The `Display` text is the message's `error`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunFailure {
    #[error("timeout: run exceeded timeout_ms={timeout_ms}")]
    Timeout { timeout_ms: u64 },
    #[error("memory limit: linear memory would grow to {requested_bytes} bytes > max_memory_bytes={max_memory_bytes}")]
    Memory {
        requested_bytes: u64,
        max_memory_bytes: u64,
    },
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

/// Caps linear memory at `max_memory_bytes`; a refused growth traps (rather than letting
/// `memory.grow` return -1) so the run is reported as a memory-limit error, and records
/// what was asked for.
#[derive(Debug)]
pub struct MemoryLimiter {
    pub max_memory_bytes: u64,
    pub refused_bytes: Option<u64>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.max_memory_bytes {
            self.refused_bytes = Some(desired as u64);
            wasmtime::bail!(
                "memory limit: linear memory would grow to {desired} bytes > max_memory_bytes={}",
                self.max_memory_bytes
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
