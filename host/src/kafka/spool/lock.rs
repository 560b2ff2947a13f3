//! One process per spool directory: an exclusive `flock` on the file `lock`.
//!
//! The kernel takes the lock and releases it when the process ends, however it ends, so
//! there is no window between creating the file and owning it, and a lock left by a crash
//! or a reboot is simply free. The pid written into the file only names the holder in the
//! error a second process gets. The file is never removed: unlinking it would let one
//! process lock a new file while another still holds the old one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

#[derive(Debug)]
pub struct DirLock {
    /// Holding the open file holds the lock.
    _file: File,
}

impl DirLock {
    /// Take the lock of `dir` without waiting, or fail naming the process that holds it.
    pub fn acquire(dir: &Path) -> io::Result<Self> {
        let path = dir.join("lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| t.trim().parse::<u32>().ok())
                    .map_or("another process".to_owned(), |pid| format!("process {pid}"));
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("in use by {holder} (one host per spool directory; use --spool-dir)"),
                ));
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
        file.set_len(0)?;
        file.write_all_at(format!("{}\n", std::process::id()).as_bytes(), 0)?;
        Ok(DirLock { _file: file })
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
    fn a_lock_file_nobody_holds_is_free_whatever_it_says() {
        let dir = tempfile::tempdir().unwrap();
        // Left by a crash, or from before a reboot: a live pid (ours) or garbage.
        for stale in [format!("{}\n", std::process::id()), "garbage".into()] {
            std::fs::write(dir.path().join("lock"), stale).unwrap();
            let lock = DirLock::acquire(dir.path()).unwrap();
            let text = std::fs::read_to_string(dir.path().join("lock")).unwrap();
            assert_eq!(text, format!("{}\n", std::process::id()));
            drop(lock);
        }
    }
}
