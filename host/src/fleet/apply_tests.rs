use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use super::*;
use crate::fleet::bundle::{seal, Metadata, Target, METADATA_FORMAT};

const MAX: u64 = 1024 * 1024;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn bundle(job: &str, version: u64, component: &[u8], target: Target) -> Vec<u8> {
    let meta = Metadata {
        format: METADATA_FORMAT,
        job: job.into(),
        version,
        action: Action::Run,
        component_sha256: hex::encode(Sha256::digest(component)),
        component_bytes: component.len() as u64,
        target,
        job_toml: "interval_ms = 1000\n".into(),
    };
    seal(&meta, component, &key())
}

fn stop(job: &str, version: u64) -> Vec<u8> {
    let meta = Metadata {
        format: METADATA_FORMAT,
        job: job.into(),
        version,
        action: Action::Stop,
        component_sha256: String::new(),
        component_bytes: 0,
        target: all(),
        job_toml: String::new(),
    };
    seal(&meta, &[], &key())
}

fn all() -> Target {
    Target {
        percent: 100,
        ..Target::default()
    }
}

fn open_fleet(dir: &std::path::Path, hostname: &str) -> Fleet {
    Fleet::open(
        StateDir::open(dir).unwrap(),
        TrustedKeys::new([key().verifying_key()]),
        hostname.into(),
        [("env".to_string(), "prod".to_string())].into(),
        Defaults::default(),
        MAX,
    )
    .unwrap()
}

fn running(f: &Fleet) -> Vec<(String, u64)> {
    f.jobs()
        .into_iter()
        .map(|j| (j.spec.name, j.version))
        .collect()
}

#[test]
fn newer_wins_older_is_a_replay_and_rollback_is_a_newer_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = open_fleet(dir.path(), "web-1");
    let v1 = bundle("cpu", 1, b"one", all());
    assert_eq!(f.apply(Some(&v1), 0, 0), Outcome::Taken { changed: true });
    assert_eq!(f.apply(Some(&v1), 0, 1), Outcome::Duplicate);
    let v2 = bundle("cpu", 2, b"two", all());
    assert_eq!(f.apply(Some(&v2), 0, 2), Outcome::Taken { changed: true });
    assert_eq!(f.apply(Some(&v1), 0, 3), Outcome::Refused("replay".into()));
    let other_v2 = bundle("cpu", 2, b"other", all());
    assert_eq!(
        f.apply(Some(&other_v2), 0, 4),
        Outcome::Refused("replay".into())
    );
    let rollback = bundle("cpu", 3, b"one", all());
    assert_eq!(
        f.apply(Some(&rollback), 0, 5),
        Outcome::Taken { changed: true }
    );
    let jobs = f.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].sha256, hex::encode(Sha256::digest(b"one")));
    assert_eq!(jobs[0].version, 3);
    assert_eq!(f.counters.refused("replay"), 2);
    assert_eq!(f.counters.accepted(), 3);
    assert_eq!(f.offsets().get(&0), Some(&6));
}

#[test]
fn a_canary_elsewhere_leaves_this_host_on_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = open_fleet(dir.path(), "web-1");
    f.apply(Some(&bundle("cpu", 1, b"one", all())), 0, 0);
    let elsewhere = Target {
        hostname_glob: Some("db-*".into()),
        ..all()
    };
    assert_eq!(
        f.apply(Some(&bundle("cpu", 2, b"two", elsewhere)), 0, 1),
        Outcome::Taken { changed: false }
    );
    assert_eq!(running(&f), vec![("cpu".into(), 1)]);
    // ...and the canary's version still counts: version 1 again is a replay.
    assert_eq!(
        f.apply(Some(&bundle("cpu", 1, b"one", all())), 0, 2),
        Outcome::Refused("replay".into())
    );
    assert_eq!(
        f.apply(Some(&bundle("cpu", 2, b"one", all())), 0, 3),
        Outcome::Refused("replay".into())
    );
}

#[test]
fn a_stop_bundle_stops_the_job_and_jobs_do_not_touch_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = open_fleet(dir.path(), "web-1");
    f.apply(Some(&bundle("cpu", 5, b"cpu", all())), 0, 0);
    f.apply(Some(&bundle("memory", 1, b"mem", all())), 1, 0);
    assert_eq!(
        f.apply(Some(&stop("cpu", 6)), 0, 1),
        Outcome::Taken { changed: true }
    );
    assert_eq!(running(&f), vec![("memory".into(), 1)]);
    // A bare Kafka tombstone (no payload) changes nothing.
    assert_eq!(f.apply(None, 1, 1), Outcome::Duplicate);
    assert_eq!(running(&f), vec![("memory".into(), 1)]);
}

#[test]
fn a_restart_runs_the_kept_bundles_and_remembers_versions() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut f = open_fleet(dir.path(), "web-1");
        f.apply(Some(&bundle("cpu", 1, b"one", all())), 0, 0);
        f.apply(Some(&bundle("cpu", 2, b"two", all())), 0, 1);
    }
    let mut f = open_fleet(dir.path(), "web-1");
    assert_eq!(running(&f), vec![("cpu".into(), 2)]);
    assert_eq!(f.offsets().get(&0), Some(&2));
    let component = std::fs::read(&f.jobs()[0].spec.probe_path).unwrap();
    assert_eq!(component, b"two");
    assert_eq!(
        f.apply(Some(&bundle("cpu", 1, b"one", all())), 0, 2),
        Outcome::Refused("replay".into())
    );
    // Only the component in use is left.
    let left = std::fs::read_dir(dir.path().join("components"))
        .unwrap()
        .count();
    assert_eq!(left, 1);
}

#[test]
fn a_kept_bundle_that_no_longer_verifies_does_not_run() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut f = open_fleet(dir.path(), "web-1");
        f.apply(Some(&bundle("cpu", 1, b"one", all())), 0, 0);
        f.apply(Some(&bundle("disk", 1, b"disk", all())), 0, 1);
    }
    let kept = dir.path().join("bundles/cpu");
    let mut bytes = std::fs::read(&kept).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&kept, bytes).unwrap();
    // A bundle for one job stored under another job's name is not run either.
    std::fs::copy(
        dir.path().join("bundles/disk"),
        dir.path().join("bundles/net"),
    )
    .unwrap();
    // A changed component file is repaired from the verified bundle.
    let disk = hex::encode(Sha256::digest(b"disk"));
    std::fs::write(dir.path().join(format!("components/{disk}.wasm")), b"evil").unwrap();
    let f = open_fleet(dir.path(), "web-1");
    assert_eq!(running(&f), vec![("disk".into(), 1)]);
    assert_eq!(
        std::fs::read(&f.jobs()[0].spec.probe_path).unwrap(),
        b"disk"
    );
}

#[test]
fn labels_are_evaluated_again_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let prod = Target {
        labels: [("env".to_string(), "prod".to_string())].into(),
        ..all()
    };
    {
        let mut f = open_fleet(dir.path(), "web-1");
        f.apply(Some(&bundle("cpu", 1, b"one", prod)), 0, 0);
        assert_eq!(running(&f).len(), 1);
    }
    let f = Fleet::open(
        StateDir::open(dir.path()).unwrap(),
        TrustedKeys::new([key().verifying_key()]),
        "web-1".into(),
        BTreeMap::new(),
        Defaults::default(),
        MAX,
    )
    .unwrap();
    assert!(running(&f).is_empty());
}

#[test]
fn state_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("fleet");
    let mut f = open_fleet(&state, "web-1");
    f.apply(Some(&bundle("cpu", 1, b"one", all())), 0, 0);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("bundles")), 0o700);
    assert_eq!(mode(&state.join("bundles/cpu")), 0o600);
    assert_eq!(mode(&state.join("state.json")), 0o600);
    assert_eq!(mode(&f.jobs()[0].spec.probe_path), 0o600);
}

#[test]
fn a_signed_bundle_with_broken_job_settings_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = open_fleet(dir.path(), "web-1");
    let component = b"c";
    let meta = Metadata {
        format: METADATA_FORMAT,
        job: "cpu".into(),
        version: 1,
        action: Action::Run,
        component_sha256: hex::encode(Sha256::digest(component)),
        component_bytes: 1,
        target: all(),
        job_toml: "probe = \"/etc/shadow\"\n".into(),
    };
    assert_eq!(
        f.apply(Some(&seal(&meta, component, &key())), 0, 0),
        Outcome::Refused("bad_job".into())
    );
    assert!(running(&f).is_empty());
}
