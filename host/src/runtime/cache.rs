//! The on-disk cache of compiled components.
//!
//! An entry is native code the host maps and runs, so the cache is used only when nobody
//! else can write into it: the directory must be owned by the host's user and not be
//! group- or world-writable (otherwise one warning names it and its mode, and the host
//! compiles without a cache). The host creates it 0700 and writes entries 0600.
//!
//! Each entry carries a header with the sha256 of the compiled bytes, checked before
//! wasmtime sees them: a truncated, damaged or foreign entry is recompiled and rewritten,
//! never deserialized.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Starts every entry; the version byte changes when the entry layout does.
const MAGIC: &[u8; 8] = b"SONDEC1\n";
const HEADER_BYTES: usize = MAGIC.len() + 32;
/// Entries larger than this are not read (a compiled probe is a few MiB at most).
const MAX_ENTRY_BYTES: u64 = 512 * 1024 * 1024;

/// A cache directory that passed the ownership and mode checks.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

/// Why a directory is not used as the cache (the warning's text).
#[derive(Debug, thiserror::Error)]
pub enum UnsafeCacheDir {
    #[error("compiled-component cache {dir}: {error}; compiling without the cache")]
    Unusable { dir: String, error: String },
    #[error(
        "compiled-component cache {dir} is owned by uid {owner} with mode {mode:04o}; it must be \
         owned by uid {expected} and not group/world-writable, so the host compiles without the cache"
    )]
    Unsafe {
        dir: String,
        owner: u32,
        mode: u32,
        expected: u32,
    },
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether a file or directory with this owner and mode is safe to trust.
fn trusted(meta: &std::fs::Metadata) -> bool {
    meta.uid() == effective_uid() && meta.mode() & 0o022 == 0
}

impl CompileCache {
    /// Use `dir` as the cache, creating it (0700) when missing; refuse it when another
    /// user owns it or others can write into it.
    pub fn open(dir: &Path) -> Result<CompileCache, UnsafeCacheDir> {
        let shown = dir.display().to_string();
        let unusable = |error: String| UnsafeCacheDir::Unusable {
            dir: shown.clone(),
            error,
        };
        if !dir.exists() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| unusable(format!("cannot create it: {e}")))?;
        }
        // Resolved once: a symlink on the way that is re-pointed later does not move the
        // cache into a directory that was never checked.
        let dir = &dir.canonicalize().map_err(|e| unusable(format!("{e}")))?;
        let meta = std::fs::metadata(dir).map_err(|e| unusable(format!("{e}")))?;
        if !meta.is_dir() {
            return Err(unusable("not a directory".into()));
        }
        if !trusted(&meta) {
            return Err(UnsafeCacheDir::Unsafe {
                dir: shown,
                owner: meta.uid(),
                mode: meta.mode() & 0o7777,
                expected: effective_uid(),
            });
        }
        Ok(CompileCache {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    /// The cached component for `key`, or `None` (absent, unreadable, damaged: logged).
    pub fn load(&self, engine: &Engine, key: &str) -> Option<Component> {
        let path = self.path(key);
        let bytes = match read_entry(&path) {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(cache = %path.display(), "recompiling: {e:#}");
                return None;
            }
        };
        // SAFETY: the bytes were written by `Component::serialize` of an engine with the
        // same configuration (the key holds the wasmtime version and the engine's hash)
        // into a directory only this user can write, and their checksum matches; wasmtime
        // still checks its own header and the engine compatibility.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(cache = %path.display(), "recompiling: unusable cached component: {e}");
                None
            }
        }
    }

    /// Write `component` under `key` (0600, written to a temporary name then renamed).
    pub fn store(&self, key: &str, component: &Component) -> anyhow::Result<()> {
        let bytes = component
            .serialize()
            .map_err(|e| anyhow::anyhow!("serializing: {e}"))?;
        let path = self.path(key);
        let tmp = self.dir.join(format!(".{}.tmp", uuid::Uuid::now_v7()));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(MAGIC)?;
            file.write_all(&Sha256::digest(&bytes))?;
            file.write_all(&bytes)?;
            file.sync_all()
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e).with_context(|| format!("writing {}", tmp.display()));
        }
        std::fs::rename(&tmp, &path).with_context(|| format!("renaming into {}", path.display()))
    }
}

/// The compiled bytes of an entry after its checks, `None` when there is no entry.
fn read_entry(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("cannot open the cached component"),
    };
    let meta = file
        .metadata()
        .context("cannot stat the cached component")?;
    if !trusted(&meta) {
        anyhow::bail!(
            "cached component owned by uid {} with mode {:04o} is not trusted",
            meta.uid(),
            meta.mode() & 0o7777
        );
    }
    if meta.len() > MAX_ENTRY_BYTES {
        anyhow::bail!("cached component of {} bytes is too large", meta.len());
    }
    let mut entry = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_ENTRY_BYTES)
        .read_to_end(&mut entry)
        .context("cannot read the cached component")?;
    if entry.len() < HEADER_BYTES || &entry[..MAGIC.len()] != MAGIC {
        anyhow::bail!(
            "cached component has no valid header (truncated or not written by this host)"
        );
    }
    if Sha256::digest(&entry[HEADER_BYTES..]).as_slice() != &entry[MAGIC.len()..HEADER_BYTES] {
        anyhow::bail!("cached component is damaged (checksum mismatch)");
    }
    entry.drain(..HEADER_BYTES);
    Ok(Some(entry))
}
