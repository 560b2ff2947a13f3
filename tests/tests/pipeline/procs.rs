//! A child process of a drill (`host`, `recorder`) with its log in a file; killed on drop
//! so a failed drill leaves nothing running, and its log tail printed when the drill fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Proc {
    name: &'static str,
    child: Child,
    pub log_path: PathBuf,
    exited: bool,
}

impl Proc {
    /// Spawns `cmd` with stdout discarded and stderr (the log) in `log_path`.
    pub fn spawn(name: &'static str, mut cmd: Command, log_path: PathBuf) -> Proc {
        let log = std::fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc {
            name,
            child,
            log_path,
            exited: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Panics with the log when the process has exited on its own.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            self.exited = true;
            panic!(
                "{} exited unexpectedly ({status}); log:\n{}",
                self.name,
                self.log_tail(80)
            );
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.exited = true;
    }

    /// SIGTERM, then wait up to `patience` for the exit; false if it is still running
    /// (it is killed by drop then).
    pub fn terminate(&mut self, patience: Duration) -> bool {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        assert!(
            sent.is_ok_and(|s| s.success()),
            "kill -TERM {} ({}) failed",
            self.pid(),
            self.name
        );
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                self.exited = true;
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- last lines of {} log {} ---\n{}",
                self.name,
                self.log_path.display(),
                self.log_tail(40)
            );
        }
    }
}
