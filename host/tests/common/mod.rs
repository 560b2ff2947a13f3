//! Shared by the host's integration tests: where the built probes are, running the
//! `host` binary, collecting its JSON lines.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sonde_message::RunMessage;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `probes/<name>.wasm`; fails the test when it was not built.
pub fn probe(name: &str) -> PathBuf {
    built(repo_root().join("probes").join(format!("{name}.wasm")))
}

/// `tests/probes/<name>.wasm` (test-only probes); fails the test when it was not built.
pub fn test_probe(name: &str) -> PathBuf {
    built(
        repo_root()
            .join("tests")
            .join("probes")
            .join(format!("{name}.wasm")),
    )
}

fn built(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "{} is missing: run `just build-probes` (tests/stack/build-probes.sh) first",
        path.display()
    );
    path
}

/// `tests/wat/NAME.wat` compiled into `dir` (see `sonde_tests::wat`).
pub fn wat_probe(name: &str, dir: &Path) -> PathBuf {
    sonde_tests::wat::build_wat_component(name, dir)
}

/// Write `text` to `dir/host.toml` and return its path as a string for `--config`.
pub fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("host.toml");
    std::fs::write(&path, text).expect("write host.toml");
    path.display().to_string()
}

/// The compiled-component cache tests share: `SONDE_CACHE_DIR` (`just test` sets it to
/// `target/sonde-cache`), else `target/sonde-cache`. The Python and JavaScript probes take
/// seconds to compile; tests that are not about the cache load them from here.
pub fn shared_cache() -> PathBuf {
    std::env::var_os("SONDE_CACHE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target").join("sonde-cache"))
}

/// Load `probes` once through `host probes list` with the compile cache `cache`, so that a
/// test's timed part does not include compiling them (a Python or JavaScript component takes
/// tens of seconds when the cache is cold).
pub fn warm_cache(cache: &Path, probes: &[&Path]) {
    let mut args = vec![std::ffi::OsStr::new("probes"), std::ffi::OsStr::new("list")];
    args.extend(probes.iter().map(|p| p.as_os_str()));
    host_stdout(cache, args);
}

/// `name{label=value,...} → value` of a run's samples, leaving out the labels named in
/// `skip` (e.g. `url`, which every sample of an HTTP check carries).
pub fn sample_values(run: &RunMessage, skip: &[&str]) -> std::collections::BTreeMap<String, f64> {
    run.samples
        .iter()
        .map(|s| {
            let extra: Vec<String> = s
                .labels
                .iter()
                .filter(|(k, _)| !skip.contains(&k.as_str()))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let key = if extra.is_empty() {
                s.name.clone()
            } else {
                format!("{}{{{}}}", s.name, extra.join(","))
            };
            (key, s.value)
        })
        .collect()
}

/// A `[[job]]` table: `params` become TOML literal strings (no escapes; a value must not
/// contain `'`), `extra` is more `key = value` lines (limits).
pub fn job_toml(
    name: &str,
    probe: &Path,
    params: &[(&str, &str)],
    allow: &[&str],
    extra: &str,
) -> String {
    let params: Vec<String> = params.iter().map(|(k, v)| format!("{k} = '{v}'")).collect();
    let allow: Vec<String> = allow.iter().map(|a| format!("'{a}'")).collect();
    format!(
        "[[job]]\nname = '{name}'\nprobe = '{}'\nparams = {{ {} }}\nallow_http = [{}]\n{extra}\n",
        probe.display(),
        params.join(", "),
        allow.join(", ")
    )
}

/// A scratch directory with a compiled-component cache of its own.
pub fn scratch() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot create a temporary directory: {e}"),
    }
}

pub fn host_command(cache: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_host"));
    cmd.arg("--cache-dir")
        .arg(cache)
        .env_remove("KAFKA_SERVER")
        .env("RUST_LOG", "info");
    cmd
}

/// Stdout of `host ARGS` with the compile cache in `cache`; panics with its stderr on failure.
pub fn host_stdout<I, S>(cache: &Path, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = host_command(cache).args(args).output().expect("run host");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What `host [--config CONFIG] probes describe FILE` did.
pub struct Described {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Described {
    /// Asserts the load failed with a line containing `text`, printing nothing on stdout.
    pub fn assert_refused(&self, text: &str) {
        assert!(!self.success, "loaded:\n{}", self.stdout);
        assert!(
            self.stdout.is_empty(),
            "{} bytes printed",
            self.stdout.len()
        );
        assert!(
            self.stderr.contains(text),
            "expected {text:?} in:\n{}",
            self.stderr
        );
    }

    /// Asserts the load succeeded; its stdout.
    pub fn ok(&self) -> &str {
        assert!(self.success, "{}", self.stderr);
        &self.stdout
    }
}

pub fn probes_describe(cache: &Path, config: Option<&str>, wasm: &Path) -> Described {
    let mut cmd = host_command(cache);
    if let Some(config) = config {
        cmd.args(["--config", config]);
    }
    let started = Instant::now();
    let out = cmd
        .args(["probes", "describe"])
        .arg(wasm)
        .output()
        .expect("run host");
    Described {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: strip_ansi(&String::from_utf8_lossy(&out.stderr)),
        took: started.elapsed(),
    }
}

/// The value of the first sample of `run` named `name` with all of `labels`; fails the
/// test when there is none.
pub fn sample_value(run: &RunMessage, name: &str, labels: &[(&str, &str)]) -> f64 {
    run.samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(k).map(String::as_str) == Some(*v))
        })
        .unwrap_or_else(|| panic!("no sample {name} {labels:?} in {:?}", run.samples))
        .value
}

/// Output of a finished `host` run.
pub struct Finished {
    pub success: bool,
    pub messages: Vec<RunMessage>,
    pub stderr: String,
}

impl Finished {
    /// The run of `job`; fails the test, with the host's log, when there is none.
    pub fn run(&self, job: &str) -> &RunMessage {
        self.messages
            .iter()
            .find(|m| m.job == job)
            .unwrap_or_else(|| panic!("no run of job {job}; log:\n{}", self.stderr))
    }

    /// `name{labels} → value` of `job`'s run, which must have succeeded with every sample
    /// labelled `url` (an HTTP check); the `url` label is left out of the keys.
    pub fn url_values(&self, job: &str) -> std::collections::BTreeMap<String, f64> {
        let run = self.run(job);
        assert_eq!(
            run.status,
            sonde_message::RunStatus::Ok,
            "{job}: {run:?}\nlog:\n{}",
            self.stderr
        );
        assert!(
            run.samples.iter().all(|s| s.labels.contains_key("url")),
            "{job}: {run:?}"
        );
        sample_values(run, &["url"])
    }

    /// The error of `job`'s run, which must have failed without samples.
    pub fn error(&self, job: &str) -> &str {
        let run = self.run(job);
        assert_eq!(
            run.status,
            sonde_message::RunStatus::Error,
            "{job} should fail: {run:?}"
        );
        assert!(run.samples.is_empty(), "{job}: {run:?}");
        run.error.as_deref().unwrap_or_default()
    }
}

/// Write `config` as `host.toml` in `dir` and run `host --config host.toml --once` with the
/// compile cache in `cache`, on a blocking thread (the test's servers keep answering on the
/// async runtime meanwhile).
pub async fn run_config_once(dir: &Path, cache: PathBuf, config: String) -> Finished {
    let config_path = dir.join("host.toml");
    std::fs::write(&config_path, config).expect("write host.toml");
    tokio::task::spawn_blocking(move || {
        let path = config_path.display().to_string();
        run_host(&cache, &["--config", &path, "--once"])
    })
    .await
    .expect("host run")
}

pub fn decode_lines(stdout: &str) -> Vec<RunMessage> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(
            |l| match sonde_message::decode(l.as_bytes(), chrono::Utc::now()) {
                Ok(m) => m,
                Err(e) => panic!("host printed a line that is not a valid message ({e}): {l}"),
            },
        )
        .collect()
}

/// Run `host` to completion (e.g. with `--once`).
pub fn run_host(cache: &Path, args: &[&str]) -> Finished {
    let out = match host_command(cache).args(args).output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run host: {e}"),
    };
    Finished {
        success: out.status.success(),
        messages: decode_lines(&String::from_utf8_lossy(&out.stdout)),
        stderr: strip_ansi(&String::from_utf8_lossy(&out.stderr)),
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c2 in chars.by_ref() {
                if c2.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A `host` running in the background; its messages and logs are collected as they come.
pub struct RunningHost {
    child: Child,
    messages: Arc<Mutex<Vec<RunMessage>>>,
    stderr: Arc<Mutex<String>>,
}

impl RunningHost {
    pub fn start(cache: &Path, args: &[&str]) -> RunningHost {
        let mut child = match host_command(cache)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => panic!("cannot start host: {e}"),
        };
        let messages = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(out) = child.stdout.take() {
            let messages = messages.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let mut m = decode_lines(&line);
                    messages
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .append(&mut m);
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let mut s = stderr.lock().unwrap_or_else(|p| p.into_inner());
                    s.push_str(&strip_ansi(&line));
                    s.push('\n');
                }
            });
        }
        RunningHost {
            child,
            messages,
            stderr,
        }
    }

    /// Send `signal` (`HUP`, `TERM`, ...) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "kill -{signal} {} failed",
            self.child.id()
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The host's peak resident set so far (`VmHWM` of /proc/PID/status), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status of the host");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmHWM in /proc/PID/status:\n{status}"))
    }

    pub fn messages(&self) -> Vec<RunMessage> {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Poll `cond` on the messages until it holds; fails the test after `patience`.
    pub fn wait_for(
        &self,
        what: &str,
        patience: Duration,
        cond: impl Fn(&[RunMessage], &str) -> bool,
    ) {
        let until = Instant::now() + patience;
        loop {
            if cond(&self.messages(), &self.stderr()) {
                return;
            }
            if Instant::now() > until {
                panic!(
                    "waited {patience:?} for {what}; host log:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGINT, then wait for exit; returns whether it exited successfully.
    pub fn stop(self) -> (bool, Vec<RunMessage>, String) {
        let (_, success, messages, log) = self.signal_and_wait("INT");
        (success, messages, log)
    }

    /// Send `signal` (`TERM`, `INT`), wait for the exit; returns how long the exit took
    /// after the signal and whether it was successful.
    pub fn signal_and_wait(mut self, signal: &str) -> (Duration, bool, Vec<RunMessage>, String) {
        let pid = self.child.id().to_string();
        let sent = Instant::now();
        let _ = Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status();
        let status = self.child.wait();
        let took = sent.elapsed();
        // Give the reader threads a moment to drain the pipes.
        std::thread::sleep(Duration::from_millis(200));
        (
            took,
            status.map(|s| s.success()).unwrap_or(false),
            self.messages(),
            self.stderr(),
        )
    }
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn by_job<'a>(messages: &'a [RunMessage], job: &str) -> Vec<&'a RunMessage> {
    messages.iter().filter(|m| m.job == job).collect()
}
