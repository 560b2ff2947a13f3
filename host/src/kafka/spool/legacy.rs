//! Segments written by the previous release (format 1) are converted on open, so the rest
//! of the spool reads one format only.
//!
//! Format 1: no file header; records `[body_len: u32][crc32(body): u32][body]` with
//! `body = [key_len: u16][key][value]`, sequence numbers implicit (the file name's base
//! plus the record's index). It has no sync marker, so reading stops at the first bad
//! record, as the previous release did.
//!
//! A file is format 1 when its first record checks out as one: a format-2 file starts
//! with `SONDESP2`, which read as a format-1 length is over 1 GB, far beyond the limit.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::record::{self, read_full, SyncMarker};
use super::segment;

/// Largest format-1 body the previous release wrote.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// One format-1 record among the `room` bytes left: `None` at a clean end or at the
/// first bad record.
fn read_v1(r: &mut impl Read, room: u64) -> io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut header = [0u8; 8];
    if read_full(r, &mut header)? < header.len() {
        return Ok(None);
    }
    let body_len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if !(2..=MAX_BODY_BYTES).contains(&body_len) || body_len as u64 + 8 > room {
        return Ok(None);
    }
    let mut body = vec![0u8; body_len];
    if read_full(r, &mut body)? < body_len || crc32fast::hash(&body) != crc {
        return Ok(None);
    }
    let key_len = u16::from_le_bytes([body[0], body[1]]) as usize;
    if 2 + key_len > body_len {
        return Ok(None);
    }
    let value = body.split_off(2 + key_len);
    body.drain(..2);
    Ok(Some((body, value)))
}

/// Whether `path` holds format-1 records (its first record checks out as one).
pub fn is_format_1(path: &Path) -> io::Result<bool> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    Ok(read_v1(&mut BufReader::new(file), len)?.is_some())
}

/// The job named in a run's JSON, for the fair-share accounting ("" when unreadable).
fn job_of(value: &[u8]) -> String {
    sonde_message::decode(value, chrono::Utc::now())
        .map(|run| run.job)
        .unwrap_or_default()
}

/// Calls `f` with each record's key and value up to the first bad one; returns the
/// number of records, the bytes they took and the file's length.
fn for_each(
    path: &Path,
    mut f: impl FnMut(u64, &[u8], &[u8]) -> io::Result<()>,
) -> io::Result<(u64, u64, u64)> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut reader = BufReader::new(file);
    let mut records = 0;
    let mut read_bytes = 0;
    while let Some((key, value)) = read_v1(&mut reader, len - read_bytes)? {
        read_bytes += 8 + 2 + key.len() as u64 + value.len() as u64;
        f(records, &key, &value)?;
        records += 1;
    }
    Ok((records, read_bytes, len))
}

/// Whole records in the format-1 segment `path`.
pub fn count(path: &Path) -> io::Result<u64> {
    for_each(path, |_, _, _| Ok(())).map(|(records, _, _)| records)
}

/// What converting one file did.
#[derive(Debug, PartialEq, Eq)]
pub struct Converted {
    pub records: u64,
    /// Bytes after the first bad record, dropped as the previous release would have.
    pub torn_bytes: u64,
}

/// Rewrite the format-1 segment `path` (first sequence number `base_seq`) in format 2:
/// a new file beside it, synced, then renamed over it, so a crash leaves one or the other.
pub fn convert(path: &Path, base_seq: u64, sync: SyncMarker) -> io::Result<Converted> {
    let tmp = temp_path(path);
    let out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let mut writer = BufWriter::new(out);
    writer.write_all(&segment::header(&sync))?;
    let mut buf = Vec::new();
    let (records, read_bytes, len) = for_each(path, |i, key, value| {
        buf.clear();
        record::encode(&sync, base_seq + i, &job_of(value), key, value, &mut buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        writer.write_all(&buf)
    })?;
    let out = writer.into_inner().map_err(|e| e.into_error())?;
    out.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(Converted {
        records,
        torn_bytes: len - read_bytes,
    })
}

/// Where [`convert`] writes before renaming; left over only by a crash mid-conversion.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Format-1 bytes for `values` (as the previous release's `record::encode` wrote them).
    pub fn format_1(records: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, value) in records {
            let mut body = (key.len() as u16).to_le_bytes().to_vec();
            body.extend_from_slice(key);
            body.extend_from_slice(value);
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
            out.extend_from_slice(&body);
        }
        out
    }

    #[test]
    fn format_2_is_never_taken_for_format_1() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.seg");
        let mut v2 = segment::header(b"abcdefgh").to_vec();
        record::encode(b"abcdefgh", 0, "j", b"k", b"v", &mut v2).unwrap();
        fs::write(&path, &v2).unwrap();
        assert!(!is_format_1(&path).unwrap());
        fs::write(&path, format_1(&[(b"h/p", b"{}")])).unwrap();
        assert!(is_format_1(&path).unwrap());
    }

    #[test]
    fn conversion_keeps_records_and_numbers_and_drops_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment::file_name(40));
        let run = sonde_message::RunMessage::new("h", "cpu", "0.1.0", "cpu-1", chrono::Utc::now())
            .encode();
        let mut bytes = format_1(&[(b"h/cpu", &run), (b"h/mem", b"x")]);
        bytes.extend_from_slice(&[7, 0, 0]);
        fs::write(&path, &bytes).unwrap();
        let sync = *b"SYNCSYNC";
        let done = convert(&path, 40, sync).unwrap();
        assert_eq!(
            done,
            Converted {
                records: 2,
                torn_bytes: 3
            }
        );
        assert!(!temp_path(&path).exists());
        let rec = segment::recover(&path, 40, None).unwrap();
        assert_eq!(rec.segment.end_seq, 42);
        assert_eq!(rec.torn_bytes, 0);
        let size = |job: &str, key: &[u8], value: &[u8]| {
            record::encoded_bytes(job.len(), key.len(), value.len())
        };
        assert_eq!(
            rec.segment.jobs.get("cpu-1").copied(),
            Some(size("cpu-1", b"h/cpu", &run)),
            "the job is read from the run"
        );
        assert_eq!(
            rec.segment.jobs.get("").copied(),
            Some(size("", b"h/mem", b"x"))
        );
    }
}
