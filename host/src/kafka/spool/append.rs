//! Appending to the spool: the fair-share check, the size cap, rolling segments, and
//! writes that leave no torn record when they fail.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::record::{self, SyncMarker};
use super::segment::{self, Segment, SEGMENT_HEADER_BYTES};
use super::{create_private_file, io_err, share, Appended, Spool, SpoolError};

impl Spool {
    /// Append one message of `job`: stored, or refused because the job is over its share
    /// of the spool (see [`share`]). Beyond the size cap the oldest segments are dropped.
    /// An error means the message is not in the spool and nothing of it is on disk.
    pub fn append(&mut self, job: &str, key: &[u8], value: &[u8]) -> Result<Appended, SpoolError> {
        let len = record::check(job, key, value)?;
        let mut buf = Vec::with_capacity(len as usize);
        let jobs = self.ledger.jobs_counting(job);
        let job_bytes = self.ledger.of(job);
        if !share::admits(self.total_bytes, self.max_bytes, job_bytes, jobs, len) {
            return Ok(Appended::OverShare {
                job_bytes,
                share_bytes: self.max_bytes / jobs,
            });
        }
        let mut evicted = 0;
        loop {
            let header = if self.needs_new_segment(len) {
                SEGMENT_HEADER_BYTES
            } else {
                0
            };
            if self.total_bytes + len + header <= self.max_bytes || self.segments.is_empty() {
                break;
            }
            evicted += self.drop_oldest_segment()?;
        }
        if self.needs_new_segment(len) {
            self.start_segment()?;
        }
        if let Err(first) = self.write_record(job, key, value, &mut buf) {
            // Retry in a fresh file (a per-file limit, a bad block), unless this one was fresh.
            if self.segments.back().is_none_or(|s| s.end_seq == s.base_seq) {
                return Err(first);
            }
            self.start_segment()?;
            self.write_record(job, key, value, &mut buf)?;
        }
        let seq = self.next_seq;
        let seg = self.segments.back_mut().unwrap_or_else(|| unreachable!());
        if !seg.counted {
            // All of it was delivered; it holds undelivered runs again from now.
            self.ledger.add_all(&seg.jobs);
            seg.counted = true;
        }
        *seg.jobs.entry(job.to_owned()).or_default() += len;
        seg.end_seq = seq + 1;
        seg.bytes += len;
        self.ledger.add(job, len);
        self.total_bytes += len;
        self.unsynced = true;
        self.dirty_since.get_or_insert_with(std::time::Instant::now);
        self.next_seq += 1;
        Ok(Appended::Stored { seq, evicted })
    }

    fn needs_new_segment(&self, len: u64) -> bool {
        match (self.segments.back(), &self.active) {
            (Some(last), Some(_)) => {
                last.end_seq > last.base_seq && last.bytes + len > self.segment_bytes
            }
            _ => true,
        }
    }

    /// Write one record at the end of the active segment. On failure cut the file back to
    /// its last whole record; if even that fails the remains lie beyond `bytes`, where
    /// the next write goes and where no reader looks.
    fn write_record(
        &mut self,
        job: &str,
        key: &[u8],
        value: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<(), SpoolError> {
        let (Some(file), Some(seg)) = (self.active.as_ref(), self.segments.back()) else {
            unreachable!("start_segment sets the active segment");
        };
        buf.clear();
        record::encode(&seg.sync, self.next_seq, job, key, value, buf)?;
        #[cfg(test)]
        let written = match self.faults.pop_front() {
            Some(fault) => fault.apply(file, buf, seg.bytes),
            None => file.write_all_at(buf, seg.bytes),
        };
        #[cfg(not(test))]
        let written = file.write_all_at(buf, seg.bytes);
        if let Err(e) = written {
            let _ = file.set_len(seg.bytes);
            return Err(io_err(&seg.path)(e));
        }
        Ok(())
    }

    fn start_segment(&mut self) -> Result<(), SpoolError> {
        if self
            .segments
            .back()
            .is_some_and(|s| s.end_seq == s.base_seq && s.base_seq == self.next_seq)
        {
            // An empty segment under the same name: start it afresh.
            if let Some(empty) = self.segments.pop_back() {
                self.total_bytes -= empty.bytes;
                let _ = fs::remove_file(&empty.path);
            }
        }
        let sync: SyncMarker = rand::random();
        let path = self.dir.join(segment::file_name(self.next_seq));
        let file = create_segment_file(&path, &sync).map_err(io_err(&path))?;
        if let (Some(old), Some(seg)) = (self.active.take(), self.segments.back()) {
            old.sync_data().map_err(io_err(&seg.path))?;
        }
        let mut seg = Segment::new(path, self.next_seq, sync);
        seg.counted = true;
        self.total_bytes += seg.bytes;
        self.segments.push_back(seg);
        self.active = Some(file);
        Ok(())
    }

    /// Remove the oldest segment; returns how many unacknowledged messages went with it.
    pub(super) fn drop_oldest_segment(&mut self) -> Result<u64, SpoolError> {
        let Some(seg) = self.segments.pop_front() else {
            return Ok(0);
        };
        let lost_from = seg.base_seq.max(self.cursor);
        let lost = if lost_from < seg.end_seq {
            seg.end_seq - lost_from - self.acked_ahead.range(lost_from..seg.end_seq).count() as u64
        } else {
            0
        };
        if seg.counted {
            self.ledger.remove_all(&seg.jobs);
        }
        self.acked_ahead = self.acked_ahead.split_off(&seg.end_seq);
        self.cursor = self.cursor.max(seg.end_seq);
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
}

fn create_segment_file(path: &Path, sync: &SyncMarker) -> io::Result<File> {
    let mut file = create_private_file(path)?;
    if let Err(e) = file.write_all(&segment::header(sync)) {
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(file)
}
