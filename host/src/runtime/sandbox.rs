//! The store a probe lives in: an empty WASI context (no files, no environment, no
//! arguments, no sockets), the job's capabilities, its limits and its deadline.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::http::FetchBudget;
use crate::runtime::bindings::{types, v0_1, v0_2};
use crate::runtime::capabilities::http::{HasHttp, HttpCapability, HttpView};
use crate::runtime::capabilities::log::{HasLog, LogBudget, LogView};
use crate::runtime::capabilities::metrics::{HasMetrics, HostMetrics, MetricsView};
use crate::runtime::limits::ProbeLimiter;

/// Bytes of a probe's stdout+stderr kept per instance (the rest is dropped); they are
/// logged after each run and quoted in trap messages (a Rust panic message lands here).
pub const MAX_CAPTURED_OUTPUT_BYTES: usize = 4096;

/// The data of one probe's `Store`.
pub struct ProbeState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub job: Arc<str>,
    pub metrics: Arc<HostMetrics>,
    pub http: HttpCapability,
    pub limiter: ProbeLimiter,
    pub log_budget: LogBudget,
    /// What is left of this run's HTTP allowance (none outside a run).
    pub fetch_budget: FetchBudget,
    /// When the current run must end; checked at every epoch tick.
    pub deadline: Instant,
    pub timed_out: bool,
    pub output: CapturedOutput,
}

impl WasiView for ProbeState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Everything a job's store needs.
#[derive(Clone)]
pub struct JobCapabilities {
    pub job: Arc<str>,
    pub metrics: Arc<HostMetrics>,
    pub http: HttpCapability,
    pub max_memory_bytes: u64,
    /// The most the host copies out of the probe in one call (wasmtime's hostcall fuel).
    pub max_output_bytes: u64,
}

/// A new store for one instance. The deadline starts "now": callers set it per run.
pub fn new_store(engine: &Engine, caps: &JobCapabilities) -> Store<ProbeState> {
    let output = CapturedOutput::default();
    let wasi = WasiCtxBuilder::new()
        .stdout(output.clone())
        .stderr(output.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let state = ProbeState {
        wasi,
        table: ResourceTable::new(),
        job: caps.job.clone(),
        metrics: caps.metrics.clone(),
        http: caps.http.clone(),
        limiter: ProbeLimiter::new(caps.max_memory_bytes),
        log_budget: LogBudget::default(),
        fetch_budget: FetchBudget::default(),
        deadline: Instant::now(),
        timed_out: false,
        output,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    // wasmtime charges every string and list it lifts out of the guest (a call's result,
    // a host call's arguments) against this allowance before allocating it, so aliased or
    // huge values are refused before the host holds them.
    store.set_hostcall_fuel(usize::try_from(caps.max_output_bytes).unwrap_or(usize::MAX));
    // At every tick: past the deadline, trap; otherwise yield to the async runtime so a
    // spinning probe never holds a worker thread for more than one tick.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut cx| {
        let state = cx.data_mut();
        if Instant::now() >= state.deadline {
            state.timed_out = true;
            return Ok(UpdateDeadline::Interrupt);
        }
        // tokio's yield_now puts the task at the back of the run queue, so other jobs'
        // tasks run before the spinning one is polled again.
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
    store
}

/// A capped in-memory stdout/stderr shared by the WASI streams of one instance.
#[derive(Clone, Default)]
pub struct CapturedOutput(Arc<Mutex<Vec<u8>>>);

impl CapturedOutput {
    /// Take what was written since the last call (lossy UTF-8).
    pub fn take(&self) -> String {
        let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let text = String::from_utf8_lossy(&buf).trim_end().to_string();
        buf.clear();
        text
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let room = MAX_CAPTURED_OUTPUT_BYTES.saturating_sub(buf.len());
        buf.extend_from_slice(&data[..data.len().min(room)]);
        // Report everything as written: a probe must not fail because its output is capped.
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

// `types` declares no functions; the linker still wants the (empty) host trait.
impl types::Host for ProbeState {}

fn metrics_view(s: &mut ProbeState) -> MetricsView<'_> {
    MetricsView(&s.metrics)
}

fn http_view(s: &mut ProbeState) -> HttpView<'_> {
    HttpView {
        http: &s.http,
        deadline: s.deadline,
        budget: &mut s.fetch_budget,
    }
}

fn log_view(s: &mut ProbeState) -> LogView<'_> {
    LogView {
        job: &s.job,
        budget: &mut s.log_budget,
    }
}

/// The linker every probe is instantiated with: WASI over the empty context, and each
/// `sonde:probe` import of every contract version the host implements, served by its
/// capability through that capability's view of the store (the capabilities never see
/// [`ProbeState`] itself).
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<ProbeState>> {
    let mut linker = Linker::<ProbeState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(|e| anyhow::anyhow!("linking WASI: {e}"))?;
    let link = |e: wasmtime::Error| anyhow::anyhow!("linking sonde:probe: {e}");

    use v0_2::sonde::probe as newest;
    types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(link)?;
    newest::host_metrics::add_to_linker::<_, HasMetrics>(&mut linker, metrics_view)
        .map_err(link)?;
    newest::http::add_to_linker::<_, HasHttp>(&mut linker, http_view).map_err(link)?;
    newest::log::add_to_linker::<_, HasLog>(&mut linker, log_view).map_err(link)?;

    // 0.1.0 shares the newest `types` (no version changes them), under its own name.
    use v0_1::sonde::probe as v0_1;
    linker.instance("sonde:probe/types@0.1.0").map_err(link)?;
    v0_1::host_metrics::add_to_linker::<_, HasMetrics>(&mut linker, metrics_view).map_err(link)?;
    v0_1::http::add_to_linker::<_, HasHttp>(&mut linker, http_view).map_err(link)?;
    v0_1::log::add_to_linker::<_, HasLog>(&mut linker, log_view).map_err(link)?;
    Ok(linker)
}
