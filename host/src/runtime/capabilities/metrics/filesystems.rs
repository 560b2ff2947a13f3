//! `filesystems`: statvfs of each reported mount ([`super::mounts`]), bounded in time.
//!
//! statvfs cannot be interrupted, and on a dead NFS server or a stuck FUSE process it
//! never returns. So the calls run on a thread of their own and the answer is whatever
//! finished within [`STATVFS_BUDGET_MS`]; a mountpoint whose statvfs is still running
//! (on an earlier, abandoned thread) is skipped without being called again, so each
//! hung mount holds at most one thread, and no probe run waits on it twice.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::runtime::bindings::host_metrics::FilesystemUsage;
use crate::runtime::capabilities::metrics::mounts::{self, Mount};
use crate::runtime::capabilities::metrics::MAX_SNAPSHOT_AGE;

/// How long one `filesystems` call waits for statvfs answers, all mounts together.
pub const STATVFS_BUDGET_MS: u64 = 1_000;

/// What statvfs says of one filesystem, in bytes and inodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub available_bytes: u64,
    pub total_inodes: u64,
    pub free_inodes: u64,
    pub read_only: bool,
}

type StatFn = dyn Fn(&Path) -> std::io::Result<FsStats> + Send + Sync;

/// A list of filesystems and when it was read.
type Snapshot = (Instant, Vec<FilesystemUsage>);

/// The filesystems of the host's mount namespace, shared by every job.
pub struct Filesystems {
    stat: Arc<StatFn>,
    budget: Duration,
    /// Mountpoints whose statvfs has not returned yet.
    in_flight: Arc<Mutex<HashSet<String>>>,
    /// The last answer, per `include_remote`; one refresh at a time.
    cache: tokio::sync::Mutex<[Option<Snapshot>; 2]>,
}

impl Default for Filesystems {
    fn default() -> Self {
        Filesystems::with_stat(Arc::new(statvfs), Duration::from_millis(STATVFS_BUDGET_MS))
    }
}

impl Filesystems {
    /// With another statvfs (tests make one hang).
    pub fn with_stat(stat: Arc<StatFn>, budget: Duration) -> Self {
        Filesystems {
            stat,
            budget,
            in_flight: Arc::default(),
            cache: tokio::sync::Mutex::new([None, None]),
        }
    }

    /// The reported filesystems of this host (`/proc/self/mountinfo`); empty where it
    /// cannot be read.
    pub async fn usage(&self, include_remote: bool) -> Vec<FilesystemUsage> {
        let mut cache = self.cache.lock().await;
        let slot = &mut cache[usize::from(include_remote)];
        if let Some((at, list)) = slot.as_ref() {
            if at.elapsed() < MAX_SNAPSHOT_AGE {
                return list.clone();
            }
        }
        let mounts = match read_mountinfo() {
            Ok(text) => mounts::parse_mountinfo(&text, include_remote),
            Err(e) => {
                tracing::debug!("cannot read /proc/self/mountinfo: {e}");
                Vec::new()
            }
        };
        let list = self.stat_all(mounts).await;
        *slot = Some((Instant::now(), list.clone()));
        list
    }

    /// statvfs of each mount not already in flight, on one thread, for at most the budget.
    /// Filesystems that fail, do not answer in time or have no blocks are left out.
    pub async fn stat_all(&self, mounts: Vec<Mount>) -> Vec<FilesystemUsage> {
        let mounts: Vec<Mount> = {
            let in_flight = lock(&self.in_flight);
            mounts
                .into_iter()
                .filter(|m| !in_flight.contains(&m.mountpoint))
                .collect()
        };
        let expected = mounts.len();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let stat = self.stat.clone();
        let in_flight = self.in_flight.clone();
        let spawned = std::thread::Builder::new()
            .name("sonde-statvfs".into())
            .spawn(move || {
                for mount in mounts {
                    if tx.is_closed() {
                        return;
                    }
                    lock(&in_flight).insert(mount.mountpoint.clone());
                    let result = stat(Path::new(&mount.mountpoint));
                    lock(&in_flight).remove(&mount.mountpoint);
                    let _ = tx.send((mount, result));
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start a statvfs thread: {e}");
            return Vec::new();
        }
        let mut out = Vec::with_capacity(expected);
        let deadline = tokio::time::Instant::now() + self.budget;
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((mount, Ok(stats)))) if stats.total_bytes > 0 => {
                    out.push(usage(mount, stats))
                }
                Ok(Some((mount, Ok(_)))) => {
                    tracing::trace!(mountpoint = %mount.mountpoint, "filesystem of size 0 left out")
                }
                Ok(Some((mount, Err(e)))) => {
                    tracing::debug!(mountpoint = %mount.mountpoint, "statvfs failed: {e}")
                }
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(
                        "statvfs did not answer within {} ms; {} filesystem(s) left out",
                        self.budget.as_millis(),
                        expected - out.len()
                    );
                    break;
                }
            }
        }
        out
    }
}

fn usage(mount: Mount, s: FsStats) -> FilesystemUsage {
    FilesystemUsage {
        mountpoint: mount.mountpoint,
        device: mount.device,
        fs_type: mount.fs_type,
        read_only: mount.read_only || s.read_only,
        total_bytes: s.total_bytes,
        free_bytes: s.free_bytes.min(s.total_bytes),
        available_bytes: s.available_bytes.min(s.free_bytes).min(s.total_bytes),
        total_inodes: s.total_inodes,
        free_inodes: s.free_inodes.min(s.total_inodes),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// mountinfo is small; a namespace with a pathological number of mounts is cut here.
const MAX_MOUNTINFO_BYTES: u64 = 4 * 1024 * 1024;

fn read_mountinfo() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open("/proc/self/mountinfo")?
        .take(MAX_MOUNTINFO_BYTES)
        .read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(target_os = "linux")]
fn statvfs(path: &Path) -> std::io::Result<FsStats> {
    let s = rustix::fs::statvfs(path)?;
    let block = if s.f_frsize > 0 {
        s.f_frsize
    } else {
        s.f_bsize
    };
    Ok(FsStats {
        total_bytes: s.f_blocks.saturating_mul(block),
        free_bytes: s.f_bfree.saturating_mul(block),
        available_bytes: s.f_bavail.saturating_mul(block),
        total_inodes: s.f_files,
        free_inodes: s.f_ffree,
        read_only: s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY),
    })
}

#[cfg(not(target_os = "linux"))]
fn statvfs(_path: &Path) -> std::io::Result<FsStats> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn mount(path: &str) -> Mount {
        Mount {
            mountpoint: path.into(),
            device: "/dev/x".into(),
            fs_type: "nfs4".into(),
            read_only: false,
        }
    }

    const STATS: FsStats = FsStats {
        total_bytes: 1000,
        free_bytes: 400,
        available_bytes: 300,
        total_inodes: 10,
        free_inodes: 5,
        read_only: false,
    };

    #[tokio::test]
    async fn a_hung_statvfs_is_abandoned_and_not_called_again_while_it_hangs() {
        let hung_calls = Arc::new(AtomicUsize::new(0));
        // The first statvfs of /hung waits until `release` is dropped.
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let calls = hung_calls.clone();
        let fs = Filesystems::with_stat(
            Arc::new(move |p: &Path| {
                if p == Path::new("/hung") && calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    let _ = lock(&gate).recv();
                }
                Ok(STATS)
            }),
            Duration::from_millis(200),
        );
        let mounts = || vec![mount("/a"), mount("/hung"), mount("/z")];

        let first = fs.stat_all(mounts()).await;
        let got: Vec<&str> = first.iter().map(|f| f.mountpoint.as_str()).collect();
        assert_eq!(got, ["/a"], "what answered before the hung mount");

        // The hung mount is skipped, so the ones after it are reported now.
        let second = fs.stat_all(mounts()).await;
        let got: Vec<&str> = second.iter().map(|f| f.mountpoint.as_str()).collect();
        assert_eq!(got, ["/a", "/z"]);
        assert_eq!(hung_calls.load(Ordering::SeqCst), 1);

        // Once it answers, it is asked again.
        drop(release);
        for _ in 0..100 {
            if lock(&fs.in_flight).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(fs.stat_all(mounts()).await.len(), 3);
        assert_eq!(hung_calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_and_empty_filesystems_are_left_out_and_values_stay_ordered() {
        let fs = Filesystems::with_stat(
            Arc::new(|p: &Path| match p.to_str() {
                Some("/gone") => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
                Some("/empty") => Ok(FsStats {
                    total_bytes: 0,
                    ..STATS
                }),
                // A filesystem reporting more free than total must not show negative use.
                _ => Ok(FsStats {
                    free_bytes: 5000,
                    available_bytes: 9000,
                    read_only: true,
                    ..STATS
                }),
            }),
            Duration::from_secs(5),
        );
        let got = fs
            .stat_all(vec![mount("/gone"), mount("/empty"), mount("/odd")])
            .await;
        assert_eq!(got.len(), 1);
        let odd = &got[0];
        assert_eq!(odd.mountpoint, "/odd");
        assert_eq!((odd.free_bytes, odd.available_bytes), (1000, 1000));
        assert!(odd.read_only);
    }

    #[tokio::test]
    async fn this_machine_has_a_root_filesystem() {
        let all = Filesystems::default().usage(false).await;
        let root = all
            .iter()
            .find(|f| f.mountpoint == "/")
            .unwrap_or_else(|| panic!("no / in {all:?}"));
        assert!(root.total_bytes > 0 && root.available_bytes <= root.free_bytes);
    }
}
