//! Segment files: `<first sequence number, 20 digits>.seg`, records appended in order.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::record::{self, Next, Record};

/// What the spool knows about one segment without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub path: PathBuf,
    /// Sequence number of the first record.
    pub base_seq: u64,
    /// Number of records.
    pub count: u64,
    pub bytes: u64,
}

impl Segment {
    /// One past the last record's sequence number.
    pub fn end_seq(&self) -> u64 {
        self.base_seq + self.count
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

/// Scan a segment, cutting off a torn tail (left by a crash mid-write) so appends
/// continue after the last whole record. Returns the segment and the bytes cut.
pub fn recover(path: &Path, base_seq: u64) -> io::Result<(Segment, u64)> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let mut reader = BufReader::new(&file);
    let mut count = 0;
    let mut good_bytes = 0;
    while let Next::Record(r) = record::read(&mut reader)? {
        count += 1;
        good_bytes += r.disk_bytes();
    }
    drop(reader);
    if good_bytes < len {
        file.set_len(good_bytes)?;
        file.sync_all()?;
    }
    let seg = Segment {
        path: path.to_owned(),
        base_seq,
        count,
        bytes: good_bytes,
    };
    Ok((seg, len - good_bytes))
}

/// Sequential reader over one segment.
#[derive(Debug)]
pub struct SegmentReader {
    pub base_seq: u64,
    /// Sequence number of the record the next `read` returns.
    pub next_seq: u64,
    reader: BufReader<File>,
}

impl SegmentReader {
    /// Open `seg` positioned at `seq` (which must lie inside it).
    pub fn open_at(seg: &Segment, seq: u64) -> io::Result<Self> {
        let mut file = File::open(&seg.path)?;
        file.seek(SeekFrom::Start(0))?;
        let mut r = SegmentReader {
            base_seq: seg.base_seq,
            next_seq: seg.base_seq,
            reader: BufReader::new(file),
        };
        while r.next_seq < seq {
            r.read()?;
        }
        Ok(r)
    }

    /// The next record; a torn or missing record here is an I/O error, since
    /// recovery already cut torn tails and appends are whole records.
    pub fn read(&mut self) -> io::Result<Record> {
        match record::read(&mut self.reader)? {
            Next::Record(r) => {
                self.next_seq += 1;
                Ok(r)
            }
            Next::End | Next::Torn => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("spool record {} is missing or damaged", self.next_seq),
            )),
        }
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
    }
}
