//! A loaded probe component ([`LoadedProbe`]: compiled, version-checked, linked, described)
//! and a live instance of it ([`ProbeInstance`]: one per job, reused across runs).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::component::Linker;
use wasmtime::Store;

use crate::http::{AllowList, HttpClient, HttpLimits};
use crate::runtime::bindings::{Probe, ProbeError, ProbePre};
use crate::runtime::capabilities::http::HttpCapability;
use crate::runtime::capabilities::metrics::HostMetrics;
use crate::runtime::engine::Runtime;
use crate::runtime::limits::{RunFailure, RunLimits};
use crate::runtime::sandbox::{new_store, JobCapabilities, ProbeState};

/// How long `describe()` may take at load time.
pub const DESCRIBE_TIMEOUT_MS: u64 = 5_000;

/// What a probe's `describe()` returns.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProbeDescription {
    pub name: String,
    pub version: String,
    pub description: String,
    pub default_interval_ms: u32,
    pub params: Vec<ParamDescription>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ParamDescription {
    pub name: String,
    pub description: String,
    pub required: bool,
    pub default: Option<String>,
}

/// A compiled, linked probe ready to instantiate. Cheap to share (`Arc`).
pub struct LoadedProbe {
    pub path: PathBuf,
    pub sha256: String,
    pub info: ProbeDescription,
    pre: ProbePre<ProbeState>,
}

impl std::fmt::Debug for LoadedProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedProbe")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

/// Shared by every job: the runtime, host metrics and the HTTP client.
#[derive(Clone)]
pub struct Host {
    pub runtime: Runtime,
    pub metrics: Arc<HostMetrics>,
    pub http: HttpClient,
    linker: Arc<Linker<ProbeState>>,
}

impl Host {
    pub fn new(
        runtime: Runtime,
        hostname: String,
        http_limits: HttpLimits,
    ) -> anyhow::Result<Self> {
        let linker = crate::runtime::sandbox::linker(&runtime.engine)?;
        Ok(Host {
            runtime,
            metrics: Arc::new(HostMetrics::new(hostname)),
            http: HttpClient::new(http_limits)?,
            linker: Arc::new(linker),
        })
    }

    /// Capabilities of one job's stores.
    pub fn capabilities(
        &self,
        job: &str,
        allow: AllowList,
        max_memory_bytes: u64,
    ) -> JobCapabilities {
        JobCapabilities {
            job: job.into(),
            metrics: self.metrics.clone(),
            http: HttpCapability {
                client: self.http.clone(),
                allow: Arc::new(allow),
            },
            max_memory_bytes,
        }
    }

    /// Read, compile (or take from the cache), check the WIT version, link and describe.
    /// Blocking (compilation): call it off the async runtime's hot path.
    pub fn load_blocking(&self, path: &Path) -> anyhow::Result<(ProbePre<ProbeState>, String)> {
        let wasm = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let sha256 = hex::encode(Sha256::digest(&wasm));
        let component = self.runtime.compile(&wasm, path)?;
        crate::runtime::wit_version::check(&self.runtime.engine, &component)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow::anyhow!("{}: cannot link the component: {e}", path.display()))?;
        let pre = ProbePre::new(pre).map_err(|e| {
            anyhow::anyhow!(
                "{}: does not export the sonde:probe world (describe, run): {e}",
                path.display()
            )
        })?;
        Ok((pre, sha256))
    }

    /// Load a probe: compile on a blocking thread, then call `describe()` in a throw-away instance.
    pub async fn load(&self, path: &Path) -> anyhow::Result<Arc<LoadedProbe>> {
        let host = self.clone();
        let owned = path.to_path_buf();
        let (pre, sha256) = tokio::task::spawn_blocking(move || host.load_blocking(&owned))
            .await
            .context("compile task failed")??;
        let caps = self.capabilities(
            "describe",
            AllowList::deny_all(),
            crate::runtime::limits::DEFAULT_MAX_MEMORY_BYTES,
        );
        let _busy = self.runtime.busy();
        let mut store = new_store(&self.runtime.engine, &caps);
        store.data_mut().deadline = Instant::now() + Duration::from_millis(DESCRIBE_TIMEOUT_MS);
        let probe = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow::anyhow!("{}: instantiation failed: {e}", path.display()))?;
        let info = probe.call_describe(&mut store).await.map_err(|e| {
            anyhow::anyhow!(
                "{}: describe() failed: {}",
                path.display(),
                trap_text(&e, &mut store)
            )
        })?;
        Ok(Arc::new(LoadedProbe {
            path: path.to_path_buf(),
            sha256,
            info: ProbeDescription {
                name: info.name,
                version: info.version,
                description: info.description,
                default_interval_ms: info.default_interval_ms,
                params: info
                    .params
                    .into_iter()
                    .map(|p| ParamDescription {
                        name: p.name,
                        description: p.description,
                        required: p.required,
                        default: p.default,
                    })
                    .collect(),
            },
            pre,
        }))
    }
}

/// A live instance: the store keeps the probe's memory (its state) between runs.
pub struct ProbeInstance {
    store: Store<ProbeState>,
    probe: Probe,
}

impl LoadedProbe {
    pub async fn instantiate(
        &self,
        host: &Host,
        caps: &JobCapabilities,
    ) -> Result<ProbeInstance, RunFailure> {
        let mut store = new_store(&host.runtime.engine, caps);
        store.data_mut().deadline = Instant::now() + Duration::from_millis(DESCRIBE_TIMEOUT_MS);
        let probe = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| RunFailure::Instantiate(format!("{e}")))?;
        Ok(ProbeInstance { store, probe })
    }
}

/// A run that ends later than the timeout by this much is abandoned even while the probe
/// sits in a host call (epoch deadlines only interrupt wasm code).
const HOST_CALL_GRACE_MS: u64 = 1_000;

impl ProbeInstance {
    /// One run under `limits`. On a failure with [`RunFailure::discards_instance`], the
    /// caller must drop this instance.
    pub async fn run(
        &mut self,
        params: &[(String, String)],
        limits: &RunLimits,
    ) -> Result<Vec<crate::runtime::bindings::Sample>, RunFailure> {
        let state = self.store.data_mut();
        state.deadline = Instant::now() + Duration::from_millis(limits.timeout_ms);
        state.timed_out = false;
        state.log_budget = Default::default();
        let backstop = Duration::from_millis(limits.timeout_ms + HOST_CALL_GRACE_MS);
        let call = self.probe.call_run(&mut self.store, params);
        let result = match tokio::time::timeout(backstop, call).await {
            Ok(r) => r,
            Err(_) => {
                return Err(RunFailure::Timeout {
                    timeout_ms: limits.timeout_ms,
                })
            }
        };
        if result.is_ok() {
            // On a trap, what the probe printed goes into the error text instead.
            self.flush_output();
        }
        let state = self.store.data_mut();
        if let Some(suppressed) =
            (state.log_budget.suppressed > 0).then_some(state.log_budget.suppressed)
        {
            tracing::warn!(
                job = &*state.job,
                "probe log: {suppressed} more messages suppressed this run"
            );
        }
        match result {
            Ok(Ok(samples)) if samples.len() > limits.max_samples as usize => {
                Err(RunFailure::TooManySamples {
                    count: samples.len(),
                    max_samples: limits.max_samples,
                })
            }
            Ok(Ok(samples)) => Ok(samples),
            Ok(Err(e)) => Err(RunFailure::Probe(match e {
                ProbeError::BadConfig(s) => format!("bad config: {s}"),
                ProbeError::Unavailable(s) => format!("unavailable: {s}"),
                ProbeError::Failed(s) => format!("failed: {s}"),
            })),
            Err(e) => {
                let state = self.store.data();
                if state.timed_out {
                    Err(RunFailure::Timeout {
                        timeout_ms: limits.timeout_ms,
                    })
                } else if let Some(requested_bytes) = state.limiter.refused_bytes {
                    Err(RunFailure::Memory {
                        requested_bytes,
                        max_memory_bytes: limits.max_memory_bytes,
                    })
                } else {
                    Err(RunFailure::Trap(trap_text(&e, &mut self.store)))
                }
            }
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
        text = format!(
            "{text}; probe output: {}",
            crate::runtime::capabilities::log::truncate_utf8(&printed, 1024)
        );
    }
    text
}
