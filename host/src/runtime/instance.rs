//! A live instance of a probe ([`ProbeInstance`]: one per job, reused across runs) and
//! how every entry into the guest is bounded and its failure named.
//!
//! Each entry (instantiation with its start functions, `describe`, `run`) gets a deadline:
//! the epoch callback traps wasm that is still running at it, and the call's future is
//! dropped at it (`tokio::time::timeout_at`), which also ends a call blocked in a host
//! function such as a WASI sleep. The store is not used for another call after that: a
//! failed instance is discarded.

use std::time::Instant;

use tokio::time::{error::Elapsed, timeout_at};
use wasmtime::Store;

use crate::http::FetchBudget;
use crate::runtime::bindings::{Probe, ProbeError, Sample};
use crate::runtime::capabilities::log::truncate_utf8;
use crate::runtime::limits::{is_output_limit, resource_count_exceeded, RunFailure, RunLimits};
use crate::runtime::probe::{Host, LoadedProbe};
use crate::runtime::sandbox::{new_store, JobCapabilities, ProbeState};

/// The wall-clock instant tokio waits until.
pub(crate) fn wall(deadline: Instant) -> tokio::time::Instant {
    tokio::time::Instant::from_std(deadline)
}

/// What a bounded call into the guest came to: its value, or the limit or trap that ended it.
pub(crate) fn settle<T>(
    outcome: Result<wasmtime::Result<T>, Elapsed>,
    store: &mut Store<ProbeState>,
    limits: &RunLimits,
) -> Result<T, RunFailure> {
    let timeout = RunFailure::Timeout {
        timeout_ms: limits.timeout_ms,
    };
    let e = match outcome {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(e)) => e,
        Err(_) => return Err(timeout),
    };
    let state = store.data();
    if state.timed_out {
        Err(timeout)
    } else if let Some(requested_bytes) = state.limiter.refused_bytes {
        Err(RunFailure::Memory {
            requested_bytes,
            max_memory_bytes: limits.max_memory_bytes,
        })
    } else if is_output_limit(&e) {
        Err(RunFailure::Output {
            max_output_bytes: limits.max_output_bytes,
        })
    } else if let Some(text) = resource_count_exceeded(&e) {
        Err(RunFailure::Resources(text))
    } else {
        Err(RunFailure::Trap(trap_text(&e, store)))
    }
}

/// A live instance: the store keeps the probe's memory (its state) between runs.
pub struct ProbeInstance {
    store: Store<ProbeState>,
    probe: Probe,
}

impl LoadedProbe {
    /// A fresh instance; instantiation (start functions included) must end by `deadline`.
    pub async fn instantiate(
        &self,
        host: &Host,
        caps: &JobCapabilities,
        limits: &RunLimits,
        deadline: Instant,
    ) -> Result<ProbeInstance, RunFailure> {
        let mut store = new_store(&host.runtime.engine, caps);
        store.data_mut().deadline = deadline;
        let outcome = timeout_at(wall(deadline), self.pre.instantiate_async(&mut store)).await;
        match settle(outcome, &mut store, limits) {
            Ok(probe) => Ok(ProbeInstance { store, probe }),
            Err(RunFailure::Trap(text)) => Err(RunFailure::Instantiate(text)),
            Err(other) => Err(other),
        }
    }
}

impl ProbeInstance {
    /// One run under `limits`, ending by `deadline`. On a failure with
    /// [`RunFailure::discards_instance`], the caller must drop this instance.
    pub async fn run(
        &mut self,
        params: &[(String, String)],
        limits: &RunLimits,
        deadline: Instant,
    ) -> Result<Vec<Sample>, RunFailure> {
        let state = self.store.data_mut();
        state.deadline = deadline;
        state.timed_out = false;
        state.log_budget = Default::default();
        state.fetch_budget = FetchBudget::new(limits.max_fetches, limits.max_fetched_bytes);
        let outcome =
            timeout_at(wall(deadline), self.probe.call_run(&mut self.store, params)).await;
        if matches!(outcome, Ok(Ok(_))) {
            // On a trap, what the probe printed goes into the error text instead.
            self.flush_output();
        }
        let state = self.store.data_mut();
        if state.log_budget.suppressed > 0 {
            tracing::warn!(
                job = &*state.job,
                "probe log: {} more messages suppressed this run",
                state.log_budget.suppressed
            );
        }
        match settle(outcome, &mut self.store, limits)? {
            Ok(samples) if samples.len() > limits.max_samples as usize => {
                Err(RunFailure::TooManySamples {
                    count: samples.len(),
                    max_samples: limits.max_samples,
                })
            }
            Ok(samples) => Ok(samples),
            Err(e) => Err(RunFailure::Probe(match e {
                ProbeError::BadConfig(s) => format!("bad config: {s}"),
                ProbeError::Unavailable(s) => format!("unavailable: {s}"),
                ProbeError::Failed(s) => format!("failed: {s}"),
            })),
        }
    }

    fn flush_output(&mut self) {
        let state = self.store.data();
        let text = state.output.take();
        if !text.is_empty() {
            tracing::info!(job = &*state.job, "probe output: {text}");
        }
    }
}

/// A trap's one-line text, with what the probe printed (a Rust panic message) appended.
fn trap_text(e: &wasmtime::Error, store: &mut Store<ProbeState>) -> String {
    let mut text = match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{e}"),
    };
    let printed = store.data().output.take();
    if !printed.is_empty() {
        // Keep the panic message, drop Rust's backtrace hint.
        let printed: Vec<&str> = printed
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
            .collect();
        let printed = printed.join(" ");
        text = format!("{text}; probe output: {}", truncate_utf8(&printed, 1024));
    }
    text
}
