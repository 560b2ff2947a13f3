//! Opening a spool: take the directory's lock, convert segments of the previous format,
//! recover each segment (torn tails cut, damage skipped and counted), find the cursor.

use std::collections::{BTreeSet, VecDeque};
use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

use super::lock::DirLock;
use super::share::Ledger;
use super::{io_err, legacy, segment, Recovery, Spool, SpoolError, CURSOR_FILE};

impl Spool {
    /// Open (or create) the spool in `dir`: convert segments of the previous format, cut
    /// torn tails, skip damage. Fails when another process holds the directory.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        segment_bytes: u64,
    ) -> Result<(Self, Recovery), SpoolError> {
        create_private_dir(dir).map_err(io_err(dir))?;
        let lock = DirLock::acquire(dir).map_err(io_err(dir))?;
        let mut recovery = Recovery::default();
        let mut bases = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let path = entry.map_err(io_err(dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(base) = segment::parse_file_name(name) {
                bases.push(base);
            } else if name.ends_with(".seg.tmp") {
                // A conversion cut short by a crash; the original is intact.
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
        bases.sort_unstable();
        let mut segments = VecDeque::new();
        let mut lost = Vec::new();
        for (i, &base) in bases.iter().enumerate() {
            let path = dir.join(segment::file_name(base));
            let len = fs::metadata(&path).map_err(io_err(&path))?.len();
            if len == 0 {
                // Created, never written: holds nothing.
                fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            if legacy::is_format_1(&path).map_err(io_err(&path))? {
                let done = legacy::convert(&path, base, rand::random()).map_err(io_err(&path))?;
                recovery.converted += 1;
                recovery.torn_bytes += done.torn_bytes;
            }
            let rec =
                segment::recover(&path, base, bases.get(i + 1).copied()).map_err(io_err(&path))?;
            recovery.torn_bytes += rec.torn_bytes;
            recovery.damaged_bytes += rec.damaged_bytes;
            lost.extend(rec.lost);
            segments.push_back(rec.segment);
        }
        let cursor_path = dir.join(CURSOR_FILE);
        let saved = match fs::read_to_string(&cursor_path) {
            Ok(text) => text.trim().parse::<u64>().ok(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&cursor_path)(e)),
        };
        let first = segments.front().map(|s| s.base_seq);
        let end = segments.back().map(|s| s.end_seq);
        let cursor = match (saved, first) {
            (Some(c), Some(f)) => c.max(f),
            (Some(c), None) => c,
            (None, f) => f.unwrap_or(0),
        };
        let next_seq = end.unwrap_or(cursor).max(cursor);
        let total_bytes = segments.iter().map(|s| s.bytes).sum();
        let mut spool = Spool {
            _lock: lock,
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes: segment_bytes.max(1),
            segments,
            active: None,
            next_seq,
            cursor,
            acked_ahead: BTreeSet::new(),
            saved_cursor: saved.unwrap_or(0),
            cursor_file: None,
            unsynced: false,
            dirty_since: None,
            reader: None,
            read_seq: cursor,
            total_bytes,
            ledger: Ledger::default(),
            lost_reading: 0,
            #[cfg(test)]
            data_syncs: 0,
            #[cfg(test)]
            faults: VecDeque::new(),
        };
        spool.count_live_segments();
        for range in lost {
            for seq in range.start.max(cursor)..range.end {
                recovery.lost += 1;
                spool.ack(seq);
            }
        }
        recovery.pending = spool.pending();
        if let Some(last) = spool.segments.back() {
            let file = OpenOptions::new()
                .write(true)
                .open(&last.path)
                .map_err(io_err(&last.path))?;
            spool.active = Some(file);
        }
        Ok((spool, recovery))
    }
}

/// Create `dir` (and missing parents) 0700; warn when an existing one is open to others.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mode = fs::metadata(dir)?.mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            "spool directory {} has mode {mode:04o}: other users can read the runs it holds (chmod 700 it)",
            dir.display()
        );
    }
    Ok(())
}
