//! Properties of the spool's record reader (disk → spool is a trust boundary: the bytes
//! may be damaged in any way): no input makes it panic or read beyond the data, records
//! round-trip, and damage costs exactly the records it touches.

use std::io::Cursor;

use proptest::prelude::*;

use super::record::{encode, Record, SyncMarker};
use super::scan::{Scanned, Scanner};
use super::segment::{self, SEGMENT_HEADER_BYTES};

const SYNC: SyncMarker = *b"\x9bS\x00y\xffN\x11c";

fn scan_all(bytes: &[u8], start: u64) -> Vec<Record> {
    let mut scanner =
        Scanner::new(Cursor::new(bytes), SYNC, start, bytes.len() as u64).expect("seek in memory");
    let mut out = Vec::new();
    // Each step consumes at least one byte: more steps than bytes would be a loop.
    for _ in 0..=bytes.len() {
        match scanner.next().expect("reads from memory do not fail") {
            Scanned::Record { record, .. } => out.push(record),
            Scanned::End { .. } => return out,
        }
    }
    panic!("scanner did not reach the end of {} bytes", bytes.len());
}

fn record() -> impl Strategy<Value = (String, Vec<u8>, Vec<u8>)> {
    (
        "[a-z-]{0,12}",
        prop::collection::vec(any::<u8>(), 0..24),
        prop::collection::vec(any::<u8>(), 0..300),
    )
}

/// A segment image of `records` numbered from 0; returns it and each record's byte range.
fn segment_of(records: &[(String, Vec<u8>, Vec<u8>)]) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
    let mut bytes = segment::header(&SYNC).to_vec();
    let mut ranges = Vec::new();
    for (seq, (job, key, value)) in records.iter().enumerate() {
        let start = bytes.len();
        encode(&SYNC, seq as u64, job, key, value, &mut bytes).expect("sizes are small");
        ranges.push(start..bytes.len());
    }
    (bytes, ranges)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_nor_yield_unchecked_records(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        with_marker in prop::collection::vec(0usize..2048, 0..8),
    ) {
        // Sprinkle the marker in, so the resync path is taken, not only the search.
        let mut bytes = bytes;
        for at in with_marker {
            if at + SYNC.len() <= bytes.len() {
                bytes[at..at + SYNC.len()].copy_from_slice(&SYNC);
            }
        }
        for rec in scan_all(&bytes, 0) {
            // Only a record whose encoding is really there can come out.
            let mut again = Vec::new();
            encode(&SYNC, rec.seq, &rec.job, &rec.key, &rec.value, &mut again).unwrap();
            prop_assert!(bytes.windows(again.len()).any(|w| w == again.as_slice()));
        }
    }

    #[test]
    fn records_round_trip(records in prop::collection::vec(record(), 0..20)) {
        let (bytes, _) = segment_of(&records);
        let got = scan_all(&bytes, SEGMENT_HEADER_BYTES);
        prop_assert_eq!(got.len(), records.len());
        for (i, (rec, (job, key, value))) in got.iter().zip(&records).enumerate() {
            prop_assert_eq!(rec.seq, i as u64);
            prop_assert_eq!((&rec.job, &rec.key, &rec.value), (job, key, value));
        }
    }

    #[test]
    fn damage_costs_exactly_the_records_it_touches(
        records in prop::collection::vec(record(), 1..20),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..6),
    ) {
        let (original, ranges) = segment_of(&records);
        let mut bytes = original.clone();
        let body = SEGMENT_HEADER_BYTES as usize..bytes.len();
        for (index, xor) in flips {
            bytes[body.start + index.index(body.len())] ^= xor;
        }
        // Two flips of one byte may cancel out: compare instead of counting flips.
        let touched: Vec<bool> = ranges
            .iter()
            .map(|r| bytes[r.clone()] != original[r.clone()])
            .collect();
        let got: Vec<u64> = scan_all(&bytes, SEGMENT_HEADER_BYTES)
            .iter()
            .map(|r| r.seq)
            .collect();
        let want: Vec<u64> = (0..records.len() as u64)
            .filter(|&i| !touched[i as usize])
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn a_header_claiming_a_huge_length_allocates_nothing_it_cannot_read(
        value_len in any::<u32>(),
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        // A header that passes its CRC (as a crafted one would) but claims up to 4 GiB.
        let mut raw = Vec::new();
        encode(&SYNC, 0, "", b"", b"", &mut raw).unwrap();
        raw[20..24].copy_from_slice(&value_len.to_le_bytes());
        let crc = crc32fast::hash(&raw[..28]);
        raw[28..32].copy_from_slice(&crc.to_le_bytes());
        raw.extend_from_slice(&tail);
        // Nothing fits in 64 bytes but an empty value; none may be returned otherwise.
        let got = scan_all(&raw, 0);
        prop_assert!(got.iter().all(|r| r.value.len() <= tail.len()));
    }
}
