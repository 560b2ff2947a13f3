//! Private broker and PostgreSQL instances for fault drills: a test that stops the TLS
//! front or restarts PostgreSQL does it to its own instance, never to the shared stack.
//! They use the local PKI (`.dev/pki`, made on first use), and their `env()` points the
//! certificate settings at it, so drills work even when `SONDE_*` name another cluster.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::env::{workspace_root, Env};

/// The local PKI (`tests/stack/pki.sh` makes it once; later calls return at once).
fn local_pki() -> PathBuf {
    run_script("pki.sh", &[]);
    workspace_root().join(".dev/pki")
}

/// A port that was free a moment ago on 127.0.0.1 (bind to port 0, read it, release it).
///
/// # Panics
/// When no loopback port can be bound.
pub fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("cannot bind a free port on 127.0.0.1: {e}"),
    }
}

/// A fresh state directory under `.dev/private/` (the server account of PostgreSQL must be
/// able to reach it, which rules out private temp dirs; `just down` stops what is left there).
fn private_state_dir(kind: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    stop_orphans();
    let dir = workspace_root().join(".dev/private").join(format!(
        "{kind}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Stops and removes private instances whose test process is gone without dropping them
/// (killed by a timeout, say), so they do not pile up until the next `just down`.
/// Directories are named `<kind>-<pid>-<n>` after the process that made them.
fn stop_orphans() {
    let Ok(entries) = std::fs::read_dir(workspace_root().join(".dev/private")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut parts = name.splitn(3, '-');
        let (Some(kind), Some(pid)) = (parts.next(), parts.next()) else {
            continue;
        };
        let owner_alive = Path::new("/proc").join(pid).exists();
        if owner_alive || pid.parse::<u32>().is_err() {
            continue;
        }
        let script = match kind {
            "broker" => "broker.sh",
            "pg" => "postgres.sh",
            _ => continue,
        };
        let dir = entry.path();
        let _ = Command::new(workspace_root().join("tests/stack").join(script))
            .arg("stop")
            .arg(&dir)
            .output();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Runs `tests/stack/<script> <args>`; panics with its output when it fails.
fn run_script(script: &str, args: &[&str]) {
    if let Err(e) = try_script(script, args) {
        panic!("{e}");
    }
}

/// Runs `tests/stack/<script> <args>`; the error holds the command and its output.
fn try_script(script: &str, args: &[&str]) -> Result<(), String> {
    let path = workspace_root().join("tests/stack").join(script);
    match Command::new(&path).args(args).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "{} {} failed ({}):\n{}{}",
            path.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => Err(format!("cannot run {}: {e}", path.display())),
    }
}

/// A port picked by [`free_port`] can be taken by someone else before the daemon binds it;
/// starting again on fresh ports is then the remedy.
const START_ATTEMPTS: usize = 3;

fn lost_port_race(error: &str) -> bool {
    error.contains("in use")
}

fn path_arg(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
}

/// tansu + its mutual-TLS front on free ports, stopped (and its state removed) on drop.
#[derive(Debug)]
pub struct PrivateBroker {
    state_dir: PathBuf,
    /// Plaintext loopback listener of tansu.
    pub plain_port: u16,
    /// The TLS front clients use (what tansu advertises).
    pub tls_port: u16,
}

impl PrivateBroker {
    /// Starts the broker and its TLS front and waits until a TLS handshake succeeds.
    ///
    /// # Panics
    /// When the scripts fail, with their output.
    pub fn start() -> PrivateBroker {
        local_pki();
        for attempt in 1..=START_ATTEMPTS {
            let plain_port = free_port();
            let tls_port = loop {
                let port = free_port();
                if port != plain_port {
                    break port;
                }
            };
            let broker = PrivateBroker {
                state_dir: private_state_dir("broker"),
                plain_port,
                tls_port,
            };
            let started = try_script(
                "broker.sh",
                &[
                    "start",
                    path_arg(&broker.state_dir),
                    &plain_port.to_string(),
                    &tls_port.to_string(),
                ],
            );
            match started {
                Ok(()) => return broker,
                Err(e) if attempt < START_ATTEMPTS && lost_port_race(&e) => drop(broker),
                Err(e) => panic!("{e}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// `127.0.0.1:<tls_port>`: the bootstrap address for TLS clients.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.tls_port)
    }

    /// `base` with the Kafka endpoints and client certificates pointing at this broker and
    /// the local PKI (PostgreSQL unchanged).
    pub fn env(&self, base: &Env) -> Env {
        let pki = local_pki();
        Env {
            kafka_brokers: self.brokers(),
            kafka_plain: Some(format!("127.0.0.1:{}", self.plain_port)),
            kafka_ca: pki.join("ca.pem"),
            host_cert_dir: pki.join("host"),
            recorder_cert_dir: pki.join("recorder"),
            wrong_cert_dir: Some(pki.join("wrong")),
            pki_dir: Some(pki),
            ..base.clone()
        }
    }

    /// Stops the TLS front: clients see the broker as unreachable; data in tansu survives.
    /// Returns once the port is free.
    pub fn front_stop(&self) {
        run_script("broker.sh", &["front-stop", path_arg(&self.state_dir)]);
    }

    /// Starts the TLS front again; returns once a TLS handshake succeeds.
    pub fn front_start(&self) {
        run_script("broker.sh", &["front-start", path_arg(&self.state_dir)]);
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let script = workspace_root().join("tests/stack/broker.sh");
        let _ = Command::new(script)
            .arg("stop")
            .arg(&self.state_dir)
            .output();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// A PostgreSQL cluster of its own on a free port (role and database `sonde`, SSL only),
/// stopped (and its data removed) on drop.
#[derive(Debug)]
pub struct PrivatePostgres {
    state_dir: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl PrivatePostgres {
    /// Runs initdb, starts the server and waits until an SSL login as `sonde` works.
    ///
    /// # Panics
    /// When the scripts fail, with their output.
    pub fn start() -> PrivatePostgres {
        local_pki();
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let pg = PrivatePostgres {
                state_dir: private_state_dir("pg"),
                port,
            };
            match try_script(
                "postgres.sh",
                &["start", path_arg(&pg.state_dir), &port.to_string()],
            ) {
                Ok(()) => return pg,
                Err(e) if attempt < START_ATTEMPTS && lost_port_race(&e) => drop(pg),
                Err(e) => panic!("{e}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// The file holding the `sonde` role's password.
    pub fn password_file(&self) -> PathBuf {
        self.state_dir.join("password")
    }

    /// `base` with the PostgreSQL settings pointing at this cluster and the local PKI's CA
    /// (Kafka unchanged).
    pub fn env(&self, base: &Env) -> Env {
        Env {
            pg_root_cert: local_pki().join("ca.pem"),
            pg_host: "localhost".to_owned(),
            pg_port: self.port,
            pg_user: "sonde".to_owned(),
            pg_database: "sonde".to_owned(),
            pg_password_file: self.password_file(),
            ..base.clone()
        }
    }

    /// Fast shutdown and start again on the same port (open connections are cut);
    /// returns once SSL logins work again.
    pub fn restart(&self) {
        run_script("postgres.sh", &["restart", path_arg(&self.state_dir)]);
    }

    /// Fast shutdown; returns once the port is free. [`PrivatePostgres::start_again`] undoes it.
    pub fn stop(&self) {
        run_script("postgres.sh", &["stop", path_arg(&self.state_dir)]);
    }

    /// Starts a stopped cluster again on the same port.
    pub fn start_again(&self) {
        run_script(
            "postgres.sh",
            &["start", path_arg(&self.state_dir), &self.port.to_string()],
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let script = workspace_root().join("tests/stack/postgres.sh");
        let _ = Command::new(script)
            .arg("stop")
            .arg(&self.state_dir)
            .output();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}
