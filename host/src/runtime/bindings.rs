//! The `bindgen!` of world `probe`, once per contract version the host implements
//! (`../wit/probe.wit` and the released `../wit/<version>/probe.wit`). Private to the
//! crate: the rest of the host speaks in its own types, or in the newest version's.
//!
//! Imports are trappable: the outer `Result` is a trap (a host failure or a limit),
//! the inner WIT `result` is the probe's business (e.g. `http-error::not-allowed`).
//!
//! Every version shares the newest version's `types` interface (no version may change
//! it), so `describe` and `run` return the same Rust types whichever version a component
//! was built against; each version's imports are served by the capabilities through
//! their views (see `capabilities`).

use wasmtime::component::InstancePre;
use wasmtime::Store;

use crate::runtime::wit_version::ContractVersion;

/// `sonde:probe@0.2.0`, the version `wit/probe.wit` defines.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        world: "probe",
        path: "../wit",
        imports: {
            "sonde:probe/http.fetch": async | trappable,
            "sonde:probe/host-metrics.filesystems": async | trappable,
            default: trappable,
        },
        exports: { default: async },
    });
}

/// `sonde:probe@0.1.0`, released and kept verbatim in `wit/0.1.0/`.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        world: "probe",
        path: "../wit/0.1.0",
        imports: {
            "sonde:probe/http.fetch": async | trappable,
            default: trappable,
        },
        exports: { default: async },
        with: { "sonde:probe/types": super::v0_2::sonde::probe::types },
    });
}

pub use v0_2::sonde::probe::host_metrics;
pub use v0_2::sonde::probe::log as wit_log;
pub use v0_2::sonde::probe::types;
pub use v0_2::{ProbeError, ProbeInfo, Sample};

/// A component linked and checked against the world of the version it was built for.
pub enum ProbePre<T: 'static> {
    V0_1(v0_1::ProbePre<T>),
    V0_2(v0_2::ProbePre<T>),
}

impl<T: Send + 'static> ProbePre<T> {
    /// Check that `pre` exports the world `probe` of `version`.
    pub fn new(pre: InstancePre<T>, version: ContractVersion) -> wasmtime::Result<Self> {
        Ok(match version {
            ContractVersion::V0_1 => ProbePre::V0_1(v0_1::ProbePre::new(pre)?),
            ContractVersion::V0_2 => ProbePre::V0_2(v0_2::ProbePre::new(pre)?),
        })
    }

    pub async fn instantiate_async(&self, store: &mut Store<T>) -> wasmtime::Result<Probe> {
        Ok(match self {
            ProbePre::V0_1(pre) => Probe::V0_1(pre.instantiate_async(store).await?),
            ProbePre::V0_2(pre) => Probe::V0_2(pre.instantiate_async(store).await?),
        })
    }
}

/// A live instance of a probe, of whichever version.
pub enum Probe {
    V0_1(v0_1::Probe),
    V0_2(v0_2::Probe),
}

impl Probe {
    pub async fn call_describe<T: Send>(
        &self,
        store: &mut Store<T>,
    ) -> wasmtime::Result<ProbeInfo> {
        match self {
            Probe::V0_1(p) => p.call_describe(store).await,
            Probe::V0_2(p) => p.call_describe(store).await,
        }
    }

    pub async fn call_run<T: Send>(
        &self,
        store: &mut Store<T>,
        params: &[(String, String)],
    ) -> wasmtime::Result<Result<Vec<Sample>, ProbeError>> {
        match self {
            Probe::V0_1(p) => p.call_run(store, params).await,
            Probe::V0_2(p) => p.call_run(store, params).await,
        }
    }
}
