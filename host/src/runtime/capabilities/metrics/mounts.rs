//! Which mounts `filesystems` reports: `/proc/self/mountinfo` parsed and filtered, pure
//! so it is tested on fixture text.
//!
//! Left out: kernel interfaces that hold no data (proc, sysfs, cgroup, ...); and unless
//! asked for, remote filesystems (NFS, SMB, Ceph, ...) and userspace ones (FUSE), whose
//! statvfs waits on a server or a process that may never answer.

use std::collections::BTreeMap;

/// At most this many filesystems are returned (and stat'ed).
pub const MAX_FILESYSTEMS: usize = 256;

/// Kernel interfaces and special filesystems that hold no user data.
const PSEUDO_TYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "cpuset",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "pipefs",
    "proc",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "sockfs",
    "sysfs",
    "tracefs",
];

/// Filesystems served over the network.
const REMOTE_TYPES: &[&str] = &[
    "9p",
    "afs",
    "ceph",
    "cifs",
    "coda",
    "davfs",
    "glusterfs",
    "lustre",
    "ncpfs",
    "nfs",
    "nfs4",
    "smb3",
    "smbfs",
    "sshfs",
];

/// One mounted filesystem that may be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mountpoint: String,
    pub device: String,
    pub fs_type: String,
    pub read_only: bool,
}

/// Served over the network or by a userspace process: statvfs may hang.
pub fn is_remote(fs_type: &str) -> bool {
    REMOTE_TYPES.contains(&fs_type) || fs_type == "fuse" || fs_type.starts_with("fuse.")
}

/// The mounts to report from `/proc/self/mountinfo`, sorted by mountpoint, at most
/// [`MAX_FILESYSTEMS`]. A mountpoint mounted over keeps only its last (visible) mount.
pub fn parse_mountinfo(text: &str, include_remote: bool) -> Vec<Mount> {
    // The last mount on a mountpoint hides the ones under it, and statvfs of the path
    // reaches only that one: pick it before filtering, so a network filesystem mounted
    // over a local one is left out rather than stat'ed under the local one's name.
    let mut visible: BTreeMap<String, Mount> = BTreeMap::new();
    for mount in text.lines().filter_map(parse_line) {
        visible.insert(mount.mountpoint.clone(), mount);
    }
    visible
        .into_values()
        .filter(|m| {
            !PSEUDO_TYPES.contains(&m.fs_type.as_str())
                && (include_remote || !is_remote(&m.fs_type))
        })
        .take(MAX_FILESYSTEMS)
        .collect()
}

/// `36 35 98:0 /root /mnt rw,noatime master:1 - ext4 /dev/sda1 rw,errors=continue`:
/// the mountpoint is the 5th field, its options the 6th; after the `-` come the type,
/// the source and the superblock options.
fn parse_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let left: Vec<&str> = left.split(' ').collect();
    let mut right = right.split(' ');
    let (mountpoint, options) = (left.get(4)?, left.get(5)?);
    let fs_type = right.next()?;
    let device = right.next()?;
    let super_options = right.next().unwrap_or("");
    let read_only = [options, &super_options]
        .iter()
        .any(|o| o.split(',').any(|flag| flag == "ro"));
    Some(Mount {
        mountpoint: unescape(mountpoint),
        device: unescape(device),
        fs_type: fs_type.to_string(),
        read_only,
    })
}

/// The kernel writes space, tab, newline and backslash in paths as `\040`, `\011`,
/// `\012`, `\134`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let text = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:5 - cgroup2 cgroup2 rw
50 27 0:40 / /mnt/nas rw,relatime - nfs4 nas:/export rw,vers=4.2
51 27 0:41 / /mnt/ssh rw,nosuid - fuse.sshfs me@box:/ rw,user_id=0
52 27 8:1 /data /srv/my\\040data ro,relatime master:1 - xfs /dev/sda1 rw
53 27 8:2 / /boot rw - ext4 /dev/sda2 ro
60 27 8:3 / /var rw - ext4 /dev/sda3 rw
61 60 8:4 / /var rw - xfs /dev/sdb1 rw
62 27 8:5 / /home rw - ext4 /dev/sdc1 rw
63 62 0:42 / /home rw - nfs4 nas:/home rw
garbage without separator
";

    fn mountpoints(m: &[Mount]) -> Vec<&str> {
        m.iter().map(|m| m.mountpoint.as_str()).collect()
    }

    #[test]
    fn pseudo_filesystems_are_left_out_and_remote_ones_on_request() {
        let local = parse_mountinfo(MOUNTINFO, false);
        assert_eq!(
            mountpoints(&local),
            [
                "/",
                "/boot",
                "/dev/shm",
                "/srv/my data",
                "/sys/fs/cgroup",
                "/var"
            ],
            "/home is hidden under an NFS mount"
        );
        let all = parse_mountinfo(MOUNTINFO, true);
        assert_eq!(
            mountpoints(&all),
            [
                "/",
                "/boot",
                "/dev/shm",
                "/home",
                "/mnt/nas",
                "/mnt/ssh",
                "/srv/my data",
                "/sys/fs/cgroup",
                "/var"
            ]
        );
        let nas = &all[4];
        assert_eq!(
            (nas.device.as_str(), nas.fs_type.as_str()),
            ("nas:/export", "nfs4")
        );
    }

    #[test]
    fn fields_modes_and_over_mounts() {
        let m = parse_mountinfo(MOUNTINFO, false);
        let by = |p: &str| m.iter().find(|m| m.mountpoint == p).expect(p);
        let root = by("/");
        assert_eq!(
            (root.device.as_str(), root.fs_type.as_str(), root.read_only),
            ("/dev/vda", "ext4", false)
        );
        assert!(by("/srv/my data").read_only, "read-only mount");
        assert!(by("/boot").read_only, "read-only superblock");
        assert_eq!(by("/var").device, "/dev/sdb1", "the mount on top wins");
    }

    #[test]
    fn remote_types() {
        for t in [
            "nfs",
            "nfs4",
            "cifs",
            "fuse",
            "fuse.sshfs",
            "fuse.rclone",
            "ceph",
        ] {
            assert!(is_remote(t), "{t}");
        }
        for t in ["ext4", "xfs", "tmpfs", "overlay", "fusectl", "btrfs"] {
            assert!(!is_remote(t), "{t}");
        }
    }

    #[test]
    fn escapes_and_bounds() {
        assert_eq!(unescape("/a\\040b\\134c\\011"), "/a b\\c\t");
        assert_eq!(unescape("/trailing\\04"), "/trailing\\04");
        let many: String = (0..MAX_FILESYSTEMS + 5)
            .map(|i| format!("{i} 1 0:1 / /m/{i:04} rw - tmpfs tmpfs rw\n"))
            .collect();
        assert_eq!(parse_mountinfo(&many, false).len(), MAX_FILESYSTEMS);
    }
}
