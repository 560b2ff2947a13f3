//! Probes delivered over Kafka: signed bundles on a control topic, verified, targeted and
//! run through the same path as hot-loaded files.
//!
//! - [`bundle`]: the signed wire form and its verification;
//! - [`keys`]: signing keys and the keys a host trusts;
//! - [`target`]: whether a bundle is for this host;
//! - [`publish`]: `host probes keygen`, `publish` and `stop`.

pub mod apply;
pub mod bundle;
pub mod consumer;
pub mod job;
pub mod keys;
pub mod publish;
pub mod service;
pub mod state;
pub mod target;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// The control topic hosts consume and `host probes publish` writes to by default.
pub const DEFAULT_FLEET_TOPIC: &str = "sonde.probes";

/// `[fleet]` in host.toml.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetToml {
    /// The control topic [default: sonde.probes].
    pub topic: Option<String>,
    /// Public key files (PEM) whose bundles this host runs; at least one.
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
    /// This host's labels, matched against a bundle's `--label k=v` targets.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Where verified bundles are kept [default: the host's state directory + `/fleet`].
    pub state_dir: Option<PathBuf>,
}
