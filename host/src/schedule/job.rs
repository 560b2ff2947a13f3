//! One job: a probe, its params, allow-list and limits, and its long-lived instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sonde_message::limits::{check_text, Field};
use sonde_message::RunMessage;

use crate::config::{check_interval, JobSpec};
use crate::http::AllowList;
use crate::runtime::bindings::Sample as ProbeSample;
use crate::runtime::instance::ProbeInstance;
use crate::runtime::limits::RunFailure;
use crate::runtime::probe::{Host, LoadedProbe};
use crate::runtime::sandbox::JobCapabilities;
use crate::schedule::publishable;

pub struct Job {
    pub spec: JobSpec,
    pub probe: Arc<LoadedProbe>,
    /// The job's params plus the probe's defaults for the ones not given.
    params: Vec<(String, String)>,
    caps: JobCapabilities,
    instance: Option<ProbeInstance>,
}

impl Job {
    /// Check the params against what the probe declares; the error is one line naming the
    /// job, the probe and the missing or unknown param.
    pub fn new(host: &Host, spec: JobSpec, probe: Arc<LoadedProbe>) -> anyhow::Result<Job> {
        check_identity(&spec, &probe)?;
        // The host's floor before the params: it holds whatever they are.
        check_probe_interval(&spec, &probe)?;
        let params = resolve_params(&spec, &probe)?;
        let allow = AllowList::new(&spec.allow_http)
            .map_err(|e| anyhow::anyhow!("{}: job {:?}: {e}", spec.origin, spec.name))?;
        if allow.allows_any() {
            tracing::warn!(job = %spec.name, "allow_http contains \"*\": this job may fetch any http/https destination");
        }
        let caps = host.capabilities(&spec.name, allow, &spec.limits);
        Ok(Job {
            spec,
            probe,
            params,
            caps,
            instance: None,
        })
    }

    /// The interval: the job's, else the probe's default (at least 1 ms).
    pub fn interval(&self) -> Duration {
        let ms = self
            .spec
            .interval_ms
            .unwrap_or(self.probe.info.default_interval_ms as u64);
        Duration::from_millis(ms.max(1))
    }

    /// Replace the probe (between runs); the next run makes a fresh instance.
    pub fn swap_probe(&mut self, probe: Arc<LoadedProbe>) -> anyhow::Result<()> {
        check_identity(&self.spec, &probe)?;
        check_probe_interval(&self.spec, &probe)?;
        self.params = resolve_params(&self.spec, &probe)?;
        self.probe = probe;
        self.instance = None;
        Ok(())
    }

    /// One run, always turned into a message (ok with samples, or error with the reason)
    /// that is within the message limits.
    pub async fn run_once(&mut self, host: &Host, hostname: &str) -> RunMessage {
        let started_at = Utc::now();
        let clock = Instant::now();
        let info = &self.probe.info;
        let mut msg = RunMessage::new(
            hostname,
            &info.name,
            &info.version,
            &self.spec.name,
            started_at,
        );
        msg.component_sha256 = Some(self.probe.sha256.clone());
        let result = self.run_instance(host).await;
        msg.duration_us = clock.elapsed().as_micros() as u64;
        match result {
            Ok(raw) => match publishable::samples(raw) {
                Ok(out) => {
                    if out.dropped_non_finite > 0 {
                        tracing::debug!(
                            job = %self.spec.name,
                            "{} samples with a non-finite value dropped",
                            out.dropped_non_finite
                        );
                    }
                    msg.samples = out.samples;
                    msg.dropped_non_finite = out.dropped_non_finite;
                }
                Err(v) => publishable::fail(&mut msg, &format!("output invalid: {v}")),
            },
            Err(failure) => {
                if failure.discards_instance() {
                    self.instance = None;
                }
                publishable::fail(&mut msg, &failure.to_string());
            }
        }
        publishable::finish(&mut msg, Utc::now());
        msg
    }

    /// One run; `timeout_ms` bounds making the instance (when there is none) and the run
    /// together. The samples are as the probe returned them (`publishable` checks them).
    async fn run_instance(&mut self, host: &Host) -> Result<Vec<ProbeSample>, RunFailure> {
        let _busy = host.runtime.busy();
        let limits = &self.spec.limits;
        let deadline = Instant::now() + Duration::from_millis(limits.timeout_ms);
        if self.instance.is_none() {
            let fresh = self
                .probe
                .instantiate(host, &self.caps, limits, deadline)
                .await?;
            self.instance = Some(fresh);
        }
        let Some(instance) = self.instance.as_mut() else {
            return Err(RunFailure::Instantiate("no instance".into()));
        };
        instance.run(&self.params, limits, deadline).await
    }
}

/// The job name and what the probe claims to be go into every message: a name the recorder
/// would refuse would make every run of the job a dead letter, so the job is refused instead.
fn check_identity(spec: &JobSpec, probe: &LoadedProbe) -> anyhow::Result<()> {
    let info = &probe.info;
    let checks = [
        (Field::Job, "job name", spec.name.as_str()),
        (
            Field::Probe,
            "probe name (from describe())",
            info.name.as_str(),
        ),
        (
            Field::ProbeVersion,
            "probe version (from describe())",
            info.version.as_str(),
        ),
    ];
    for (field, what, value) in checks {
        check_text(field, what, value).map_err(|v| {
            anyhow::anyhow!(
                "{}: job \"{}\" (probe {}): {v}; see the message limits in docs/limits.md",
                spec.origin,
                sonde_message::limits::preview(&spec.name),
                probe.path.display()
            )
        })?;
    }
    Ok(())
}

/// A job without its own interval runs at the probe's default, which must respect the
/// host's `min_interval_ms` like any other (a probe's 1 ms default is refused, not honoured).
fn check_probe_interval(spec: &JobSpec, probe: &LoadedProbe) -> anyhow::Result<()> {
    match spec.interval_ms {
        Some(ms) => check_interval(spec, ms, "`interval_ms`"),
        None => check_interval(
            spec,
            u64::from(probe.info.default_interval_ms),
            &format!("probe {}'s default-interval-ms", probe.info.name),
        ),
    }
}

fn resolve_params(spec: &JobSpec, probe: &LoadedProbe) -> anyhow::Result<Vec<(String, String)>> {
    let info = &probe.info;
    let where_ = format!(
        "{}: job {:?} (probe {} {})",
        spec.origin,
        spec.name,
        info.name,
        probe.path.display()
    );
    for (key, _) in &spec.params {
        if !info.params.iter().any(|p| &p.name == key) {
            let known: Vec<&str> = info.params.iter().map(|p| p.name.as_str()).collect();
            anyhow::bail!(
                "{where_}: unknown param `{key}` (the probe takes: {})",
                known.join(", ")
            );
        }
    }
    let mut params = spec.params.clone();
    for p in &info.params {
        if params.iter().any(|(k, _)| k == &p.name) {
            continue;
        }
        match (&p.default, p.required) {
            (Some(d), _) => params.push((p.name.clone(), d.clone())),
            (None, true) => anyhow::bail!(
                "{where_}: required param `{}` is missing ({}); set it in a host.toml [[job]] `params`",
                p.name,
                p.description
            ),
            (None, false) => {}
        }
    }
    Ok(params)
}
