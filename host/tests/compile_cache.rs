//! Compiled components are cached on disk by content hash. The cache is native code the
//! host runs: it lives in a directory only the host's user can write (created 0700,
//! entries 0600), an unsafe directory is named once and not used, and a truncated,
//! garbage or damaged entry is recompiled rather than trusted.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// `host probes describe` of the memory probe: (stdout, stderr), asserting success.
fn describe(cache: &Path, wasm: &Path) -> (String, String) {
    let d = common::probes_describe(cache, None, wasm);
    (d.ok().to_string(), d.stderr)
}

fn entries(cache: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(cache)
        .expect("cache dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").mode() & 0o7777
}

#[test]
fn cache_is_private_keyed_by_content_and_damaged_entries_are_recompiled() {
    let dir = common::scratch();
    let cache = dir.path().join("deeper").join("cache");
    let wasm = common::probe("memory");
    let sha = hex::encode(Sha256::digest(std::fs::read(&wasm).expect("read probe")));

    let (first, _) = describe(&cache, &wasm);
    assert_eq!(mode(&cache), 0o700, "cache directory mode");
    let found = entries(&cache);
    assert_eq!(found.len(), 1, "{found:?}");
    let entry = found[0].clone();
    let file_name = entry
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert!(
        file_name.starts_with(&sha) && file_name.ends_with(".cwasm"),
        "{file_name}"
    );
    assert_eq!(mode(&entry), 0o600, "cache entry mode");
    let good = std::fs::read(&entry).expect("read entry");

    // From the cache: same answer, and the entry is not rewritten.
    let inode = std::fs::metadata(&entry).expect("stat").ino();
    assert_eq!(describe(&cache, &wasm).0, first);
    assert_eq!(
        std::fs::metadata(&entry).expect("stat").ino(),
        inode,
        "entry rewritten"
    );

    // Garbage, a truncated entry and one damaged in the middle of its code (its header
    // intact) are all recompiled and replaced by a good entry.
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    let damaged: [(&str, Vec<u8>); 4] = [
        ("garbage", b"not a compiled component".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("header only", good[..40].to_vec()),
        ("one byte flipped", flipped),
    ];
    for (what, bytes) in damaged {
        std::fs::write(&entry, &bytes).expect("damage the entry");
        let (out, stderr) = describe(&cache, &wasm);
        assert_eq!(out, first, "{what}: describe after damage");
        assert!(stderr.contains("recompiling"), "{what}: {stderr}");
        assert_eq!(
            std::fs::read(&entry).expect("read entry"),
            good,
            "{what}: entry not rewritten"
        );
    }
}

#[test]
fn a_cache_directory_others_can_write_is_not_used() {
    let dir = common::scratch();
    let wasm = common::probe("memory");
    let cases: [(&str, u32, Option<u32>, &str); 3] = [
        ("world-writable", 0o777, None, "mode 0777"),
        ("group-writable", 0o770, None, "mode 0770"),
        ("someone else's", 0o700, Some(4242), "owned by uid 4242"),
    ];
    for (what, dir_mode, owner, text) in cases {
        let cache = dir.path().join(what.replace(' ', "-"));
        std::fs::create_dir(&cache).expect("create cache dir");
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(dir_mode)).expect("chmod");
        if let Some(uid) = owner {
            std::os::unix::fs::chown(&cache, Some(uid), None).expect("chown (tests run as root)");
        }
        let (out, stderr) = describe(&cache, &wasm);
        assert!(out.contains("name: memory"), "{what}: {out}");
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("compiled-component cache"))
            .collect();
        assert_eq!(warnings.len(), 1, "{what}: one warning expected:\n{stderr}");
        assert!(
            warnings[0].contains(&cache.display().to_string()) && warnings[0].contains(text),
            "{what}: the warning names the directory and why: {}",
            warnings[0]
        );
        assert!(entries(&cache).is_empty(), "{what}: an entry was written");
        assert_eq!(mode(&cache), dir_mode, "{what}: the host changed the mode");
    }
}
