//! A loaded probe component ([`LoadedProbe`]: read, compiled, version-checked, linked,
//! described) and the [`Host`] that loads it. Loading untrusted code is bounded: the file
//! by `max_component_bytes`, compilation by `compile_timeout_ms` (on a thread of its own,
//! so nothing waits on it longer), instantiation plus `describe()` by
//! `describe_timeout_ms` (wall clock, including time blocked in host calls).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sha2::{Digest, Sha256};
use tokio::time::timeout_at;
use wasmtime::component::Linker;

use crate::http::{AllowList, HttpClient, HttpLimits};
use crate::runtime::bindings::{ProbeInfo, ProbePre};
use crate::runtime::capabilities::http::HttpCapability;
use crate::runtime::capabilities::metrics::HostMetrics;
use crate::runtime::engine::Runtime;
use crate::runtime::instance::{settle, wall};
use crate::runtime::limits::{LoadLimits, RunFailure, RunLimits};
use crate::runtime::sandbox::{new_store, JobCapabilities, ProbeState};

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

impl From<ProbeInfo> for ProbeDescription {
    fn from(info: ProbeInfo) -> Self {
        ProbeDescription {
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
        }
    }
}

/// A compiled, linked probe ready to instantiate. Cheap to share (`Arc`).
pub struct LoadedProbe {
    pub path: PathBuf,
    pub sha256: String,
    pub info: ProbeDescription,
    pub(crate) pre: ProbePre<ProbeState>,
}

impl std::fmt::Debug for LoadedProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedProbe")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

/// Shared by every job: the runtime, host metrics, the HTTP client and the load limits.
#[derive(Clone)]
pub struct Host {
    pub runtime: Runtime,
    pub metrics: Arc<HostMetrics>,
    pub http: HttpClient,
    pub load_limits: LoadLimits,
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
            load_limits: LoadLimits::default(),
            linker: Arc::new(linker),
        })
    }

    /// Capabilities of one job's stores.
    pub fn capabilities(&self, job: &str, allow: AllowList, limits: &RunLimits) -> JobCapabilities {
        JobCapabilities {
            job: job.into(),
            metrics: self.metrics.clone(),
            http: HttpCapability {
                client: self.http.clone(),
                allow: Arc::new(allow),
            },
            max_memory_bytes: limits.max_memory_bytes,
            max_output_bytes: limits.max_output_bytes,
        }
    }

    /// Read (at most `max_component_bytes`), compile (or take from the cache), check the
    /// WIT version and link. Blocking: [`Host::load`] runs it on a thread of its own.
    pub fn load_blocking(&self, path: &Path) -> anyhow::Result<(ProbePre<ProbeState>, String)> {
        let wasm = read_component(path, self.load_limits.max_component_bytes)?;
        let sha256 = hex::encode(Sha256::digest(&wasm));
        let component = self.runtime.compile(&wasm, path)?;
        let version = crate::runtime::wit_version::check(&self.runtime.engine, &component)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow::anyhow!("{}: cannot link the component: {e}", path.display()))?;
        let pre = ProbePre::new(pre, version).map_err(|e| {
            anyhow::anyhow!(
                "{}: does not export the sonde:probe world (describe, run): {e}",
                path.display()
            )
        })?;
        Ok((pre, sha256))
    }

    /// [`Host::load_blocking`] on a thread of its own once a compile slot is free, waited
    /// for at most `compile_timeout_ms` from then. Cranelift cannot be interrupted: past the
    /// budget the load fails, the slot is given back and the thread's result is dropped
    /// when it ends (it is not cached either). A plain thread, not the async runtime's
    /// blocking pool, so that an abandoned compilation never delays the host's exit.
    async fn compile_bounded(&self, path: &Path) -> anyhow::Result<(ProbePre<ProbeState>, String)> {
        let _slot = self
            .runtime
            .compile_slots
            .acquire()
            .await
            .context("the compile slots are closed")?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let host = self.clone();
        let owned = path.to_path_buf();
        std::thread::Builder::new()
            .name("sonde-compile".into())
            .spawn(move || {
                let _ = tx.send(host.load_blocking(&owned));
            })
            .context("starting a compile thread")?;
        let budget = Duration::from_millis(self.load_limits.compile_timeout_ms);
        match tokio::time::timeout(budget, rx).await {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(_)) => anyhow::bail!("{}: the compile thread failed", path.display()),
            Err(_) => anyhow::bail!(
                "{}: compiling took longer than compile_timeout_ms={}; not loaded (retried when the file changes)",
                path.display(),
                self.load_limits.compile_timeout_ms
            ),
        }
    }

    /// Load a probe: compile (bounded), then instantiate it and call `describe()` in a
    /// throw-away store, together bounded by `describe_timeout_ms`.
    pub async fn load(&self, path: &Path) -> anyhow::Result<Arc<LoadedProbe>> {
        let (pre, sha256) = self.compile_bounded(path).await?;
        let info = self
            .describe(&pre)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(Arc::new(LoadedProbe {
            path: path.to_path_buf(),
            sha256,
            info: info.into(),
            pre,
        }))
    }

    async fn describe(&self, pre: &ProbePre<ProbeState>) -> Result<ProbeInfo, String> {
        let limits = self.load_limits;
        let run_limits = RunLimits {
            timeout_ms: limits.describe_timeout_ms,
            max_memory_bytes: limits.max_memory_bytes,
            max_output_bytes: limits.max_output_bytes,
            ..RunLimits::default()
        };
        let caps = self.capabilities("describe", AllowList::deny_all(), &run_limits);
        let _busy = self.runtime.busy();
        let mut store = new_store(&self.runtime.engine, &caps);
        let deadline = Instant::now() + Duration::from_millis(limits.describe_timeout_ms);
        store.data_mut().deadline = deadline;
        let outcome = timeout_at(wall(deadline), pre.instantiate_async(&mut store)).await;
        let instance = settle(outcome, &mut store, &run_limits)
            .map_err(|f| format!("instantiation failed: {}", describe_failure(f, &limits)))?;
        let outcome = timeout_at(wall(deadline), instance.call_describe(&mut store)).await;
        settle(outcome, &mut store, &run_limits)
            .map_err(|f| format!("describe() failed: {}", describe_failure(f, &limits)))
    }
}

/// A load's failure text: a timeout names `describe_timeout_ms`, not a run's `timeout_ms`.
fn describe_failure(f: RunFailure, limits: &LoadLimits) -> String {
    match f {
        RunFailure::Timeout { .. } => format!(
            "timeout: instantiation and describe() did not finish within describe_timeout_ms={}",
            limits.describe_timeout_ms
        ),
        other => other.to_string(),
    }
}

/// The file's bytes, refusing one over `max_bytes` without reading it (and reading no more
/// than that even if the file grows meanwhile).
fn read_component(path: &Path, max_bytes: u64) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let too_big = |len: u64| {
        anyhow::anyhow!(
            "{}: the component is {len} bytes > max_component_bytes={max_bytes}; not loaded",
            path.display()
        )
    };
    if len > max_bytes {
        return Err(too_big(len));
    }
    let mut wasm = Vec::with_capacity(len as usize);
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut wasm)
        .with_context(|| format!("reading {}", path.display()))?;
    if wasm.len() as u64 > max_bytes {
        return Err(too_big(wasm.len() as u64));
    }
    Ok(wasm)
}
