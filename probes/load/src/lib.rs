//! `load` probe: the load averages and the time since boot (no params).
//!
//! - `system.cpu.load_average.1m`, `.5m`, `.15m` ({thread}): the run-queue averages
//!   (runnable threads, and on Linux those in uninterruptible sleep). OpenTelemetry's
//!   semantic conventions define no load metric; these are the names the OpenTelemetry
//!   Collector's host metrics receiver reports.
//! - `system.uptime` (s): seconds since the machine booted.

use sonde_probe::host::{self, LoadAverage};
use sonde_probe::{Info, Params, Probe, ProbeError, Samples};

#[derive(Default)]
struct Load;

impl Probe for Load {
    fn describe() -> Info {
        Info::new(
            "load",
            "Load averages over 1, 5 and 15 minutes, and seconds since boot.",
        )
    }

    fn run(&mut self, _params: &Params) -> Result<Samples, ProbeError> {
        Ok(samples(&host::load(), host::uptime_ms()))
    }
}

fn samples(load: &LoadAverage, uptime_ms: u64) -> Samples {
    let mut out = Samples::new();
    for (window, value) in [
        ("1m", load.one_minute),
        ("5m", load.five_minutes),
        ("15m", load.fifteen_minutes),
    ] {
        let name = format!("system.cpu.load_average.{window}");
        out.add(&name, value, "{thread}");
    }
    out.add("system.uptime", uptime_ms as f64 / 1000.0, "s");
    out
}

sonde_probe::export!(Load);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_averages_and_uptime_in_seconds() {
        let load = LoadAverage {
            one_minute: 0.5,
            five_minutes: 1.25,
            fifteen_minutes: 2.0,
        };
        let s = samples(&load, 90_061_500);
        let got: Vec<(&str, f64, &str)> = s
            .iter()
            .map(|s| (s.name.as_str(), s.value, s.unit.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("system.cpu.load_average.1m", 0.5, "{thread}"),
                ("system.cpu.load_average.5m", 1.25, "{thread}"),
                ("system.cpu.load_average.15m", 2.0, "{thread}"),
                ("system.uptime", 90_061.5, "s"),
            ]
        );
    }
}
