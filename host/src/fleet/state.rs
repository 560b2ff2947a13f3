//! The fleet's state directory: the verified bundles a host runs, so that a host restarted
//! without a broker runs them again, and the versions it has seen, so that an old bundle
//! never wins after a restart.
//!
//! ```text
//! <dir>/               0700, owned by the host's user
//!   state.json         highest version seen per job, next offset per partition
//!   bundles/<job>      the whole signed bundle of each job this host runs
//!   components/<sha256>.wasm   the component of each, what the watcher loads
//! ```
//!
//! Every file is written to a temporary name, synced and renamed (0600). Bundles are
//! verified again when read back at start, against the keys trusted then.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::bundle::{self, Verified};
use super::keys::TrustedKeys;

const STATE_FILE: &str = "state.json";
/// state.json holds a few numbers per job; anything larger is not ours.
const MAX_STATE_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The highest bundle version seen for a job, and which bundle it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub version: u64,
    /// sha256 of the whole bundle.
    pub digest: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Saved {
    #[serde(default)]
    pub seen: BTreeMap<String, Seen>,
    /// Next offset to read, per partition of the control topic.
    #[serde(default)]
    pub offsets: BTreeMap<i32, i64>,
}

pub struct StateDir {
    dir: PathBuf,
}

/// The default place, first that applies: `$STATE_DIRECTORY/fleet` (systemd's
/// `StateDirectory=`), `/var/lib/sonde/fleet` for root, `$XDG_STATE_HOME/sonde/fleet`,
/// `$HOME/.local/state/sonde/fleet`. Relative values are ignored.
pub fn default_dir(var: impl Fn(&str) -> Option<String>, is_root: bool) -> Option<PathBuf> {
    crate::state_dir::default_dir(var, is_root, "fleet")
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

impl StateDir {
    /// Create the directory (0700) or check an existing one: owned by this user, no one
    /// else may read or write it.
    pub fn open(dir: &Path) -> anyhow::Result<StateDir> {
        for sub in ["", "bundles", "components"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).with_context(|| {
                format!("cannot create the fleet state directory {}", d.display())
            })?;
            let meta = std::fs::metadata(&d)?;
            if meta.uid() != euid() {
                anyhow::bail!(
                    "fleet state directory {} belongs to uid {}, not to this host's user ({})",
                    d.display(),
                    meta.uid(),
                    euid()
                );
            }
            if meta.mode() & 0o077 != 0 {
                std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("cannot make {} private", d.display()))?;
            }
        }
        Ok(StateDir {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn component_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("components").join(format!("{sha256}.wasm"))
    }

    fn bundle_path(&self, job: &str) -> PathBuf {
        self.dir.join("bundles").join(job)
    }

    pub fn load_saved(&self) -> anyhow::Result<Saved> {
        let path = self.dir.join(STATE_FILE);
        match read_bounded(&path, MAX_STATE_FILE_BYTES) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is damaged; move it away to start afresh",
                    path.display()
                )
            }),
            Err(e)
                if e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
            {
                Ok(Saved::default())
            }
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, saved: &Saved) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec_pretty(saved).context("encoding the fleet state")?;
        write_atomic(&self.dir.join(STATE_FILE), &bytes)
    }

    /// Keep `bundle` as the one its job runs, its component beside it.
    pub fn keep(&self, bundle: &Verified) -> anyhow::Result<()> {
        write_atomic(
            &self.component_path(&bundle.meta.component_sha256),
            bundle.component(),
        )?;
        write_atomic(&self.bundle_path(&bundle.meta.job), &bundle.bytes)
    }

    pub fn forget(&self, job: &str) -> anyhow::Result<()> {
        match std::fs::remove_file(self.bundle_path(job)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove the bundle of job {job}"))
            }
            _ => Ok(()),
        }
    }

    /// The bundles kept, each verified again. One that no longer verifies (a key no longer
    /// trusted, a damaged file) is reported and not run. Components are written again
    /// from the verified bytes, so a changed or missing `.wasm` is repaired.
    pub fn load_bundles(
        &self,
        keys: &TrustedKeys,
        max_component_bytes: u64,
    ) -> (Vec<Verified>, Vec<String>) {
        let mut good = Vec::new();
        let mut problems = Vec::new();
        let entries = match std::fs::read_dir(self.dir.join("bundles")) {
            Ok(e) => e,
            Err(e) => return (good, vec![format!("cannot list kept bundles: {e}")]),
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                // A temporary file of an interrupted write.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let checked = read_bounded(&path, bundle::max_bundle_bytes(max_component_bytes))
                .map_err(|e| format!("{e:#}"))
                .and_then(|bytes| {
                    bundle::open(bytes, keys, max_component_bytes).map_err(|e| e.to_string())
                })
                .and_then(|v| {
                    if v.meta.job != name {
                        return Err(format!("holds a bundle for job {:?}", v.meta.job));
                    }
                    self.keep(&v).map_err(|e| format!("{e:#}"))?;
                    Ok(v)
                });
            match checked {
                Ok(v) => good.push(v),
                Err(e) => problems.push(format!("kept bundle {}: {e}; not run", path.display())),
            }
        }
        good.sort_by(|a, b| a.meta.job.cmp(&b.meta.job));
        (good, problems)
    }

    /// Remove components no kept bundle refers to.
    pub fn collect_garbage(&self, in_use: &[String]) {
        let Ok(entries) = std::fs::read_dir(self.dir.join("components")) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let sha = name.trim_end_matches(".wasm");
            if !in_use.iter().any(|s| s == sha) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Read a file only when it is at most `max` bytes, checked before reading it.
fn read_bounded(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path)?.len();
    if len > max {
        anyhow::bail!("{}: {len} bytes > {max}", path.display());
    }
    Ok(std::fs::read(path)?)
}

/// Write to a temporary file beside `path` (0600), sync, rename over `path`, sync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("a state file has a directory")?;
    let name = path.file_name().context("a state file has a name")?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
