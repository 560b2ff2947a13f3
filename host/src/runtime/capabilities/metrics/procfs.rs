//! Parsers of the Linux `/proc` files behind `host-metrics`, pure so they are tested on
//! fixture text. Malformed lines are skipped, never fatal: the kernel's format is
//! trusted but not assumed.

use crate::runtime::bindings::host_metrics::{CpuTime, DiskCounters, LoadAverage, NetCounters};

/// Linux reports `/proc/stat` in USER_HZ ticks, fixed at 100 for user space on every
/// architecture Linux supports as a stable ABI.
const USER_HZ: u64 = 100;

/// `/proc/diskstats` counts sectors of 512 bytes whatever the device's sector size.
const DISKSTATS_SECTOR_BYTES: u64 = 512;

/// At most this many block devices are returned (a host with thousands of loop devices
/// must not make every disk probe's answer unbounded).
pub const MAX_DISKS: usize = 512;

/// Parse `/proc/net/dev`: after `name:` come 8 receive counters (bytes, packets, errs,
/// drop, fifo, frame, compressed, multicast) then 8 transmit ones. Sorted by name.
pub fn parse_proc_net_dev(text: &str) -> Vec<NetCounters> {
    let mut out: Vec<NetCounters> = text
        .lines()
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            let n: Vec<u64> = counters
                .split_whitespace()
                .map(|f| f.parse().ok())
                .collect::<Option<_>>()?;
            (n.len() >= 16).then(|| NetCounters {
                name: name.trim().to_string(),
                rx_bytes: n[0],
                rx_packets: n[1],
                rx_errors: n[2],
                tx_bytes: n[8],
                tx_packets: n[9],
                tx_errors: n[10],
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Parse the `cpu` and `cpuN` lines of `/proc/stat` into milliseconds.
pub fn parse_proc_stat(text: &str) -> Vec<CpuTime> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(label) = fields.next() else { continue };
        let Some(rest) = label.strip_prefix("cpu") else {
            continue;
        };
        let cpu = if rest.is_empty() {
            None
        } else {
            match rest.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => continue,
            }
        };
        let v: Vec<u64> = fields
            .map(|f| f.parse::<u64>().unwrap_or(0).saturating_mul(1000) / USER_HZ)
            .collect();
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        out.push(CpuTime {
            cpu,
            user_ms: at(0),
            nice_ms: at(1),
            system_ms: at(2),
            idle_ms: at(3),
            iowait_ms: at(4),
            irq_ms: at(5),
            softirq_ms: at(6),
            steal_ms: at(7),
        });
    }
    // The kernel lists the total first; keep that order guaranteed.
    out.sort_by_key(|c| c.cpu.map_or(0, |n| n as u64 + 1));
    out
}

/// Parse `/proc/loadavg` (`0.52 0.58 0.59 2/1234 5678`); `None` unless the first three
/// fields are finite non-negative numbers.
pub fn parse_loadavg(text: &str) -> Option<LoadAverage> {
    let mut fields = text
        .split_ascii_whitespace()
        .map(|f| f.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0));
    Some(LoadAverage {
        one_minute: fields.next()??,
        five_minutes: fields.next()??,
        fifteen_minutes: fields.next()??,
    })
}

/// Parse `/proc/uptime` (`12345.67 54321.00`, seconds since boot, then idle time) into
/// milliseconds.
pub fn parse_uptime_ms(text: &str) -> Option<u64> {
    let secs: f64 = text.split_ascii_whitespace().next()?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then_some((secs * 1000.0) as u64)
}

/// Parse `/proc/diskstats`: `major minor name` then the counters (reads completed,
/// reads merged, sectors read, ms reading, writes completed, writes merged, sectors
/// written, ms writing, I/Os in progress, ms doing I/O, ...). Sorted by name, at most
/// [`MAX_DISKS`].
pub fn parse_diskstats(text: &str) -> Vec<DiskCounters> {
    let mut out: Vec<DiskCounters> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_ascii_whitespace().skip(2);
            let name = fields.next()?;
            let n: Vec<u64> = fields
                .take(10)
                .map(|f| f.parse().ok())
                .collect::<Option<_>>()?;
            (n.len() == 10).then(|| DiskCounters {
                name: name.to_string(),
                reads: n[0],
                merged_reads: n[1],
                read_bytes: n[2].saturating_mul(DISKSTATS_SECTOR_BYTES),
                read_time_ms: n[3],
                writes: n[4],
                merged_writes: n[5],
                written_bytes: n[6].saturating_mul(DISKSTATS_SECTOR_BYTES),
                write_time_ms: n[7],
                io_time_ms: n[9],
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.truncate(MAX_DISKS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
  eth0: 1000 10 1 0 0 0 0 0 2000 20 2 0 0 0 0 0
    lo:  500  5 0 0 0 0 0 0  500  5 0 0 0 0 0 0
";
        let n = parse_proc_net_dev(text);
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].name, "eth0");
        assert_eq!(
            (n[0].rx_bytes, n[0].rx_packets, n[0].rx_errors),
            (1000, 10, 1)
        );
        assert_eq!(
            (n[0].tx_bytes, n[0].tx_packets, n[0].tx_errors),
            (2000, 20, 2)
        );
        assert_eq!(n[1].name, "lo");
    }

    #[test]
    fn parses_total_and_cores_in_ms() {
        let text = "cpu  100 2 30 400 5 6 7 8 0 0\ncpu1 10 0 3 40 0 0 0 0 0 0\ncpu0 90 2 27 360 5 6 7 8 0 0\nintr 1 2\n";
        let t = parse_proc_stat(text);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].cpu, None);
        assert_eq!(t[0].user_ms, 1000);
        assert_eq!(t[0].steal_ms, 80);
        assert_eq!(t[1].cpu, Some(0));
        assert_eq!(t[2].cpu, Some(1));
        assert_eq!(t[2].idle_ms, 400);
    }

    #[test]
    fn parses_loadavg_and_refuses_garbage() {
        let l = parse_loadavg("0.52 1.58 12.00 2/1234 5678\n").expect("load");
        assert_eq!(
            (l.one_minute, l.five_minutes, l.fifteen_minutes),
            (0.52, 1.58, 12.0)
        );
        assert!(parse_loadavg("0.52 1.58\n").is_none());
        assert!(parse_loadavg("0.52 NaN 1\n").is_none());
        assert!(parse_loadavg("-1 0 0\n").is_none());
        assert!(parse_loadavg("").is_none());
    }

    #[test]
    fn parses_uptime_in_ms() {
        assert_eq!(parse_uptime_ms("10291.70 306.20\n"), Some(10_291_700));
        assert_eq!(parse_uptime_ms("inf 0\n"), None);
        assert_eq!(parse_uptime_ms("x"), None);
    }

    #[test]
    fn parses_diskstats_sorted_in_bytes() {
        // A kernel 5.5+ line (discard and flush fields after the 11 classic ones), an
        // old 4.x line, a partition, and a line cut short.
        let text = "\
 259       0 nvme0n1 1000 10 8000 500 2000 20 16000 900 0 1200 1400 5 0 40 3 7 9
   8       0 sda 1 2 3 4 5 6 7 8 9 10 11
   8       1 sda1 1 0 2 0 0 0 0 0 0 1 1
   7       0 loop0 1 2 3
";
        let d = parse_diskstats(text);
        let names: Vec<&str> = d.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["nvme0n1", "sda", "sda1"]);
        let nvme = &d[0];
        assert_eq!((nvme.reads, nvme.merged_reads), (1000, 10));
        assert_eq!((nvme.read_bytes, nvme.read_time_ms), (8000 * 512, 500));
        assert_eq!((nvme.writes, nvme.merged_writes), (2000, 20));
        assert_eq!((nvme.written_bytes, nvme.write_time_ms), (16000 * 512, 900));
        assert_eq!(nvme.io_time_ms, 1200);
        assert_eq!(d[1].io_time_ms, 10);
    }

    #[test]
    fn diskstats_are_bounded() {
        let text: String = (0..MAX_DISKS + 10)
            .map(|i| format!("7 {i} loop{i:05} 0 0 0 0 0 0 0 0 0 0 0\n"))
            .collect();
        assert_eq!(parse_diskstats(&text).len(), MAX_DISKS);
    }
}
