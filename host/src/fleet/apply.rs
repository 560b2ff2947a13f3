//! What a host does with each bundle from the control topic: verify it, refuse it or take
//! it, keep it in the state directory, and say which jobs the fleet wants run here.
//!
//! Rules, per job (the job named in the signed metadata):
//! - a bundle whose version is lower than the highest seen is a replay: refused;
//! - the same version again is a duplicate when it is the same bundle, else a replay;
//! - a newer bundle is taken, its version remembered, whether or not it targets this host;
//! - a newer bundle that targets this host decides the job here: `run` starts or replaces
//!   it, `stop` stops it; one that does not target this host leaves the job as it is (so a
//!   canary leaves the other hosts on the previous version).
//!
//! Rolling back is publishing the old component again as a new, higher version.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::bundle::{self, Action, Refusal, Verified};
use super::keys::TrustedKeys;
use super::state::{Saved, Seen, StateDir};
use super::target;
use crate::config::{Defaults, JobSpec};

/// A job the fleet wants run on this host.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetJob {
    pub spec: JobSpec,
    /// The component the job must run: what the watcher loads is checked against it.
    pub sha256: String,
    pub version: u64,
}

/// Every refusal reason, in the order metrics list them.
pub const REFUSAL_REASONS: [&str; 8] = [
    "unsigned",
    "unknown_key",
    "bad_signature",
    "malformed",
    "oversize",
    "sha256_mismatch",
    "replay",
    "bad_job",
];

/// Bundles taken and refused: read here, and exported as Prometheus counters when made by
/// [`crate::telemetry::Telemetry::fleet`].
#[derive(Debug, Default)]
pub struct FleetCounters {
    accepted: AtomicU64,
    refused: [AtomicU64; REFUSAL_REASONS.len()],
    exported: Option<ExportedCounters>,
}

/// The `/metrics` side of [`FleetCounters`].
#[derive(Debug)]
pub(crate) struct ExportedCounters {
    pub accepted: sonde_telemetry::Counter,
    /// In the order of [`REFUSAL_REASONS`].
    pub refused: Vec<sonde_telemetry::Counter>,
}

impl FleetCounters {
    pub(crate) fn exported(exported: ExportedCounters) -> Self {
        FleetCounters {
            exported: Some(exported),
            ..FleetCounters::default()
        }
    }

    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    pub fn refused(&self, reason: &str) -> u64 {
        REFUSAL_REASONS
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.refused[i].load(Ordering::Relaxed))
    }

    fn count_accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = &self.exported {
            e.accepted.increment(1);
        }
    }

    fn count_refusal(&self, reason: &str) {
        if let Some(i) = REFUSAL_REASONS.iter().position(|r| *r == reason) {
            self.refused[i].fetch_add(1, Ordering::Relaxed);
            if let Some(c) = self.exported.as_ref().and_then(|e| e.refused.get(i)) {
                c.increment(1);
            }
        }
    }
}

/// What became of one bundle.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Taken; `changed`: the jobs to run here changed.
    Taken {
        changed: bool,
    },
    /// The bundle already taken (redelivered).
    Duplicate,
    Refused(String),
}

pub struct Fleet {
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    keys: TrustedKeys,
    max_component_bytes: u64,
    defaults: Defaults,
    state: StateDir,
    saved: Saved,
    /// The bundle each job runs here.
    active: BTreeMap<String, Verified>,
    pub counters: std::sync::Arc<FleetCounters>,
}

impl Fleet {
    /// Read the state directory: the versions seen, and the bundles kept, verified again
    /// and targeted again (this host's labels may have changed).
    pub fn open(
        state: StateDir,
        keys: TrustedKeys,
        hostname: String,
        labels: BTreeMap<String, String>,
        defaults: Defaults,
        max_component_bytes: u64,
    ) -> anyhow::Result<Fleet> {
        let mut saved = state.load_saved()?;
        let (kept, problems) = state.load_bundles(&keys, max_component_bytes);
        for p in problems {
            tracing::error!("fleet: {p}");
        }
        let mut fleet = Fleet {
            hostname,
            labels,
            keys,
            max_component_bytes,
            defaults,
            state,
            saved: Saved::default(),
            active: BTreeMap::new(),
            counters: Default::default(),
        };
        for v in kept {
            // A crash between keeping a bundle and saving state.json leaves the bundle newer.
            let seen = saved.seen.entry(v.meta.job.clone()).or_insert(Seen {
                version: 0,
                digest: String::new(),
            });
            if v.meta.version >= seen.version {
                *seen = Seen {
                    version: v.meta.version,
                    digest: v.digest(),
                };
            }
            if fleet.selects(&v) {
                fleet.active.insert(v.meta.job.clone(), v);
            } else {
                tracing::info!(job = %v.meta.job, "fleet: kept bundle no longer targets this host; not run");
            }
        }
        fleet.saved = saved;
        Ok(fleet)
    }

    fn selects(&self, v: &Verified) -> bool {
        target::selects(&v.meta.target, &v.meta.job, &self.hostname, &self.labels)
    }

    pub fn offsets(&self) -> &BTreeMap<i32, i64> {
        &self.saved.offsets
    }

    /// The jobs to run here; a bundle whose settings do not resolve is reported and left out.
    pub fn jobs(&self) -> Vec<FleetJob> {
        let mut jobs = Vec::new();
        for v in self.active.values() {
            let m = &v.meta;
            let origin = format!("fleet bundle {} v{}", m.job, m.version);
            let path = self.state.component_path(&m.component_sha256);
            match super::job::spec(&m.job, &m.job_toml, &path, &self.defaults, &origin) {
                Ok(spec) => jobs.push(FleetJob {
                    spec,
                    sha256: m.component_sha256.clone(),
                    version: m.version,
                }),
                Err(e) => tracing::error!("{e:#}"),
            }
        }
        jobs
    }

    /// Handle one message of the control topic at `(partition, offset)`; a `None` payload
    /// (a compaction tombstone) is skipped: stopping a job takes a signed stop bundle.
    pub fn apply(&mut self, payload: Option<&[u8]>, partition: i32, offset: i64) -> Outcome {
        let outcome = match payload {
            None => Outcome::Duplicate,
            Some(bytes) => self.apply_bundle(bytes.to_vec()),
        };
        self.saved.offsets.insert(partition, offset + 1);
        if let Err(e) = self.state.save(&self.saved) {
            tracing::error!("fleet: {e:#}");
        }
        if let Outcome::Refused(reason) = &outcome {
            self.counters.count_refusal(reason);
        }
        outcome
    }

    fn refuse(&self, job: Option<&str>, e: &dyn std::fmt::Display, reason: &str) -> Outcome {
        tracing::warn!(
            reason,
            job = job.unwrap_or("?"),
            "fleet bundle refused: {e}; it does not run"
        );
        Outcome::Refused(reason.to_owned())
    }

    fn apply_bundle(&mut self, bytes: Vec<u8>) -> Outcome {
        let v = match bundle::open(bytes, &self.keys, self.max_component_bytes) {
            Ok(v) => v,
            Err(e) => return self.refuse(None, &e, e.reason()),
        };
        let job = v.meta.job.clone();
        let digest = v.digest();
        if let Some(seen) = self.saved.seen.get(&job) {
            if v.meta.version == seen.version && digest == seen.digest {
                return Outcome::Duplicate;
            }
            if v.meta.version <= seen.version {
                let e = Refusal::Replay {
                    job: job.clone(),
                    found: v.meta.version,
                    current: seen.version,
                };
                return self.refuse(Some(&job), &e, e.reason());
            }
        }
        if v.meta.action == Action::Run {
            let probe = self.state.component_path(&v.meta.component_sha256);
            if let Err(e) =
                super::job::spec(&job, &v.meta.job_toml, &probe, &self.defaults, "bundle")
            {
                return self.refuse(Some(&job), &format!("{e:#}"), "bad_job");
            }
        }
        self.saved.seen.insert(
            job.clone(),
            Seen {
                version: v.meta.version,
                digest,
            },
        );
        self.counters.count_accepted();
        if !self.selects(&v) {
            tracing::info!(job = %job, version = v.meta.version, "fleet bundle taken; it does not target this host, the job stays as it is here");
            return Outcome::Taken { changed: false };
        }
        let kept = match v.meta.action {
            Action::Run => self.state.keep(&v),
            Action::Stop => self.state.forget(&job),
        };
        if let Err(e) = kept {
            // Not kept means not run: a restart must never find less than what ran.
            tracing::error!(job = %job, "fleet: {e:#}; the bundle is not run");
            return Outcome::Taken { changed: false };
        }
        tracing::info!(job = %job, version = v.meta.version, action = ?v.meta.action, sha256 = %v.meta.component_sha256, key = %v.key_id, "fleet bundle taken");
        match v.meta.action {
            Action::Run => {
                self.active.insert(job, v);
            }
            Action::Stop => {
                self.active.remove(&job);
            }
        }
        let in_use: Vec<String> = self
            .active
            .values()
            .map(|v| v.meta.component_sha256.clone())
            .collect();
        self.state.collect_garbage(&in_use);
        Outcome::Taken { changed: true }
    }
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
