//! `sonde-loadgen --hosts 10000 --interval-ms 10000 --seconds 180 --topic T ...`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sonde_loadgen::fleet::Shape;
use sonde_loadgen::publish::{self, Config};

/// Publish the runs of simulated hosts (cpu per core, memory, bandwidth, HTTP checks)
/// to a Kafka topic over mutual TLS, paced evenly, and report whether the pace held.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Bootstrap servers (mutual TLS).
    #[arg(long, env = "SONDE_KAFKA_BROKERS")]
    brokers: String,
    /// Directory with `ca.pem`, `service.cert`, `service.key`.
    #[arg(long, env = "SONDE_HOST_CERT_DIR")]
    cert_dir: PathBuf,
    #[arg(long)]
    topic: String,
    /// Simulated hosts.
    #[arg(long, default_value_t = 10_000)]
    hosts: u32,
    /// Every job of every host runs once per interval.
    #[arg(long, default_value_t = 10_000)]
    interval_ms: u64,
    /// How long to publish.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Cores per host (the cpu run reports each and the total).
    #[arg(long, default_value_t = 4)]
    cores: u32,
    /// HTTP checks per host.
    #[arg(long, default_value_t = 3)]
    http_checks: u32,
    /// Write one line per acknowledged run here: run_id, host, probe, samples (tab-separated).
    #[arg(long)]
    record: Option<PathBuf>,
    /// Rewrite this file every second with `elapsed_secs sent acked failed`.
    #[arg(long)]
    progress: Option<PathBuf>,
    /// Write the summary here as JSON.
    #[arg(long)]
    summary: Option<PathBuf>,
    /// Create the topic with this many partitions first (an existing topic is kept as it is).
    #[arg(long)]
    partitions: Option<i32>,
    /// Only create the topic (with `--partitions`) and exit.
    #[arg(long, requires = "partitions")]
    create_topic_only: bool,
    /// Only delete the topic and exit (a missing topic is not an error).
    #[arg(long, conflicts_with_all = ["create_topic_only", "partitions"])]
    delete_topic_only: bool,
    /// Seed of the simulated values.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Wait this long for the last acknowledgements.
    #[arg(long, default_value_t = 120)]
    flush_timeout_secs: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(3),
        Err(e) => {
            eprintln!("sonde-loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Ok(false): the run finished but could not keep the pace.
fn run(args: Args) -> anyhow::Result<bool> {
    let config = Config {
        brokers: args.brokers,
        cert_dir: args.cert_dir,
        topic: args.topic,
        hosts: args.hosts,
        interval: Duration::from_millis(args.interval_ms),
        length: Duration::from_secs(args.seconds),
        shape: Shape {
            cores: args.cores,
            http_checks: args.http_checks,
        },
        record: args.record,
        progress: args.progress,
        seed: args.seed,
        flush_timeout: Duration::from_secs(args.flush_timeout_secs),
    };
    if args.delete_topic_only {
        sonde_loadgen::topic::delete(&config)?;
        return Ok(true);
    }
    if let Some(partitions) = args.partitions {
        sonde_loadgen::topic::create(&config, partitions)?;
    }
    if args.create_topic_only {
        return Ok(true);
    }
    let s = publish::run(&config)?;
    println!(
        "sonde-loadgen: {} hosts every {} ms for {:.0} s: target {:.0} runs/s ({:.0} samples/s), achieved {:.0} runs/s ({:.0} samples/s); {} sent, {} acknowledged, {} failed; late by ≥1 s: {}, most late: {} ms",
        s.hosts, s.interval_ms, s.length_secs, s.target_runs_per_sec, s.target_samples_per_sec,
        s.achieved_runs_per_sec, s.achieved_samples_per_sec, s.sent_runs, s.acked_runs, s.failed_runs,
        s.late_buckets[3], s.max_late_ms
    );
    if !s.kept_up {
        println!(
            "sonde-loadgen: CANNOT KEEP UP: achieved {:.0} of {:.0} runs/s target",
            s.achieved_runs_per_sec, s.target_runs_per_sec
        );
    }
    if let Some(path) = &args.summary {
        std::fs::write(path, serde_json::to_string_pretty(&s)?)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    Ok(s.kept_up)
}
