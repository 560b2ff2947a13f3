//! `--once`: load every job, run each once (bounded concurrency), publish, report.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::stream::{self, StreamExt};

use crate::output::Sink;
use crate::runtime::probe::{Host, LoadedProbe};
use crate::schedule::job::Job;
use crate::schedule::watch::JobSources;

/// Err when any job could not start or any run failed (after publishing every run).
pub async fn run_all(
    host: &Host,
    sources: &JobSources,
    sink: &dyn Sink,
    hostname: &str,
    max_concurrency: usize,
) -> anyhow::Result<()> {
    let (specs, mut problems) = sources.specs();
    let mut loaded: HashMap<PathBuf, Result<Arc<LoadedProbe>, String>> = HashMap::new();
    let mut jobs = Vec::new();
    for spec in specs {
        let probe = match loaded.get(&spec.probe_path) {
            Some(p) => p.clone(),
            None => {
                let p = host
                    .load(&spec.probe_path)
                    .await
                    .map_err(|e| format!("{e:#}"));
                loaded.insert(spec.probe_path.clone(), p.clone());
                p
            }
        };
        let name = spec.name.clone();
        match probe.and_then(|p| Job::new(host, spec, p).map_err(|e| format!("{e:#}"))) {
            Ok(job) => jobs.push(job),
            Err(e) => problems.push(format!("job {name:?} not started: {e}")),
        }
    }
    for p in &problems {
        tracing::error!("{p}");
    }
    let messages: Vec<_> = stream::iter(jobs)
        .map(|mut job| async move { job.run_once(host, hostname).await })
        // In job order, so the output reads the same on every run.
        .buffered(max_concurrency.max(1))
        .collect()
        .await;
    let mut failed = 0;
    for msg in messages {
        if let Some(e) = &msg.error {
            tracing::warn!(job = %msg.job, "run failed: {e}");
            failed += 1;
        }
        sink.publish(msg);
    }
    if failed > 0 || !problems.is_empty() {
        anyhow::bail!(
            "{failed} run(s) failed and {} job(s) could not start",
            problems.len()
        );
    }
    Ok(())
}
