//! Hot-load: polls the probe files and directories the host runs from.
//!
//! - a new `.wasm` in a watched directory starts a job (named after the file);
//! - a changed file is recompiled here, in the watcher task (compilation runs on a blocking
//!   thread, off the scheduler), and swapped into its jobs before their next run;
//! - a removed file stops its jobs.
//!
//! A file is only loaded once its size and modification time are the same on two
//! consecutive polls, so a file being copied is not read half-written. A file that fails
//! to load is reported once per content and retried when it changes.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::{default_limits, Defaults, JobSpec};
use crate::runtime::probe::{Host, LoadedProbe};
use crate::schedule::job::Job;
use crate::schedule::scheduler::Scheduler;

/// How often the watched paths are checked.
pub const POLL_INTERVAL_MS: u64 = 500;

/// Where jobs come from: `--probes` files and directories, and host.toml's `[[job]]`s.
#[derive(Debug, Clone, Default)]
pub struct JobSources {
    pub dirs: Vec<PathBuf>,
    pub files: Vec<PathBuf>,
    pub config_jobs: Vec<JobSpec>,
    pub defaults: Defaults,
}

impl JobSources {
    /// Split `--probes` arguments into files and directories.
    pub fn from_probe_args(
        args: &[PathBuf],
        config_jobs: Vec<JobSpec>,
        defaults: Defaults,
    ) -> anyhow::Result<Self> {
        let mut sources = JobSources {
            config_jobs,
            defaults,
            ..Default::default()
        };
        for p in args {
            if p.is_dir() {
                sources.dirs.push(p.clone());
            } else if p.exists() {
                sources.files.push(p.clone());
            } else {
                anyhow::bail!("--probes {}: no such file or directory", p.display());
            }
        }
        Ok(sources)
    }

    /// Every job that should exist now: host.toml's, then one per `--probes` file (named
    /// after the file, `cpu.wasm` → `cpu`). A name already taken is reported and skipped.
    pub fn specs(&self) -> (Vec<JobSpec>, Vec<String>) {
        let mut specs = self.config_jobs.clone();
        let mut problems = Vec::new();
        let mut files: Vec<PathBuf> = self.files.clone();
        for dir in &self.dirs {
            files.extend(wasm_files(dir));
        }
        for path in files {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some(other) = specs.iter().find(|s| s.name == name) {
                problems.push(format!(
                    "--probes {}: job name {name:?} is already used by {} ({}); skipped",
                    path.display(),
                    other.probe_path.display(),
                    other.origin
                ));
                continue;
            }
            specs.push(JobSpec {
                name,
                probe_path: path.clone(),
                interval_ms: self.defaults.interval_ms,
                params: Vec::new(),
                allow_http: Vec::new(),
                limits: default_limits(&self.defaults),
                origin: format!("--probes {}", path.display()),
            });
        }
        (specs, problems)
    }
}

/// `*.wasm` directly in `dir`, sorted; an unreadable directory yields nothing (logged).
pub fn wasm_files(dir: &Path) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!("cannot list probe directory {}: {e}", dir.display());
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
        .collect();
    files.sort();
    files
}

type Fingerprint = (u64, Option<SystemTime>);

fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let meta = std::fs::metadata(path).ok()?;
    meta.is_file().then(|| (meta.len(), meta.modified().ok()))
}

#[derive(Default)]
struct FileState {
    seen: Option<Fingerprint>,
    loaded_at: Option<Fingerprint>,
    probe: Option<Arc<LoadedProbe>>,
}

/// Keeps the scheduler's jobs in step with the files on disk.
pub struct Watcher {
    host: Host,
    sources: JobSources,
    files: HashMap<PathBuf, FileState>,
    /// Running job name → (its definition, sha256 of the probe it runs).
    running: HashMap<String, (JobSpec, String)>,
    /// Problems already logged (each is logged once).
    reported: HashSet<String>,
    /// Jobs that could not start on the first pass.
    pub start_failures: usize,
    load_failures: sonde_telemetry::Counter,
}

impl Watcher {
    pub fn new(host: Host, sources: JobSources) -> Self {
        Watcher {
            host,
            sources,
            files: HashMap::new(),
            running: HashMap::new(),
            reported: HashSet::new(),
            start_failures: 0,
            load_failures: sonde_telemetry::Counter::noop(),
        }
    }

    /// Count every reported problem (a file that does not load, a job that cannot start).
    pub fn with_load_failures(mut self, counter: sonde_telemetry::Counter) -> Self {
        self.load_failures = counter;
        self
    }

    fn report(&mut self, problem: String) {
        if self.reported.insert(problem.clone()) {
            tracing::error!("{problem}");
            self.start_failures += 1;
            self.load_failures.increment(1);
        }
    }

    /// One pass. With `debounce`, a file seen for the first time or changed since the last
    /// pass waits for the next pass.
    pub async fn poll(&mut self, scheduler: &mut Scheduler, debounce: bool) {
        let (specs, problems) = self.sources.specs();
        for p in problems {
            self.report(p);
        }
        let paths: HashSet<PathBuf> = specs.iter().map(|s| s.probe_path.clone()).collect();
        self.files.retain(|p, _| paths.contains(p));
        for path in &paths {
            self.refresh_file(path, debounce).await;
        }
        // Stop jobs whose spec is gone or whose file is gone.
        let wanted: HashMap<&str, &JobSpec> = specs.iter().map(|s| (s.name.as_str(), s)).collect();
        let running: Vec<String> = self.running.keys().cloned().collect();
        for name in running {
            let gone = match wanted.get(name.as_str()) {
                None => true,
                Some(spec) => self
                    .files
                    .get(&spec.probe_path)
                    .and_then(|f| f.probe.as_ref())
                    .is_none(),
            };
            if gone {
                tracing::info!(job = %name, "probe file removed");
                scheduler.stop(&name).await;
                self.running.remove(&name);
            }
        }
        for spec in specs {
            let Some(probe) = self
                .files
                .get(&spec.probe_path)
                .and_then(|f| f.probe.clone())
            else {
                continue;
            };
            let changed = match self.running.get_mut(&spec.name) {
                Some((running, _)) if !running.same_job(&spec) => true,
                Some((running, sha)) => {
                    // Same job; the definition may have moved in the file.
                    running.origin = spec.origin.clone();
                    if *sha != probe.sha256 {
                        tracing::info!(job = %spec.name, file = %probe.path.display(), "probe changed; swapping before the next run");
                        scheduler.swap(&spec.name, probe.clone());
                        *sha = probe.sha256.clone();
                    }
                    false
                }
                None => true,
            };
            if changed {
                let key = format!("{}#{}", spec.name, probe.sha256);
                if self.reported.contains(&key) {
                    continue;
                }
                let name = spec.name.clone();
                match Job::new(&self.host, spec.clone(), probe.clone()) {
                    Ok(job) => {
                        if self.running.contains_key(&name) {
                            tracing::info!(job = %name, "job definition changed; restarting it");
                        }
                        // Stops the job's previous definition first, if any.
                        scheduler.start(job).await;
                        self.running.insert(name, (spec, probe.sha256.clone()));
                    }
                    Err(e) => {
                        // A changed definition that cannot start leaves the old one running.
                        self.reported.insert(key);
                        self.report(format!("job {name:?} not started: {e:#}"));
                    }
                }
            }
        }
    }

    /// Use new sources (a reloaded host.toml) from now on; problems are reported afresh.
    pub async fn set_sources(&mut self, scheduler: &mut Scheduler, sources: JobSources) {
        self.sources = sources;
        self.reported.clear();
        self.poll(scheduler, false).await;
    }

    async fn refresh_file(&mut self, path: &Path, debounce: bool) {
        let now = fingerprint(path);
        let state = self.files.entry(path.to_path_buf()).or_default();
        let Some(fp) = now else {
            *state = FileState::default();
            self.report_missing(path);
            return;
        };
        let stable = state.seen == Some(fp);
        state.seen = Some(fp);
        if state.loaded_at == Some(fp) || (debounce && !stable) {
            return;
        }
        state.loaded_at = Some(fp);
        match self.host.load(path).await {
            Ok(probe) => {
                let state = self.files.entry(path.to_path_buf()).or_default();
                let same = state
                    .probe
                    .as_ref()
                    .is_some_and(|p| p.sha256 == probe.sha256);
                if !same {
                    tracing::info!(file = %path.display(), probe = %probe.info.name, version = %probe.info.version, "probe loaded");
                    state.probe = Some(probe);
                }
            }
            Err(e) => {
                // Keep whatever was running; retried when the file changes again.
                self.report(format!("{e:#}"));
            }
        }
    }

    fn report_missing(&mut self, path: &Path) {
        let named_in_config = self
            .sources
            .config_jobs
            .iter()
            .any(|j| j.probe_path == path)
            || self.sources.files.iter().any(|f| f == path);
        if named_in_config {
            self.report(format!(
                "{}: no such file (run `just build-probes`?); its jobs wait for it",
                path.display()
            ));
        }
    }

    /// Poll until `stop` resolves; sources arriving on `reloads` replace the current ones.
    pub async fn run(
        mut self,
        scheduler: &mut Scheduler,
        stop: impl std::future::Future<Output = ()>,
        mut reloads: tokio::sync::mpsc::UnboundedReceiver<JobSources>,
    ) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                Some(sources) = reloads.recv() => self.set_sources(scheduler, sources).await,
                _ = tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)) => self.poll(scheduler, true).await,
            }
        }
    }
}
