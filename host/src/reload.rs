//! SIGHUP: read host.toml again and hand the watcher the new job sources.
//!
//! Jobs added, removed or changed in the file take effect at once; jobs whose definition
//! is unchanged keep running untouched (their schedule and instance state go on). A file
//! that does not parse or check is logged, with every problem, and the running
//! configuration stays. Process-wide keys (`max_concurrency`, `hostname`, `cache_dir`,
//! `metrics_addr`, the loading limits, `[http]`, `[kafka]`, `[fleet]`) need a restart: a reload that changes them says
//! so and applies the jobs only.

use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::config::{Config, HostToml};
use crate::schedule::watch::JobSources;
use crate::telemetry::Telemetry;

/// The keys of host.toml a reload does not apply, with whether they differ.
fn restart_only_changes(old: &HostToml, new: &HostToml) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |key, differs: bool| {
        if differs {
            changed.push(key);
        }
    };
    check(
        "max_concurrency",
        old.max_concurrency != new.max_concurrency,
    );
    check("hostname", old.hostname != new.hostname);
    check("cache_dir", old.cache_dir != new.cache_dir);
    check("metrics_addr", old.metrics_addr != new.metrics_addr);
    check(
        "max_component_bytes",
        old.max_component_bytes != new.max_component_bytes,
    );
    check(
        "compile_timeout_ms",
        old.compile_timeout_ms != new.compile_timeout_ms,
    );
    check(
        "describe_timeout_ms",
        old.describe_timeout_ms != new.describe_timeout_ms,
    );
    check("[http]", old.http != new.http);
    check("[kafka]", old.kafka != new.kafka);
    check("[fleet]", old.fleet != new.fleet);
    changed
}

/// Reads host.toml on request; remembers the configuration in force.
pub struct Reloader {
    path: PathBuf,
    probe_args: Vec<PathBuf>,
    running: HostToml,
    telemetry: Telemetry,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        probe_args: Vec<PathBuf>,
        running: HostToml,
        telemetry: Telemetry,
    ) -> Self {
        Reloader {
            path,
            probe_args,
            running,
            telemetry,
        }
    }

    /// The new sources, or `None` (logged) when the file cannot be used.
    pub fn reload(&mut self) -> Option<JobSources> {
        let file = self.path.display();
        let config = match Config::load(&self.path) {
            Ok(config) => config,
            Err(e) => {
                self.telemetry.reloads_failed.increment(1);
                for line in format!("{e:#}").lines() {
                    tracing::error!("reload: {line}");
                }
                tracing::error!("reload of {file} refused; the running configuration stays");
                return None;
            }
        };
        let min_interval_ms = config.min_interval_ms();
        let sources = match JobSources::from_probe_args(
            &self.probe_args,
            config.jobs,
            config.toml.defaults.clone(),
            min_interval_ms,
        ) {
            Ok(s) => s,
            Err(e) => {
                self.telemetry.reloads_failed.increment(1);
                tracing::error!("reload of {file} refused, the running configuration stays: {e:#}");
                return None;
            }
        };
        let restart = restart_only_changes(&self.running, &config.toml);
        if !restart.is_empty() {
            tracing::warn!(
                "reload: {} changed in {file}; these take effect at the next restart, the jobs now",
                restart.join(", ")
            );
        }
        // Compare later reloads with what is in force: the restart-only keys are not.
        let mut running = config.toml;
        running.max_concurrency = self.running.max_concurrency;
        running.hostname = self.running.hostname.take();
        running.cache_dir = self.running.cache_dir.take();
        running.metrics_addr = self.running.metrics_addr;
        running.max_component_bytes = self.running.max_component_bytes;
        running.compile_timeout_ms = self.running.compile_timeout_ms;
        running.describe_timeout_ms = self.running.describe_timeout_ms;
        running.http = self.running.http.take();
        running.kafka = self.running.kafka.take();
        self.running = running;
        self.telemetry.reloads_ok.increment(1);
        tracing::info!("reloaded {file}");
        Some(sources)
    }
}

/// Listen for SIGHUP; each one reads the file and, if it is good, sends the new sources.
pub fn on_sighup(mut reloader: Reloader) -> anyhow::Result<mpsc::UnboundedReceiver<JobSources>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())
        .map_err(|e| anyhow::anyhow!("cannot listen for SIGHUP: {e}"))?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading {}", reloader.path.display());
            if let Some(sources) = reloader.reload() {
                if tx.send(sources).is_err() {
                    return;
                }
            }
        }
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_only_keys_are_named() {
        let old: HostToml =
            toml::from_str("max_concurrency = 4\n[kafka]\nbrokers = \"a:1\"\n").unwrap();
        let new: HostToml = toml::from_str(
            "max_concurrency = 8\ndescribe_timeout_ms = 100\n[kafka]\nbrokers = \"b:1\"\n\
             [defaults]\ninterval_ms = 5\n",
        )
        .unwrap();
        assert_eq!(
            restart_only_changes(&old, &new),
            vec!["max_concurrency", "describe_timeout_ms", "[kafka]"]
        );
        assert!(restart_only_changes(&new, &new).is_empty());
    }
}
