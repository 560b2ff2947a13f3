//! Segment files: `<first sequence number, 20 digits>.seg`, a header, then records in
//! sequence order (gaps are records lost to damage).
//!
//! Header (24 bytes): `SONDESP2`, the segment's random 8-byte sync marker, the CRC32 of
//! those 16 bytes, 4 zero bytes. The marker is in every record too, so a damaged header
//! is rebuilt from the first record.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::record::{Header, Record, SyncMarker, HEADER_BYTES};
use super::scan::{Scanned, Scanner};

pub const MAGIC: &[u8; 8] = b"SONDESP2";
pub const SEGMENT_HEADER_BYTES: u64 = 24;

/// What the spool knows about one segment without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub path: PathBuf,
    /// Sequence number of the first record it may hold.
    pub base_seq: u64,
    /// One past the last sequence number it holds.
    pub end_seq: u64,
    /// Bytes in use: header and whole records.
    pub bytes: u64,
    pub sync: SyncMarker,
    /// Record bytes per job (the fair-share accounting).
    pub jobs: HashMap<String, u64>,
    /// Whether `jobs` is counted in the spool's ledger of undelivered bytes.
    pub counted: bool,
}

impl Segment {
    pub fn new(path: PathBuf, base_seq: u64, sync: SyncMarker) -> Self {
        Segment {
            path,
            base_seq,
            end_seq: base_seq,
            bytes: SEGMENT_HEADER_BYTES,
            sync,
            jobs: HashMap::new(),
            counted: false,
        }
    }
}

pub fn file_name(base_seq: u64) -> String {
    format!("{base_seq:020}.seg")
}

/// The base sequence number encoded in a segment's file name, if it is one.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub fn header(sync: &SyncMarker) -> [u8; SEGMENT_HEADER_BYTES as usize] {
    let mut h = [0u8; SEGMENT_HEADER_BYTES as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(sync);
    let crc = crc32fast::hash(&h[..16]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The sync marker of a segment whose file starts with `head` (as many of the first
/// `SEGMENT_HEADER_BYTES + HEADER_BYTES` bytes as there are): from the header, or, when
/// the header is damaged, from a first record whose own checks hold.
pub fn sync_of(head: &[u8]) -> Option<SyncMarker> {
    let mut sync = [0u8; 8];
    if head.len() >= 20 && head[..8] == MAGIC[..] {
        let crc = u32::from_le_bytes([head[16], head[17], head[18], head[19]]);
        if crc32fast::hash(&head[..16]) == crc {
            sync.copy_from_slice(&head[8..16]);
            return Some(sync);
        }
    }
    let first =
        head.get(SEGMENT_HEADER_BYTES as usize..(SEGMENT_HEADER_BYTES + HEADER_BYTES) as usize)?;
    let mut raw = [0u8; HEADER_BYTES as usize];
    raw.copy_from_slice(first);
    sync.copy_from_slice(&raw[..8]);
    Header::parse(&raw, &sync, u64::MAX).map(|_| sync)
}

/// The file's length, its first bytes (as much as [`sync_of`] looks at) and its marker.
fn head_of(file: &File) -> io::Result<(u64, Vec<u8>, Option<SyncMarker>)> {
    let len = file.metadata()?.len();
    let mut head = Vec::new();
    file.take(SEGMENT_HEADER_BYTES + HEADER_BYTES)
        .read_to_end(&mut head)?;
    let sync = sync_of(&head);
    Ok((len, head, sync))
}

/// Sequence numbers of the whole records in the format-2 segment `path`, read only.
pub fn seqs(path: &Path) -> io::Result<Vec<u64>> {
    let file = File::open(path)?;
    let (len, _, Some(sync)) = head_of(&file)? else {
        return Ok(Vec::new());
    };
    let mut scanner = Scanner::new(&file, sync, SEGMENT_HEADER_BYTES, len)?;
    let mut seqs = Vec::new();
    while let Scanned::Record { record, .. } = scanner.next()? {
        seqs.push(record.seq);
    }
    Ok(seqs)
}

/// What recovering one segment found.
#[derive(Debug)]
pub struct Recovered {
    pub segment: Segment,
    /// Sequence numbers whose records are damaged beyond reading.
    pub lost: Vec<Range<u64>>,
    /// Damaged bytes skipped between whole records (left in place).
    pub damaged_bytes: u64,
    /// Bytes cut from the end: a record torn by a crash or a failed write.
    pub torn_bytes: u64,
}

/// Read a format-2 segment whole, keep every checked record and cut what follows the
/// last one. `bound` is the next segment's first sequence number, if there is one: this
/// segment's records lie below it, and what is missing up to it is lost.
pub fn recover(path: &Path, base_seq: u64, bound: Option<u64>) -> io::Result<Recovered> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let (len, head, sync) = head_of(&file)?;
    let Some(sync) = sync else {
        // Without its marker nothing in the file can be trusted: start it afresh.
        let sync = rand::random();
        file.set_len(0)?;
        file.write_all_at(&header(&sync), 0)?;
        file.sync_all()?;
        let segment = Segment::new(path.to_owned(), base_seq, sync);
        return Ok(Recovered {
            lost: bound.map(|b| base_seq..b).into_iter().collect(),
            segment: Segment {
                end_seq: bound.unwrap_or(base_seq),
                ..segment
            },
            damaged_bytes: 0,
            torn_bytes: len,
        });
    };
    if head.get(..SEGMENT_HEADER_BYTES as usize) != Some(&header(&sync)[..]) {
        file.write_all_at(&header(&sync), 0)?;
    }
    let mut seg = Segment::new(path.to_owned(), base_seq, sync);
    let mut lost = Vec::new();
    let mut damaged_bytes = 0;
    // Damage counts as such only once a whole record follows it; after the last one it
    // cannot be told from a torn write and is cut.
    let mut damage_since_last = 0;
    let mut scanner = Scanner::new(&file, sync, SEGMENT_HEADER_BYTES, len)?;
    while let Scanned::Record {
        record,
        offset,
        skipped,
    } = scanner.next()?
    {
        damage_since_last += skipped;
        let in_order = record.seq >= seg.end_seq && bound.is_none_or(|b| record.seq < b);
        if !in_order {
            damage_since_last += record.disk_bytes();
            continue;
        }
        damaged_bytes += std::mem::take(&mut damage_since_last);
        if record.seq > seg.end_seq {
            lost.push(seg.end_seq..record.seq);
        }
        seg.end_seq = record.seq + 1;
        seg.bytes = offset + record.disk_bytes();
        *seg.jobs.entry(record.job).or_default() += record.disk_bytes();
    }
    let torn_bytes = len.saturating_sub(seg.bytes);
    if torn_bytes > 0 {
        file.set_len(seg.bytes)?;
        file.sync_all()?;
    }
    if let Some(bound) = bound {
        if bound > seg.end_seq {
            lost.push(seg.end_seq..bound);
            seg.end_seq = bound;
        }
    }
    Ok(Recovered {
        segment: seg,
        lost,
        damaged_bytes,
        torn_bytes,
    })
}

/// Sequential reader over one segment.
#[derive(Debug)]
pub struct SegmentReader {
    pub path: PathBuf,
    pub base_seq: u64,
    /// The next read returns the first record numbered this or later.
    pub next_seq: u64,
    scanner: Scanner<File>,
    /// A record read ahead while positioning.
    held: Option<Record>,
    damaged_bytes: u64,
}

impl SegmentReader {
    /// Open `seg` positioned at its first record numbered `seq` or later.
    pub fn open_at(seg: &Segment, seq: u64) -> io::Result<Self> {
        let file = File::open(&seg.path)?;
        let mut r = SegmentReader {
            path: seg.path.clone(),
            base_seq: seg.base_seq,
            next_seq: seg.base_seq,
            scanner: Scanner::new(file, seg.sync, SEGMENT_HEADER_BYTES, seg.bytes)?,
            held: None,
            damaged_bytes: 0,
        };
        // Records vary in size: reading forward is the only way to find one.
        while let Some(record) = r.read(seg.bytes, seg.end_seq)? {
            if record.seq >= seq {
                r.held = Some(record);
                break;
            }
        }
        r.next_seq = seq.max(seg.base_seq);
        Ok(r)
    }

    /// The next whole record numbered below `end_seq` among the segment's first `bytes`,
    /// skipping damage (counted in [`SegmentReader::take_damaged_bytes`]); `None` at the
    /// end of the data.
    pub fn read(&mut self, bytes: u64, end_seq: u64) -> io::Result<Option<Record>> {
        if let Some(record) = self.held.take() {
            self.next_seq = record.seq + 1;
            return Ok(Some(record));
        }
        self.scanner.set_end(bytes);
        loop {
            match self.scanner.next()? {
                Scanned::Record {
                    record, skipped, ..
                } => {
                    self.damaged_bytes += skipped;
                    if record.seq < self.next_seq || record.seq >= end_seq {
                        self.damaged_bytes += record.disk_bytes();
                        continue;
                    }
                    self.next_seq = record.seq + 1;
                    return Ok(Some(record));
                }
                Scanned::End { skipped } => {
                    self.damaged_bytes += skipped;
                    return Ok(None);
                }
            }
        }
    }

    pub fn take_damaged_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.damaged_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_sort_by_sequence() {
        assert_eq!(parse_file_name(&file_name(42)), Some(42));
        assert!(file_name(9) < file_name(10));
        assert_eq!(parse_file_name("cursor"), None);
        assert_eq!(parse_file_name("12.seg"), None);
        assert_eq!(parse_file_name(&format!("{}.tmp", file_name(1))), None);
    }

    #[test]
    fn a_damaged_header_is_rebuilt_from_the_first_record() {
        let sync = *b"12345678";
        let mut head = header(&sync).to_vec();
        super::super::record::encode(&sync, 5, "j", b"k", b"v", &mut head).unwrap();
        assert_eq!(sync_of(&head), Some(sync));
        head[3] ^= 1;
        assert_eq!(sync_of(&head), Some(sync));
        head[SEGMENT_HEADER_BYTES as usize + 9] ^= 1;
        assert_eq!(sync_of(&head), None, "first record damaged too");
    }
}
