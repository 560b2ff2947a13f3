//! On-disk spool: every message is appended here before it is handed to Kafka and
//! stays until its delivery report succeeds.
//!
//! Files in the spool directory (directory 0700, files 0600): segments `<first seq>.seg`
//! (see [`segment`] and [`record`] for the layout), `cursor`, the lowest sequence number
//! not yet acknowledged, and `lock`, held with `flock` by the one process using the
//! directory.
//!
//! Durability: [`Spool::append`] writes the whole record before it returns, so the record
//! survives a crash of the process (it is in the page cache). A failed write (disk full,
//! I/O error, file size limit) leaves no torn record: the segment is cut back to its last
//! whole record and the record is tried once more in a new segment. [`Spool::sync`]
//! fsyncs the segment being written and saves the cursor; the caller runs it
//! periodically, so a power failure loses at most what was appended since the last sync
//! and not yet acknowledged (acknowledged records are skipped by the fsync).
//! A stale cursor only means already-delivered messages are sent again (at-least-once).
//! The cursor is rewritten in place, fixed width (20 digits and a newline, within one
//! disk sector), through a file kept open: after a crash it reads as the old value or
//! the new one, and saving it costs one write instead of a create and a rename.
//!
//! Damage: a record that fails its checks costs only itself. Reading resynchronises at
//! the next whole record (on open and while delivering); the lost sequence numbers are
//! counted and logged and everything after them is delivered.

mod append;
mod legacy;
pub mod location;
mod lock;
mod open;
pub mod record;
mod scan;
mod segment;
mod share;

use std::collections::{BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use lock::DirLock;
use segment::{Segment, SegmentReader};
use share::Ledger;

pub use record::Record;

/// Segments roll over at this size, so the cap drops old data in slices of it.
pub const DEFAULT_SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

const CURSOR_FILE: &str = "cursor";
/// The cursor file's size: a `u64` in 20 decimal digits and a newline.
const CURSOR_BYTES: u64 = 21;

/// Make a write beyond the file size limit (`RLIMIT_FSIZE`) fail with `EFBIG`, which the
/// spool survives, instead of killing the process with `SIGXFSZ`. Called once at start.
pub fn survive_file_size_limit() {
    // SAFETY: setting a signal to "ignore" runs no handler code and touches no memory.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// A spool failure, naming the file involved.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Encode(#[from] record::EncodeError),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What [`Spool::open`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Messages not acknowledged before the last stop, to be replayed.
    pub pending: u64,
    /// Bytes cut off the end of segments (a crash or a failed write mid-record).
    pub torn_bytes: u64,
    /// Damaged bytes skipped between whole records.
    pub damaged_bytes: u64,
    /// Undelivered messages lost to damage (every message after them is kept).
    pub lost: u64,
    /// Segments written by the previous release, converted to the current format.
    pub converted: u64,
}

/// What became of one [`Spool::append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// On disk as `seq`; `evicted` undelivered messages went to make room (oldest first).
    Stored { seq: u64, evicted: u64 },
    /// Not spooled: the job holds more than its share of a spool over half full.
    OverShare { job_bytes: u64, share_bytes: u64 },
}

#[derive(Debug)]
pub struct Spool {
    _lock: DirLock,
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    segments: VecDeque<Segment>,
    /// The last segment, open for appends; `None` makes the next append start a segment.
    active: Option<File>,
    next_seq: u64,
    /// Lowest sequence number not acknowledged; everything below is delivered or dropped.
    cursor: u64,
    /// Acknowledged sequence numbers above `cursor` (deliveries finish out of order across partitions).
    acked_ahead: BTreeSet<u64>,
    saved_cursor: u64,
    /// The cursor file, open once it has been written.
    cursor_file: Option<File>,
    unsynced: bool,
    /// When the first append or acknowledgement since the last sync happened.
    dirty_since: Option<Instant>,
    reader: Option<SegmentReader>,
    read_seq: u64,
    total_bytes: u64,
    ledger: Ledger,
    /// Messages lost to damage found while reading (after open).
    lost_reading: u64,
    #[cfg(test)]
    faults: VecDeque<tests::WriteFault>,
    /// fdatasyncs of a segment so far.
    #[cfg(test)]
    data_syncs: u64,
}

impl Spool {
    /// Messages appended and neither acknowledged nor dropped.
    pub fn pending(&self) -> u64 {
        let live = self
            .segments
            .iter()
            .map(|s| s.end_seq.saturating_sub(s.base_seq.max(self.cursor)))
            .sum::<u64>();
        live - self.acked_ahead.len() as u64
    }

    pub fn bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Undelivered messages lost to damage found while reading, since the last call.
    pub fn take_lost(&mut self) -> u64 {
        std::mem::take(&mut self.lost_reading)
    }

    /// The next message to hand to the producer (sequence number and record),
    /// skipping acknowledged ones; `None` when all appended messages have been read.
    pub fn read_next(&mut self) -> Result<Option<(u64, Record)>, SpoolError> {
        loop {
            self.read_seq = self.read_seq.max(self.cursor);
            if self.read_seq >= self.next_seq {
                return Ok(None);
            }
            let Some(seg) = self.segments.iter().find(|s| s.end_seq > self.read_seq) else {
                return Ok(None);
            };
            self.read_seq = self.read_seq.max(seg.base_seq);
            let positioned = self
                .reader
                .as_ref()
                .is_some_and(|r| r.base_seq == seg.base_seq && r.next_seq == self.read_seq);
            if !positioned {
                self.reader =
                    Some(SegmentReader::open_at(seg, self.read_seq).map_err(io_err(&seg.path))?);
            }
            let (bytes, end_seq) = (seg.bytes, seg.end_seq);
            let reader = self.reader.as_mut().unwrap_or_else(|| unreachable!());
            let found = match reader.read(bytes, end_seq) {
                Ok(found) => found,
                Err(e) => return Err(io_err(&reader.path)(e)),
            };
            let damaged = reader.take_damaged_bytes();
            // Whatever lies between the position and the record found is damaged.
            let upto = found.as_ref().map_or(end_seq, |r| r.seq);
            if damaged > 0 || upto > self.read_seq {
                let path = reader.path.clone();
                self.lose(self.read_seq..upto, damaged, &path);
            }
            self.read_seq = upto;
            if let Some(rec) = found {
                let seq = rec.seq;
                self.read_seq = seq + 1;
                if !self.acked_ahead.contains(&seq) {
                    return Ok(Some((seq, rec)));
                }
            }
        }
    }

    /// Count and acknowledge the undelivered messages in `seqs`, which reading found damaged.
    fn lose(&mut self, seqs: std::ops::Range<u64>, damaged_bytes: u64, path: &Path) {
        let mut lost = 0;
        for seq in seqs.start.max(self.cursor)..seqs.end {
            if !self.acked_ahead.contains(&seq) {
                lost += 1;
                self.ack(seq);
            }
        }
        // Damage among delivered runs was reported when first found; rewinds meet it again.
        if lost > 0 {
            self.lost_reading += lost;
            tracing::error!(
                "spool segment {}: {damaged_bytes} damaged bytes skipped, {lost} undelivered runs lost with them; the runs after them are delivered",
                path.display()
            );
        }
    }

    /// Read again from the oldest unacknowledged message (after a failed delivery).
    pub fn rewind(&mut self) {
        self.read_seq = self.cursor;
    }

    /// Mark `seq` delivered. Acknowledging twice or a dropped message is harmless.
    pub fn ack(&mut self, seq: u64) {
        if seq < self.cursor || seq >= self.next_seq {
            return;
        }
        self.acked_ahead.insert(seq);
        let before = self.cursor;
        while self.acked_ahead.remove(&self.cursor) {
            self.cursor += 1;
        }
        if self.cursor != before {
            self.count_live_segments();
            self.dirty_since.get_or_insert_with(Instant::now);
        }
    }

    /// Keep the ledger to the segments holding undelivered runs (a prefix leaves it as the
    /// cursor moves past).
    fn count_live_segments(&mut self) {
        for seg in self.segments.iter_mut() {
            let live = seg.end_seq > self.cursor;
            if seg.counted && !live {
                self.ledger.remove_all(&seg.jobs);
            } else if !seg.counted && live {
                self.ledger.add_all(&seg.jobs);
            } else if live {
                break;
            }
            seg.counted = live;
        }
    }

    /// Since when appends or acknowledgements wait for [`Spool::sync`]; `None` when nothing
    /// does.
    pub fn dirty_since(&self) -> Option<Instant> {
        self.dirty_since
    }

    /// Make appends durable and persist the cursor, then delete fully acknowledged segments.
    /// Cheap when nothing changed.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if self.unsynced {
            // Records Kafka has all acknowledged need no fsync: the broker holds them, and a
            // stale cursor over a lost tail only resends what survived. With the broker up,
            // a burst is acknowledged before its sync and the disk is not flushed at all.
            let all_delivered = self.cursor >= self.next_seq;
            if let (Some(file), Some(seg)) = (&self.active, self.segments.back()) {
                if !all_delivered {
                    file.sync_data().map_err(io_err(&seg.path))?;
                    #[cfg(test)]
                    {
                        self.data_syncs += 1;
                    }
                }
            }
            self.unsynced = false;
        }
        if self.cursor != self.saved_cursor {
            let path = self.dir.join(CURSOR_FILE);
            if self.cursor_file.is_none() {
                let file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io_err(&path))?;
                // Nothing longer than one value may follow it (all values are this wide).
                file.set_len(CURSOR_BYTES).map_err(io_err(&path))?;
                self.cursor_file = Some(file);
            }
            if let Some(file) = &self.cursor_file {
                file.write_all_at(format!("{:020}\n", self.cursor).as_bytes(), 0)
                    .map_err(io_err(&path))?;
            }
            self.saved_cursor = self.cursor;
        }
        self.dirty_since = None;
        // Keep the segment being written; drop the ones entirely below the cursor.
        while self.segments.len() > 1
            && self
                .segments
                .front()
                .is_some_and(|s| s.end_seq <= self.cursor)
        {
            self.drop_oldest_segment()?;
        }
        Ok(())
    }
}

/// Create (or empty) `path`, readable and writable by its owner only.
fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
