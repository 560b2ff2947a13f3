//! Writing Sonde probes in Rust.
//!
//! A probe is a type that implements [`Probe`]: `describe` says what it is and which
//! params it takes, `run` measures. [`export!`] makes a component of it:
//!
//! ```ignore
//! use sonde_probe::{host, Info, Params, Probe, ProbeError, Samples};
//!
//! #[derive(Default)]
//! struct Uptime;
//!
//! impl Probe for Uptime {
//!     fn describe() -> Info {
//!         Info::new("uptime", "Seconds since boot.")
//!     }
//!
//!     fn run(&mut self, _params: &Params) -> Result<Samples, ProbeError> {
//!         let mut out = Samples::new();
//!         out.add("system.uptime", host::uptime_ms() as f64 / 1000.0, "s");
//!         Ok(out)
//!     }
//! }
//!
//! sonde_probe::export!(Uptime);
//! ```
//!
//! What the SDK does for the probe:
//! - one value of the probe type lives across the runs of a job (it is the instance's
//!   state: previous counters, a compiled regex), made with `Default` on the first run;
//! - params are checked against `describe` before `run` sees them: an unknown param or a
//!   missing required one is a `bad-config` error naming it, and the typed getters of
//!   [`Params`] name the param and the value they could not read;
//! - [`Counters`] turns cumulative counters into deltas and rates between runs.
//!
//! The host functions are in [`host`] (metrics), [`http`] and [`log`]. Off wasm they are
//! stubs that panic, so keep the arithmetic in functions of plain values and unit-test
//! those natively (`cargo test -p <crate>`).

// The bindings name this crate by its path so that `export!` works from probe crates.
extern crate self as sonde_probe;

mod counters;
mod info;
mod params;
mod samples;
mod select;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "probe",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_probe_world",
        default_bindings_module: "::sonde_probe::bindings",
        runtime_path: "::sonde_probe::__wit_bindgen::rt",
        additional_derives: [PartialEq],
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub use bindings::sonde::probe::host_metrics as host;
pub use bindings::sonde::probe::http;
pub use bindings::sonde::probe::types::{ParamInfo, ProbeError, ProbeInfo, Sample};
pub use counters::{Change, Counters, Reading};
pub use info::Info;
pub use params::{bad_param, ParamValue, Params};
pub use samples::Samples;
pub use select::only_named;

/// The host's log, tagged with the job; at most 100 messages a run are kept.
pub mod log {
    pub use crate::bindings::sonde::probe::log::{log, Level};

    pub fn info(message: &str) {
        log(Level::Info, message);
    }

    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }
}

/// A probe: what it is ([`Probe::describe`]) and one measurement ([`Probe::run`]).
///
/// The value is the instance's state between runs: made with `Default` before the first
/// run, kept until the host discards the instance (after a trap or a limit).
pub trait Probe: Default + Send + 'static {
    /// Name, description, interval and params. The version is the crate's.
    fn describe() -> Info;

    /// One run. `params` holds only params `describe` declares, the required ones among
    /// them. Return `ProbeError::BadConfig` for bad params (retrying will not help),
    /// `Unavailable` when what is measured is not there now, `Failed` otherwise; a panic
    /// is a trap, which discards the instance.
    fn run(&mut self, params: &Params) -> Result<Samples, ProbeError>;
}

/// Make a component of a [`Probe`]: `sonde_probe::export!(MyProbe);` once, in the
/// probe crate's `lib.rs`.
#[macro_export]
macro_rules! export {
    ($probe:ty) => {
        #[doc(hidden)]
        pub struct __SondeProbeWorld;

        #[doc(hidden)]
        static __SONDE_PROBE_STATE: ::std::sync::Mutex<::core::option::Option<$probe>> =
            ::std::sync::Mutex::new(::core::option::Option::None);

        impl $crate::bindings::Guest for __SondeProbeWorld {
            fn describe() -> $crate::ProbeInfo {
                $crate::__private::describe::<$probe>(env!("CARGO_PKG_VERSION"))
            }

            fn run(
                params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::core::result::Result<::std::vec::Vec<$crate::Sample>, $crate::ProbeError> {
                $crate::__private::run::<$probe>(&__SONDE_PROBE_STATE, params)
            }
        }

        $crate::bindings::__export_probe_world!(__SondeProbeWorld with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub mod __private {
    use std::sync::Mutex;

    use crate::{Params, Probe, ProbeError, ProbeInfo, Sample, Samples};

    pub fn describe<P: Probe>(crate_version: &str) -> ProbeInfo {
        P::describe().into_probe_info(crate_version)
    }

    pub fn run<P: Probe>(
        state: &Mutex<Option<P>>,
        raw: Vec<(String, String)>,
    ) -> Result<Vec<Sample>, ProbeError> {
        let params = Params::parse(&P::describe(), raw)?;
        // A panic ends the instance, so a poisoned lock is never seen again; take it anyway.
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let probe = state.get_or_insert_with(P::default);
        probe.run(&params).map(Samples::into_vec)
    }
}
