//! The simulated fleet: what each host runs and the runs it would publish.
//!
//! The shapes follow the bundled probes (`probes/cpu`, `memory`, `bandwidth`,
//! `http-check`): the same metric names, units and labels, so the recorder sees the
//! series a real fleet of that size gives it. Values are plausible rather than
//! measured: cpu shares of one cpu sum to 1, memory states add up to the total,
//! network counters only grow and the rates are their change over the interval.

use chrono::{DateTime, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sonde_message::{RunMessage, Sample};

/// The probe version every simulated run carries.
pub const PROBE_VERSION: &str = "0.1.0";

/// The cpu probe's states, in its order (`probes/cpu`).
const CPU_STATES: [&str; 8] = [
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "interrupt",
    "softirq",
    "steal",
];
/// Each host's interfaces (`lo` is reported too by the bandwidth probe on a real host).
const INTERFACES: [&str; 2] = ["eth0", "lo"];
const DIRECTIONS: [&str; 2] = ["receive", "transmit"];
/// (counter, unit, rate, rate unit) as the bandwidth probe names them.
const NET_METRICS: [(&str, &str, &str, &str); 3] = [
    ("system.network.io", "By", "sonde.network.io.rate", "By/s"),
    (
        "system.network.packet.count",
        "{packet}",
        "sonde.network.packet.rate",
        "{packet}/s",
    ),
    (
        "system.network.errors",
        "{error}",
        "sonde.network.error.rate",
        "{error}/s",
    ),
];
const MEMORY_TOTAL_BYTES: f64 = 16.0 * 1024.0 * 1024.0 * 1024.0;
const SWAP_TOTAL_BYTES: f64 = 2.0 * 1024.0 * 1024.0 * 1024.0;

/// What every simulated host runs each interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Cores per host: the cpu run reports each of them and the total.
    pub cores: u32,
    /// HTTP checks per host, each its own job of the `http-check` probe.
    pub http_checks: u32,
}

impl Shape {
    /// The jobs of one host, in the order they are scheduled.
    pub fn jobs(&self) -> Vec<Job> {
        let mut jobs = vec![Job::Cpu, Job::Memory, Job::Bandwidth];
        jobs.extend((0..self.http_checks).map(Job::Http));
        jobs
    }

    /// Samples one host publishes per interval (every job run once).
    pub fn samples_per_interval(&self) -> u64 {
        self.jobs().iter().map(|j| u64::from(j.samples(self))).sum()
    }
}

/// One job of a simulated host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Cpu,
    Memory,
    Bandwidth,
    /// The n-th HTTP check (from 0).
    Http(u32),
}

impl Job {
    /// The probe that runs the job; with the host name it is the message's Kafka key.
    pub fn probe(&self) -> &'static str {
        match self {
            Job::Cpu => "cpu",
            Job::Memory => "memory",
            Job::Bandwidth => "bandwidth",
            Job::Http(_) => "http-check",
        }
    }

    /// The job's name in the run message.
    pub fn name(&self) -> String {
        match self {
            Job::Http(n) => format!("http-{n}"),
            other => other.probe().to_owned(),
        }
    }

    /// Samples in one run of this job.
    pub fn samples(&self, shape: &Shape) -> u32 {
        let per_cpu = CPU_STATES.len() as u32;
        let per_interface = (NET_METRICS.len() * DIRECTIONS.len() * 2) as u32;
        match self {
            Job::Cpu => (shape.cores + 1) * per_cpu,
            Job::Memory => 8,
            Job::Bandwidth => INTERFACES.len() as u32 * per_interface,
            // Five phase durations, the status code, the regex verdict and up.
            Job::Http(_) => 8,
        }
    }
}

/// The name of simulated host `index`.
pub fn host_name(index: u32) -> String {
    format!("sim-{index:05}")
}

/// Per-host state that makes successive runs consistent (counters that grow).
#[derive(Debug, Clone, Default)]
struct HostState {
    /// Bytes, packets, errors per interface and direction, in [`NET_METRICS`] order.
    net: [[f64; 6]; INTERFACES.len()],
}

/// The fleet's state and its random source.
pub struct Fleet {
    shape: Shape,
    hosts: Vec<HostState>,
    rng: SmallRng,
    /// Interval between two runs of a job, for the network rates.
    interval_secs: f64,
}

impl Fleet {
    /// `hosts` hosts of `shape`; `seed` makes the values repeatable.
    pub fn new(shape: Shape, hosts: u32, interval_secs: f64, seed: u64) -> Fleet {
        Fleet {
            shape,
            hosts: vec![HostState::default(); hosts as usize],
            rng: SmallRng::seed_from_u64(seed),
            interval_secs,
        }
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// One run of `job` on host `host`, started at `at`.
    ///
    /// # Panics
    /// When `host` is not below the fleet's size (a scheduling bug, not input).
    pub fn run(&mut self, host: u32, job: Job, at: DateTime<Utc>) -> RunMessage {
        let mut msg = RunMessage::new(
            &host_name(host),
            job.probe(),
            PROBE_VERSION,
            &job.name(),
            at,
        );
        msg.duration_us = self.rng.random_range(150..2_500);
        msg.component_sha256 = Some(component_sha256(job.probe()));
        msg.samples = match job {
            Job::Cpu => self.cpu(),
            Job::Memory => self.memory(),
            Job::Bandwidth => self.bandwidth(host as usize),
            Job::Http(n) => self.http(host, n),
        };
        msg
    }

    fn cpu(&mut self) -> Vec<Sample> {
        let mut out = Vec::with_capacity(((self.shape.cores + 1) as usize) * CPU_STATES.len());
        let cpus =
            std::iter::once("total".to_owned()).chain((0..self.shape.cores).map(|c| c.to_string()));
        for cpu in cpus {
            // A mostly idle machine: user and system take a random share, idle the most.
            let mut weights: [f64; 8] = std::array::from_fn(|_| self.rng.random_range(0.0..0.02));
            weights[0] = self.rng.random_range(0.02..0.45);
            weights[2] = self.rng.random_range(0.01..0.15);
            weights[3] = self.rng.random_range(0.3..0.9);
            let sum: f64 = weights.iter().sum();
            for (state, w) in CPU_STATES.iter().zip(weights) {
                out.push(sample(
                    "system.cpu.utilization",
                    w / sum,
                    "1",
                    &[("cpu", &cpu), ("state", state)],
                ));
            }
        }
        out
    }

    fn memory(&mut self) -> Vec<Sample> {
        let used_share = self.rng.random_range(0.2..0.85);
        let used = (MEMORY_TOTAL_BYTES * used_share).round();
        let free = MEMORY_TOTAL_BYTES - used;
        let available = (free + used * self.rng.random_range(0.1..0.4)).round();
        let swap_used = (SWAP_TOTAL_BYTES * self.rng.random_range(0.0..0.1)).round();
        vec![
            sample("system.memory.limit", MEMORY_TOTAL_BYTES, "By", &[]),
            sample("system.memory.usage", used, "By", &[("state", "used")]),
            sample("system.memory.usage", free, "By", &[("state", "free")]),
            sample("system.memory.linux.available", available, "By", &[]),
            sample(
                "system.memory.utilization",
                used_share,
                "1",
                &[("state", "used")],
            ),
            sample("system.paging.usage", swap_used, "By", &[("state", "used")]),
            sample(
                "system.paging.usage",
                SWAP_TOTAL_BYTES - swap_used,
                "By",
                &[("state", "free")],
            ),
            sample(
                "system.paging.utilization",
                swap_used / SWAP_TOTAL_BYTES,
                "1",
                &[("state", "used")],
            ),
        ]
    }

    fn bandwidth(&mut self, host: usize) -> Vec<Sample> {
        let mut out = Vec::with_capacity(INTERFACES.len() * 12);
        for (i, interface) in INTERFACES.iter().enumerate() {
            // Bytes per second, then about one packet per 900 bytes, errors rare.
            let byte_rate: f64 = self.rng.random_range(1e3..5e6);
            let rates_now: [f64; 6] = std::array::from_fn(|k| {
                let direction_share: f64 = if k % 2 == 0 { 1.0 } else { 0.6 };
                match k / 2 {
                    0 => (byte_rate * direction_share).round(),
                    1 => (byte_rate * direction_share / 900.0).round(),
                    _ => f64::from(self.rng.random_bool(0.01)),
                }
            });
            let counters = &mut self.hosts[host].net[i];
            for (k, (counter, counter_unit, rate, rate_unit)) in NET_METRICS.iter().enumerate() {
                for (d, direction) in DIRECTIONS.iter().enumerate() {
                    let slot = 2 * k + d;
                    let delta = (rates_now[slot] * self.interval_secs).round();
                    counters[slot] += delta;
                    let labels = [("interface", *interface), ("direction", *direction)];
                    out.push(sample(counter, counters[slot], counter_unit, &labels));
                    out.push(sample(rate, delta / self.interval_secs, rate_unit, &labels));
                }
            }
        }
        out
    }

    fn http(&mut self, host: u32, check: u32) -> Vec<Sample> {
        let url = format!(
            "https://svc-{}.example.internal/health",
            (host * 7 + check) % 500
        );
        let dns = self.rng.random_range(0.0002..0.004);
        let connect = dns + self.rng.random_range(0.0005..0.01);
        let tls = connect + self.rng.random_range(0.002..0.02);
        let first_byte = tls + self.rng.random_range(0.005..0.2);
        let total = first_byte + self.rng.random_range(0.0005..0.05);
        let up = self.rng.random_bool(0.995);
        let mut out: Vec<Sample> = [
            ("dns", dns),
            ("connect", connect),
            ("tls", tls),
            ("first_byte", first_byte),
            ("total", total),
        ]
        .into_iter()
        .map(|(phase, s)| {
            sample(
                "sonde.http.check.duration",
                s,
                "s",
                &[("url", &url), ("phase", phase)],
            )
        })
        .collect();
        let status = if up { 200.0 } else { 503.0 };
        out.push(sample(
            "sonde.http.check.status_code",
            status,
            "1",
            &[("url", &url)],
        ));
        out.push(sample(
            "sonde.http.check.regex_match",
            f64::from(up),
            "1",
            &[("url", &url)],
        ));
        out.push(sample(
            "sonde.http.check.up",
            f64::from(up),
            "1",
            &[("url", &url)],
        ));
        out
    }
}

fn sample(name: &str, value: f64, unit: &str, labels: &[(&str, &str)]) -> Sample {
    Sample {
        name: name.to_owned(),
        value,
        unit: unit.to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// A stable stand-in for the component hash a host reports (64 lowercase hex digits).
fn component_sha256(probe: &str) -> String {
    let seed = probe.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{seed:016x}").repeat(4)
}

#[cfg(test)]
#[path = "fleet_tests.rs"]
mod tests;
