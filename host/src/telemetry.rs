//! The host's Prometheus metrics: every name, its help text and its buckets, in one place.
//! The code that counts gets small handles ([`JobMetrics`], [`DeliveryMetrics`]) and never
//! sees the registry.
//!
//! Handles made by [`Telemetry::new`] count for the `/metrics` endpoint; the `Default`
//! ones of [`JobMetrics`] and [`DeliveryMetrics`] count nowhere (library use, tests).
//!
//! Per-job series carry the label `sonde_job`, not `job`: Prometheus sets `job` to the
//! scrape job's name and would rename ours to `exported_job`.

use sonde_telemetry::{Counter, Gauge, Histogram, Registry};

use crate::fleet::apply::{ExportedCounters, FleetCounters, REFUSAL_REASONS};

/// Run durations, seconds: from sub-millisecond host-metrics probes to HTTP checks near
/// their timeout.
const RUN_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Spool → broker acknowledgement, seconds: milliseconds when healthy, minutes in an outage.
const DELIVERY_SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

pub const RUNS: &str = "sonde_host_runs_total";
pub const RUN_DURATION: &str = "sonde_host_run_duration_seconds";
pub const MISSED_TICKS: &str = "sonde_host_missed_ticks_total";
pub const JOBS: &str = "sonde_host_jobs";
pub const LOAD_FAILURES: &str = "sonde_host_probe_load_failures_total";
pub const CONFIG_RELOADS: &str = "sonde_host_config_reloads_total";
pub const SPOOL_MESSAGES: &str = "sonde_host_spool_messages";
pub const SPOOL_BYTES: &str = "sonde_host_spool_bytes";
pub const SPOOL_OLDEST_AGE: &str = "sonde_host_spool_oldest_age_seconds";
pub const RUNS_DROPPED: &str = "sonde_host_runs_dropped_total";
pub const KAFKA_CONNECTED: &str = "sonde_host_kafka_connected";
pub const DELIVERY_ERRORS: &str = "sonde_host_kafka_delivery_errors_total";
pub const DELIVERY_LATENCY: &str = "sonde_host_kafka_delivery_latency_seconds";
pub const BUILD_INFO: &str = "sonde_host_build_info";
pub const FLEET_ACCEPTED: &str = "sonde_host_fleet_bundles_accepted_total";
pub const FLEET_REFUSED: &str = "sonde_host_fleet_bundles_refused_total";

/// The host's registry and its process-wide handles.
#[derive(Clone)]
pub struct Telemetry {
    pub registry: Registry,
    /// Jobs scheduled right now.
    pub jobs: Gauge,
    /// Probe files that failed to load and jobs that could not start (each problem once).
    pub load_failures: Counter,
    pub reloads_ok: Counter,
    pub reloads_failed: Counter,
}

impl Telemetry {
    pub fn new() -> anyhow::Result<Telemetry> {
        let registry = Registry::new(&[
            (RUN_DURATION, RUN_SECONDS),
            (DELIVERY_LATENCY, DELIVERY_SECONDS),
        ])?;
        registry
            .gauge(
                BUILD_INFO,
                "Always 1; the version label says which host is running.",
                &[("version", env!("CARGO_PKG_VERSION"))],
            )
            .set(1.0);
        let reloads = |result| {
            registry.counter(
                CONFIG_RELOADS,
                "SIGHUP reloads of host.toml, by result (ok, error: the running configuration was kept).",
                &[("result", result)],
            )
        };
        Ok(Telemetry {
            jobs: registry.gauge(JOBS, "Jobs scheduled.", &[]),
            load_failures: registry.counter(
                LOAD_FAILURES,
                "Probe components that failed to load and jobs that could not start, each problem counted once.",
                &[],
            ),
            reloads_ok: reloads("ok"),
            reloads_failed: reloads("error"),
            registry,
        })
    }

    /// The handles of one job's schedule.
    pub fn job(&self, job: &str) -> JobMetrics {
        let r = &self.registry;
        let runs = |status| {
            r.counter(
                RUNS,
                "Probe runs finished, by job and status (ok, error).",
                &[("sonde_job", job), ("status", status)],
            )
        };
        JobMetrics {
            runs_ok: runs("ok"),
            runs_error: runs("error"),
            duration: r.histogram(
                RUN_DURATION,
                "Wall-clock time of one probe run, from instantiation to its last sample.",
                &[("sonde_job", job)],
            ),
            missed_ticks: r.counter(
                MISSED_TICKS,
                "Scheduled runs skipped because the previous run of the job was still going.",
                &[("sonde_job", job)],
            ),
        }
    }

    /// The fleet's bundle counters, exported here.
    pub fn fleet(&self) -> FleetCounters {
        let r = &self.registry;
        FleetCounters::exported(ExportedCounters {
                accepted: r.counter(
                    FLEET_ACCEPTED,
                    "Probe bundles from the control topic that verified and were newer than any seen for their job.",
                    &[],
                ),
                refused: REFUSAL_REASONS
                    .iter()
                    .map(|reason| {
                        r.counter(
                            FLEET_REFUSED,
                            "Probe bundles refused, by reason (unsigned, unknown_key, bad_signature, malformed, oversize, sha256_mismatch, replay, bad_job); none of them runs.",
                            &[("reason", reason)],
                        )
                    })
                    .collect(),
        })
    }

    /// The handles of the Kafka delivery thread and the spool gauges.
    pub fn delivery(&self) -> DeliveryMetrics {
        let r = &self.registry;
        DeliveryMetrics {
            connected: r.gauge(
                KAFKA_CONNECTED,
                "1 while the last delivery to Kafka succeeded; 0 before the first one and after a failure.",
                &[],
            ),
            errors: r.counter(
                DELIVERY_ERRORS,
                "Delivery reports that failed (the message stays spooled and is retried, or is refused for good).",
                &[],
            ),
            latency: r.histogram(
                DELIVERY_LATENCY,
                "Time from a run being spooled to the broker acknowledging it.",
                &[],
            ),
            spool_messages: r.gauge(
                SPOOL_MESSAGES,
                "Runs in the spool not yet acknowledged by Kafka.",
                &[],
            ),
            spool_bytes: r.gauge(SPOOL_BYTES, "Bytes of the spool's segment files.", &[]),
            spool_oldest_age: r.gauge(
                SPOOL_OLDEST_AGE,
                "Age of the oldest run this process spooled that Kafka has not acknowledged; 0 when none.",
                &[],
            ),
            runs_dropped: r.counter(
                RUNS_DROPPED,
                "Runs lost before delivery: pushed out by the spool's size cap or not writable to it.",
                &[],
            ),
        }
    }
}

/// One job's counters.
#[derive(Clone)]
pub struct JobMetrics {
    pub runs_ok: Counter,
    pub runs_error: Counter,
    pub duration: Histogram,
    pub missed_ticks: Counter,
}

/// The Kafka sink's handles.
#[derive(Clone)]
pub struct DeliveryMetrics {
    pub connected: Gauge,
    pub errors: Counter,
    pub latency: Histogram,
    pub spool_messages: Gauge,
    pub spool_bytes: Gauge,
    pub spool_oldest_age: Gauge,
    pub runs_dropped: Counter,
}

impl Default for JobMetrics {
    fn default() -> Self {
        JobMetrics {
            runs_ok: Counter::noop(),
            runs_error: Counter::noop(),
            duration: Histogram::noop(),
            missed_ticks: Counter::noop(),
        }
    }
}

impl Default for DeliveryMetrics {
    fn default() -> Self {
        DeliveryMetrics {
            connected: Gauge::noop(),
            errors: Counter::noop(),
            latency: Histogram::noop(),
            spool_messages: Gauge::noop(),
            spool_bytes: Gauge::noop(),
            spool_oldest_age: Gauge::noop(),
            runs_dropped: Counter::noop(),
        }
    }
}
