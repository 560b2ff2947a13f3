use std::fs::OpenOptions;
use std::io::Write;

use super::*;

fn open(dir: &Path, max_bytes: u64, segment_bytes: u64) -> (Spool, Recovery) {
    Spool::open(dir, max_bytes, segment_bytes).expect("open spool")
}

fn append(s: &mut Spool, v: &str) -> u64 {
    s.append(b"h/p", v.as_bytes()).expect("append").0
}

fn read_all(s: &mut Spool) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    while let Some((seq, r)) = s.read_next().expect("read") {
        out.push((seq, String::from_utf8(r.value).expect("utf8")));
    }
    out
}

fn values(v: &[(u64, String)]) -> Vec<&str> {
    v.iter().map(|(_, s)| s.as_str()).collect()
}

#[test]
fn append_read_ack_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, rec) = open(dir.path(), 1 << 20, 64);
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
    let (mut s, _) = open(dir.path(), 1 << 20, 32);
    append(&mut s, "a");
    assert_eq!(values(&read_all(&mut s)), ["a"]);
    append(&mut s, "b");
    append(&mut s, "c");
    assert_eq!(values(&read_all(&mut s)), ["b", "c"]);
}

#[test]
fn restart_replays_only_unacknowledged() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut s, _) = open(dir.path(), 1 << 20, 40);
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
    let (mut s, rec) = open(dir.path(), 1 << 20, 40);
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
    let (mut s, _) = open(dir.path(), 1 << 20, 30);
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
    let (mut s, rec) = open(dir.path(), 1 << 20, 30);
    assert_eq!(rec.pending, 0);
    assert_eq!(append(&mut s, "x"), 6);
}

#[test]
fn torn_last_record_is_cut_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let path;
    {
        let (mut s, _) = open(dir.path(), 1 << 20, 1 << 20);
        append(&mut s, "whole-1");
        append(&mut s, "whole-2");
        path = s.segments.back().unwrap().path.clone();
    }
    // Half a record, as a kill -9 in the middle of write(2) would leave.
    let mut half = Vec::new();
    record::encode(b"h/p", b"never-finished", &mut half).unwrap();
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&half[..half.len() / 2])
        .unwrap();

    let (mut s, rec) = open(dir.path(), 1 << 20, 1 << 20);
    assert_eq!(
        rec,
        Recovery {
            pending: 2,
            torn_bytes: (half.len() / 2) as u64
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
    let rec_bytes = {
        let mut b = Vec::new();
        record::encode(b"h/p", b"m00", &mut b).unwrap();
        b.len() as u64
    };
    // Two records a segment, at most six records in the spool.
    let (mut s, _) = open(dir.path(), 6 * rec_bytes, 2 * rec_bytes);
    let mut dropped = 0;
    for i in 0..10 {
        dropped += s.append(b"h/p", format!("m{i:02}").as_bytes()).unwrap().1;
    }
    assert_eq!(dropped, 4);
    assert!(s.bytes() <= 6 * rec_bytes);
    assert_eq!(s.pending(), 6);
    assert_eq!(
        values(&read_all(&mut s)),
        ["m04", "m05", "m06", "m07", "m08", "m09"]
    );
}

#[test]
fn cap_does_not_count_acknowledged_messages_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path(), 100, 50);
    let mut dropped = 0;
    for i in 0..20 {
        let (seq, d) = s.append(b"k", format!("v{i}").as_bytes()).unwrap();
        dropped += d;
        s.ack(seq);
    }
    assert_eq!(dropped, 0);
    assert_eq!(s.pending(), 0);
}

#[test]
fn reader_survives_its_segment_being_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path(), 60, 30);
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
