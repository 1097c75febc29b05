//! Mounted file systems as `df` shows them (statvfs: used is total minus
//! free, the percentage counts root's reserved blocks as neither used nor
//! available) and block-device I/O from `/proc/diskstats`.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use procfs::{Current, DiskStats};
use swarm_common::limits::{MAX_DISK_IO, MAX_DISKS};
use swarm_common::protocol::{DiskIo, DiskUsage};

/// File systems that are not storage an operator cares about.
pub const PSEUDO_FS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
    "fuse.lxcfs",
    "fuse.gvfsd-fuse",
    "fuse.portal",
    "nfsd",
    "overlay",
];

/// The real file systems mounted now, each mount point once, sorted.
pub fn usage() -> Vec<DiskUsage> {
    let Ok(mut mounts) = procfs::mounts() else {
        return Vec::new();
    };
    // A device mounted twice (bind mounts) is shown once, at its shortest
    // mount point, as df does.
    mounts.sort_by_key(|m| m.fs_file.len());
    let mut seen_mounts = HashSet::new();
    let mut seen_devices = HashSet::new();
    let mut out = Vec::new();
    for m in mounts {
        // An overlay root (containers) is the only disk such a host has.
        let pseudo = PSEUDO_FS.contains(&m.fs_vfstype.as_str())
            && !(m.fs_vfstype == "overlay" && m.fs_file == "/");
        let device_seen = m.fs_spec.starts_with('/') && !seen_devices.insert(m.fs_spec.clone());
        if pseudo || device_seen || !seen_mounts.insert(m.fs_file.clone()) {
            continue;
        }
        if let Some(disk) = statvfs(&m.fs_file, &m.fs_vfstype) {
            out.push(disk);
        }
    }
    out.sort_by(|a, b| a.mount.cmp(&b.mount));
    out.truncate(MAX_DISKS);
    out
}

fn statvfs(mount: &str, fs: &str) -> Option<DiskUsage> {
    let v = rustix::fs::statvfs(mount).ok()?;
    let unit = if v.f_frsize > 0 {
        v.f_frsize
    } else {
        v.f_bsize
    };
    let total = v.f_blocks.saturating_mul(unit);
    if total == 0 {
        return None;
    }
    let free = v.f_bfree.saturating_mul(unit);
    // Some file systems (btrfs) have no fixed inode table: unknown.
    let inodes = (v.f_files > 0).then_some((v.f_files, v.f_files.saturating_sub(v.f_ffree)));
    Some(DiskUsage {
        fs: Some(fs.to_owned()),
        total: Some(total),
        used: Some(total.saturating_sub(free)),
        available: Some(v.f_bavail.saturating_mul(unit).min(free)),
        inodes_total: inodes.map(|i| i.0),
        inodes_used: inodes.map(|i| i.1),
        ..DiskUsage::new(mount)
    })
}

/// Counters of one device at one reading.
#[derive(Debug, Clone, Copy)]
struct IoCounters {
    sectors_read: u64,
    sectors_written: u64,
    reads: u64,
    writes: u64,
    busy_ms: u64,
}

/// Keeps the previous `/proc/diskstats` reading between samples.
#[derive(Debug, Default)]
pub struct DiskIoSampler {
    last: Option<(Instant, HashMap<String, IoCounters>)>,
}

/// A whole disk, not a partition, a loop device or a RAM disk: what has an
/// entry in `/sys/block` (device-mapper volumes included).
fn is_whole_disk(name: &str) -> bool {
    !(name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram"))
        && std::path::Path::new("/sys/block").join(name).exists()
}

impl DiskIoSampler {
    pub fn read(&mut self) -> Vec<DiskIo> {
        let Ok(stats) = DiskStats::current() else {
            return Vec::new();
        };
        let now = Instant::now();
        let counters: HashMap<String, IoCounters> = stats
            .0
            .into_iter()
            .filter(|d| (d.reads > 0 || d.writes > 0) && is_whole_disk(&d.name))
            .take(MAX_DISK_IO)
            .map(|d| {
                (
                    d.name,
                    IoCounters {
                        sectors_read: d.sectors_read,
                        sectors_written: d.sectors_written,
                        reads: d.reads,
                        writes: d.writes,
                        busy_ms: d.time_in_progress,
                    },
                )
            })
            .collect();
        let out = match &self.last {
            Some((then, before)) => {
                rates(now.duration_since(*then).as_secs_f64(), before, &counters)
            }
            None => Vec::new(),
        };
        self.last = Some((now, counters));
        out
    }
}

/// Per-second rates between two readings `secs` apart. Sectors are 512
/// bytes in `/proc/diskstats` whatever the device's own sector size.
fn rates(
    secs: f64,
    before: &HashMap<String, IoCounters>,
    now: &HashMap<String, IoCounters>,
) -> Vec<DiskIo> {
    if secs <= 0.0 {
        return Vec::new();
    }
    let per_s = |a: u64, b: u64| (a.saturating_sub(b) as f64 / secs * 100.0).round() / 100.0;
    let mut out: Vec<DiskIo> = now
        .iter()
        .filter_map(|(name, n)| {
            let b = before.get(name)?;
            let busy = n.busy_ms.saturating_sub(b.busy_ms) as f64 / (secs * 1000.0) * 100.0;
            Some(DiskIo {
                device: name.clone(),
                read_bps: Some(
                    (n.sectors_read.saturating_sub(b.sectors_read) as f64 * 512.0 / secs).round(),
                ),
                write_bps: Some(
                    (n.sectors_written.saturating_sub(b.sectors_written) as f64 * 512.0 / secs)
                        .round(),
                ),
                read_ops: Some(per_s(n.reads, b.reads)),
                write_ops: Some(per_s(n.writes, b.writes)),
                busy_pct: Some((busy.clamp(0.0, 100.0) * 100.0).round() / 100.0),
            })
        })
        .collect();
    out.sort_by(|a, b| a.device.cmp(&b.device));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_matches_statvfs_as_df_computes_it() {
        let disks = usage();
        let root = disks.iter().find(|d| d.mount == "/").expect("/ is mounted");
        let v = rustix::fs::statvfs("/").expect("statvfs /");
        let unit = v.f_frsize;
        let used = (v.f_blocks - v.f_bfree) * unit;
        let avail = v.f_bavail * unit;
        // df's Use% rounds up: ceil(used * 100 / (used + avail)).
        let df_pct = (used * 100).div_ceil(used + avail);
        let pct = root.used_pct().expect("known");
        assert!(
            (pct.ceil() - df_pct as f64).abs() <= 1.0,
            "agent {pct} vs df {df_pct}"
        );
        // Reserved blocks are not "used": used + avail <= total.
        assert!(
            root.used.expect("used") + root.available.expect("avail") <= root.total.expect("total")
        );
        assert!(
            disks
                .iter()
                .all(|d| !PSEUDO_FS.contains(&d.fs.as_deref().unwrap_or("")) || d.mount == "/")
        );
    }

    #[test]
    fn root_percentage_is_what_df_prints() {
        let out = std::process::Command::new("df")
            .args(["-P", "/"])
            .output()
            .expect("df runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().nth(1).expect("a line for /");
        let df_pct: f64 = line
            .split_whitespace()
            .nth(4)
            .and_then(|p| p.trim_end_matches('%').parse().ok())
            .expect("Use% column");
        let root = usage()
            .into_iter()
            .find(|d| d.mount == "/")
            .expect("/ is mounted");
        let pct = root.used_pct().expect("known");
        // df rounds up; the disk may move a little between the two reads.
        assert!(
            (pct.ceil() - df_pct).abs() <= 1.0,
            "agent {pct} vs df {df_pct}%"
        );
        let inodes = std::process::Command::new("df")
            .args(["-P", "-i", "/"])
            .output()
            .expect("df -i runs");
        let text = String::from_utf8_lossy(&inodes.stdout);
        let total: Option<u64> = text
            .lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
        assert_eq!(
            root.inodes_total,
            total.filter(|t| *t > 0),
            "inodes as df -i"
        );
    }

    #[test]
    fn io_rates_come_from_counter_deltas() {
        let c = |s: u64, ops: u64, busy: u64| IoCounters {
            sectors_read: s,
            sectors_written: 2 * s,
            reads: ops,
            writes: ops,
            busy_ms: busy,
        };
        let before = HashMap::from([("sda".to_owned(), c(0, 0, 0))]);
        let now = HashMap::from([
            ("sda".to_owned(), c(2048, 10, 500)),
            ("sdb".to_owned(), c(1, 1, 1)),
        ]);
        let io = rates(2.0, &before, &now);
        assert_eq!(io.len(), 1, "a device seen once has no rate yet");
        assert_eq!(io[0].read_bps, Some(524_288.0));
        assert_eq!(io[0].write_bps, Some(1_048_576.0));
        assert_eq!(io[0].read_ops, Some(5.0));
        assert_eq!(io[0].busy_pct, Some(25.0));
    }
}
