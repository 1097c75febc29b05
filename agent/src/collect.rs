//! Host sampling with sysinfo: CPU, load, memory, swap, real disks, network
//! rates over non-loopback interfaces, uptime and process count.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use swarm_common::AgentId;
use swarm_common::protocol::{DiskUsage, HostInfo, MetricsSample, NetUsage};
use swarm_common::time::now_ms;
use sysinfo::{CpuRefreshKind, Disks, MemoryRefreshKind, Networks, RefreshKind, System};

/// File systems that are not storage an operator cares about.
const PSEUDO_FS: &[&str] = &[
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
];

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot read system information: {0}")]
    Sysinfo(#[from] sysinfo::Error),
}

/// Owns the sysinfo handles between samples (CPU % and network rates are
/// deltas, so the collector keeps the previous reading).
pub struct Collector {
    agent: AgentId,
    system: System,
    disks: Disks,
    networks: Networks,
    last_net: Option<(Instant, u64, u64)>,
}

impl Collector {
    pub fn new(agent: AgentId) -> Result<Self, CollectError> {
        let mut system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_usage())
                .with_memory(MemoryRefreshKind::everything()),
        )?;
        // CPU usage is a delta: prime it so the first sample is meaningful.
        system.refresh_cpu_usage();
        Ok(Self {
            agent,
            system,
            disks: Disks::new_with_refreshed_list()?,
            networks: Networks::new_with_refreshed_list()?,
            last_net: None,
        })
    }

    /// Waits long enough for a first CPU % to mean something (for `--once`).
    pub async fn warm_up(&mut self) {
        tokio::time::sleep(
            sysinfo::MINIMUM_CPU_UPDATE_INTERVAL.max(std::time::Duration::from_millis(250)),
        )
        .await;
        self.networks.refresh(true);
        self.last_net = Some(self.net_totals());
    }

    pub fn sample(&mut self) -> MetricsSample {
        self.system.refresh_cpu_usage();
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::everything());
        self.disks.refresh(true);
        self.networks.refresh(true);
        let load = System::load_average()
            .ok()
            .map(|l| [l.one, l.five, l.fifteen]);
        MetricsSample {
            agent: self.agent.clone(),
            ts: now_ms(),
            // 0.01 % is finer than any reading means; the hub stores such
            // decimals in a few bits.
            cpu_pct: Some(
                (f64::from(self.system.global_cpu_usage()).clamp(0.0, 100.0) * 100.0).round()
                    / 100.0,
            ),
            load,
            mem_total: Some(self.system.total_memory()),
            mem_used: Some(self.system.used_memory()),
            mem_available: Some(self.system.available_memory()),
            swap_total: Some(self.system.total_swap()),
            swap_used: Some(self.system.used_swap()),
            disks: self.real_disks(),
            net: Some(self.net_usage()),
            uptime_s: System::uptime().ok(),
            procs: process_count(),
            custom: BTreeMap::new(),
        }
    }

    pub fn host_info(&self, interval_ms: u64, tags: &[String]) -> HostInfo {
        let cpu_model = self
            .system
            .cpus()
            .first()
            .map(|c| c.brand().trim().to_owned())
            .filter(|b| !b.is_empty());
        HostInfo {
            agent: self.agent.clone(),
            hostname: System::host_name().ok(),
            os: System::name().ok(),
            os_version: System::os_version().ok(),
            kernel: System::kernel_version().ok(),
            arch: Some(System::cpu_arch()),
            cpu_model,
            cpu_cores: u32::try_from(self.system.cpus().len()).ok(),
            mem_total: Some(self.system.total_memory()),
            boot_time: System::boot_time().ok(),
            agent_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            interval_ms: Some(interval_ms),
            tags: tags.to_vec(),
            ts: Some(now_ms()),
            probes: None,
            spool: None,
        }
    }

    fn real_disks(&self) -> Vec<DiskUsage> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for disk in self.disks.iter() {
            let fs = disk.file_system().to_string_lossy().into_owned();
            let mount = disk.mount_point().to_string_lossy().into_owned();
            let total = disk.total_space();
            // An overlay root (containers) is the only disk such a host has.
            let pseudo = PSEUDO_FS.contains(&fs.as_str()) || (fs == "overlay" && mount != "/");
            if pseudo || total == 0 || !seen.insert(mount.clone()) {
                continue;
            }
            out.push(DiskUsage {
                mount,
                fs: Some(fs),
                total: Some(total),
                used: Some(total.saturating_sub(disk.available_space())),
            });
        }
        out.sort_by(|a, b| a.mount.cmp(&b.mount));
        out
    }

    fn net_totals(&self) -> (Instant, u64, u64) {
        let (mut rx, mut tx) = (0u64, 0u64);
        for (name, data) in self.networks.iter() {
            if is_loopback(&name.to_string_lossy()) {
                continue;
            }
            rx = rx.saturating_add(data.total_received());
            tx = tx.saturating_add(data.total_transmitted());
        }
        (Instant::now(), rx, tx)
    }

    fn net_usage(&mut self) -> NetUsage {
        let now = self.net_totals();
        let (rx_bps, tx_bps) = match self.last_net {
            Some((then, rx0, tx0)) => {
                let secs = now.0.duration_since(then).as_secs_f64();
                if secs > 0.0 {
                    // Counters can go backwards when an interface is removed.
                    (
                        now.1.saturating_sub(rx0) as f64 / secs,
                        now.2.saturating_sub(tx0) as f64 / secs,
                    )
                } else {
                    (0.0, 0.0)
                }
            }
            None => (0.0, 0.0),
        };
        self.last_net = Some(now);
        NetUsage {
            rx_bytes: Some(now.1),
            tx_bytes: Some(now.2),
            rx_bps: Some(rx_bps.round()),
            tx_bps: Some(tx_bps.round()),
        }
    }
}

fn is_loopback(interface: &str) -> bool {
    interface == "lo" || interface.starts_with("lo0") || interface.starts_with("Loopback")
}

/// Number of processes: the numeric entries of /proc (cheaper than a full
/// sysinfo process refresh, which reads every process's status).
fn process_count() -> Option<u64> {
    let entries = std::fs::read_dir("/proc").ok()?;
    let count = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .count();
    Some(count as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sample_is_plausible() {
        let id = AgentId::parse("test-host").expect("valid");
        let mut collector = Collector::new(id.clone()).expect("sysinfo works here");
        collector.warm_up().await;
        let s = collector.sample();
        assert_eq!(s.agent, id);
        assert!(s.ts > 1_600_000_000_000);
        let cpu = s.cpu_pct.expect("cpu");
        assert!((0.0..=100.0).contains(&cpu));
        assert!(s.mem_total.expect("mem total") > 0);
        assert!(s.mem_used.expect("mem used") <= s.mem_total.expect("mem total"));
        assert!(s.procs.expect("procs") > 0);
        assert!(
            s.disks
                .iter()
                .all(|d| !PSEUDO_FS.contains(&d.fs.as_deref().unwrap_or("")))
        );
        let info = collector.host_info(5000, &["role=test".into()]);
        assert_eq!(info.interval_ms, Some(5000));
        assert_eq!(info.tags, vec!["role=test".to_owned()]);
    }
}
