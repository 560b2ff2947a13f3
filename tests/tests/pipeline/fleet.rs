//! The fleet drill's tools: `host probes keygen/publish/stop` as an operator runs them,
//! and hosts that follow the control topic, each with its own name, labels and state
//! directory.

use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{binary, Pipeline, Proc};

/// Runs `host ARGS` to completion; panics with its output when it fails. Returns stdout.
pub fn host_cli(args: &[&str]) -> String {
    let out = Command::new(binary("host"))
        .args(args)
        .env_remove("KAFKA_SERVER")
        .output()
        .expect("run host");
    assert!(
        out.status.success(),
        "host {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The operator's side: keys and the control topic.
pub struct Operator {
    pub dir: PathBuf,
    pub control_topic: String,
    pub brokers: String,
    pub cert_dir: PathBuf,
}

impl Operator {
    /// `host probes keygen DIR/NAME`: NAME.key and NAME.pub.
    pub fn keygen(&self, name: &str) -> PathBuf {
        let stem = self.dir.join(name);
        host_cli(&["probes", "keygen", &stem.to_string_lossy()]);
        stem.with_extension("pub")
    }

    /// `host probes publish FILE --name JOB --signing-key KEY --bundle-version VERSION EXTRA...`
    /// to the control topic; returns the time the broker had acknowledged the bundle.
    pub fn publish(
        &self,
        file: &Path,
        job: &str,
        key: &str,
        version: u64,
        extra: &[&str],
    ) -> DateTime<Utc> {
        let file = file.to_string_lossy();
        let mut args = vec!["publish", &file, "--name", job];
        args.extend_from_slice(extra);
        self.bundle_command(&args, key, version)
    }

    /// `host probes stop JOB`: a signed tombstone for every host.
    pub fn stop(&self, job: &str, key: &str, version: u64) -> DateTime<Utc> {
        self.bundle_command(&["stop", job], key, version)
    }

    fn bundle_command(&self, command: &[&str], key: &str, version: u64) -> DateTime<Utc> {
        let cache = self.dir.join("cache").to_string_lossy().into_owned();
        let key = self
            .dir
            .join(format!("{key}.key"))
            .to_string_lossy()
            .into_owned();
        let version = version.to_string();
        let cert_dir = self.cert_dir.to_string_lossy().into_owned();
        let mut args = vec!["--cache-dir", &cache, "probes"];
        args.extend_from_slice(command);
        args.extend_from_slice(&[
            "--signing-key",
            &key,
            "--bundle-version",
            &version,
            "--fleet-topic",
            &self.control_topic,
            "--kafka-brokers",
            &self.brokers,
            "--cert-dir",
            &cert_dir,
        ]);
        host_cli(&args);
        Utc::now()
    }
}

/// One host of the fleet.
pub struct FleetHost {
    pub name: String,
    pub labels: &'static str,
    dir: PathBuf,
}

impl FleetHost {
    pub fn new(p: &Pipeline, name: &str, labels: &'static str) -> FleetHost {
        let dir = p.dir().join(name);
        std::fs::create_dir_all(&dir).expect("host dir");
        FleetHost {
            name: name.into(),
            labels,
            dir,
        }
    }

    /// Starts `host` following `control_topic`, trusting `trusted`, publishing its runs to
    /// the drill's topic.
    pub fn start(&self, p: &Pipeline, control_topic: &str, trusted: &Path) -> Proc {
        let config = self.dir.join("host.toml");
        let text = format!(
            "hostname = \"{}\"\n\n[fleet]\ntopic = \"{control_topic}\"\ntrusted_keys = [\"{}\"]\nstate_dir = \"state\"\nlabels = {}\n",
            self.name,
            trusted.display(),
            self.labels
        );
        std::fs::write(&config, text).expect("write host.toml");
        let mut cmd = Command::new(binary("host"));
        cmd.arg("--config")
            .arg(&config)
            .arg("--kafka-brokers")
            .arg(&p.env.kafka_brokers)
            .arg("--topic")
            .arg(&p.topic)
            .arg("--cert-dir")
            .arg(&p.env.host_cert_dir)
            .arg("--spool-dir")
            .arg(self.dir.join("spool"))
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .env_remove("KAFKA_SERVER")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        Proc::spawn("host", cmd, self.dir.join("host.log"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("host.log")).unwrap_or_default()
    }
}
