//! Memory during a long Kafka outage: publishes `RATE` runs/s of about 1 KB to a broker
//! that does not answer, for `SECONDS`, printing the resident set size once a minute.
//!
//! `cargo run --release -p sonde-host --example kafka_outage_rss -- [SECONDS] [RATE]`
//! (defaults 600 s, 100 runs/s). The spool goes to a temporary directory.

use std::time::{Duration, Instant};

use chrono::Utc;
use sonde_host::kafka::{KafkaSink, Settings};
use sonde_host::output::Sink;
use sonde_message::{RunMessage, Sample};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(600);
    let rate: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100);
    sonde_telemetry::logs::init(sonde_telemetry::LogFormat::Text, "info");
    let spool = tempfile::tempdir()?;
    let settings = Settings {
        // Nothing listens on port 1: every connection is refused, as in an outage.
        brokers: "127.0.0.1:1".into(),
        topic: "sonde.measurements".into(),
        tls: Default::default(),
        options: vec![("security.protocol".into(), "plaintext".into())],
        spool_dir: spool.path().to_owned(),
        spool_max_bytes: 1024 * 1024 * 1024,
    };
    let sink = KafkaSink::start(&settings)?;
    let start = Instant::now();
    let mut sent = 0u64;
    let mut next_report = 0;
    println!("elapsed_s,published,pending,rss_kib,spool_bytes");
    while start.elapsed() < Duration::from_secs(seconds) {
        let mut msg = RunMessage::new(
            "bench-host",
            &format!("probe-{}", sent % 8),
            "0.1.0",
            "job",
            Utc::now(),
        );
        for i in 0..12 {
            msg.samples.push(Sample {
                name: "system.cpu.utilization".into(),
                value: i as f64 / 10.0,
                unit: "1".into(),
                labels: [
                    ("state".to_string(), format!("state-{i}")),
                    ("cpu".to_string(), "0".to_string()),
                ]
                .into(),
            });
        }
        sink.publish(msg);
        sent += 1;
        let elapsed = start.elapsed().as_secs();
        if elapsed >= next_report {
            let bytes: u64 = std::fs::read_dir(spool.path())?
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum();
            println!("{elapsed},{sent},{},{},{bytes}", sink.pending(), rss_kib());
            next_report += 60;
        }
        let due = start + Duration::from_micros(sent * 1_000_000 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    println!(
        "{},{sent},{},{},final",
        start.elapsed().as_secs(),
        sink.pending(),
        rss_kib()
    );
    sink.shutdown(Duration::ZERO)?;
    Ok(())
}
