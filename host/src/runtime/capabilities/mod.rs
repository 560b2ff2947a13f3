//! What a probe can reach, one module per WIT import: host metrics, HTTP, log.
//! Each holds its own policy; the sandbox wires them into the store.

pub mod http;
pub mod log;
pub mod metrics;
