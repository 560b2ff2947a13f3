//! Hot-load: watches the probe files and directories the host runs from.
//!
//! A pass over them runs when inotify reports a change in one of their directories (for a
//! file behind a symlink, in its target's directory too), every [`POLL_INTERVAL_MS`] while
//! a file is settling (or a directory cannot be watched), and every [`FALLBACK_POLL_MS`]
//! otherwise, for what inotify cannot see (a change made on another machine to a network
//! filesystem, a link in a chain of symlinks re-pointed).
//!
//! - a new `.wasm` in a watched directory starts a job (named after the file);
//! - a changed file is loaded again in the background (a task per file, compilation on a
//!   thread of its own) and swapped into its jobs before their next run; a slow or hung
//!   load delays no job, no other file and no shutdown;
//! - a removed file stops its jobs.
//!
//! A file is only loaded once its size and modification time are the same on two
//! consecutive polls, so a file being copied is not read half-written. A file that fails
//! to load is reported once per content and retried when it changes.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinSet;

use crate::config::{default_limits, Defaults, JobSpec};
use crate::fleet::service::{add_jobs, check_component, FleetJobs};
use crate::runtime::probe::{Host, LoadedProbe};
use crate::schedule::dir_events::DirEvents;
use crate::schedule::job::Job;
use crate::schedule::scheduler::Scheduler;

/// How often the watched paths are checked while a file is settling or a directory
/// cannot be watched.
pub const POLL_INTERVAL_MS: u64 = 500;
/// How often they are checked otherwise: each pass wakes an idle host, so inotify, which
/// sees every change on a local filesystem, carries the prompt case.
pub const FALLBACK_POLL_MS: u64 = 30_000;
/// How long after a change event the pass runs (events meanwhile are taken with it).
const EVENT_SETTLE_MS: u64 = 100;

/// Where jobs come from: `--probes` files and directories, and host.toml's `[[job]]`s.
#[derive(Debug, Clone, Default)]
pub struct JobSources {
    pub dirs: Vec<PathBuf>,
    pub files: Vec<PathBuf>,
    pub config_jobs: Vec<JobSpec>,
    pub defaults: Defaults,
    /// The host's `min_interval_ms`, for jobs started from `--probes`.
    pub min_interval_ms: u64,
}

impl JobSources {
    /// Split `--probes` arguments into files and directories.
    pub fn from_probe_args(
        args: &[PathBuf],
        config_jobs: Vec<JobSpec>,
        defaults: Defaults,
        min_interval_ms: u64,
    ) -> anyhow::Result<Self> {
        let mut sources = JobSources {
            config_jobs,
            defaults,
            min_interval_ms,
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
                min_interval_ms: self.min_interval_ms,
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

/// The directories whose changes can change a job: `dirs`, and for each file its own
/// directory and, behind a symlink, its target's (where a deployment that re-points
/// nothing but rewrites the target makes its change).
fn watched_dirs<'a>(
    dirs: &[PathBuf],
    files: impl IntoIterator<Item = &'a PathBuf>,
) -> BTreeSet<PathBuf> {
    let mut watched: BTreeSet<PathBuf> = dirs.iter().cloned().collect();
    for file in files {
        watched.extend(file.parent().map(Path::to_path_buf));
        let is_link = std::fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_symlink());
        if is_link {
            if let Ok(target) = std::fs::canonicalize(file) {
                watched.extend(target.parent().map(Path::to_path_buf));
            }
        }
    }
    watched
}

type Fingerprint = (u64, Option<SystemTime>);

fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let meta = std::fs::metadata(path).ok()?;
    meta.is_file().then(|| (meta.len(), meta.modified().ok()))
}

#[derive(Default)]
struct FileState {
    seen: Option<Fingerprint>,
    /// The content last handed to a load (finished or still running).
    loaded_at: Option<Fingerprint>,
    probe: Option<Arc<LoadedProbe>>,
}

/// A finished background load: the file, and the probe or why it did not load.
type LoadDone = (PathBuf, anyhow::Result<Arc<LoadedProbe>>);

/// Keeps the scheduler's jobs in step with the files on disk.
pub struct Watcher {
    host: Host,
    sources: JobSources,
    files: HashMap<PathBuf, FileState>,
    /// Loads in flight, at most one per file; each is bounded by the host's load limits
    /// and none holds up the loop, the other files or a shutdown.
    loads: JoinSet<LoadDone>,
    loading: HashSet<PathBuf>,
    /// Running job name → (its definition, sha256 of the probe it runs).
    running: HashMap<String, (JobSpec, String)>,
    /// Problems already logged (each is logged once).
    reported: HashSet<String>,
    /// Jobs that could not start on the first pass.
    pub start_failures: usize,
    load_failures: sonde_telemetry::Counter,
    /// Set ready once the files present at start have been loaded (or failed to load).
    readiness: Option<sonde_telemetry::Readiness>,
    /// Jobs delivered as signed bundles (`[fleet]`), beside the sources'.
    fleet: Option<FleetJobs>,
    /// The directories holding the files of the last pass, to watch for changes.
    dirs: BTreeSet<PathBuf>,
}

impl Watcher {
    pub fn new(host: Host, sources: JobSources) -> Self {
        Watcher {
            host,
            sources,
            files: HashMap::new(),
            loads: JoinSet::new(),
            loading: HashSet::new(),
            running: HashMap::new(),
            reported: HashSet::new(),
            start_failures: 0,
            load_failures: sonde_telemetry::Counter::noop(),
            readiness: None,
            fleet: None,
            dirs: BTreeSet::new(),
        }
    }

    /// Also run the fleet's jobs; a change to them is taken in at once.
    pub fn with_fleet(mut self, jobs: FleetJobs) -> Self {
        self.fleet = Some(jobs);
        self
    }

    /// Every job that should exist now: the sources', then the fleet's.
    fn specs(&self) -> (Vec<JobSpec>, Vec<String>) {
        let (mut specs, mut problems) = self.sources.specs();
        if let Some(fleet) = &self.fleet {
            let local = specs.len();
            add_jobs(&mut specs, &mut problems, &fleet.borrow());
            // A bundle's job runs under this host's floor like any other.
            for spec in &mut specs[local..] {
                spec.min_interval_ms = self.sources.min_interval_ms;
            }
        }
        (specs, problems)
    }

    /// A fleet job's file must hold the component its verified bundle names.
    fn check_fleet_component(&mut self, spec: &JobSpec, sha256: &str) -> bool {
        let checked = match &self.fleet {
            Some(fleet) => check_component(&fleet.borrow(), spec, sha256),
            None => Ok(()),
        };
        checked.map_err(|e| self.report(e)).is_ok()
    }

    /// Count every reported problem (a file that does not load, a job that cannot start).
    pub fn with_load_failures(mut self, counter: sonde_telemetry::Counter) -> Self {
        self.load_failures = counter;
        self
    }

    /// Mark `readiness` ready when the first pass's loads have all ended.
    pub fn with_readiness(mut self, readiness: sonde_telemetry::Readiness) -> Self {
        self.readiness = Some(readiness);
        self
    }

    fn report(&mut self, problem: String) {
        if self.reported.insert(problem.clone()) {
            tracing::error!("{problem}");
            self.start_failures += 1;
            self.load_failures.increment(1);
        }
    }

    /// One pass: start loads of new or changed files, then bring the jobs in step with
    /// the probes loaded so far. With `debounce`, a file seen for the first time or changed
    /// since the last pass waits for the next pass.
    pub async fn poll(&mut self, scheduler: &mut Scheduler, debounce: bool) {
        let (specs, problems) = self.specs();
        for p in problems {
            self.report(p);
        }
        let paths: HashSet<PathBuf> = specs.iter().map(|s| s.probe_path.clone()).collect();
        self.files.retain(|p, _| paths.contains(p));
        self.dirs = watched_dirs(&self.sources.dirs, &paths);
        for path in &paths {
            self.refresh_file(path, debounce);
        }
        self.reconcile(scheduler, specs).await;
    }

    /// Take in a finished load, then bring the jobs in step.
    async fn finish_load(&mut self, scheduler: &mut Scheduler, (path, result): LoadDone) {
        self.loading.remove(&path);
        match result {
            Ok(probe) => {
                if let Some(state) = self.files.get_mut(&path) {
                    if state
                        .probe
                        .as_ref()
                        .is_none_or(|p| p.sha256 != probe.sha256)
                    {
                        tracing::info!(file = %path.display(), probe = %probe.info.name, version = %probe.info.version, "probe loaded");
                        state.probe = Some(probe);
                    }
                }
            }
            // Keep whatever was running; retried when the file changes again.
            Err(e) => self.report(format!("{e:#}")),
        }
        let (specs, _) = self.specs();
        self.reconcile(scheduler, specs).await;
    }

    /// Stop jobs whose spec or file is gone, swap changed probes, (re)start new or
    /// redefined jobs.
    async fn reconcile(&mut self, scheduler: &mut Scheduler, specs: Vec<JobSpec>) {
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
            if !self.check_fleet_component(&spec, &probe.sha256) {
                continue;
            }
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

    /// Whether every file seen has been handed to a load: nothing waits for a next pass.
    fn settled(&self) -> bool {
        self.files
            .values()
            .all(|f| f.seen.is_none() || f.seen == f.loaded_at)
    }

    /// Start a background load of `path` when its content is new and settled and no load
    /// of it is running (a file that changes during a load is loaded again afterwards).
    fn refresh_file(&mut self, path: &Path, debounce: bool) {
        let now = fingerprint(path);
        let state = self.files.entry(path.to_path_buf()).or_default();
        let Some(fp) = now else {
            *state = FileState::default();
            self.report_missing(path);
            return;
        };
        let stable = state.seen == Some(fp);
        state.seen = Some(fp);
        if state.loaded_at == Some(fp) || (debounce && !stable) || self.loading.contains(path) {
            return;
        }
        state.loaded_at = Some(fp);
        tracing::info!(file = %path.display(), "loading probe file");
        self.loading.insert(path.to_path_buf());
        let host = self.host.clone();
        let path = path.to_path_buf();
        self.loads.spawn(async move {
            let result = host.load(&path).await;
            (path, result)
        });
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

    /// Load what is there now, then keep polling until `stop` resolves; sources arriving
    /// on `reloads` replace the current ones. Loads in flight at the stop are abandoned.
    pub async fn run(
        mut self,
        scheduler: &mut Scheduler,
        stop: impl std::future::Future<Output = ()>,
        mut reloads: tokio::sync::mpsc::UnboundedReceiver<JobSources>,
    ) {
        tokio::pin!(stop);
        self.poll(scheduler, false).await;
        let mut first_pass_pending = true;
        let mut events = DirEvents::new();
        let mut fleet = self.fleet.clone();
        loop {
            if first_pass_pending && self.loads.is_empty() {
                first_pass_pending = false;
                if let Some(readiness) = &self.readiness {
                    readiness.set_ready();
                }
                if scheduler.job_names().is_empty() {
                    tracing::warn!("no job is running yet; waiting for probe files to appear");
                }
            }
            let added = events.watch(&self.dirs);
            let next_poll = if self.settled() && events.complete() && !added {
                FALLBACK_POLL_MS
            } else {
                POLL_INTERVAL_MS
            };
            tokio::select! {
                _ = &mut stop => break,
                Some(done) = self.loads.join_next() => match done {
                    Ok(done) => self.finish_load(scheduler, done).await,
                    Err(e) => tracing::error!("a probe load task failed: {e}"),
                },
                Some(sources) = reloads.recv() => self.set_sources(scheduler, sources).await,
                _ = events.changed() => {
                    // Let a burst of changes (a copy in progress, a busy directory) settle:
                    // at most one pass per EVENT_SETTLE_MS however many events arrive.
                    tokio::time::sleep(Duration::from_millis(EVENT_SETTLE_MS)).await;
                    events.take_queued();
                    self.poll(scheduler, true).await
                }
                _ = tokio::time::sleep(Duration::from_millis(next_poll)) => self.poll(scheduler, true).await,
                true = fleet_changed(&mut fleet) => self.poll(scheduler, false).await,
            }
        }
        self.loads.abort_all();
    }
}

/// Resolves when the fleet's jobs change; never without a fleet (or once it is gone).
async fn fleet_changed(fleet: &mut Option<FleetJobs>) -> bool {
    if let Some(rx) = fleet {
        if rx.changed().await.is_ok() {
            return true;
        }
    }
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlinked_file_has_its_target_directory_watched_too() {
        let scratch = tempfile::tempdir().unwrap();
        let (probes, store, extra) = (
            scratch.path().join("probes"),
            scratch.path().join("store"),
            scratch.path().join("extra"),
        );
        for d in [&probes, &store, &extra] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(store.join("v2.wasm"), b"x").unwrap();
        std::fs::write(probes.join("plain.wasm"), b"x").unwrap();
        std::os::unix::fs::symlink(store.join("v2.wasm"), probes.join("linked.wasm")).unwrap();
        // A dangling link: its target's directory cannot be known, only its own.
        std::os::unix::fs::symlink(
            scratch.path().join("gone/x.wasm"),
            probes.join("dangling.wasm"),
        )
        .unwrap();
        let files = ["plain.wasm", "linked.wasm", "dangling.wasm"].map(|f| probes.join(f));
        let dirs = watched_dirs(std::slice::from_ref(&extra), &files);
        let canonical = |p: &Path| p.canonicalize().unwrap();
        let expected: BTreeSet<PathBuf> = [extra.clone(), probes.clone(), canonical(&store)].into();
        assert_eq!(dirs, expected);
    }
}
