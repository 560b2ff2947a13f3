//! Publishing the fleet's runs to Kafka at the schedule's pace.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use serde::Serialize;

use crate::fleet::{host_name, Fleet, Shape};
use crate::pacing::{Lateness, Schedule};
use crate::record::{Pending, Tally};

/// What to publish, where, and for how long.
#[derive(Debug, Clone)]
pub struct Config {
    pub brokers: String,
    /// `ca.pem`, `service.cert`, `service.key`: the host's mutual-TLS files.
    pub cert_dir: PathBuf,
    pub topic: String,
    pub hosts: u32,
    pub interval: Duration,
    pub length: Duration,
    pub shape: Shape,
    /// Where to write one line per acknowledged run (see [`crate::record`]).
    pub record: Option<PathBuf>,
    /// A file rewritten every second with `elapsed_secs sent acked failed`, for a sampler.
    pub progress: Option<PathBuf>,
    pub seed: u64,
    /// How long to wait for the last acknowledgements after the last send.
    pub flush_timeout: Duration,
}

/// The outcome of a run, printed and written as JSON for the bench script.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub hosts: u32,
    pub interval_ms: u64,
    pub length_secs: f64,
    pub target_runs_per_sec: f64,
    pub target_samples_per_sec: f64,
    pub sent_runs: u64,
    pub acked_runs: u64,
    pub acked_samples: u64,
    pub failed_runs: u64,
    /// Acknowledged runs per second over the run's length.
    pub achieved_runs_per_sec: f64,
    pub achieved_samples_per_sec: f64,
    /// Sends by lateness against their slot: under 10 ms, 100 ms, 1 s, and later.
    pub late_buckets: [u64; 4],
    pub max_late_ms: u64,
    /// False when the generator fell a second or more behind, a run failed, or fewer
    /// than 98% of the target runs were acknowledged in time.
    pub kept_up: bool,
}

/// Delivery reports land here (on the thread that polls the producer).
struct Reports {
    tally: Mutex<Tally>,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<Pending>;

    fn delivery(&self, result: &DeliveryResult<'_>, run: Box<Pending>) {
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(_) => tally.acked(&run),
            Err((e, _)) => {
                tally.failed();
                let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// The client settings for `config.brokers` over mutual TLS with the host's files.
pub fn tls_config(config: &Config) -> ClientConfig {
    let file = |name: &str| config.cert_dir.join(name).to_string_lossy().into_owned();
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers)
        .set("security.protocol", "ssl")
        .set("ssl.ca.location", file("ca.pem"))
        .set("ssl.certificate.location", file("service.cert"))
        .set("ssl.key.location", file("service.key"))
        .set("ssl.endpoint.identification.algorithm", "https");
    c
}

fn producer(config: &Config) -> anyhow::Result<BaseProducer<Reports>> {
    let reports = Reports {
        tally: Mutex::new(
            Tally::new(config.record.as_deref()).context("creating the record file")?,
        ),
        first_error: Mutex::new(None),
    };
    // The host's producer settings (host/src/kafka/settings.rs), with a queue deep
    // enough for a fleet's worth of in-flight runs.
    tls_config(config)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("client.id", "sonde-loadgen")
        .create_with_context(reports)
        .with_context(|| format!("creating a Kafka producer for {}", config.brokers))
}

/// Publishes `config.length` worth of the fleet's runs, paced by the schedule, and waits
/// for their acknowledgements.
///
/// # Errors
/// When the producer cannot be created, the broker refuses a send for a reason other
/// than a full queue, or the record file cannot be written.
pub fn run(config: &Config) -> anyhow::Result<Summary> {
    let jobs = config.shape.jobs();
    let schedule = Schedule::new(config.hosts, jobs.len() as u32, config.interval)?;
    let mut fleet = Fleet::new(
        config.shape,
        config.hosts,
        config.interval.as_secs_f64(),
        config.seed,
    );
    let host_names: Vec<String> = (0..config.hosts).map(host_name).collect();
    let producer = producer(config)?;
    let total = schedule.total(config.length);
    let mut lateness = Lateness::default();
    let start = Instant::now();
    let mut progress = Progress::new(config, start);
    let mut sent = 0u64;
    while sent < total {
        let due = schedule.due_by(start.elapsed()).min(total);
        while sent < due {
            let slot = schedule.slot(sent);
            let job = jobs[slot.job as usize];
            let msg = fleet.run(slot.host, job, Utc::now());
            let pending = Box::new(Pending {
                run_id: msg.run_id,
                host: host_names[slot.host as usize].clone(),
                probe: job.probe(),
                samples: msg.samples.len() as u32,
            });
            send(&producer, &config.topic, &msg.key(), &msg.encode(), pending)?;
            lateness.add(start.elapsed().saturating_sub(slot.due));
            sent += 1;
            if sent.is_multiple_of(1024) {
                progress.tick(&producer, sent, &schedule);
            }
        }
        progress.tick(&producer, sent, &schedule);
        let wait = schedule
            .due(sent)
            .saturating_sub(start.elapsed())
            .min(Duration::from_millis(50));
        producer.poll(wait);
    }
    let send_done = start.elapsed();
    let flushed = producer.flush(config.flush_timeout);
    // The last line is written whatever the time since the previous one: it holds the totals.
    progress.write_now();
    progress.tick(&producer, sent, &schedule);
    let reports = producer.context();
    let mut tally = reports.tally.lock().unwrap_or_else(|e| e.into_inner());
    tally.finish().context("writing the record file")?;
    if let Err(e) = flushed {
        eprintln!(
            "sonde-loadgen: {} runs still unacknowledged after {:?}: {e}",
            sent - tally.acked_runs - tally.failed_runs,
            config.flush_timeout
        );
    }
    if let Some(e) = reports
        .first_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        eprintln!(
            "sonde-loadgen: {} runs failed; the first: {e}",
            tally.failed_runs
        );
    }
    let length_secs = config.length.as_secs_f64().max(send_done.as_secs_f64());
    let target_runs_per_sec = schedule.runs_per_sec();
    let achieved_runs_per_sec = tally.acked_runs as f64 / length_secs;
    let kept_up = lateness.late_1s() == 0
        && tally.failed_runs == 0
        && tally.acked_runs == sent
        && achieved_runs_per_sec >= 0.98 * target_runs_per_sec;
    Ok(Summary {
        hosts: config.hosts,
        interval_ms: config.interval.as_millis() as u64,
        length_secs,
        target_runs_per_sec,
        target_samples_per_sec: config.shape.samples_per_interval() as f64
            * f64::from(config.hosts)
            / config.interval.as_secs_f64(),
        sent_runs: sent,
        acked_runs: tally.acked_runs,
        acked_samples: tally.acked_samples,
        failed_runs: tally.failed_runs,
        achieved_runs_per_sec,
        achieved_samples_per_sec: tally.acked_samples as f64 / length_secs,
        late_buckets: lateness.buckets,
        max_late_ms: lateness.max.as_millis() as u64,
        kept_up,
    })
}

/// One send; a full local queue is waited out (that is the generator falling behind,
/// which the lateness shows), anything else is an error.
fn send(
    producer: &BaseProducer<Reports>,
    topic: &str,
    key: &str,
    payload: &[u8],
    mut pending: Box<Pending>,
) -> anyhow::Result<()> {
    loop {
        let record = BaseRecord::with_opaque_to(topic, pending)
            .key(key)
            .payload(payload);
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), record)) => {
                pending = record.delivery_opaque;
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => anyhow::bail!("sending to {topic}: {e}"),
        }
    }
}

/// The progress file (every second) and a line on stderr (every 10 s).
struct Progress {
    path: Option<PathBuf>,
    start: Instant,
    next_file: Instant,
    next_line: Instant,
}

impl Progress {
    fn new(config: &Config, start: Instant) -> Progress {
        Progress {
            path: config.progress.clone(),
            start,
            next_file: start,
            next_line: start + Duration::from_secs(10),
        }
    }

    /// Make the next [`Progress::tick`] write, however soon after the last one.
    fn write_now(&mut self) {
        self.next_file = self.start;
    }

    fn tick(&mut self, producer: &BaseProducer<Reports>, sent: u64, schedule: &Schedule) {
        let now = Instant::now();
        if now < self.next_file {
            return;
        }
        self.next_file = now + Duration::from_secs(1);
        producer.poll(Duration::ZERO);
        let (acked, failed) = {
            let tally = producer
                .context()
                .tally
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            (tally.acked_runs, tally.failed_runs)
        };
        let elapsed = now - self.start;
        if let Some(path) = &self.path {
            let tmp = path.with_extension("tmp");
            let line = format!("{:.3} {sent} {acked} {failed}\n", elapsed.as_secs_f64());
            // A sampler reading a half-written file would see a wrong count: write, then rename.
            if let Err(e) = std::fs::write(&tmp, line).and_then(|()| std::fs::rename(&tmp, path)) {
                eprintln!("sonde-loadgen: progress file {}: {e}", path.display());
            }
        }
        if now >= self.next_line {
            self.next_line = now + Duration::from_secs(10);
            let target = schedule.due_by(elapsed);
            let behind = if sent + schedule.per_interval() / 10 < target {
                " (falling behind)"
            } else {
                ""
            };
            eprintln!(
                "sonde-loadgen: {:.0} s: sent {sent} of {target} due{behind}, acked {acked}, failed {failed}",
                elapsed.as_secs_f64()
            );
        }
    }
}
