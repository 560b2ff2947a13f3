//! `cpu` probe: `system.cpu.utilization` (unit `1`, 0..=1) per state for the
//! machine total and, with `per_core` (default `true`), for each core.
//!
//! Labels: `cpu` (`"total"` for the machine, `"0"`, `"1"`, ... per core; OpenTelemetry's
//! `cpu.logical_number`) and `state` (OpenTelemetry's `cpu.mode`: `user`, `nice`,
//! `system`, `idle`, `iowait`, `interrupt`, `softirq`, `steal`). The states of one cpu
//! sum to 1.
//!
//! Utilisation is the share of each state in the CPU time that passed between
//! two runs; the previous counters live in this instance's memory. The first run
//! of an instance (and a core seen for the first time) has no previous reading,
//! so it reports the average since boot instead of returning nothing. A cpu whose
//! counters did not move since the last run, or went backwards (reset), is left out of
//! that run.

mod utilization;

use sonde_probe::host::{self, CpuTime};
use sonde_probe::{Change, Counters, Info, Params, Probe, ProbeError, Samples};
use utilization::STATES;

#[derive(Default)]
struct Cpu {
    /// The previous run's counters, by cpu (`None` = total).
    previous: Counters<Option<u32>, 8>,
}

impl Probe for Cpu {
    fn describe() -> Info {
        Info::new(
            "cpu",
            "CPU utilisation per state (user, nice, system, idle, iowait, interrupt, softirq, \
             steal), machine total and per core; first run: since boot.",
        )
        .param_default(
            "per_core",
            "true",
            "Also report each core (label cpu=\"0\"...), not only the total.",
        )
    }

    fn run(&mut self, params: &Params) -> Result<Samples, ProbeError> {
        let per_core: bool = params.require("per_core")?;
        let now: Vec<(Option<u32>, utilization::Counters)> = host::cpu_times()
            .iter()
            .filter(|t| per_core || t.cpu.is_none())
            .map(|t| (t.cpu, counters(t)))
            .collect();
        if now.is_empty() {
            return Err(ProbeError::Unavailable(
                "the host reported no CPU times".into(),
            ));
        }
        Ok(self.report(now))
    }
}

impl Cpu {
    fn report(&mut self, now: Vec<(Option<u32>, utilization::Counters)>) -> Samples {
        let mut out = Samples::new();
        for reading in self.previous.update(now) {
            let window = match reading.change {
                Change::New => reading.now,
                Change::Grew { by, .. } => by,
                Change::Reset => continue,
            };
            let Some(shares) = utilization::shares(&window) else {
                continue;
            };
            let cpu = reading.key.map_or("total".to_string(), |c| c.to_string());
            for (state, share) in STATES.iter().zip(shares) {
                out.add("system.cpu.utilization", share, "1")
                    .label("cpu", cpu.as_str())
                    .label("state", *state);
            }
        }
        out
    }
}

fn counters(t: &CpuTime) -> utilization::Counters {
    [
        t.user_ms,
        t.nice_ms,
        t.system_ms,
        t.idle_ms,
        t.iowait_ms,
        t.irq_ms,
        t.softirq_ms,
        t.steal_ms,
    ]
}

sonde_probe::export!(Cpu);

#[cfg(test)]
mod tests {
    use super::*;

    fn user_share(s: &Samples, cpu: &str) -> Option<f64> {
        let labels = [("cpu", cpu), ("state", "user")];
        s.find("system.cpu.utilization", &labels).map(|s| s.value)
    }

    #[test]
    fn since_boot_first_then_the_window_and_idle_cpus_left_out() {
        let mut cpu = Cpu::default();
        let first = cpu.report(vec![(None, [10, 0, 0, 30, 0, 0, 0, 0]), (Some(0), [0; 8])]);
        assert_eq!(user_share(&first, "total"), Some(0.25));
        assert_eq!(user_share(&first, "0"), None, "no time at all yet");
        assert_eq!(first.len(), 8);

        let second = cpu.report(vec![(None, [40, 0, 0, 40, 0, 0, 0, 0]), (Some(0), [0; 8])]);
        assert_eq!(user_share(&second, "total"), Some(0.75));
        assert_eq!(second.len(), 8);
    }

    #[test]
    fn per_core_is_a_boolean() {
        let e = Params::of::<Cpu>(&[("per_core", "sometimes")])
            .and_then(|p| p.get::<bool>("per_core"))
            .unwrap_err();
        assert_eq!(
            e,
            ProbeError::BadConfig(
                "param per_core: \"sometimes\" is not a boolean (true/false)".into()
            )
        );
        let p = Params::of::<Cpu>(&[]).expect("no params");
        assert_eq!(p.get::<bool>("per_core"), Ok(Some(true)));
    }
}
