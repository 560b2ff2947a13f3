//! The shared wasmtime [`Engine`] and the on-disk cache of compiled components.
//!
//! One engine serves every probe. It has epoch interruption on (a ticker thread
//! advances the epoch every [`EPOCH_TICK_MS`]), so a spinning probe yields to the
//! async runtime at each tick and is stopped at its deadline. The ticker only ticks
//! while some wasm may be running ([`Runtime::busy`]): an idle host does not wake up
//! a hundred times a second.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

use crate::runtime::cache::CompileCache;

/// How often the epoch advances: the granularity of timeouts and of yielding.
pub const EPOCH_TICK_MS: u64 = 10;

/// Engine plus where compiled artifacts are cached.
#[derive(Clone)]
pub struct Runtime {
    pub engine: Engine,
    cache: Option<CompileCache>,
    active: Arc<ActiveCalls>,
    _ticker: Arc<TickerStop>,
    /// Compilations at a time (one per core): cranelift already compiles a component's
    /// functions in parallel, and each compilation holds memory in proportion to its size.
    pub compile_slots: Arc<tokio::sync::Semaphore>,
}

/// How many callers may be running wasm right now; the epoch ticker sleeps while it is 0,
/// and ends once it is 0 and the runtime is gone.
#[derive(Default)]
struct ActiveCalls {
    count: Mutex<usize>,
    /// Set (under `count`'s lock) when the last clone of the runtime is dropped.
    stopped: AtomicBool,
    changed: Condvar,
}

/// Held by every clone of a [`Runtime`]: the last one to go stops the epoch ticker, which
/// otherwise sleeps without a timeout while no wasm runs.
struct TickerStop(Arc<ActiveCalls>);

impl Drop for TickerStop {
    fn drop(&mut self) {
        let _count = self.0.lock();
        self.0.stopped.store(true, Ordering::Relaxed);
        self.0.changed.notify_all();
    }
}

impl ActiveCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.count.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Keeps the epoch ticker running while alive; see [`Runtime::busy`].
#[must_use = "the ticker stops when the guard is dropped"]
pub struct BusyGuard(Arc<ActiveCalls>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        *self.0.lock() -= 1;
    }
}

/// How instances get their memories, tables and stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceAllocator {
    /// mmap per instance (wasmtime's default).
    OnDemand,
    /// Pre-reserved slots reused across instances, room for `max_instances` live instances.
    Pooling { max_instances: u32 },
}

/// The engine configuration every probe runs under.
pub fn engine_config(allocator: InstanceAllocator) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    if let InstanceAllocator::Pooling { max_instances } = allocator {
        // A wasip2 component holds a few core instances (the probe and WASI adapter shims).
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(max_instances)
            .total_core_instances(max_instances.saturating_mul(8))
            .total_memories(max_instances.saturating_mul(2))
            .total_tables(max_instances.saturating_mul(8))
            .total_stacks(max_instances);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

impl Runtime {
    /// Build the engine and start its epoch ticker. `cache_dir: None` disables the disk cache,
    /// as does a directory that is not safe to use (see [`CompileCache::open`]; logged).
    ///
    /// Uses the on-demand allocator: the pooling allocator instantiates faster (benchmark
    /// `instantiate/*`: about 15 µs against 35 µs for the cpu probe) but instances are made
    /// only when a job starts or after a failed run, while the pool needs a fixed number of
    /// slots sized for every job a host.toml may list.
    pub fn new(cache_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        Runtime::with_allocator(cache_dir, InstanceAllocator::OnDemand)
    }

    /// Like [`Runtime::new`] with a chosen instance allocator (the benchmark compares them).
    pub fn with_allocator(
        cache_dir: Option<PathBuf>,
        allocator: InstanceAllocator,
    ) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config(allocator))
            .map_err(|e| anyhow::anyhow!("creating the wasmtime engine: {e}"))?;
        let active = Arc::new(ActiveCalls::default());
        // The ticker holds a weak reference to the engine: stores keep it alive while a
        // call may still be running after the runtime itself is gone.
        let weak_engine = engine.weak();
        let ticker_active = active.clone();
        std::thread::Builder::new()
            .name("sonde-epoch".into())
            .spawn(move || loop {
                {
                    let active = &ticker_active;
                    let count = active.lock();
                    let count = active
                        .changed
                        .wait_while(count, |n| {
                            *n == 0 && !active.stopped.load(Ordering::Relaxed)
                        })
                        .unwrap_or_else(|p| p.into_inner());
                    if *count == 0 {
                        return; // stopped, and nothing runs
                    }
                }
                std::thread::sleep(Duration::from_millis(EPOCH_TICK_MS));
                match weak_engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            })
            .context("starting the epoch ticker thread")?;
        let cache = cache_dir.and_then(|dir| match CompileCache::open(&dir) {
            Ok(cache) => Some(cache),
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        });
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Runtime {
            engine,
            cache,
            _ticker: Arc::new(TickerStop(active.clone())),
            active,
            compile_slots: Arc::new(tokio::sync::Semaphore::new(cores)),
        })
    }

    /// Mark wasm as possibly running until the guard is dropped. Every entry into a probe
    /// (instantiation, `describe`, `run`) must hold one, or its deadline never fires.
    pub fn busy(&self) -> BusyGuard {
        *self.active.lock() += 1;
        self.active.changed.notify_all();
        BusyGuard(self.active.clone())
    }

    /// Compile `wasm` or load its compiled form from the cache (keyed by the sha256 of the
    /// bytes, the wasmtime version and the engine settings). A cache that cannot be read or
    /// written is logged and bypassed, never fatal.
    pub fn compile(&self, wasm: &[u8], origin: &Path) -> anyhow::Result<Component> {
        let key = self.cache_key(wasm);
        if let Some(component) = self.cache.as_ref().and_then(|c| c.load(&self.engine, &key)) {
            return Ok(component);
        }
        let component = Component::new(&self.engine, wasm).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a valid WebAssembly component: {e}",
                origin.display()
            )
        })?;
        if let Some(cache) = &self.cache {
            if let Err(e) = cache.store(&key, &component) {
                tracing::warn!(cache = %cache.dir().display(), "cannot write the compiled-component cache: {e:#}");
            }
        }
        Ok(component)
    }

    fn cache_key(&self, wasm: &[u8]) -> String {
        use std::hash::{Hash, Hasher};
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        format!(
            "{}-wasmtime{}-{:016x}",
            hex::encode(Sha256::digest(wasm)),
            wasmtime_version(),
            engine_hash.finish()
        )
    }
}

/// The wasmtime version this host was built with (part of the cache key).
pub fn wasmtime_version() -> &'static str {
    // Keep in step with the workspace pin; a mismatch only costs a recompile, since
    // wasmtime also refuses artifacts from another version.
    "48"
}

/// `$CACHE_DIRECTORY` (set by systemd), else `$XDG_CACHE_HOME/sonde`, else `~/.cache/sonde`;
/// `None` when none is known. `--cache-dir` and `cache_dir` win over all of these.
pub fn default_cache_dir() -> Option<PathBuf> {
    // systemd's CacheDirectory= (colon-separated when the unit names several).
    if let Some(dirs) = std::env::var_os("CACHE_DIRECTORY").filter(|v| !v.is_empty()) {
        if let Some(first) = std::env::split_paths(&dirs).next() {
            return Some(first);
        }
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("sonde"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("sonde"))
}
