//! `disk` probe: I/O of each block device, as cumulative counters on every run and as
//! rates from an instance's second run on.
//!
//! Every sample has label `device` (OpenTelemetry's `system.device`: `sda`, `nvme0n1`,
//! `dm-0`); those with a `direction` (`read`/`write`, OpenTelemetry's
//! `disk.io.direction`) come in pairs.
//! - counters (OpenTelemetry's names): `system.disk.io` (By), `system.disk.operations`
//!   ({operation}), `system.disk.operation_time` (s, summed over requests, so parallel
//!   ones add up), `system.disk.merged` ({operation}), and without direction
//!   `system.disk.io_time` (s, wall-clock time with I/O in flight);
//! - rates since the previous run: `sonde.disk.io.rate` (By/s),
//!   `sonde.disk.operation.rate` ({operation}/s), and `sonde.disk.busy` (1, no
//!   direction): the share of the time the device had I/O in flight (iostat's %util).
//!
//! Param `device`: only these (comma-separated names; a listed device the host lacks
//! fails the run as `unavailable`). Unset: every device but `loop*` and `ram*` ones and
//! those that never did any I/O.

use sonde_probe::host::{self, DiskCounters};
use sonde_probe::{only_named, Counters, Info, Params, Probe, ProbeError, Samples};

/// Indices into the counters of one device.
const READ_BYTES: usize = 0;
const READS: usize = 2;
const OPERATION_TIME_MS: usize = 4;
const MERGED: usize = 6;
const IO_TIME_MS: usize = 8;

#[derive(Default)]
struct Disk {
    previous: Counters<String, 9>,
}

impl Probe for Disk {
    fn describe() -> Info {
        Info::new(
            "disk",
            "Disk I/O per block device: bytes, operations, time and merges (counters); \
             byte and operation rates and the busy share from the second run on.",
        )
        .param(
            "device",
            "Only these devices (comma-separated names); unset: all but loop, ram and idle ones.",
        )
    }

    fn run(&mut self, params: &Params) -> Result<Samples, ProbeError> {
        let wanted: Option<Vec<String>> = params.get("device")?;
        let disks = select(host::disks(), wanted.as_deref())?;
        let mut out = Samples::new();
        let readings = disks
            .iter()
            .map(|d| (d.name.clone(), counters(d)))
            .collect();
        for reading in self.previous.update(readings) {
            push_counters(&mut out, &reading.key, &reading.now);
            if let Some(rates) = reading.change.per_second() {
                push_rates(&mut out, &reading.key, &rates);
            }
        }
        Ok(out)
    }
}

/// The devices `wanted`, in the host's order; without a list, the ones worth reporting.
fn select(
    disks: Vec<DiskCounters>,
    wanted: Option<&[String]>,
) -> Result<Vec<DiskCounters>, ProbeError> {
    if wanted.is_none() {
        return Ok(disks
            .into_iter()
            .filter(|d| {
                let virtual_device = d.name.starts_with("loop") || d.name.starts_with("ram");
                !virtual_device && counters(d).iter().any(|c| *c > 0)
            })
            .collect());
    }
    only_named(disks, wanted, "device", |d| d.name.as_str())
}

/// Read then write for each pair, then the io time.
fn counters(d: &DiskCounters) -> [u64; 9] {
    [
        d.read_bytes,
        d.written_bytes,
        d.reads,
        d.writes,
        d.read_time_ms,
        d.write_time_ms,
        d.merged_reads,
        d.merged_writes,
        d.io_time_ms,
    ]
}

fn push_counters(out: &mut Samples, device: &str, c: &[u64; 9]) {
    let pairs = [
        ("system.disk.io", "By", READ_BYTES, 1.0),
        ("system.disk.operations", "{operation}", READS, 1.0),
        ("system.disk.operation_time", "s", OPERATION_TIME_MS, 1e-3),
        ("system.disk.merged", "{operation}", MERGED, 1.0),
    ];
    for (name, unit, at, scale) in pairs {
        push_pair(
            out,
            device,
            name,
            unit,
            [c[at] as f64 * scale, c[at + 1] as f64 * scale],
        );
    }
    out.add("system.disk.io_time", c[IO_TIME_MS] as f64 / 1000.0, "s")
        .label("device", device);
}

fn push_rates(out: &mut Samples, device: &str, r: &[f64; 9]) {
    push_pair(
        out,
        device,
        "sonde.disk.io.rate",
        "By/s",
        [r[READ_BYTES], r[READ_BYTES + 1]],
    );
    push_pair(
        out,
        device,
        "sonde.disk.operation.rate",
        "{operation}/s",
        [r[READS], r[READS + 1]],
    );
    // ms of I/O per second of wall clock, as a share; queued requests can push the raw
    // figure past 1 only through clock skew, so cap it.
    let busy = (r[IO_TIME_MS] / 1000.0).min(1.0);
    out.add("sonde.disk.busy", busy, "1")
        .label("device", device);
}

fn push_pair(out: &mut Samples, device: &str, name: &str, unit: &str, values: [f64; 2]) {
    for (direction, value) in ["read", "write"].into_iter().zip(values) {
        out.add(name, value, unit)
            .label("device", device)
            .label("direction", direction);
    }
}

sonde_probe::export!(Disk);

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn disk(name: &str, reads: u64) -> DiskCounters {
        DiskCounters {
            name: name.into(),
            reads,
            writes: 2 * reads,
            merged_reads: reads / 10,
            merged_writes: 0,
            read_bytes: 4096 * reads,
            written_bytes: 0,
            read_time_ms: 150 * reads,
            write_time_ms: 0,
            io_time_ms: 500 * reads,
        }
    }

    #[test]
    fn default_selection_skips_virtual_and_idle_devices() {
        let all = vec![
            disk("loop0", 9),
            disk("nvme0n1", 1),
            disk("ram0", 1),
            disk("sdb", 0),
        ];
        let names = |d: Vec<DiskCounters>| d.into_iter().map(|d| d.name).collect::<Vec<_>>();
        assert_eq!(names(select(all.clone(), None).expect("ok")), ["nvme0n1"]);
        let asked = ["loop0".to_string(), "sdb".to_string()];
        assert_eq!(
            names(select(all.clone(), Some(&asked)).expect("ok")),
            ["loop0", "sdb"]
        );
        let e = select(all, Some(&["sdz".to_string()])).unwrap_err();
        assert_eq!(
            e,
            ProbeError::Unavailable(
                "device sdz not found; the host has: loop0, nvme0n1, ram0, sdb".into()
            )
        );
    }

    #[test]
    fn counters_in_opentelemetry_units_then_rates_and_busy() {
        let mut probe = Disk::default();
        let t0 = Instant::now();
        let first = probe
            .previous
            .update_at(t0, vec![("sda".into(), counters(&disk("sda", 10)))]);
        let mut out = Samples::new();
        push_counters(&mut out, "sda", &first[0].now);
        let read = [("device", "sda"), ("direction", "read")];
        let value = |s: &Samples, name: &str, labels: &[(&str, &str)]| {
            s.find(name, labels)
                .unwrap_or_else(|| panic!("no {name}"))
                .value
        };
        assert_eq!(value(&out, "system.disk.io", &read), 40960.0);
        assert_eq!(value(&out, "system.disk.operation_time", &read), 1.5);
        assert_eq!(
            value(&out, "system.disk.io_time", &[("device", "sda")]),
            5.0
        );
        assert_eq!(out.len(), 9);

        let second = probe.previous.update_at(
            t0 + Duration::from_secs(2),
            vec![("sda".into(), counters(&disk("sda", 12)))],
        );
        let rates = second[0].change.per_second().expect("rates");
        let mut out = Samples::new();
        push_rates(&mut out, "sda", &rates);
        assert_eq!(value(&out, "sonde.disk.io.rate", &read), 4096.0);
        let write = [("device", "sda"), ("direction", "write")];
        assert_eq!(value(&out, "sonde.disk.operation.rate", &write), 2.0);
        assert_eq!(value(&out, "sonde.disk.busy", &[("device", "sda")]), 0.5);
    }
}
