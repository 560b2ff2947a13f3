//! The metric names and labels the report reads, in one place: a probe renaming a metric
//! is a one-line change here (docs/probes.md lists what the bundled probes report).

/// CPU time share per `state`, 0–1 (cpu probe).
pub const CPU_UTILIZATION: &str = "system.cpu.utilization";
/// The `cpu` label value of the whole-machine series (the others are core numbers).
pub const CPU_TOTAL: &str = "total";
/// Memory in bytes per `state` (memory probe).
pub const MEMORY_USAGE: &str = "system.memory.usage";
/// The memory states charted.
pub const MEMORY_STATES: [&str; 2] = ["used", "available"];
/// Bytes per second per `interface` and `direction` (bandwidth probe).
pub const NETWORK_RATE: &str = "system.network.io";
/// Event sample: a byte rate above the job's threshold (bandwidth probe).
pub const NETWORK_THRESHOLD: &str = "system.network.threshold_exceeded";
/// Milliseconds per `phase` (http-check probe); every http-check sample carries `url`.
pub const HTTP_DURATION: &str = "http.check.duration";
/// The response's status code.
pub const HTTP_STATUS: &str = "http.check.status_code";
/// 0/1, labelled with the `regex`.
pub const HTTP_REGEX_MATCH: &str = "http.check.regex_match";
/// 0/1: expected status (and regex match) or not.
pub const HTTP_UP: &str = "http.check.up";
