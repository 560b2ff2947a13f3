//! The Sonde host: loads WebAssembly probe components, runs them on a schedule
//! inside wasmtime with per-run limits, and publishes each run as a message.

pub mod app;
pub mod cli;
pub mod config;
pub mod fleet;
pub mod http;
pub mod kafka;
pub mod output;
pub mod probes_cmd;
pub mod reload;
pub mod runtime;
pub mod schedule;
pub mod state_dir;
pub mod telemetry;
pub mod validate;
