//! Shared by the whole-pipeline fault drills (`pipeline_*.rs`): the real `host` and
//! `recorder` binaries against a broker and PostgreSQL, a tap on the topic, and the check
//! that every run the host published is in PostgreSQL exactly once with all its samples.
//!
//! `SONDE_DRILL_SCALE=long` (`just test-long`) stretches the outages and windows; the
//! default runs every drill with shortened durations.
#![allow(dead_code, unused_imports)] // each drill uses its own subset

pub mod fleet;
pub mod ledger;
pub mod page;
pub mod procs;
pub mod tap;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sonde_tests::{create_test_database, create_topic, unique_topic, workspace_root, Env};

pub use ledger::{assert_exactly_once, Expect};
pub use procs::Proc;
pub use tap::Tap;

/// How long the drills run: `SONDE_DRILL_SCALE` unset or `short` for `just test`, `long`
/// for `just test-long`. Only durations change; every drill runs in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Short,
    Long,
}

impl Scale {
    pub fn from_env() -> Scale {
        match std::env::var("SONDE_DRILL_SCALE").as_deref() {
            Err(_) | Ok("") | Ok("short") => Scale::Short,
            Ok("long") => Scale::Long,
            Ok(other) => panic!("SONDE_DRILL_SCALE={other:?}: expected `short` or `long`"),
        }
    }

    pub fn pick<T>(self, short: T, long: T) -> T {
        match self {
            Scale::Short => short,
            Scale::Long => long,
        }
    }

    /// Upper bound for the pipeline to settle after a drill (fails instead of hanging).
    pub fn settle_patience(self) -> Duration {
        self.pick(Duration::from_secs(90), Duration::from_secs(240))
    }
}

/// `target/<profile>/<name>`, next to the directory holding this test binary.
///
/// # Panics
/// When the binary is missing, saying how to build it.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the running test binary");
    // .../target/debug/deps/pipeline_x-<hash> -> .../target/debug
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test binary location {}", exe.display()));
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} not found: run `cargo build -p sonde-host -p sonde-recorder` \
         (`cargo nextest run --workspace` builds it too)",
        path.display()
    );
    path
}

/// `probes/<name>.wasm`, or `tests/probes/<name>.wasm` for the hostile test probes.
pub fn probe(name: &str) -> PathBuf {
    let root = workspace_root();
    let path = [root.join("probes"), root.join("tests/probes")]
        .iter()
        .map(|dir| dir.join(format!("{name}.wasm")))
        .find(|p| p.is_file());
    path.unwrap_or_else(|| {
        panic!(
            "probe {name}.wasm not built: run `tests/stack/build-probes.sh` (`just build-probes`)"
        )
    })
}

/// One drill's pipeline: its topic, database, consumer group, host name and scratch dir
/// (host.toml, spool, component cache, process logs).
pub struct Pipeline {
    pub env: Env,
    pub topic: String,
    pub database: String,
    pub group: String,
    pub hostname: String,
    pub scale: Scale,
    dir: tempfile::TempDir,
    host_starts: u32,
    recorder_starts: u32,
}

impl Pipeline {
    /// Creates the topic (`partitions` partitions) on `env`'s broker and a fresh database.
    pub async fn new(env: Env, name: &str, partitions: i32) -> Pipeline {
        let topic = unique_topic(&format!("drill-{name}"));
        create_topic(&env, &topic, partitions).await;
        let database = create_test_database(&env).await;
        let dir = tempfile::tempdir().expect("scratch dir for the drill");
        Pipeline {
            group: format!("{topic}-recorder"),
            hostname: format!("drill-{name}-{}", std::process::id()),
            env,
            topic,
            database,
            scale: Scale::from_env(),
            dir,
            host_starts: 0,
            recorder_starts: 0,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The spool the host keeps through outages; the same across host restarts.
    pub fn spool_dir(&self) -> PathBuf {
        self.dir().join("spool")
    }

    /// Writes host.toml: `jobs_toml` holds the `[[job]]` tables.
    pub fn write_host_config(&self, jobs_toml: &str) {
        let text = format!("max_concurrency = 8\n\n{jobs_toml}");
        std::fs::write(self.dir().join("host.toml"), text).expect("write host.toml");
    }

    /// Starts `host` with host.toml, Kafka over mutual TLS and the drill's spool. Its debug
    /// log carries one `run published` line per run handed to the spool.
    pub fn start_host(&mut self) -> Proc {
        self.start_host_with(&[])
    }

    /// [`Pipeline::start_host`] with more command-line arguments.
    pub fn start_host_with(&mut self, extra_args: &[&str]) -> Proc {
        self.host_starts += 1;
        let mut cmd = std::process::Command::new(binary("host"));
        cmd.arg("--config")
            .arg(self.dir().join("host.toml"))
            .arg("--kafka-brokers")
            .arg(&self.env.kafka_brokers)
            .arg("--topic")
            .arg(&self.topic)
            .arg("--cert-dir")
            .arg(&self.env.host_cert_dir)
            .arg("--spool-dir")
            .arg(self.spool_dir())
            .arg("--cache-dir")
            .arg(self.dir().join("cache"))
            .arg("--hostname")
            .arg(&self.hostname)
            .args(extra_args)
            .env_remove("KAFKA_SERVER")
            .env("RUST_LOG", "info,sonde_host=debug")
            .env("NO_COLOR", "1");
        let log = self.dir().join(format!("host-{}.log", self.host_starts));
        Proc::spawn("host", cmd, log)
    }

    /// The logs of every host started so far, oldest first.
    pub fn host_logs(&self) -> Vec<PathBuf> {
        (1..=self.host_starts)
            .map(|n| self.dir().join(format!("host-{n}.log")))
            .collect()
    }

    /// Starts `recorder` with a recorder.ini for this drill; `extra` is appended to it.
    pub fn start_recorder(&mut self, extra: &str) -> Proc {
        self.start_recorder_with(extra, &[])
    }

    /// [`Pipeline::start_recorder`] with more command-line arguments.
    pub fn start_recorder_with(&mut self, extra: &str, extra_args: &[&str]) -> Proc {
        self.recorder_starts += 1;
        let ini_path = self.dir().join("recorder.ini");
        std::fs::write(&ini_path, self.recorder_ini(extra)).expect("write recorder.ini");
        let mut cmd = std::process::Command::new(binary("recorder"));
        cmd.arg("--config")
            .arg(&ini_path)
            .args(extra_args)
            .env_remove("KAFKA_SERVER")
            .env_remove("PSQL_SERVER")
            .env("RUST_LOG", "info,sonde_recorder=debug")
            .env("NO_COLOR", "1");
        let log = self
            .dir()
            .join(format!("recorder-{}.log", self.recorder_starts));
        Proc::spawn("recorder", cmd, log)
    }

    fn recorder_ini(&self, extra: &str) -> String {
        let target = sonde_tests::RecorderTarget {
            section: "recorder",
            topic: &self.topic,
            group: &self.group,
            database: &self.database,
        };
        sonde_tests::recorder_ini(&self.env, &target, extra)
    }

    /// A tap on the drill's topic with a consumer group of its own.
    pub fn tap(&self) -> Tap {
        Tap::start(&self.env, &self.topic)
    }

    /// Stops the host with SIGTERM (it delivers what it can, the rest stays spooled) and
    /// waits for it to exit, so the set of published runs is final.
    pub fn stop_host(&self, host: &mut Proc) {
        if !host.terminate(Duration::from_secs(60)) {
            panic!(
                "host did not exit within 60 s of SIGTERM; log:\n{}",
                host.log_tail(60)
            );
        }
    }
}

impl Drop for Pipeline {
    /// A failed drill (or `SONDE_DRILL_KEEP=1`) keeps its scratch dir with every host and
    /// recorder log for a look afterwards.
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("SONDE_DRILL_KEEP").is_some() {
            self.dir.disable_cleanup(true);
            eprintln!("drill files kept in {}", self.dir().display());
        }
    }
}

/// The `[[job]]` table of one probe at `interval_ms`, with extra `key = value` lines.
pub fn job(name: &str, probe_name: &str, interval_ms: u64, extra: &str) -> String {
    job_at(name, &probe(probe_name), interval_ms, extra)
}

/// [`job`] for the component at `path`.
pub fn job_at(name: &str, path: &Path, interval_ms: u64, extra: &str) -> String {
    format!(
        "[[job]]\nname = \"{name}\"\nprobe = \"{}\"\ninterval_ms = {interval_ms}\n{extra}\n\n",
        path.display()
    )
}

/// Every hostile test component: each crate under `tests/probes/` (built by
/// `tests/stack/build-probes.sh`) and each WAT fixture (`tests/wat/`, compiled
/// into `out_dir`), as (name, path of the `.wasm`), sorted by name.
pub fn hostile_components(out_dir: &Path) -> Vec<(String, PathBuf)> {
    let root = workspace_root().join("tests/probes");
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .filter_map(|dir| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .map(|name| {
            let wasm = root.join(format!("{name}.wasm"));
            assert!(
                wasm.is_file(),
                "{} not built: run `tests/stack/build-probes.sh` (`just build-probes`)",
                wasm.display()
            );
            (name, wasm)
        })
        .collect();
    found.extend(sonde_tests::wat::build_wat_components(out_dir));
    found.sort();
    found
}

/// The steady load most drills run: the cpu probe (machine total only) and the memory
/// probe, each every second.
pub fn cpu_and_memory_jobs() -> String {
    format!(
        "{}{}",
        job("cpu", "cpu", 1000, "params = { per_core = \"false\" }"),
        job("memory", "memory", 1000, "")
    )
}
