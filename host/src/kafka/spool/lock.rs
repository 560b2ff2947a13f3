//! One process per spool directory: a `lock` file holding the owner's pid. A lock left by
//! a process that no longer runs (kill -9) is taken over.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct DirLock {
    path: PathBuf,
}

impl DirLock {
    /// Take the lock of `dir`, or fail naming the process that holds it.
    pub fn acquire(dir: &Path) -> io::Result<Self> {
        let path = dir.join("lock");
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    writeln!(f, "{}", std::process::id())?;
                    return Ok(DirLock { path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    if let Some(pid) = owner.filter(|pid| process_runs(*pid)) {
                        return Err(io::Error::new(
                            io::ErrorKind::WouldBlock,
                            format!("in use by process {pid} (one host per spool directory; use --spool-dir)"),
                        ));
                    }
                    // Left behind by a process that is gone.
                    std::fs::remove_file(&path)?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "another process keeps taking the lock",
        ))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn process_runs(pid: u32) -> bool {
    if !cfg!(target_os = "linux") {
        // No cheap, reliable check elsewhere: assume it runs.
        return true;
    }
    // `/proc/<pid>/stat` is "pid (comm) S ...": a killed but unreaped process (Z) or one
    // being torn down (X) no longer writes to the spool.
    match std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next()),
            Some('Z' | 'X')
        ),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("process {}", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(DirLock::acquire(dir.path()).is_ok());
    }

    #[test]
    fn lock_of_an_exited_but_unreaped_process_is_taken_over() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("run `true`");
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while process_runs(pid) {
            assert!(std::time::Instant::now() < deadline, "`true` did not exit");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            Path::new("/proc").join(pid.to_string()).exists(),
            "still a zombie, not reaped"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lock"), format!("{pid}\n")).unwrap();
        assert!(DirLock::acquire(dir.path()).is_ok());
        child.wait().unwrap();
    }

    #[test]
    fn stale_lock_of_a_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        // Far above any pid_max: no such process.
        std::fs::write(dir.path().join("lock"), "4294967294\n").unwrap();
        assert!(DirLock::acquire(dir.path()).is_ok());
    }
}
