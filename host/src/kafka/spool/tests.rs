use std::fs;
use std::io::Write;
use std::os::unix::fs::FileExt;

use super::segment::SEGMENT_HEADER_BYTES;
use super::*;

/// An injected failure of one segment write: `written` bytes reach the file, then the
/// write fails as a full disk would make it.
#[derive(Debug, Clone, Copy)]
pub struct WriteFault {
    pub written: usize,
}

impl WriteFault {
    pub fn apply(self, file: &File, buf: &[u8], at: u64) -> io::Result<()> {
        file.write_all_at(&buf[..self.written.min(buf.len())], at)?;
        Err(io::Error::new(io::ErrorKind::StorageFull, "injected"))
    }
}

pub(super) fn open(dir: &Path, max_bytes: u64, segment_bytes: u64) -> (Spool, Recovery) {
    Spool::open(dir, max_bytes, segment_bytes).expect("open spool")
}

pub(super) fn append_as(s: &mut Spool, job: &str, v: &str) -> Appended {
    s.append(job, b"h/p", v.as_bytes()).expect("append")
}

pub(super) fn append(s: &mut Spool, v: &str) -> u64 {
    match append_as(s, "job", v) {
        Appended::Stored { seq, .. } => seq,
        other => panic!("not stored: {other:?}"),
    }
}

pub(super) fn read_all(s: &mut Spool) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    while let Some((seq, r)) = s.read_next().expect("read") {
        out.push((seq, String::from_utf8(r.value).expect("utf8")));
    }
    out
}

pub(super) fn values(v: &[(u64, String)]) -> Vec<&str> {
    v.iter().map(|(_, s)| s.as_str()).collect()
}

pub(super) fn record_bytes(v: &str) -> u64 {
    record::encoded_bytes(3, 3, v.len())
}

#[test]
fn append_read_ack_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, rec) = open(dir.path(), 1 << 20, 128);
    assert_eq!(rec, Recovery::default());
    for i in 0..10 {
        assert_eq!(append(&mut s, &format!("m{i}")), i);
    }
    let got = read_all(&mut s);
    assert_eq!(
        values(&got),
        (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    assert!(s.segments.len() > 1, "small segment size rolls segments");
    assert_eq!(s.pending(), 10);
    for seq in [3, 0, 1, 2] {
        s.ack(seq);
    }
    assert_eq!(s.cursor, 4);
    assert_eq!(s.pending(), 6);
}

#[test]
fn rewind_skips_acknowledged_messages() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path(), 1 << 20, 1 << 20);
    for i in 0..6 {
        append(&mut s, &format!("m{i}"));
    }
    read_all(&mut s);
    // 1 failed; 0, 2 and 4 were delivered (other partitions).
    for seq in [0, 2, 4] {
        s.ack(seq);
    }
    s.rewind();
    assert_eq!(values(&read_all(&mut s)), ["m1", "m3", "m5"]);
}

#[test]
fn new_messages_are_read_after_the_spooled_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path(), 1 << 20, 100);
    append(&mut s, "a");
    assert_eq!(values(&read_all(&mut s)), ["a"]);
    append(&mut s, "b");
    append(&mut s, "c");
    assert_eq!(values(&read_all(&mut s)), ["b", "c"]);
}

#[test]
fn the_cursor_is_rewritten_in_place_and_read_back_whatever_its_width() {
    let dir = tempfile::tempdir().unwrap();
    let cursor_file = dir.path().join(CURSOR_FILE);
    {
        let (mut s, _) = open(dir.path(), 1 << 20, 1 << 20);
        for i in 0..12 {
            append(&mut s, &format!("m{i}"));
        }
        assert!(s.dirty_since().is_some());
        for seq in 0..10 {
            s.ack(seq);
            s.sync().unwrap();
        }
        assert_eq!(s.dirty_since(), None, "a sync leaves nothing to sync");
        assert_eq!(
            fs::read_to_string(&cursor_file).unwrap(),
            "00000000000000000010\n"
        );
    }
    let (mut s, rec) = open(dir.path(), 1 << 20, 1 << 20);
    assert_eq!(rec.pending, 2);
    assert_eq!(values(&read_all(&mut s)), ["m10", "m11"]);
    drop(s);
    // A cursor written by an earlier version (no padding) is read the same way, and the
    // next save replaces all of it.
    fs::write(&cursor_file, "11\n").unwrap();
    let (mut s, rec) = open(dir.path(), 1 << 20, 1 << 20);
    assert_eq!(rec.pending, 1);
    s.ack(11);
    s.sync().unwrap();
    assert_eq!(
        fs::read_to_string(&cursor_file).unwrap(),
        "00000000000000000012\n"
    );
}

#[test]
fn records_kafka_acknowledged_before_the_sync_are_not_flushed_to_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path(), 1 << 20, 1 << 20);
    for i in 0..3 {
        append(&mut s, &format!("m{i}"));
    }
    for seq in 0..3 {
        s.ack(seq);
    }
    s.sync().unwrap();
    assert_eq!(s.data_syncs, 0, "everything appended was delivered");
    append(&mut s, "m3");
    append(&mut s, "m4");
    s.ack(4);
    s.sync().unwrap();
    assert_eq!(
        s.data_syncs, 1,
        "m3 is not delivered: the segment is flushed"
    );
    s.ack(3);
    s.sync().unwrap();
    assert_eq!(s.data_syncs, 1, "only the cursor changed");
    drop(s);
    let (_, rec) = open(dir.path(), 1 << 20, 1 << 20);
    assert_eq!(rec.pending, 0);
}

#[test]
fn restart_replays_only_unacknowledged() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut s, _) = open(dir.path(), 1 << 20, 100);
        for i in 0..8 {
            append(&mut s, &format!("m{i}"));
        }
        for seq in 0..5 {
            s.ack(seq);
        }
        s.ack(6);
        s.sync().unwrap();
        // Not synced after this ack: a restart sends 5..8 again except nothing is lost.
        s.ack(5);
    }
    let (mut s, rec) = open(dir.path(), 1 << 20, 100);
    assert_eq!(rec.pending, 3);
    assert_eq!(values(&read_all(&mut s)), ["m5", "m6", "m7"]);
    assert_eq!(
        append(&mut s, "next"),
        8,
        "sequence numbers continue after restart"
    );
}

#[test]
fn sync_deletes_acknowledged_segments_but_keeps_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path(), 1 << 20, 100);
    for i in 0..6 {
        append(&mut s, &format!("m{i}"));
    }
    for seq in 0..6 {
        s.ack(seq);
    }
    s.sync().unwrap();
    assert_eq!(
        s.segments.len(),
        1,
        "only the segment being written remains"
    );
    drop(s);
    let (mut s, rec) = open(dir.path(), 1 << 20, 100);
    assert_eq!(rec.pending, 0);
    assert_eq!(append(&mut s, "x"), 6);
}

#[test]
fn torn_last_record_is_cut_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (path, sync) = {
        let (mut s, _) = open(dir.path(), 1 << 20, 1 << 20);
        append(&mut s, "whole-1");
        append(&mut s, "whole-2");
        let last = s.segments.back().unwrap();
        (last.path.clone(), last.sync)
    };
    // Half a record, as a kill -9 in the middle of write(2) would leave.
    let mut half = Vec::new();
    record::encode(&sync, 2, "job", b"h/p", b"never-finished", &mut half).unwrap();
    half.truncate(half.len() / 2);
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&half)
        .unwrap();

    let (mut s, rec) = open(dir.path(), 1 << 20, 1 << 20);
    assert_eq!(
        rec,
        Recovery {
            pending: 2,
            torn_bytes: half.len() as u64,
            ..Recovery::default()
        }
    );
    append(&mut s, "after-restart");
    assert_eq!(
        values(&read_all(&mut s)),
        ["whole-1", "whole-2", "after-restart"]
    );
}

#[test]
fn cap_drops_oldest_segments_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let rec = record_bytes("m00");
    let seg = SEGMENT_HEADER_BYTES + 2 * rec;
    // Two records a segment, at most three segments in the spool.
    let (mut s, _) = open(dir.path(), 3 * seg, seg);
    let mut evicted = 0;
    for i in 0..10 {
        match append_as(&mut s, "job", &format!("m{i:02}")) {
            Appended::Stored { evicted: e, .. } => evicted += e,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(evicted, 4);
    assert!(s.bytes() <= 3 * seg);
    assert_eq!(s.pending(), 6);
    assert_eq!(
        values(&read_all(&mut s)),
        ["m04", "m05", "m06", "m07", "m08", "m09"]
    );
}

#[test]
fn cap_does_not_count_acknowledged_messages_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path(), 300, 150);
    for i in 0..20 {
        match append_as(&mut s, "job", &format!("v{i}")) {
            Appended::Stored { seq, evicted } => {
                assert_eq!(evicted, 0);
                s.ack(seq);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(s.pending(), 0);
}

#[test]
fn reader_survives_its_segment_being_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let seg = SEGMENT_HEADER_BYTES + record_bytes("a");
    let (mut s, _) = open(dir.path(), 2 * seg, seg);
    append(&mut s, "a");
    assert_eq!(s.read_next().unwrap().map(|(q, _)| q), Some(0));
    for v in ["b", "c", "d", "e", "f", "g"] {
        append(&mut s, v);
    }
    let got = read_all(&mut s);
    assert!(
        got.first().is_some_and(|(seq, _)| *seq > 1),
        "skipped dropped messages: {got:?}"
    );
    assert_eq!(got.last().map(|(_, v)| v.as_str()), Some("g"));
}

#[test]
fn a_flooding_job_loses_its_own_runs_not_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let rec = record_bytes("n000");
    let (mut s, _) = open(dir.path(), 200 * rec, 10 * rec);
    let mut normal = Vec::new();
    let mut refused = 0;
    for i in 0..2000 {
        match append_as(&mut s, "flood", &format!("f{:03}", i % 1000)) {
            Appended::Stored { evicted, .. } => assert_eq!(evicted, 0, "run {i}"),
            Appended::OverShare { .. } => refused += 1,
        }
        if i % 40 == 0 {
            let run = format!("n{:03}", i / 40);
            let Appended::Stored { evicted: 0, .. } = append_as(&mut s, "normal", &run) else {
                panic!("the normal job's run {run} was not stored without loss");
            };
            normal.push(run);
        }
    }
    assert!(
        refused > 1000,
        "the flood was held back ({refused} refused)"
    );
    assert!(s.bytes() <= 200 * rec);
    let got = read_all(&mut s);
    let kept: Vec<&str> = values(&got)
        .into_iter()
        .filter(|v| v.starts_with('n'))
        .collect();
    assert_eq!(kept, normal, "every run of the normal job survives");
}

#[test]
fn share_ledger_follows_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let rec = record_bytes("v0");
    let (mut s, _) = open(dir.path(), 1 << 20, 4 * rec + SEGMENT_HEADER_BYTES);
    for i in 0..8 {
        append(&mut s, &format!("v{i}"));
    }
    assert_eq!(s.ledger.of("job"), 8 * rec);
    for seq in 0..4 {
        s.ack(seq);
    }
    assert_eq!(
        s.ledger.of("job"),
        4 * rec,
        "a delivered segment leaves the ledger"
    );
    for seq in 4..8 {
        s.ack(seq);
    }
    assert_eq!(s.ledger.of("job"), 0);
    append(&mut s, "v8");
    assert!(s.ledger.of("job") >= rec);
}

#[path = "fault_tests.rs"]
mod fault_tests;
