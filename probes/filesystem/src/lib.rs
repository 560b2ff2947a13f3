//! `filesystem` probe: space and inodes of each mounted filesystem, as `df` shows them.
//!
//! Every sample has labels `device` (OpenTelemetry's `system.device`), `mountpoint`
//! (`system.filesystem.mountpoint`), `type` (`system.filesystem.type`) and `mode`
//! (`system.filesystem.mode`: `rw` or `ro`):
//! - `system.filesystem.usage` (By) with `state` = `used` (total − free), `free`
//!   (available to unprivileged users) and `reserved` (free blocks kept for root); the
//!   three sum to `system.filesystem.limit` (By), the size;
//! - `system.filesystem.utilization` (1): used / (used + free), `df`'s Use% (the
//!   reserve is not space a user can fill);
//! - `system.filesystem.inodes.usage` ({inode}) with `state` = `used`, `free`, for
//!   filesystems with an inode table (the OpenTelemetry Collector's name; the semantic
//!   conventions define none).
//!
//! The host leaves out kernel interfaces (proc, sysfs, cgroup, ...) and filesystems of
//! size 0, and network and FUSE filesystems unless `include_remote` is true: statvfs on
//! a dead server can hang, so the host waits a bounded time and leaves out one that
//! does not answer. Param `mountpoint`: only these (comma-separated; a listed one that
//! is not mounted fails the run as `unavailable`).

use sonde_probe::host::{self, FilesystemUsage};
use sonde_probe::{only_named, Info, Params, Probe, ProbeError, Samples};

#[derive(Default)]
struct Filesystem;

impl Probe for Filesystem {
    fn describe() -> Info {
        Info::new(
            "filesystem",
            "Space (used, free, reserved) and inodes of each mounted filesystem, like df.",
        )
        .interval_ms(60_000)
        .param(
            "mountpoint",
            "Only these mountpoints (comma-separated); unset: every filesystem holding data.",
        )
        .param_default(
            "include_remote",
            "false",
            "Also network (NFS, SMB, ...) and FUSE filesystems.",
        )
    }

    fn run(&mut self, params: &Params) -> Result<Samples, ProbeError> {
        let wanted: Option<Vec<String>> = params.get("mountpoint")?;
        let include_remote: bool = params.require("include_remote")?;
        let all = host::filesystems(include_remote);
        let mut out = Samples::new();
        let selected = only_named(all, wanted.as_deref(), "mountpoint", |f| {
            f.mountpoint.as_str()
        })?;
        for fs in selected {
            push(&mut out, &fs);
        }
        Ok(out)
    }
}

fn push(out: &mut Samples, fs: &FilesystemUsage) {
    let mode = if fs.read_only { "ro" } else { "rw" };
    let mut labelled = Samples::new()
        .with_label("device", fs.device.as_str())
        .with_label("mountpoint", fs.mountpoint.as_str())
        .with_label("type", fs.fs_type.as_str())
        .with_label("mode", mode);
    // The host keeps available ≤ free ≤ total; saturate anyway rather than trap.
    let used = fs.total_bytes.saturating_sub(fs.free_bytes);
    let reserved = fs.free_bytes.saturating_sub(fs.available_bytes);
    for (state, bytes) in [
        ("used", used),
        ("free", fs.available_bytes),
        ("reserved", reserved),
    ] {
        labelled
            .add("system.filesystem.usage", bytes as f64, "By")
            .label("state", state);
    }
    labelled.add("system.filesystem.limit", fs.total_bytes as f64, "By");
    let usable = used.saturating_add(fs.available_bytes);
    let share = if usable == 0 {
        0.0
    } else {
        used as f64 / usable as f64
    };
    labelled.add("system.filesystem.utilization", share, "1");
    if fs.total_inodes > 0 {
        let free = fs.free_inodes.min(fs.total_inodes);
        for (state, inodes) in [("used", fs.total_inodes - free), ("free", free)] {
            labelled
                .add("system.filesystem.inodes.usage", inodes as f64, "{inode}")
                .label("state", state);
        }
    }
    out.extend(labelled.into_vec());
}

sonde_probe::export!(Filesystem);

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(mountpoint: &str, total_inodes: u64) -> FilesystemUsage {
        FilesystemUsage {
            mountpoint: mountpoint.into(),
            device: "/dev/sda1".into(),
            fs_type: "ext4".into(),
            read_only: false,
            total_bytes: 1000,
            free_bytes: 300,
            available_bytes: 250,
            total_inodes,
            free_inodes: 40,
        }
    }

    #[test]
    fn states_sum_to_the_limit_and_utilization_is_dfs() {
        let mut out = Samples::new();
        push(&mut out, &fs("/", 100));
        let labels = [("mountpoint", "/"), ("type", "ext4"), ("mode", "rw")];
        let state = |name: &str, state: &str| {
            let mut l = labels.to_vec();
            l.push(("state", state));
            out.find(name, &l).map(|s| s.value)
        };
        assert_eq!(state("system.filesystem.usage", "used"), Some(700.0));
        assert_eq!(state("system.filesystem.usage", "free"), Some(250.0));
        assert_eq!(state("system.filesystem.usage", "reserved"), Some(50.0));
        let limit = out.find("system.filesystem.limit", &labels).expect("limit");
        assert_eq!(limit.value, 1000.0);
        let share = out
            .find("system.filesystem.utilization", &labels)
            .expect("share");
        assert_eq!(share.value, 700.0 / 950.0);
        assert_eq!(state("system.filesystem.inodes.usage", "used"), Some(60.0));
        assert_eq!(out.len(), 7);
        assert!(out
            .iter()
            .all(|s| s.label_value("device") == Some("/dev/sda1")));
    }

    #[test]
    fn no_inode_table_no_inode_samples() {
        let mut out = Samples::new();
        push(&mut out, &fs("/btrfs", 0));
        assert_eq!(out.len(), 5);
        assert!(out.find("system.filesystem.inodes.usage", &[]).is_none());
    }
}
