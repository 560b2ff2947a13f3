//! The fleet drill's tools: `host probes keygen/publish` as an operator runs them, raw
//! writes to the control topic as an attacker with topic access could make them, and hosts
//! that follow the control topic, each with its own name, labels and state directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use sonde_tests::kafka_client_config;

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

/// Writes `payload` to `topic` under `key`, bypassing every check `publish` makes.
pub fn produce_raw(p: &Pipeline, topic: &str, key: &str, payload: &[u8]) {
    let producer: BaseProducer = kafka_client_config(&p.env, &p.env.host_cert_dir)
        .create()
        .expect("Kafka producer");
    producer
        .send(BaseRecord::to(topic).key(key).payload(payload))
        .map_err(|(e, _)| e)
        .expect("send to the control topic");
    producer
        .flush(Duration::from_secs(30))
        .expect("flush to the control topic");
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
        let mut args: Vec<String> = vec![
            "--cache-dir".into(),
            self.dir.join("cache").to_string_lossy().into_owned(),
            "probes".into(),
            "publish".into(),
            file.to_string_lossy().into_owned(),
            "--name".into(),
            job.into(),
            "--signing-key".into(),
            self.dir
                .join(format!("{key}.key"))
                .to_string_lossy()
                .into_owned(),
            "--bundle-version".into(),
            version.to_string(),
            "--fleet-topic".into(),
            self.control_topic.clone(),
            "--kafka-brokers".into(),
            self.brokers.clone(),
            "--cert-dir".into(),
            self.cert_dir.to_string_lossy().into_owned(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        host_cli(&argv);
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
