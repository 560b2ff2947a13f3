//! Whether a bundle is for this host: evaluated on the signed metadata only.
//!
//! The percentage is deterministic: a host's bucket is a hash of the job name and the host
//! name, so it is the same on every restart and for every version of the job. A 34 %
//! canary picks the same hosts each time, and raising it to 50 % keeps those hosts and
//! adds others.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::bundle::Target;

/// Buckets per percent: a host's bucket is in `0..100 * BUCKETS_PER_PERCENT`.
const BUCKETS_PER_PERCENT: u64 = 100;

/// The host's bucket for `job`, in `0..10_000`.
pub fn bucket(job: &str, hostname: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(b"sonde fleet bucket v1\0");
    h.update(job.as_bytes());
    h.update([0]);
    h.update(hostname.as_bytes());
    let digest = h.finalize();
    let n = u64::from_be_bytes(digest[..8].try_into().expect("sha256 is 32 bytes"));
    n % (100 * BUCKETS_PER_PERCENT)
}

/// Every condition of `target` holds for this host. A glob that does not parse matches no
/// host (the metadata check refuses it before it gets here).
pub fn selects(
    target: &Target,
    job: &str,
    hostname: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    let glob_ok = match &target.hostname_glob {
        None => true,
        Some(g) => glob::Pattern::new(g).is_ok_and(|p| p.matches(hostname)),
    };
    let labels_ok = target.labels.iter().all(|(k, v)| labels.get(k) == Some(v));
    glob_ok && labels_ok && bucket(job, hostname) < u64::from(target.percent) * BUCKETS_PER_PERCENT
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn target(glob: Option<&str>, labels: &[(&str, &str)], percent: u8) -> Target {
        Target {
            hostname_glob: glob.map(str::to_owned),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            percent,
        }
    }

    #[test]
    fn glob_and_labels_must_all_hold() {
        let labels: BTreeMap<String, String> = [("env", "prod"), ("role", "web")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let cases = [
            (target(None, &[], 100), "db-1", true),
            (target(Some("web-*"), &[], 100), "web-1", true),
            (target(Some("web-*"), &[], 100), "db-1", false),
            (target(Some("web-?"), &[], 100), "web-12", false),
            (target(None, &[("env", "prod")], 100), "db-1", true),
            (
                target(None, &[("env", "prod"), ("role", "db")], 100),
                "db-1",
                false,
            ),
            (target(None, &[("zone", "a")], 100), "db-1", false),
            (
                target(Some("web-*"), &[("env", "prod")], 100),
                "web-1",
                true,
            ),
        ];
        for (t, host, want) in cases {
            assert_eq!(selects(&t, "cpu", host, &labels), want, "{t:?} {host}");
        }
    }

    #[test]
    fn a_percentage_picks_about_that_share_of_hosts() {
        let none = BTreeMap::new();
        let picked = (0..10_000)
            .filter(|i| selects(&target(None, &[], 34), "cpu", &format!("host-{i}"), &none))
            .count();
        assert!(
            (3_200..3_600).contains(&picked),
            "{picked} of 10000 at 34 %"
        );
    }

    proptest! {
        /// The same host is picked at a higher percentage too, and the choice never changes.
        #[test]
        fn canaries_grow_and_are_stable(host in "[a-z0-9.-]{1,40}", job in "[a-z0-9_-]{1,20}", low in 1u8..=100, high in 1u8..=100) {
            let (low, high) = (low.min(high), low.max(high));
            let none = BTreeMap::new();
            let at_low = selects(&target(None, &[], low), &job, &host, &none);
            prop_assert_eq!(at_low, selects(&target(None, &[], low), &job, &host, &none));
            if at_low {
                prop_assert!(selects(&target(None, &[], high), &job, &host, &none));
            }
            prop_assert!(selects(&target(None, &[], 100), &job, &host, &none));
        }
    }
}
