//! The Sonde host: loads WebAssembly probe components, runs them on a schedule
//! inside wasmtime with per-run limits, and publishes each run as a message.

pub mod app;
mod bindings;
pub mod capabilities;
pub mod cli;
pub mod config;
pub mod engine;
pub mod http;
pub mod job;
pub mod kafka;
pub mod limits;
pub mod logging;
pub mod once;
pub mod output;
pub mod probe;
pub mod probes_cmd;
pub mod sandbox;
pub mod scheduler;
pub mod watch;
pub mod wit_version;
