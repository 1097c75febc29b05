//! Host sampling: the v1 figures (CPU, load, memory, swap, disks, network
//! sums, uptime, process count) and the host detail of htop and glances
//! (CPU by kind and per core, memory cache, disk I/O, interfaces,
//! temperatures, the heaviest processes), each collector in its module.

mod cpu;
mod disks;
mod net;
mod procs;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use procfs::{Current, Meminfo};
use swarm_common::AgentId;
use swarm_common::limits::MAX_TEMPS;
use swarm_common::protocol::fleet::Collectors;
use swarm_common::protocol::{HostInfo, MetricsSample, Temperature};
use swarm_common::time::now_ms;
use sysinfo::{Components, CpuRefreshKind, RefreshKind, System};

pub use disks::PSEUDO_FS;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot read system information: {0}")]
    Sysinfo(#[from] sysinfo::Error),
}

/// Which optional collectors run, and how often processes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectorSettings {
    pub per_core: bool,
    pub per_interface: bool,
    pub disk_io: bool,
    pub temperatures: bool,
    pub processes: bool,
    pub processes_every: Duration,
}

impl Default for CollectorSettings {
    fn default() -> Self {
        Self {
            per_core: true,
            per_interface: true,
            disk_io: true,
            temperatures: true,
            processes: true,
            processes_every: Duration::from_secs(5),
        }
    }
}

impl CollectorSettings {
    /// These settings with what `layer` sets on top.
    pub fn with(mut self, layer: &Collectors) -> Self {
        let set = |slot: &mut bool, v: Option<bool>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut self.per_core, layer.per_core);
        set(&mut self.per_interface, layer.per_interface);
        set(&mut self.disk_io, layer.disk_io);
        set(&mut self.temperatures, layer.temperatures);
        set(&mut self.processes, layer.processes);
        self
    }
}

/// Owns what the collectors keep between samples (CPU %, rates and
/// process CPU are deltas of counters).
pub struct Collector {
    agent: AgentId,
    settings: CollectorSettings,
    system: System,
    cpu: cpu::CpuSampler,
    net: net::NetSampler,
    disk_io: disks::DiskIoSampler,
    procs: procs::ProcSampler,
    last_procs: Option<Instant>,
    /// Temperature sensors, listed at first use (`Some(None)`: none here).
    components: Option<Option<Components>>,
}

impl Collector {
    pub fn new(agent: AgentId, settings: CollectorSettings) -> Result<Self, CollectError> {
        // Only the CPU list (model, core count) for HostInfo.
        let system =
            System::new_with_specifics(RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing()))?;
        let mut collector = Self {
            agent,
            settings,
            system,
            cpu: cpu::CpuSampler::default(),
            net: net::NetSampler::default(),
            disk_io: disks::DiskIoSampler::default(),
            procs: procs::ProcSampler::default(),
            last_procs: None,
            components: None,
        };
        collector.prime();
        Ok(collector)
    }

    pub fn settings(&self) -> CollectorSettings {
        self.settings
    }

    /// Applies new settings from the next sample on.
    pub fn set_settings(&mut self, settings: CollectorSettings) {
        self.settings = settings;
    }

    /// First readings of every delta, so the next sample has rates.
    fn prime(&mut self) {
        self.cpu.read(self.settings.per_core);
        self.net.read();
        if self.settings.disk_io {
            self.disk_io.read();
        }
        if self.settings.processes {
            self.procs.read();
        }
    }

    /// Waits long enough for a first CPU % to mean something (for `--once`).
    pub async fn warm_up(&mut self) {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    pub fn sample(&mut self) -> MetricsSample {
        let settings = self.settings;
        let cpu = self.cpu.read(settings.per_core);
        let net = self.net.read();
        let mem = Meminfo::current().ok();
        let mut sample = MetricsSample::new(self.agent.clone(), now_ms());
        sample.cpu_pct = cpu.busy_pct();
        sample.load = System::load_average()
            .ok()
            .map(|l| [l.one, l.five, l.fifteen]);
        if let Some(m) = &mem {
            let available = m.mem_available.unwrap_or(m.mem_free).min(m.mem_total);
            sample.mem_total = Some(m.mem_total);
            sample.mem_used = Some(m.mem_total - available);
            sample.mem_available = Some(available);
            sample.mem_free = Some(m.mem_free.min(m.mem_total));
            // As `free` counts buff/cache: reclaimable slab is cache too.
            sample.mem_cached = Some(m.cached.saturating_add(m.s_reclaimable.unwrap_or(0)));
            sample.mem_buffers = Some(m.buffers);
            sample.swap_total = Some(m.swap_total);
            sample.swap_used = Some(m.swap_total.saturating_sub(m.swap_free));
        }
        sample.disks = disks::usage();
        sample.net = Some(net.total);
        sample.uptime_s = System::uptime().ok();
        sample.custom = BTreeMap::new();
        sample.cpu = cpu.times;
        sample.cores = cpu.cores;
        if settings.per_interface {
            sample.interfaces = net.interfaces;
        }
        if settings.disk_io {
            sample.disk_io = self.disk_io.read();
        }
        if settings.temperatures {
            sample.temps = self.temperatures();
        }
        let procs_due = self
            .last_procs
            .is_none_or(|t| t.elapsed() + Duration::from_millis(50) >= settings.processes_every);
        if settings.processes && procs_due {
            self.last_procs = Some(Instant::now());
            if let Some(reading) = self.procs.read() {
                sample.procs = Some(reading.count);
                sample.top = Some(reading.top);
            }
        }
        if sample.procs.is_none() {
            sample.procs = process_count();
        }
        sample
    }

    /// Sensors as sysinfo finds them (hwmon on Linux); none on most VMs.
    fn temperatures(&mut self) -> Vec<Temperature> {
        // Listed once; a platform without sensors stays without.
        let components = self
            .components
            .get_or_insert_with(|| Components::new_with_refreshed_list().ok());
        let Some(components) = components.as_mut() else {
            return Vec::new();
        };
        components.refresh(false);
        let mut out: Vec<Temperature> = components
            .iter()
            .filter_map(|c| {
                let celsius = f64::from(c.temperature()?);
                celsius.is_finite().then(|| Temperature {
                    label: swarm_common::text::printable(c.label(), 96),
                    celsius: (celsius * 10.0).round() / 10.0,
                    critical: c.critical().map(f64::from).filter(|v| v.is_finite()),
                })
            })
            .collect();
        out.sort_by(|a, b| a.label.cmp(&b.label));
        out.dedup_by(|a, b| a.label == b.label);
        out.truncate(MAX_TEMPS);
        out
    }

    pub fn host_info(&self, interval_ms: u64, tags: &[String]) -> HostInfo {
        let cpu_model = self
            .system
            .cpus()
            .first()
            .map(|c| c.brand().trim().to_owned())
            .filter(|b| !b.is_empty());
        HostInfo {
            hostname: System::host_name().ok(),
            os: System::name().ok(),
            os_version: System::os_version().ok(),
            kernel: System::kernel_version().ok(),
            arch: Some(System::cpu_arch()),
            cpu_model,
            cpu_cores: u32::try_from(self.system.cpus().len()).ok(),
            mem_total: Meminfo::current().ok().map(|m| m.mem_total),
            boot_time: System::boot_time().ok(),
            agent_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            interval_ms: Some(interval_ms),
            tags: tags.to_vec(),
            ts: Some(now_ms()),
            ..HostInfo::new(self.agent.clone())
        }
    }
}

/// Number of processes: the numeric entries of /proc (cheaper than reading
/// every process).
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
        let mut collector =
            Collector::new(id.clone(), CollectorSettings::default()).expect("sysinfo works here");
        collector.warm_up().await;
        let s = collector.sample();
        assert_eq!(s.agent, id);
        assert!(s.ts > 1_600_000_000_000);
        let cpu = s.cpu_pct.expect("cpu");
        assert!((0.0..=100.0).contains(&cpu));
        assert!(s.mem_total.expect("mem total") > 0);
        assert!(s.mem_used.expect("mem used") <= s.mem_total.expect("mem total"));
        assert!(s.procs.expect("procs") > 0);
        let kinds = s.cpu.as_ref().expect("CPU by kind").kinds();
        assert!(kinds.iter().all(|(_, v)| v.is_some()), "{kinds:?}");
        assert!(!s.cores.is_empty());
        assert!(
            s.top.as_ref().is_some_and(|t| !t.by_mem.is_empty()),
            "processes on the first sample"
        );
        // Memory as /proc/meminfo says, within what moved between reads.
        let meminfo = std::fs::read_to_string("/proc/meminfo").expect("readable");
        let field = |name: &str| -> u64 {
            meminfo
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kb| kb * 1024)
                .unwrap_or_else(|| panic!("{name} in /proc/meminfo"))
        };
        assert_eq!(s.mem_total, Some(field("MemTotal:")));
        let close = |a: u64, b: u64| a.abs_diff(b) < 64 << 20;
        assert!(close(
            s.mem_available.expect("available"),
            field("MemAvailable:")
        ));
        assert!(close(s.mem_buffers.expect("buffers"), field("Buffers:")));
        assert!(close(
            s.mem_cached.expect("cached"),
            field("Cached:") + field("SReclaimable:")
        ));
        let second = collector.sample();
        assert!(
            second.top.is_none(),
            "processes are read every 5 s, not every sample"
        );
        let info = collector.host_info(5000, &["role=test".into()]);
        assert_eq!(info.interval_ms, Some(5000));
        assert_eq!(info.tags, vec!["role=test".to_owned()]);
        assert!(info.cpu_cores.is_some_and(|c| c > 0));
    }
}
