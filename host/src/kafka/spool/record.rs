//! One spooled message on disk.
//!
//! Layout: `[body_len: u32 LE][crc32(body): u32 LE][body]` with
//! `body = [key_len: u16 LE][key][value]`. The length and CRC let recovery find
//! the end of the good data after a crash that tore the last write.

use std::io::{self, Read};

/// Bytes before the body: length and CRC.
pub const HEADER_BYTES: u64 = 8;
/// Largest body accepted; a length beyond it can only be garbage.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Why a message cannot be spooled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodeError {
    #[error("key of {0} bytes is longer than the spool allows (65535)")]
    KeyTooLong(usize),
    #[error("message of {0} bytes is larger than the spool allows ({MAX_BODY_BYTES})")]
    TooLarge(usize),
}

/// Append the encoded record for `key`/`value` to `out`.
pub fn encode(key: &[u8], value: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let key_len = u16::try_from(key.len()).map_err(|_| EncodeError::KeyTooLong(key.len()))?;
    let body_len = 2 + key.len() + value.len();
    if body_len > MAX_BODY_BYTES {
        return Err(EncodeError::TooLarge(body_len));
    }
    let start = out.len();
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    let crc = crc32fast::hash(&out[start + HEADER_BYTES as usize..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// A record read back from a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

impl Record {
    /// Bytes the record takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        HEADER_BYTES + 2 + self.key.len() as u64 + self.value.len() as u64
    }
}

/// What the next bytes of a segment hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Record(Record),
    /// Clean end of the data.
    End,
    /// A partial or corrupt record (torn write): everything from here on is unusable.
    Torn,
}

/// Read one record. I/O errors are returned; torn or corrupt data is [`Next::Torn`].
pub fn read(r: &mut impl Read) -> io::Result<Next> {
    let mut header = [0u8; HEADER_BYTES as usize];
    match read_full(r, &mut header)? {
        0 => return Ok(Next::End),
        n if n < header.len() => return Ok(Next::Torn),
        _ => {}
    }
    let body_len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if !(2..=MAX_BODY_BYTES).contains(&body_len) {
        return Ok(Next::Torn);
    }
    let mut body = vec![0u8; body_len];
    if read_full(r, &mut body)? < body_len || crc32fast::hash(&body) != crc {
        return Ok(Next::Torn);
    }
    let key_len = u16::from_le_bytes([body[0], body[1]]) as usize;
    if 2 + key_len > body_len {
        return Ok(Next::Torn);
    }
    let value = body.split_off(2 + key_len);
    body.drain(..2);
    Ok(Next::Record(Record { key: body, value }))
}

/// Like `read_exact`, but reports how many bytes were there instead of failing at EOF.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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

    fn encoded(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in pairs {
            encode(k.as_bytes(), v.as_bytes(), &mut out).unwrap();
        }
        out
    }

    fn rec(k: &str, v: &str) -> Next {
        Next::Record(Record {
            key: k.into(),
            value: v.into(),
        })
    }

    #[test]
    fn round_trip_then_clean_end() {
        let buf = encoded(&[("h/cpu", "{\"v\":1}"), ("", "")]);
        let mut r = Cursor::new(buf);
        assert_eq!(read(&mut r).unwrap(), rec("h/cpu", "{\"v\":1}"));
        assert_eq!(read(&mut r).unwrap(), rec("", ""));
        assert_eq!(read(&mut r).unwrap(), Next::End);
    }

    #[test]
    fn disk_bytes_matches_encoding() {
        let buf = encoded(&[("key", "value")]);
        let Next::Record(r) = read(&mut Cursor::new(&buf)).unwrap() else {
            panic!("no record")
        };
        assert_eq!(r.disk_bytes(), buf.len() as u64);
    }

    #[test]
    fn every_truncation_of_the_last_record_is_torn() {
        let buf = encoded(&[("a", "first"), ("b", "second")]);
        let first_len = encoded(&[("a", "first")]).len();
        for cut in first_len + 1..buf.len() {
            let mut r = Cursor::new(&buf[..cut]);
            assert_eq!(read(&mut r).unwrap(), rec("a", "first"));
            assert_eq!(read(&mut r).unwrap(), Next::Torn, "cut at {cut}");
        }
    }

    #[test]
    fn flipped_bit_is_torn() {
        let mut buf = encoded(&[("a", "payload")]);
        let last = buf.len() - 1;
        buf[last] ^= 1;
        assert_eq!(read(&mut Cursor::new(buf)).unwrap(), Next::Torn);
    }

    #[test]
    fn zeroed_tail_is_torn() {
        // A file extended but never written (power loss) reads as zeros.
        let mut buf = encoded(&[("a", "x")]);
        let good = buf.len();
        buf.extend_from_slice(&[0; 32]);
        let mut r = Cursor::new(&buf);
        assert_eq!(read(&mut r).unwrap(), rec("a", "x"));
        assert_eq!(r.position() as usize, good);
        assert_eq!(read(&mut r).unwrap(), Next::Torn);
    }

    #[test]
    fn oversized_key_is_refused() {
        let key = vec![b'k'; 70_000];
        assert_eq!(
            encode(&key, b"", &mut Vec::new()),
            Err(EncodeError::KeyTooLong(70_000))
        );
    }
}
