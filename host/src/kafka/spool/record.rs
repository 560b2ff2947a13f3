//! One spooled message on disk (format 2).
//!
//! Layout, little-endian:
//!
//! ```text
//! sync      [u8; 8]  the segment's random marker (see `segment`)
//! seq       u64      the message's sequence number
//! job_len   u16      job that produced the run (the spool's fair-share unit)
//! key_len   u16      Kafka key
//! value_len u32      Kafka value
//! body_crc  u32      crc32 of job ++ key ++ value
//! head_crc  u32      crc32 of the 28 bytes above
//! job, key, value
//! ```
//!
//! Why this framing: a damaged record must cost only itself. The reader resynchronises
//! by searching for the next sync marker, and a marker only counts when the header CRC
//! over it and the lengths holds. The marker is random per segment and never leaves the
//! host, so a value (whose bytes a probe chooses) cannot carry a record the reader would
//! mistake for a real one. Lengths are bounded before anything is allocated.

use std::io::{self, Read};

/// The per-segment marker every record starts with.
pub type SyncMarker = [u8; 8];

/// Bytes before the body.
pub const HEADER_BYTES: u64 = 32;
/// Largest value accepted; a length beyond it can only be damage.
pub const MAX_VALUE_BYTES: usize = 64 * 1024 * 1024;

/// Why a message cannot be spooled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodeError {
    #[error("key of {0} bytes is longer than the spool allows (65535)")]
    KeyTooLong(usize),
    #[error("job name of {0} bytes is longer than the spool allows (65535)")]
    JobTooLong(usize),
    #[error("message of {0} bytes is larger than the spool allows ({MAX_VALUE_BYTES})")]
    TooLarge(usize),
}

/// A record read back from a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub job: String,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

impl Record {
    /// Bytes the record takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        encoded_bytes(self.job.len(), self.key.len(), self.value.len())
    }
}

pub fn encoded_bytes(job: usize, key: usize, value: usize) -> u64 {
    HEADER_BYTES + job as u64 + key as u64 + value as u64
}

/// The bytes the record would take on disk, or why it cannot be spooled.
pub fn check(job: &str, key: &[u8], value: &[u8]) -> Result<u64, EncodeError> {
    if job.len() > u16::MAX as usize {
        return Err(EncodeError::JobTooLong(job.len()));
    }
    if key.len() > u16::MAX as usize {
        return Err(EncodeError::KeyTooLong(key.len()));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(EncodeError::TooLarge(value.len()));
    }
    Ok(encoded_bytes(job.len(), key.len(), value.len()))
}

/// Append the encoded record to `out`.
pub fn encode(
    sync: &SyncMarker,
    seq: u64,
    job: &str,
    key: &[u8],
    value: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    check(job, key, value)?;
    let mut body_crc = crc32fast::Hasher::new();
    body_crc.update(job.as_bytes());
    body_crc.update(key);
    body_crc.update(value);
    let start = out.len();
    out.extend_from_slice(sync);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(job.len() as u16).to_le_bytes());
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(&body_crc.finalize().to_le_bytes());
    let head_crc = crc32fast::hash(&out[start..start + 28]);
    out.extend_from_slice(&head_crc.to_le_bytes());
    out.extend_from_slice(job.as_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    Ok(())
}

/// A header that passed its checks: what the body must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub seq: u64,
    job_len: usize,
    key_len: usize,
    value_len: usize,
    body_crc: u32,
}

impl Header {
    pub fn body_bytes(&self) -> u64 {
        (self.job_len + self.key_len + self.value_len) as u64
    }

    /// Check `raw` against `sync` and its CRC, and its lengths against `room`, the bytes
    /// that can follow it. `None` means this is not the start of a record.
    pub fn parse(raw: &[u8; HEADER_BYTES as usize], sync: &SyncMarker, room: u64) -> Option<Self> {
        let (u16_at, u32_at) = (
            |i: usize| u16::from_le_bytes([raw[i], raw[i + 1]]) as usize,
            |i: usize| u32::from_le_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]),
        );
        if raw[..8] != sync[..] || crc32fast::hash(&raw[..28]) != u32_at(28) {
            return None;
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&raw[8..16]);
        let header = Header {
            seq: u64::from_le_bytes(seq),
            job_len: u16_at(16),
            key_len: u16_at(18),
            value_len: u32_at(20) as usize,
            body_crc: u32_at(24),
        };
        (header.value_len <= MAX_VALUE_BYTES && header.body_bytes() <= room).then_some(header)
    }

    /// Read and check the body; `Ok(None)` when it does not match the header (damage).
    pub fn read_body(&self, r: &mut impl Read) -> io::Result<Option<Record>> {
        // Bounded: parse() checked the lengths against MAX_VALUE_BYTES and the file size.
        let mut body = vec![0u8; self.body_bytes() as usize];
        if read_full(r, &mut body)? < body.len() || crc32fast::hash(&body) != self.body_crc {
            return Ok(None);
        }
        let value = body.split_off(self.job_len + self.key_len);
        let key = body.split_off(self.job_len);
        let Ok(job) = String::from_utf8(body) else {
            return Ok(None);
        };
        Ok(Some(Record {
            seq: self.seq,
            job,
            key,
            value,
        }))
    }
}

/// Like `read_exact`, but reports how many bytes were there instead of failing at EOF.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const SYNC: SyncMarker = *b"\x01sync\xfe\x02\x03";

    fn read_one(buf: &[u8]) -> Option<Record> {
        let mut raw = [0u8; HEADER_BYTES as usize];
        raw.copy_from_slice(buf.get(..HEADER_BYTES as usize)?);
        let header = Header::parse(&raw, &SYNC, buf.len() as u64 - HEADER_BYTES)?;
        header
            .read_body(&mut Cursor::new(&buf[HEADER_BYTES as usize..]))
            .unwrap()
    }

    fn encoded(seq: u64, job: &str, key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&SYNC, seq, job, key, value, &mut out).unwrap();
        out
    }

    #[test]
    fn round_trip_and_size() {
        let buf = encoded(7, "web", b"h/http", b"{\"v\":1}");
        let rec = read_one(&buf).expect("record");
        assert_eq!(
            rec,
            Record {
                seq: 7,
                job: "web".into(),
                key: b"h/http".to_vec(),
                value: b"{\"v\":1}".to_vec()
            }
        );
        assert_eq!(rec.disk_bytes(), buf.len() as u64);
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let buf = encoded(1, "j", b"k", b"payload");
        for i in 0..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert_eq!(read_one(&bad), None, "bit {i} flipped went unnoticed");
        }
    }

    #[test]
    fn another_segments_marker_is_not_a_record() {
        let mut buf = Vec::new();
        encode(b"othersyn", 1, "j", b"k", b"v", &mut buf).unwrap();
        assert_eq!(read_one(&buf), None);
    }

    #[test]
    fn a_length_beyond_the_room_left_is_refused_before_allocating() {
        let buf = encoded(1, "j", b"k", &[b'x'; 100]);
        let mut raw = [0u8; HEADER_BYTES as usize];
        raw.copy_from_slice(&buf[..HEADER_BYTES as usize]);
        // The body is job + key + value: 102 bytes.
        assert!(Header::parse(&raw, &SYNC, 102).is_some());
        assert!(Header::parse(&raw, &SYNC, 101).is_none());
    }

    #[test]
    fn oversized_fields_are_refused() {
        let mut out = Vec::new();
        let long = vec![b'k'; 70_000];
        assert_eq!(
            encode(&SYNC, 0, "", &long, b"", &mut out),
            Err(EncodeError::KeyTooLong(70_000))
        );
        let job = "j".repeat(70_000);
        assert_eq!(
            encode(&SYNC, 0, &job, b"", b"", &mut out),
            Err(EncodeError::JobTooLong(70_000))
        );
        assert!(out.is_empty(), "nothing written for a refused record");
    }
}
