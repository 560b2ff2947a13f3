//! On-disk spool: every message is appended here before it is handed to Kafka and
//! stays until its delivery report succeeds.
//!
//! Files in the spool directory: segments `<first seq>.seg` (see [`record`] for the
//! record layout), `cursor`, the lowest sequence number not yet acknowledged, and `lock`,
//! the pid of the one process using the directory.
//!
//! Durability: [`Spool::append`] writes the whole record with one `write` call, so once it
//! returns the record survives a crash of the process (it is in the page cache).
//! [`Spool::sync`] fsyncs the segment being written and saves the cursor; the caller runs
//! it periodically, so a power failure loses at most what was appended since the last sync.
//! A stale cursor only means already-delivered messages are sent again (at-least-once).

mod lock;
pub mod record;
mod segment;

use std::collections::{BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use lock::DirLock;
use segment::{Segment, SegmentReader};

pub use record::Record;

/// Segments roll over at this size, so the cap drops old data in slices of it.
pub const DEFAULT_SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

const CURSOR_FILE: &str = "cursor";

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
    /// Bytes cut off torn records (a crash in the middle of a write).
    pub torn_bytes: u64,
}

#[derive(Debug)]
pub struct Spool {
    _lock: DirLock,
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    segments: VecDeque<Segment>,
    active: Option<File>,
    next_seq: u64,
    /// Lowest sequence number not acknowledged; everything below is delivered or dropped.
    cursor: u64,
    /// Acknowledged sequence numbers above `cursor` (deliveries finish out of order across partitions).
    acked_ahead: BTreeSet<u64>,
    saved_cursor: u64,
    unsynced: bool,
    reader: Option<SegmentReader>,
    read_seq: u64,
    total_bytes: u64,
}

impl Spool {
    /// Open (or create) the spool in `dir`, cutting torn tails left by a crash.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        segment_bytes: u64,
    ) -> Result<(Self, Recovery), SpoolError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock = DirLock::acquire(dir).map_err(io_err(dir))?;
        let mut bases = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            if let Some(base) = entry
                .file_name()
                .to_str()
                .and_then(segment::parse_file_name)
            {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let mut recovery = Recovery::default();
        let mut segments = VecDeque::new();
        for base in bases {
            let path = dir.join(segment::file_name(base));
            let (seg, torn) = segment::recover(&path, base).map_err(io_err(&path))?;
            recovery.torn_bytes += torn;
            segments.push_back(seg);
        }
        let cursor_path = dir.join(CURSOR_FILE);
        let saved = match fs::read_to_string(&cursor_path) {
            Ok(text) => text.trim().parse::<u64>().ok(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&cursor_path)(e)),
        };
        let first = segments.front().map(|s| s.base_seq);
        let end = segments.back().map(Segment::end_seq);
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
            unsynced: false,
            reader: None,
            read_seq: cursor,
            total_bytes,
        };
        recovery.pending = spool.pending();
        if let Some(last) = spool.segments.back() {
            let file = OpenOptions::new()
                .append(true)
                .open(&last.path)
                .map_err(io_err(&last.path))?;
            spool.active = Some(file);
        }
        Ok((spool, recovery))
    }

    /// Messages appended and neither acknowledged nor dropped.
    pub fn pending(&self) -> u64 {
        let live = self
            .segments
            .iter()
            .map(|s| s.end_seq().saturating_sub(s.base_seq.max(self.cursor)))
            .sum::<u64>();
        live - self.acked_ahead.len() as u64
    }

    pub fn bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Append one message; returns its sequence number and how many unacknowledged
    /// messages the size cap pushed out (oldest first) to make room.
    pub fn append(&mut self, key: &[u8], value: &[u8]) -> Result<(u64, u64), SpoolError> {
        let mut buf =
            Vec::with_capacity(record::HEADER_BYTES as usize + 2 + key.len() + value.len());
        record::encode(key, value, &mut buf)?;
        let len = buf.len() as u64;
        let mut dropped = 0;
        while self.total_bytes + len > self.max_bytes && !self.segments.is_empty() {
            dropped += self.drop_oldest_segment()?;
        }
        let roll = match self.segments.back() {
            None => true,
            Some(last) => last.bytes > 0 && last.bytes + len > self.segment_bytes,
        };
        if roll {
            self.start_segment()?;
        }
        let (Some(file), Some(seg)) = (self.active.as_mut(), self.segments.back_mut()) else {
            unreachable!("start_segment sets the active segment");
        };
        file.write_all(&buf).map_err(io_err(&seg.path))?;
        seg.count += 1;
        seg.bytes += len;
        self.total_bytes += len;
        self.unsynced = true;
        let seq = self.next_seq;
        self.next_seq += 1;
        Ok((seq, dropped))
    }

    fn start_segment(&mut self) -> Result<(), SpoolError> {
        if let Some(file) = self.active.take() {
            let path = &self
                .segments
                .back()
                .map(|s| s.path.clone())
                .unwrap_or_default();
            file.sync_data().map_err(io_err(path))?;
        }
        let path = self.dir.join(segment::file_name(self.next_seq));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        self.segments.push_back(Segment {
            path,
            base_seq: self.next_seq,
            count: 0,
            bytes: 0,
        });
        self.active = Some(file);
        Ok(())
    }

    /// Remove the oldest segment; returns how many unacknowledged messages went with it.
    fn drop_oldest_segment(&mut self) -> Result<u64, SpoolError> {
        let Some(seg) = self.segments.pop_front() else {
            return Ok(0);
        };
        let lost_from = seg.base_seq.max(self.cursor);
        let lost = if lost_from < seg.end_seq() {
            seg.end_seq()
                - lost_from
                - self.acked_ahead.range(lost_from..seg.end_seq()).count() as u64
        } else {
            0
        };
        self.acked_ahead = self.acked_ahead.split_off(&seg.end_seq());
        self.cursor = self.cursor.max(seg.end_seq());
        self.total_bytes -= seg.bytes;
        if self.segments.is_empty() {
            self.active = None;
        }
        if self
            .reader
            .as_ref()
            .is_some_and(|r| r.base_seq == seg.base_seq)
        {
            self.reader = None;
        }
        fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
        Ok(lost)
    }

    /// The next message to hand to the producer (sequence number and record),
    /// skipping acknowledged ones; `None` when all appended messages have been read.
    pub fn read_next(&mut self) -> Result<Option<(u64, Record)>, SpoolError> {
        loop {
            self.read_seq = self.read_seq.max(self.cursor);
            if self.read_seq >= self.next_seq {
                return Ok(None);
            }
            let Some(seg) = self
                .segments
                .iter()
                .find(|s| s.end_seq() > self.read_seq)
                .cloned()
            else {
                return Ok(None);
            };
            if seg.count == 0 {
                return Ok(None);
            }
            self.read_seq = self.read_seq.max(seg.base_seq);
            let positioned = self
                .reader
                .as_ref()
                .is_some_and(|r| r.base_seq == seg.base_seq && r.next_seq == self.read_seq);
            if !positioned {
                self.reader =
                    Some(SegmentReader::open_at(&seg, self.read_seq).map_err(io_err(&seg.path))?);
            }
            let reader = self.reader.as_mut().unwrap_or_else(|| unreachable!());
            let rec = reader.read().map_err(io_err(&seg.path))?;
            let seq = self.read_seq;
            self.read_seq += 1;
            if !self.acked_ahead.contains(&seq) {
                return Ok(Some((seq, rec)));
            }
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
        while self.acked_ahead.remove(&self.cursor) {
            self.cursor += 1;
        }
    }

    /// Make appends durable and persist the cursor, then delete fully acknowledged segments.
    /// Cheap when nothing changed.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if self.unsynced {
            if let (Some(file), Some(seg)) = (&self.active, self.segments.back()) {
                file.sync_data().map_err(io_err(&seg.path))?;
            }
            self.unsynced = false;
        }
        if self.cursor != self.saved_cursor {
            let tmp = self.dir.join("cursor.tmp");
            fs::write(&tmp, format!("{}\n", self.cursor)).map_err(io_err(&tmp))?;
            let path = self.dir.join(CURSOR_FILE);
            fs::rename(&tmp, &path).map_err(io_err(&path))?;
            self.saved_cursor = self.cursor;
        }
        // Keep the segment being written; drop the ones entirely below the cursor.
        while self.segments.len() > 1
            && self
                .segments
                .front()
                .is_some_and(|s| s.end_seq() <= self.cursor)
        {
            self.drop_oldest_segment()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
