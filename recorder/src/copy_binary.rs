//! PostgreSQL's binary `COPY` format, written straight into one buffer: cheaper than
//! going through `ToSql` per value, and the row types here are few and fixed.

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

/// One binary COPY stream: header, rows, trailer.
pub struct CopyBuffer {
    buf: BytesMut,
    rows: usize,
}

impl CopyBuffer {
    pub fn new(capacity: usize) -> Self {
        let mut buf = BytesMut::with_capacity(capacity + 32);
        buf.put_slice(b"PGCOPY\n\xff\r\n\0");
        buf.put_i32(0); // flags
        buf.put_i32(0); // header extension length
        CopyBuffer { buf, rows: 0 }
    }

    pub fn row(&mut self, fields: i16) -> &mut Self {
        self.buf.put_i16(fields);
        self.rows += 1;
        self
    }

    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.put_i32(4);
        self.buf.put_i32(v);
        self
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.put_i32(8);
        self.buf.put_i64(v);
        self
    }

    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.buf.put_i32(8);
        self.buf.put_f64(v);
        self
    }

    pub fn timestamptz(&mut self, t: DateTime<Utc>) -> &mut Self {
        self.i64(t.timestamp_micros() - PG_EPOCH_OFFSET_US)
    }

    pub fn uuid(&mut self, u: &Uuid) -> &mut Self {
        self.buf.put_i32(16);
        self.buf.put_slice(u.as_bytes());
        self
    }

    pub fn text(&mut self, s: &str) -> &mut Self {
        self.buf.put_i32(s.len() as i32);
        self.buf.put_slice(s.as_bytes());
        self
    }

    pub fn opt_text(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => {
                self.buf.put_i32(-1);
                self
            }
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The finished stream, trailer included.
    pub fn finish(mut self) -> bytes::Bytes {
        self.buf.put_i16(-1);
        self.buf.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_header_fields_and_trailer() {
        let mut c = CopyBuffer::new(0);
        let t: DateTime<Utc> = "2000-01-01T00:00:01Z".parse().unwrap();
        c.row(3).i64(7).timestamptz(t).opt_text(None);
        assert_eq!(c.rows(), 1);
        let b = c.finish();
        assert_eq!(&b[..11], b"PGCOPY\n\xff\r\n\0");
        let body = &b[19..];
        assert_eq!(&body[..2], &3i16.to_be_bytes());
        assert_eq!(&body[2..6], &8i32.to_be_bytes());
        assert_eq!(&body[6..14], &7i64.to_be_bytes());
        assert_eq!(&body[18..26], &1_000_000i64.to_be_bytes());
        assert_eq!(&body[26..30], &(-1i32).to_be_bytes());
        assert_eq!(&body[30..], &(-1i16).to_be_bytes());
    }
}
