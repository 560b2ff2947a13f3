//! Compiled components are cached on disk by content hash, and a damaged cache entry is
//! recompiled rather than trusted.

mod common;

use std::ffi::OsStr;

use sha2::{Digest, Sha256};

#[test]
fn compiled_component_is_cached_by_content_hash_and_damage_is_survived() {
    let dir = common::scratch();
    let cache = dir.path().join("cache");
    let wasm = common::probe("memory");
    let sha = hex::encode(Sha256::digest(std::fs::read(&wasm).expect("read probe")));
    let describe = || {
        common::host_stdout(
            &cache,
            [
                OsStr::new("probes"),
                OsStr::new("describe"),
                wasm.as_os_str(),
            ],
        )
    };
    let first = describe();
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .expect("cache dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    let file_name = entry
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert!(
        file_name.starts_with(&sha) && file_name.ends_with(".cwasm"),
        "{file_name}"
    );

    // From the cache: same answer.
    assert_eq!(describe(), first);
    // A damaged entry is replaced, not trusted.
    std::fs::write(entry, b"not a compiled component").expect("damage cache");
    assert_eq!(describe(), first);
    assert!(
        std::fs::metadata(entry).expect("entry").len() > 1000,
        "entry rewritten"
    );
}
