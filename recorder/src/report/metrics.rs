//! The metric names and labels the report reads, in one place: a probe renaming a metric
//! is a one-line change here (docs/probes.md lists what the bundled probes report).

/// CPU time share per `state`, 0–1 (cpu probe).
pub const CPU_UTILIZATION: &str = "system.cpu.utilization";
/// The `cpu` label value of the whole-machine series (the others are core numbers).
pub const CPU_TOTAL: &str = "total";
/// Memory in bytes per `state` (memory probe); the report charts `used`.
pub const MEMORY_USAGE: &str = "system.memory.usage";
pub const MEMORY_USED_STATE: &str = "used";
/// Memory available to new programs, bytes, no labels (memory probe).
pub const MEMORY_AVAILABLE: &str = "system.memory.linux.available";
/// Bytes per second per `interface` and `direction` (bandwidth probe).
pub const NETWORK_RATE: &str = "sonde.network.io.rate";
/// Event sample: a byte rate above the job's threshold (bandwidth probe).
pub const NETWORK_THRESHOLD: &str = "sonde.network.threshold_exceeded";
/// Per `phase` (http-check probe); every http-check sample carries `url`.
pub const HTTP_DURATION: &str = "sonde.http.check.duration";
/// [`HTTP_DURATION`] is in seconds; the report shows milliseconds.
pub const HTTP_DURATION_TO_MS: &str = "1000";
/// The response's status code.
pub const HTTP_STATUS: &str = "sonde.http.check.status_code";
/// 0/1, labelled with the `regex`.
pub const HTTP_REGEX_MATCH: &str = "sonde.http.check.regex_match";
/// 0/1: expected status (and regex match) or not.
pub const HTTP_UP: &str = "sonde.http.check.up";
