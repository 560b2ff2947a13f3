//! What the Sonde binaries share to run as services:
//!
//! - [`Registry`]: Prometheus metrics rendered in the text exposition format (0.0.4), with
//!   handles registered up front and passed to the code that counts;
//! - [`endpoint`]: `/metrics`, `/healthz` and `/readyz` over HTTP/1.1 on one address;
//! - [`logs`]: logs on stderr as text or as one JSON object per line.
//!
//! Each binary keeps its metric names and handles in its own `telemetry` module.

pub mod endpoint;
pub mod logs;
mod registry;

pub use endpoint::{Endpoint, Readiness};
pub use logs::{LogArgs, LogFormat};
pub use metrics::{Counter, Gauge, Histogram};
pub use registry::Registry;
