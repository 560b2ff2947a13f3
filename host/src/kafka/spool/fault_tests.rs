//! The spool's faults: failed writes, damaged records, a segment of the previous format,
//! file modes.

use std::os::unix::fs::PermissionsExt;

use super::*;

/// Flip one byte inside the body of record `seq` of the segment at `path`.
fn damage(path: &Path, seq_offset_in_segment: usize, value_len: usize) {
    let mut bytes = fs::read(path).unwrap();
    let rec = record_bytes(&"x".repeat(value_len)) as usize;
    let at = SEGMENT_HEADER_BYTES as usize + seq_offset_in_segment * rec + rec - 2;
    bytes[at] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_failed_write_leaves_no_torn_record_and_is_retried_in_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path(), 1 << 20, 1 << 20);
    append(&mut s, "m0");
    append(&mut s, "m1");
    let first = s.segments.back().unwrap().path.clone();
    let good_len = fs::metadata(&first).unwrap().len();
    s.faults.push_back(WriteFault { written: 20 });
    assert_eq!(append(&mut s, "m2"), 2, "retried and stored");
    assert_eq!(fs::metadata(&first).unwrap().len(), good_len, "cut back");
    assert_eq!(s.segments.len(), 2, "the retry went to a new segment");
    append(&mut s, "m3");
    drop(s);
    let (mut s, rec) = open(dir.path(), 1 << 20, 1 << 20);
    assert_eq!(rec.torn_bytes, 0);
    assert_eq!(values(&read_all(&mut s)), ["m0", "m1", "m2", "m3"]);
}

#[test]
fn a_write_that_fails_twice_is_an_error_and_costs_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path(), 1 << 20, 1 << 20);
    append(&mut s, "m0");
    s.faults.push_back(WriteFault { written: 40 });
    s.faults.push_back(WriteFault { written: 3 });
    let err = s.append("job", b"h/p", b"lost").unwrap_err().to_string();
    assert!(err.contains("injected"), "{err}");
    assert_eq!(
        append(&mut s, "m1"),
        1,
        "the lost run took no sequence number"
    );
    let bytes: u64 = s.segments.iter().map(|seg| seg.bytes).sum();
    let on_disk: u64 = s
        .segments
        .iter()
        .map(|seg| fs::metadata(&seg.path).unwrap().len())
        .sum();
    assert_eq!(bytes, on_disk, "no remains of the failed writes");
    drop(s);
    let (mut s, rec) = open(dir.path(), 1 << 20, 1 << 20);
    assert_eq!((rec.torn_bytes, rec.lost), (0, 0));
    assert_eq!(values(&read_all(&mut s)), ["m0", "m1"]);
}

#[test]
fn a_damaged_record_mid_segment_costs_only_itself_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = {
        let (mut s, _) = open(dir.path(), 1 << 20, 1 << 20);
        for i in 0..10 {
            append(&mut s, &format!("m{i}"));
        }
        s.segments.back().unwrap().path.clone()
    };
    damage(&path, 4, 2);
    let (mut s, rec) = open(dir.path(), 1 << 20, 1 << 20);
    assert_eq!(rec.lost, 1);
    assert_eq!(rec.damaged_bytes, record_bytes("m4"));
    assert_eq!(rec.torn_bytes, 0);
    assert_eq!(rec.pending, 9);
    let got = read_all(&mut s);
    assert_eq!(
        values(&got),
        ["m0", "m1", "m2", "m3", "m5", "m6", "m7", "m8", "m9"]
    );
    assert_eq!(got[4].0, 5, "records keep their sequence numbers");
    assert_eq!(append(&mut s, "m10"), 10);
}

#[test]
fn every_other_record_damaged_delivers_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = {
        let (mut s, _) = open(dir.path(), 1 << 20, 1 << 20);
        for i in 0..20 {
            append(&mut s, &format!("m{i:02}"));
        }
        s.segments.back().unwrap().path.clone()
    };
    for i in (1..20).step_by(2) {
        damage(&path, i, 3);
    }
    let (mut s, rec) = open(dir.path(), 1 << 20, 1 << 20);
    // The last record is damaged too: from the end of the file that looks like a torn write.
    assert_eq!((rec.lost, rec.pending), (9, 10));
    let want: Vec<String> = (0..20).step_by(2).map(|i| format!("m{i:02}")).collect();
    assert_eq!(values(&read_all(&mut s)), want);
}

#[test]
fn damage_found_while_delivering_costs_only_those_records() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = open(dir.path(), 1 << 20, 1 << 20);
    for i in 0..6 {
        append(&mut s, &format!("m{i}"));
    }
    damage(&s.segments.back().unwrap().path.clone(), 2, 2);
    assert_eq!(values(&read_all(&mut s)), ["m0", "m1", "m3", "m4", "m5"]);
    assert_eq!(s.take_lost(), 1);
    assert_eq!(s.pending(), 5, "the lost one is no longer waited for");
}

#[test]
fn a_segment_of_the_previous_format_is_converted_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let old = legacy::tests::format_1(&[
        (b"h/cpu", br#"{"job":"cpu","n":0}"#),
        (b"h/cpu", br#"{"job":"cpu","n":1}"#),
        (b"h/mem", br#"{"job":"mem","n":2}"#),
    ]);
    fs::write(dir.path().join(segment::file_name(7)), old).unwrap();
    fs::write(dir.path().join("cursor"), "8\n").unwrap();
    // The previous release's lock file: a pid, no flock held.
    fs::write(dir.path().join("lock"), "4294967294\n").unwrap();
    let (mut s, rec) = open(dir.path(), 1 << 20, 1 << 20);
    assert_eq!((rec.converted, rec.pending, rec.torn_bytes), (1, 2, 0));
    let got = read_all(&mut s);
    assert_eq!(
        got,
        [
            (8, r#"{"job":"cpu","n":1}"#.to_string()),
            (9, r#"{"job":"mem","n":2}"#.to_string())
        ]
    );
    assert_eq!(append(&mut s, "new"), 10);
    drop(s);
    let (_, rec) = open(dir.path(), 1 << 20, 1 << 20);
    assert_eq!((rec.converted, rec.pending), (0, 3), "converted once");
}

#[test]
fn files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("a/b/spool");
    let (mut s, _) = open(&spool_dir, 1 << 20, 1 << 20);
    append(&mut s, "m0");
    s.ack(0);
    s.sync().unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&spool_dir), 0o700);
    assert_eq!(mode(&dir.path().join("a")), 0o700);
    for name in ["lock", "cursor", &segment::file_name(0)] {
        assert_eq!(mode(&spool_dir.join(name)), 0o600, "{name}");
    }
}
