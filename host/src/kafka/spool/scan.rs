//! Reading a segment's records in order, resynchronising past damage: after a bad record
//! the scanner searches for the segment's sync marker and carries on from the first
//! place where a whole, checked record starts. What lay between is reported as skipped.

use std::io::{self, BufReader, Read, Seek, SeekFrom};

use super::record::{read_full, Header, Record, SyncMarker, HEADER_BYTES};

/// Bytes searched per read while looking for the next marker.
const SEARCH_BLOCK_BYTES: usize = 64 * 1024;

/// What the next bytes of a segment hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Scanned {
    /// A whole record at `offset`; `skipped` damaged bytes came just before it.
    Record {
        record: Record,
        offset: u64,
        skipped: u64,
    },
    /// No record up to the end; `skipped` bytes before the end held none.
    End { skipped: u64 },
}

/// Sequential reader of the records between a start offset and `end`.
#[derive(Debug)]
pub struct Scanner<R> {
    inner: BufReader<R>,
    sync: SyncMarker,
    /// Offset of the next byte to look at.
    pos: u64,
    /// Bytes of the file that hold data; nothing at or beyond it is read.
    end: u64,
}

impl<R: Read + Seek> Scanner<R> {
    pub fn new(inner: R, sync: SyncMarker, start: u64, end: u64) -> io::Result<Self> {
        let mut scanner = Scanner {
            inner: BufReader::new(inner),
            sync,
            pos: start,
            end,
        };
        scanner.inner.seek(SeekFrom::Start(start))?;
        Ok(scanner)
    }

    /// The data grew (appends to the segment being written).
    pub fn set_end(&mut self, end: u64) {
        self.end = end;
    }

    pub fn next(&mut self) -> io::Result<Scanned> {
        let start = self.pos;
        loop {
            if self.pos >= self.end {
                return Ok(Scanned::End {
                    skipped: self.end.saturating_sub(start),
                });
            }
            let offset = self.pos;
            if let Some(record) = self.try_record()? {
                return Ok(Scanned::Record {
                    skipped: offset - start,
                    offset,
                    record,
                });
            }
            let next = self.find_marker(offset + 1)?.unwrap_or(self.end);
            self.inner.seek(SeekFrom::Start(next))?;
            self.pos = next;
        }
    }

    /// A checked record at `pos` (then `pos` moves past it), or `None`.
    fn try_record(&mut self) -> io::Result<Option<Record>> {
        let room = self.end - self.pos;
        if room < HEADER_BYTES {
            return Ok(None);
        }
        let mut raw = [0u8; HEADER_BYTES as usize];
        if read_full(&mut self.inner, &mut raw)? < raw.len() {
            return Ok(None);
        }
        let Some(header) = Header::parse(&raw, &self.sync, room - HEADER_BYTES) else {
            return Ok(None);
        };
        let Some(record) = header.read_body(&mut self.inner)? else {
            return Ok(None);
        };
        self.pos += HEADER_BYTES + header.body_bytes();
        Ok(Some(record))
    }

    /// Offset of the first sync marker at or after `from` that lies wholly before `end`.
    fn find_marker(&mut self, from: u64) -> io::Result<Option<u64>> {
        let n = self.sync.len();
        self.inner.seek(SeekFrom::Start(from))?;
        let mut block = vec![0u8; SEARCH_BLOCK_BYTES];
        let mut base = from;
        let mut carried = 0;
        loop {
            let want = (self.end.saturating_sub(base)).min(block.len() as u64) as usize;
            if want <= carried {
                return Ok(None);
            }
            let got = read_full(&mut self.inner, &mut block[carried..want])?;
            let filled = carried + got;
            if let Some(i) = block[..filled].windows(n).position(|w| w == self.sync) {
                return Ok(Some(base + i as u64));
            }
            if filled < want {
                return Ok(None);
            }
            // A marker may straddle two blocks: keep the last n - 1 bytes.
            let keep = (n - 1).min(filled);
            block.copy_within(filled - keep..filled, 0);
            base += (filled - keep) as u64;
            carried = keep;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::encode;
    use super::*;
    use std::io::Cursor;

    const SYNC: SyncMarker = *b"SyNcMaRk";

    fn records(n: u64, value_bytes: usize) -> (Vec<u8>, Vec<u64>) {
        let mut buf = Vec::new();
        let mut offsets = Vec::new();
        for seq in 0..n {
            offsets.push(buf.len() as u64);
            let value = vec![b'a' + (seq % 26) as u8; value_bytes];
            encode(&SYNC, seq, "job", b"key", &value, &mut buf).unwrap();
        }
        (buf, offsets)
    }

    fn scan(buf: &[u8]) -> (Vec<u64>, u64) {
        let mut s = Scanner::new(Cursor::new(buf), SYNC, 0, buf.len() as u64).unwrap();
        let mut seqs = Vec::new();
        let mut skipped_total = 0;
        loop {
            match s.next().unwrap() {
                Scanned::Record {
                    record, skipped, ..
                } => {
                    seqs.push(record.seq);
                    skipped_total += skipped;
                }
                Scanned::End { skipped } => return (seqs, skipped_total + skipped),
            }
        }
    }

    #[test]
    fn damage_in_the_middle_costs_only_that_record() {
        let (mut buf, offsets) = records(10, 50);
        buf[offsets[4] as usize + 40] ^= 0xff;
        let (seqs, skipped) = scan(&buf);
        assert_eq!(seqs, [0, 1, 2, 3, 5, 6, 7, 8, 9]);
        assert_eq!(skipped, offsets[5] - offsets[4]);
    }

    #[test]
    fn every_other_record_damaged_leaves_the_rest() {
        let (mut buf, offsets) = records(20, 10);
        for seq in (1..20).step_by(2) {
            buf[offsets[seq] as usize + 3] ^= 1; // inside the marker
        }
        assert_eq!(scan(&buf).0, (0..20).step_by(2).collect::<Vec<_>>());
    }

    #[test]
    fn a_record_hidden_in_a_value_with_another_marker_is_not_read() {
        // A value holding a complete record of a segment with a different marker: after
        // damage to the outer record's header the scanner must not surface the inner one.
        let mut inner = Vec::new();
        encode(b"OtHeRsYn", 99, "job", b"key", b"forged", &mut inner).unwrap();
        let mut buf = Vec::new();
        encode(&SYNC, 0, "job", b"key", &inner, &mut buf).unwrap();
        encode(&SYNC, 1, "job", b"key", b"after", &mut buf).unwrap();
        buf[9] ^= 1; // seq of record 0
        assert_eq!(scan(&buf).0, [1]);
    }

    #[test]
    fn markers_split_across_search_blocks_are_found() {
        let (mut buf, offsets) = records(3, SEARCH_BLOCK_BYTES);
        buf[offsets[0] as usize] ^= 1;
        assert_eq!(scan(&buf).0, [1, 2]);
        for shift in 1..8 {
            let mut padded = vec![0u8; SEARCH_BLOCK_BYTES - shift];
            padded.extend_from_slice(&records(2, 5).0);
            assert_eq!(scan(&padded).0, [0, 1], "shift {shift}");
        }
    }

    #[test]
    fn torn_tail_is_skipped_and_counted() {
        let (buf, offsets) = records(3, 20);
        let cut = offsets[2] as usize + 10;
        assert_eq!(scan(&buf[..cut]), (vec![0, 1], cut as u64 - offsets[2]));
    }

    #[test]
    fn nothing_beyond_end_is_read() {
        let (buf, offsets) = records(3, 20);
        let mut s = Scanner::new(Cursor::new(&buf), SYNC, 0, offsets[1]).unwrap();
        assert!(matches!(s.next().unwrap(), Scanned::Record { .. }));
        assert_eq!(s.next().unwrap(), Scanned::End { skipped: 0 });
        s.set_end(buf.len() as u64);
        assert!(matches!(s.next().unwrap(), Scanned::Record { record, .. } if record.seq == 1));
    }
}
