//! Running one probe: the shared wasmtime engine and its compile cache, the store a probe
//! lives in (its sandbox), the capabilities it is given, and the limits of each run.
//!
//! Dependencies point one way: `capabilities` (one module per WIT import) know nothing
//! of the store; `sandbox` builds the store and wires the capabilities into the linker;
//! `probe` loads and describes components on top of both, `instance` instantiates and
//! runs them, every entry into the guest bounded by a deadline. `wit_version` and
//! `metadata` read what a component was built against and by what.

pub(crate) mod bindings;
pub mod cache;
pub mod capabilities;
pub mod engine;
pub mod instance;
pub mod limits;
pub mod metadata;
pub mod probe;
pub mod sandbox;
pub mod wit_version;
