//! Who the virtual agents are: for agent `n` a fixed, plausible host (role,
//! data centre, OS, CPU, memory, disks, boot time) derived from the seed
//! alone, and the HostInfo it announces. Pure functions: the same seed and
//! `n` give the same host in every run and every process.

use swarm_common::AgentId;
use swarm_common::protocol::{HostInfo, Millis, ProbeCaps, SpoolInfo};

use crate::seed::mix;

/// Data centres a virtual agent may sit in (its `dc=` tag).
pub const DCS: &[&str] = &["fra1", "ams2", "iad1", "sfo3"];

const GIB: u64 = 1 << 30;

/// What a host does; it shapes its size and its load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Web,
    Db,
    Cache,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Db => "db",
            Self::Cache => "cache",
        }
    }
}

/// An operating system image: what `os`, `os_version` and `kernel` say.
#[derive(Debug, PartialEq, Eq)]
pub struct Os {
    pub name: &'static str,
    pub version: &'static str,
    pub kernel: &'static str,
}

const OSES: &[Os] = &[
    Os {
        name: "Ubuntu",
        version: "24.04",
        kernel: "6.8.0-45-generic",
    },
    Os {
        name: "Ubuntu",
        version: "22.04",
        kernel: "5.15.0-122-generic",
    },
    Os {
        name: "Debian GNU/Linux",
        version: "12",
        kernel: "6.1.0-26-amd64",
    },
    Os {
        name: "Rocky Linux",
        version: "9.4",
        kernel: "5.14.0-427.37.1.el9_4.x86_64",
    },
];

const CPUS_X86: &[&str] = &[
    "AMD EPYC 7763 64-Core Processor",
    "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
    "AMD EPYC 9354P 32-Core Processor",
];
const CPU_ARM: &str = "Neoverse-N1";

/// One mounted file system of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub mount: &'static str,
    pub fs: &'static str,
    pub total: u64,
}

/// A virtual agent's fixed description.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// Index of the agent in the fleet (0-based).
    pub n: u32,
    pub id: AgentId,
    pub role: Role,
    pub dc: &'static str,
    pub os: &'static Os,
    pub arch: &'static str,
    pub cpu_model: &'static str,
    pub cpu_cores: u32,
    pub mem_total: u64,
    /// 0 on hosts without swap.
    pub swap_total: u64,
    /// One to three, `/` first.
    pub disks: Vec<Disk>,
    /// Seconds since the epoch.
    pub boot_time: u64,
}

/// How HostInfo is dressed beyond the host itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoOptions {
    pub interval_ms: u64,
    /// Pad the encoded HostInfo to about this many bytes with extra tags.
    pub pad_to: Option<usize>,
}

/// Digits of the zero-padded number in agent ids: at least 5, more if
/// the fleet needs them.
pub fn id_width(agents: u32) -> usize {
    agents.saturating_sub(1).to_string().len().max(5)
}

/// `<prefix>-<n>` with `n` zero-padded to `width` digits.
pub fn agent_id(prefix: &str, n: u32, width: usize) -> Result<AgentId, swarm_common::AgentIdError> {
    AgentId::parse(&format!("{prefix}-{n:0width$}"))
}

impl Host {
    /// Host `n` of a fleet started at `now_ms` with `seed`.
    pub fn new(id: AgentId, n: u32, seed: u64, now_ms: Millis) -> Self {
        let h = |stream: u64| mix(seed, u64::from(n), stream);
        let role = match h(1) % 10 {
            0..=5 => Role::Web,
            6..=7 => Role::Db,
            _ => Role::Cache,
        };
        let pick = |stream: u64, len: usize| (h(stream) % len as u64) as usize;
        let arm = h(2) % 8 == 0;
        let (cpu_cores, mem_gib, swap_gib) = match role {
            Role::Web => (
                [2, 4, 8][pick(3, 3)],
                [4, 8, 16][pick(4, 3)],
                [0, 2][pick(5, 2)],
            ),
            Role::Db => (
                [16, 32, 64][pick(3, 3)],
                [64, 128, 256][pick(4, 3)],
                [0, 8][pick(5, 2)],
            ),
            Role::Cache => ([4, 8][pick(3, 2)], [32, 64][pick(4, 2)], 0),
        };
        let root_fs = if pick(6, 3) == 0 { "xfs" } else { "ext4" };
        let mut disks = vec![Disk {
            mount: "/",
            fs: root_fs,
            total: [40, 80, 160][pick(7, 3)] * GIB,
        }];
        if role == Role::Db || h(8) % 2 == 0 {
            disks.push(Disk {
                mount: "/var",
                fs: root_fs,
                total: [100, 250, 500][pick(9, 3)] * GIB,
            });
        }
        if role == Role::Db {
            disks.push(Disk {
                mount: "/data",
                fs: "xfs",
                total: [1024, 2048, 4096][pick(10, 3)] * GIB,
            });
        }
        // Up for between an hour and 120 days.
        let up_s = 3_600 + h(11) % (120 * 86_400);
        Self {
            n,
            id,
            role,
            dc: DCS[pick(12, DCS.len())],
            os: &OSES[pick(13, OSES.len())],
            arch: if arm { "aarch64" } else { "x86_64" },
            cpu_model: if arm {
                CPU_ARM
            } else {
                CPUS_X86[pick(14, CPUS_X86.len())]
            },
            cpu_cores,
            mem_total: mem_gib * GIB,
            swap_total: swap_gib * GIB,
            disks,
            boot_time: (now_ms / 1_000).saturating_sub(up_s),
        }
    }

    pub fn hostname(&self) -> String {
        format!("{}.{}.sim.example.net", self.id, self.dc)
    }

    pub fn tags(&self) -> Vec<String> {
        vec![
            "sim".to_owned(),
            format!("dc={}", self.dc),
            format!("role={}", self.role.as_str()),
        ]
    }

    /// What this agent announces in `hello` and answers on `info`, sent at `ts`.
    pub fn info(&self, options: &InfoOptions, ts: Millis) -> HostInfo {
        let mut info = HostInfo::new(self.id.clone());
        info.hostname = Some(self.hostname());
        info.os = Some(self.os.name.to_owned());
        info.os_version = Some(self.os.version.to_owned());
        info.kernel = Some(self.os.kernel.to_owned());
        info.arch = Some(self.arch.to_owned());
        info.cpu_model = Some(self.cpu_model.to_owned());
        info.cpu_cores = Some(self.cpu_cores);
        info.mem_total = Some(self.mem_total);
        info.boot_time = Some(self.boot_time);
        info.agent_version = Some(concat!(env!("CARGO_PKG_VERSION"), "-sim").to_owned());
        info.interval_ms = Some(options.interval_ms);
        info.tags = self.tags();
        info.ts = Some(ts);
        info.probes = Some(ProbeCaps {
            icmp: "raw".to_owned(),
            traceroute: true,
            tcp: true,
            note: None,
        });
        info.spool = Some(SpoolInfo::default());
        if let Some(target) = options.pad_to {
            pad(&mut info, target);
        }
        info
    }
}

/// Characters in one padding tag (`padNNNN=xxx...`).
const PAD_TAG_LEN: usize = 200;

/// Adds `padNNNN=xxx` tags until the encoded info is about `target` bytes
/// (within a few bytes; never shorter than the info already is).
fn pad(info: &mut HostInfo, target: usize) {
    let Ok(base) = swarm_common::codec::to_msgpack(info) else {
        return;
    };
    let mut missing = target.saturating_sub(base.len());
    let mut i = 0usize;
    // A tag of 32..=255 characters costs its length plus a 2-byte header;
    // the list header may grow by 2 or 4 bytes, corrected below.
    while missing >= 2 + 32 {
        let len = (missing - 2).min(PAD_TAG_LEN);
        info.tags.push(pad_tag(i, len));
        missing -= len + 2;
        i += 1;
    }
    if let Ok(encoded) = swarm_common::codec::to_msgpack(info) {
        let over = encoded.len().saturating_sub(target);
        if let Some(last) = info.tags.last_mut()
            && last.starts_with("pad")
            && over > 0
            && last.len() >= 32 + over
        {
            last.truncate(last.len() - over);
        }
    }
}

fn pad_tag(i: usize, len: usize) -> String {
    let mut tag = format!("pad{i:04}=");
    while tag.len() < len {
        tag.push('x');
    }
    tag.truncate(len);
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_800_000_000_000;

    fn host(n: u32, seed: u64) -> Host {
        let id = agent_id("sim", n, 5).expect("valid id");
        Host::new(id, n, seed, NOW)
    }

    #[test]
    fn ids_are_zero_padded() {
        let cases = [
            (100, 42, "sim-00042"),
            (10_000, 9_999, "sim-09999"),
            (200_000, 7, "sim-000007"),
        ];
        for (agents, n, want) in cases {
            let id = agent_id("sim", n, id_width(agents)).expect("valid id");
            assert_eq!(id.as_str(), want);
        }
        assert!(agent_id("Bad.Prefix", 1, 5).is_err());
    }

    #[test]
    fn the_same_seed_gives_the_same_host() {
        assert_eq!(host(7, 1), host(7, 1));
        let differ = (0..20).filter(|&n| host(n, 1) != host(n, 2)).count();
        assert!(differ > 15, "another seed gives other hosts");
    }

    #[test]
    fn hosts_are_plausible() {
        let mut roles = std::collections::HashSet::new();
        for n in 0..300 {
            let h = host(n, 9);
            roles.insert(h.role);
            assert!((1..=3).contains(&h.disks.len()));
            assert_eq!(h.disks[0].mount, "/");
            assert!(h.cpu_cores >= 2 && h.mem_total >= 4 * GIB);
            assert!(h.boot_time < NOW / 1_000);
            let info = h.info(
                &InfoOptions {
                    interval_ms: 5_000,
                    pad_to: None,
                },
                NOW,
            );
            assert_eq!(info.agent, h.id);
            assert_eq!(info.interval_ms, Some(5_000));
            assert!(info.tags.contains(&"sim".to_owned()));
            assert!(info.tags.iter().any(|t| t.starts_with("dc=")));
            assert!(info.tags.iter().any(|t| t.starts_with("role=")));
            assert!(
                info.hostname
                    .as_deref()
                    .is_some_and(|n| n.starts_with(h.id.as_str()))
            );
        }
        assert_eq!(roles.len(), 3, "web, db and cache all occur");
    }

    #[test]
    fn info_is_padded_to_about_the_size_asked() {
        let h = host(3, 1);
        for target in [1_000, 4_096, 100_000, 1 << 20] {
            let info = h.info(
                &InfoOptions {
                    interval_ms: 1_000,
                    pad_to: Some(target),
                },
                NOW,
            );
            let len = swarm_common::codec::to_msgpack(&info)
                .expect("encodes")
                .len();
            assert!(len.abs_diff(target) <= 40, "asked {target}, got {len}");
        }
        let small = h.info(
            &InfoOptions {
                interval_ms: 1_000,
                pad_to: Some(10),
            },
            NOW,
        );
        assert_eq!(small.tags.len(), 3, "no padding below the natural size");
    }
}
