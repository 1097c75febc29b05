//! Payload types of the wire contract (`PROTOCOL.md`, v1).
//!
//! Receivers are lenient: only identifying fields are required; every other
//! field is an `Option` (absent means unknown, never zero). Senders in this
//! project always fill every field. Encoded as MessagePack maps with field
//! names (see [`crate::codec`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::AgentId;

pub mod alerts;
mod detail;
pub mod fleet;
mod nettest;
mod online;
pub use detail::*;
pub use nettest::*;
pub use online::*;

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = u64;

/// What an agent announces on `swarm.hello.<agent>` and answers on
/// `swarm.agent.<agent>.info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub agent: AgentId,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub os_version: Option<String>,
    #[serde(default)]
    pub kernel: Option<String>,
    #[serde(default)]
    pub arch: Option<String>,
    #[serde(default)]
    pub cpu_model: Option<String>,
    #[serde(default)]
    pub cpu_cores: Option<u32>,
    #[serde(default)]
    pub mem_total: Option<u64>,
    /// Seconds since the epoch.
    #[serde(default)]
    pub boot_time: Option<u64>,
    #[serde(default)]
    pub agent_version: Option<String>,
    #[serde(default)]
    pub interval_ms: Option<u64>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// When the agent sent this (extension; absent from older agents).
    #[serde(default)]
    pub ts: Option<Millis>,
    /// What the agent can probe with (extension).
    #[serde(default)]
    pub probes: Option<ProbeCaps>,
    /// The agent's undelivered-message spool (extension).
    #[serde(default)]
    pub spool: Option<SpoolInfo>,
    /// How each plugin fared at its last run (empty without plugins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<fleet::PluginStatus>,
    /// The revision of the hub-pushed config in force (0 or absent: the
    /// agent's own settings).
    #[serde(default)]
    pub config_rev: Option<u64>,
}

/// Depth and counters of an agent's on-disk spool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolInfo {
    /// Messages waiting for the bus.
    pub records: u64,
    pub bytes: u64,
    /// Messages dropped, oldest first, because the spool was full.
    pub dropped: u64,
    /// Messages delivered from the spool since the agent started.
    pub replayed: u64,
}

impl HostInfo {
    /// Info with only the agent id known.
    pub fn new(agent: AgentId) -> Self {
        Self {
            agent,
            hostname: None,
            os: None,
            os_version: None,
            kernel: None,
            arch: None,
            cpu_model: None,
            cpu_cores: None,
            mem_total: None,
            boot_time: None,
            agent_version: None,
            interval_ms: None,
            tags: Vec::new(),
            ts: None,
            probes: None,
            spool: None,
            plugins: Vec::new(),
            config_rev: None,
        }
    }
}

/// One disk mount in a [`MetricsSample`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskUsage {
    pub mount: String,
    #[serde(default)]
    pub fs: Option<String>,
    #[serde(default)]
    pub total: Option<u64>,
    /// Bytes in use: `total` minus free blocks, as `df`'s "Used".
    #[serde(default)]
    pub used: Option<u64>,
    /// Bytes an unprivileged user can still write (free blocks less the
    /// blocks reserved for root), as `df`'s "Avail".
    #[serde(default)]
    pub available: Option<u64>,
    #[serde(default)]
    pub inodes_total: Option<u64>,
    #[serde(default)]
    pub inodes_used: Option<u64>,
}

impl DiskUsage {
    /// A mount with only its name known.
    pub fn new(mount: impl Into<String>) -> Self {
        Self {
            mount: mount.into(),
            fs: None,
            total: None,
            used: None,
            available: None,
            inodes_total: None,
            inodes_used: None,
        }
    }

    /// Used share as `df` shows it: `used / (used + available)`, so blocks
    /// reserved for root do not count as used. Senders without
    /// `available` get `used / total`.
    pub fn used_pct(&self) -> Option<f64> {
        let used = self.used?;
        match self.available {
            Some(available) => pct(used, used.saturating_add(available)),
            None => pct(used, self.total?),
        }
    }

    pub fn inodes_pct(&self) -> Option<f64> {
        pct(self.inodes_used?, self.inodes_total?)
    }
}

/// Network counters summed over non-loopback interfaces.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetUsage {
    #[serde(default)]
    pub rx_bytes: Option<u64>,
    #[serde(default)]
    pub tx_bytes: Option<u64>,
    #[serde(default)]
    pub rx_bps: Option<f64>,
    #[serde(default)]
    pub tx_bps: Option<f64>,
}

/// What an agent publishes on `swarm.metrics.<agent>` every interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSample {
    pub agent: AgentId,
    pub ts: Millis,
    #[serde(default)]
    pub cpu_pct: Option<f64>,
    /// Load averages over 1, 5 and 15 minutes.
    #[serde(default)]
    pub load: Option<[f64; 3]>,
    #[serde(default)]
    pub mem_total: Option<u64>,
    #[serde(default)]
    pub mem_used: Option<u64>,
    #[serde(default)]
    pub mem_available: Option<u64>,
    #[serde(default)]
    pub swap_total: Option<u64>,
    #[serde(default)]
    pub swap_used: Option<u64>,
    #[serde(default)]
    pub disks: Vec<DiskUsage>,
    #[serde(default)]
    pub net: Option<NetUsage>,
    #[serde(default)]
    pub uptime_s: Option<u64>,
    #[serde(default)]
    pub procs: Option<u64>,
    #[serde(default)]
    pub custom: BTreeMap<String, f64>,
    /// CPU time by kind (host detail; see [`CpuTimes`]).
    #[serde(default)]
    pub cpu: Option<CpuTimes>,
    /// Busy % of each core, in core order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cores: Vec<f64>,
    /// Memory not used at all, and the page cache and buffers within
    /// `mem_used`'s complement (as `free` shows them).
    #[serde(default)]
    pub mem_free: Option<u64>,
    #[serde(default)]
    pub mem_cached: Option<u64>,
    #[serde(default)]
    pub mem_buffers: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disk_io: Vec<DiskIo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub temps: Vec<Temperature>,
    /// The heaviest processes, when they were read for this sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<TopProcesses>,
}

impl MetricsSample {
    /// A sample with every measurement unknown.
    pub fn new(agent: AgentId, ts: Millis) -> Self {
        Self {
            agent,
            ts,
            cpu_pct: None,
            load: None,
            mem_total: None,
            mem_used: None,
            mem_available: None,
            swap_total: None,
            swap_used: None,
            disks: Vec::new(),
            net: None,
            uptime_s: None,
            procs: None,
            custom: BTreeMap::new(),
            cpu: None,
            cores: Vec::new(),
            mem_free: None,
            mem_cached: None,
            mem_buffers: None,
            disk_io: Vec::new(),
            interfaces: Vec::new(),
            temps: Vec::new(),
            top: None,
        }
    }

    /// A sample without processes keeps those of `previous` (processes
    /// come at their own cadence) while they are at most
    /// [`TOP_KEPT_MS`] old.
    pub fn keep_top_of(&mut self, previous: Option<MetricsSample>) {
        if self.top.is_none() {
            let ts = self.ts;
            self.top = previous
                .and_then(|p| p.top)
                .filter(|t| t.ts.saturating_add(TOP_KEPT_MS) >= ts);
        }
    }

    /// Leaves the v1 figures and the CPU kinds: without per-core,
    /// per-device, per-interface, sensor and process lists (what a list of
    /// many hosts does not need).
    pub fn drop_detail(&mut self) {
        self.cores = Vec::new();
        self.disk_io = Vec::new();
        self.interfaces = Vec::new();
        self.temps = Vec::new();
        self.top = None;
    }

    pub fn mem_pct(&self) -> Option<f64> {
        pct(self.mem_used?, self.mem_total?)
    }

    pub fn swap_pct(&self) -> Option<f64> {
        pct(self.swap_used?, self.swap_total?)
    }

    /// The disk mounted at `/`, if the agent reported it.
    pub fn root_disk(&self) -> Option<&DiskUsage> {
        self.disks.iter().find(|d| d.mount == "/")
    }

    /// Every history series this sample feeds, as (series name, value).
    /// Series names are those of the contract; absent fields feed nothing.
    /// Percentages derived here are rounded to 0.001 (plenty for a chart,
    /// and what lets the hub store them in a few bits).
    pub fn series(&self) -> Vec<(Cow<'static, str>, f64)> {
        let mut out = Vec::with_capacity(
            16 + 2 * self.disks.len()
                + 3 * self.disk_io.len()
                + 2 * self.interfaces.len()
                + self.temps.len()
                + self.custom.len(),
        );
        self.each_series(|name, value| out.push((name.to_cow(), value)));
        out
    }

    /// What [`MetricsSample::series`] lists, one by one and without
    /// building names: ingest writes them where it keeps its rows.
    pub fn each_series<'a>(&'a self, mut each: impl FnMut(SeriesName<'a>, f64)) {
        let mut put = |name: SeriesName<'a>, v: Option<f64>| {
            if let Some(v) = v {
                each(name, v);
            }
        };
        use SeriesName::{Fixed, Of};
        put(Fixed(series::CPU_PCT), self.cpu_pct);
        put(Fixed(series::MEM_PCT), self.mem_pct().map(round3));
        put(Fixed(series::SWAP_PCT), self.swap_pct().map(round3));
        if let Some([l1, l5, l15]) = self.load {
            put(Fixed(series::LOAD1), Some(l1));
            put(Fixed(series::LOAD5), Some(l5));
            put(Fixed(series::LOAD15), Some(l15));
        }
        if let Some(net) = &self.net {
            put(Fixed(series::NET_RX_BPS), net.rx_bps);
            put(Fixed(series::NET_TX_BPS), net.tx_bps);
        }
        if let Some(cpu) = &self.cpu {
            put(Fixed(series::CPU_USER_PCT), cpu.user);
            put(Fixed(series::CPU_SYSTEM_PCT), cpu.system);
            put(Fixed(series::CPU_IOWAIT_PCT), cpu.iowait);
            put(Fixed(series::CPU_STEAL_PCT), cpu.steal);
        }
        for disk in &self.disks {
            let mount = disk.mount.as_str();
            put(Of(series::DISK_PCT, mount), disk.used_pct().map(round3));
            put(Of(series::INODES_PCT, mount), disk.inodes_pct().map(round3));
        }
        for io in &self.disk_io {
            let device = io.device.as_str();
            put(Of(series::DISK_READ_BPS, device), io.read_bps);
            put(Of(series::DISK_WRITE_BPS, device), io.write_bps);
            put(Of(series::DISK_BUSY_PCT, device), io.busy_pct);
        }
        for iface in &self.interfaces {
            let name = iface.name.as_str();
            put(Of(series::IFACE_RX_BPS, name), iface.rx_bps);
            put(Of(series::IFACE_TX_BPS, name), iface.tx_bps);
        }
        for temp in &self.temps {
            put(Of(series::TEMP_C, &temp.label), Some(temp.celsius));
        }
        for (name, v) in &self.custom {
            put(Of(series::CUSTOM, name), Some(*v));
        }
    }
}

/// A series name as a sample gives it: one of the contract's fixed names,
/// or `kind:name` for what a host has several of (disks, interfaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesName<'a> {
    Fixed(&'static str),
    Of(&'static str, &'a str),
}

impl SeriesName<'_> {
    /// Appends the name to `out`.
    pub fn push_to(self, out: &mut String) {
        match self {
            Self::Fixed(name) => out.push_str(name),
            Self::Of(kind, name) => {
                out.push_str(kind);
                out.push(':');
                out.push_str(name);
            }
        }
    }

    /// The name; a fixed one is borrowed.
    pub fn to_cow(self) -> Cow<'static, str> {
        match self {
            Self::Fixed(name) => Cow::Borrowed(name),
            Self::Of(kind, name) => {
                let mut out = String::with_capacity(kind.len() + 1 + name.len());
                self.push_to(&mut out);
                Cow::Owned(out)
            }
        }
    }
}

/// Series names of the contract.
pub mod series {
    pub const CPU_PCT: &str = "cpu_pct";
    pub const MEM_PCT: &str = "mem_pct";
    pub const SWAP_PCT: &str = "swap_pct";
    pub const LOAD1: &str = "load1";
    pub const LOAD5: &str = "load5";
    pub const LOAD15: &str = "load15";
    pub const NET_RX_BPS: &str = "net_rx_bps";
    pub const NET_TX_BPS: &str = "net_tx_bps";
    pub const CPU_USER_PCT: &str = "cpu_user_pct";
    pub const CPU_SYSTEM_PCT: &str = "cpu_system_pct";
    pub const CPU_IOWAIT_PCT: &str = "cpu_iowait_pct";
    pub const CPU_STEAL_PCT: &str = "cpu_steal_pct";

    pub const DISK_PCT: &str = "disk_pct";
    pub const INODES_PCT: &str = "inodes_pct";
    pub const DISK_READ_BPS: &str = "disk_io_read_bps";
    pub const DISK_WRITE_BPS: &str = "disk_io_write_bps";
    pub const DISK_BUSY_PCT: &str = "disk_io_busy_pct";
    pub const IFACE_RX_BPS: &str = "net_rx_bps";
    pub const IFACE_TX_BPS: &str = "net_tx_bps";
    pub const TEMP_C: &str = "temp_c";
    pub const CUSTOM: &str = "custom";

    fn named(kind: &'static str, name: &str) -> String {
        super::SeriesName::Of(kind, name).to_cow().into_owned()
    }

    pub fn disk_pct(mount: &str) -> String {
        named(DISK_PCT, mount)
    }

    pub fn inodes_pct(mount: &str) -> String {
        named(INODES_PCT, mount)
    }

    pub fn disk_read_bps(device: &str) -> String {
        named(DISK_READ_BPS, device)
    }

    pub fn disk_write_bps(device: &str) -> String {
        named(DISK_WRITE_BPS, device)
    }

    pub fn disk_busy_pct(device: &str) -> String {
        named(DISK_BUSY_PCT, device)
    }

    pub fn iface_rx_bps(iface: &str) -> String {
        named(IFACE_RX_BPS, iface)
    }

    pub fn iface_tx_bps(iface: &str) -> String {
        named(IFACE_TX_BPS, iface)
    }

    pub fn temp_c(label: &str) -> String {
        named(TEMP_C, label)
    }

    pub fn custom(name: &str) -> String {
        named(CUSTOM, name)
    }
}

/// `swarm.bye.<agent>`: the agent is shutting down cleanly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bye {
    pub agent: AgentId,
    pub ts: Millis,
}

/// Online state of a host as the hub sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    Online,
    Offline,
}

/// One host in `swarm.api.hosts` and `swarm.api.host` replies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostSummary {
    pub agent: AgentId,
    #[serde(default)]
    pub hostname: Option<String>,
    pub status: HostStatus,
    #[serde(default)]
    pub last_seen: Option<Millis>,
    /// The merged set: the agent's own tags and the hub's, each once.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The tags the agent announced (its HostInfo `tags`).
    #[serde(default)]
    pub agent_tags: Vec<String>,
    /// The tags the hub keeps for this host (`swarm.api.hosts.tags`).
    #[serde(default)]
    pub hub_tags: Vec<String>,
    #[serde(default)]
    pub info: Option<HostInfo>,
    #[serde(default)]
    pub latest: Option<MetricsSample>,
}

/// A host's tags as selectors see them: the agent's, then the hub's that
/// the agent does not have.
pub fn merged_tags(agent_tags: &[String], hub_tags: &[String]) -> Vec<String> {
    let mut tags = agent_tags.to_vec();
    for tag in hub_tags {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    tags
}

/// Hosts per `swarm.api.hosts` page when the request sets no limit, and
/// at most.
pub const DEFAULT_HOSTS_PAGE: u32 = 500;
pub const MAX_HOSTS_PAGE: u32 = 1_000;

/// `swarm.api.hosts` request: one page of hosts in agent-id order, those
/// after `after`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostsRequest {
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub status: Option<HostStatus>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostsReply {
    pub hosts: Vec<HostSummary>,
    /// The agent id to send as `after` for the next page; absent on the
    /// last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `swarm.api.hosts.remove` request (operator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRemoveRequest {
    pub agent: String,
    /// Also delete the host's history (otherwise it ages out).
    #[serde(default)]
    pub purge: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRemoveReply {
    pub agent: AgentId,
}

/// `swarm.api.hosts.tags` request (operator): hub-side tags to add and
/// remove (removals first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostTagsRequest {
    pub agent: String,
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostTagsReply {
    pub host: HostSummary,
}

/// `swarm.api.host` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRequest {
    pub agent: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostReply {
    pub host: HostSummary,
    pub series: Vec<String>,
}

/// Default cap on points in a history reply.
pub const DEFAULT_MAX_POINTS: u32 = 500;

/// `swarm.api.history` request. `from` may be negative: that many ms before
/// now. `to` defaults to now. Both ends inclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRequest {
    pub agent: String,
    pub series: String,
    pub from: i64,
    #[serde(default)]
    pub to: Option<i64>,
    #[serde(default)]
    pub max_points: Option<u32>,
}

/// `[ts, min, avg, max]`: a bucket's start and its statistics, or one raw
/// sample (min = avg = max) when `step_ms` is 0.
pub type HistoryPoint = (Millis, f64, f64, f64);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryReply {
    pub agent: AgentId,
    pub series: String,
    pub step_ms: u64,
    pub points: Vec<HistoryPoint>,
    /// Latency series (`test:<test id>`) only: `[ts, p50, p95, p99]` per
    /// point of `points`, same order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentiles: Option<Vec<PercentilePoint>>,
    /// Latency series only: percentiles over the whole window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowPercentiles>,
}

/// `[ts, p50, p95, p99]` of one history point of a latency series.
pub type PercentilePoint = (Millis, f64, f64, f64);

/// Percentiles of every sample in a history window. `exact` when they
/// come from raw samples (nearest rank); otherwise they come from merged
/// per-bucket sketches and are within `relative_error` of the exact value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowPercentiles {
    pub count: u64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub exact: bool,
    pub relative_error: f64,
}

/// Error codes of API replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    NotFound,
    Conflict,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// The `Nats-Service-Error-Code` that goes with this code.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    /// An error whose message is safe to show anywhere: control characters
    /// escaped, at most [`crate::text::MAX_MESSAGE_BYTES`].
    pub fn new(code: ErrorCode, message: impl AsRef<str>) -> Self {
        Self {
            code,
            message: crate::text::printable(message.as_ref(), crate::text::MAX_MESSAGE_BYTES),
        }
    }

    /// `bad_request`: the request breaks the contract; the message says how.
    pub fn bad_request(message: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// `internal`: the hub failed (a store error), not the request.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::Internal, e.to_string())
    }
}

/// `{"error": {...}}`: the body of a failed API reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub error: ApiError,
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn pct(used: u64, total: u64) -> Option<f64> {
    (total > 0).then(|| used as f64 * 100.0 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_are_unknown_not_zero() {
        let sample: MetricsSample =
            serde_json::from_str(r#"{"agent":"a","ts":5}"#).expect("minimal sample decodes");
        assert_eq!(sample.cpu_pct, None);
        assert!(sample.series().is_empty());
    }

    #[test]
    fn series_names_follow_the_contract() {
        let sample = MetricsSample {
            agent: AgentId::parse("a").expect("valid"),
            ts: 1,
            cpu_pct: Some(12.5),
            load: Some([1.0, 2.0, 3.0]),
            mem_total: Some(200),
            mem_used: Some(50),
            mem_available: Some(150),
            swap_total: Some(0),
            swap_used: Some(0),
            disks: vec![DiskUsage {
                fs: Some("ext4".into()),
                total: Some(1000),
                used: Some(250),
                // 50 reserved for root: df says 250 / (250 + 700).
                available: Some(700),
                inodes_total: Some(100),
                inodes_used: Some(10),
                ..DiskUsage::new("/")
            }],
            net: Some(NetUsage {
                rx_bytes: Some(1),
                tx_bytes: Some(2),
                rx_bps: Some(10.0),
                tx_bps: Some(20.0),
            }),
            uptime_s: Some(9),
            procs: Some(3),
            custom: BTreeMap::from([("queue".to_owned(), 7.0)]),
            cpu: Some(CpuTimes {
                user: Some(8.0),
                system: Some(4.0),
                iowait: Some(0.5),
                ..CpuTimes::default()
            }),
            disk_io: vec![DiskIo {
                device: "sda".into(),
                read_bps: Some(100.0),
                write_bps: Some(200.0),
                read_ops: Some(1.0),
                write_ops: Some(2.0),
                busy_pct: Some(3.0),
            }],
            ..MetricsSample::new(AgentId::parse("a").expect("valid"), 1)
        };
        let names = sample.series();
        let want = [
            ("cpu_pct", 12.5),
            ("mem_pct", 25.0),
            ("load1", 1.0),
            ("load5", 2.0),
            ("load15", 3.0),
            ("net_rx_bps", 10.0),
            ("net_tx_bps", 20.0),
            ("cpu_user_pct", 8.0),
            ("cpu_system_pct", 4.0),
            ("cpu_iowait_pct", 0.5),
            ("disk_pct:/", 26.316),
            ("inodes_pct:/", 10.0),
            ("disk_io_read_bps:sda", 100.0),
            ("disk_io_write_bps:sda", 200.0),
            ("disk_io_busy_pct:sda", 3.0),
            ("custom:queue", 7.0),
        ];
        let got: Vec<(&str, f64)> = names.iter().map(|(n, v)| (n.as_ref(), *v)).collect();
        assert_eq!(got, want, "swap with total 0 has no percentage");
    }
}
