//! The host detail an operator expects from htop and glances: CPU time by
//! kind and per core, disk I/O per device, network per interface,
//! temperatures and the heaviest processes. Parts of a
//! [`MetricsSample`](crate::protocol::MetricsSample); every field optional,
//! so old senders and old receivers keep working (`PROTOCOL.md`, "Host
//! detail").

use serde::{Deserialize, Serialize};

use crate::protocol::Millis;

/// Share of CPU time by kind over the last interval, in percent of all
/// cores' time (they add up to 100).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuTimes {
    #[serde(default)]
    pub user: Option<f64>,
    #[serde(default)]
    pub nice: Option<f64>,
    #[serde(default)]
    pub system: Option<f64>,
    #[serde(default)]
    pub iowait: Option<f64>,
    #[serde(default)]
    pub irq: Option<f64>,
    #[serde(default)]
    pub softirq: Option<f64>,
    #[serde(default)]
    pub steal: Option<f64>,
    #[serde(default)]
    pub idle: Option<f64>,
}

impl CpuTimes {
    /// Every kind with its name, in a fixed order.
    pub fn kinds(&self) -> [(&'static str, Option<f64>); 8] {
        [
            ("user", self.user),
            ("nice", self.nice),
            ("system", self.system),
            ("iowait", self.iowait),
            ("irq", self.irq),
            ("softirq", self.softirq),
            ("steal", self.steal),
            ("idle", self.idle),
        ]
    }
}

/// Reads and writes of one block device over the last interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskIo {
    /// Kernel name of the device (`sda`, `nvme0n1`).
    pub device: String,
    #[serde(default)]
    pub read_bps: Option<f64>,
    #[serde(default)]
    pub write_bps: Option<f64>,
    /// Completed reads and writes per second.
    #[serde(default)]
    pub read_ops: Option<f64>,
    #[serde(default)]
    pub write_ops: Option<f64>,
    /// Share of the interval the device had I/O in flight (as `iostat`'s
    /// `%util`).
    #[serde(default)]
    pub busy_pct: Option<f64>,
}

/// One network interface: rates over the last interval and the kernel's
/// error and drop counters since boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default)]
    pub rx_bps: Option<f64>,
    #[serde(default)]
    pub tx_bps: Option<f64>,
    /// Packets per second.
    #[serde(default)]
    pub rx_pps: Option<f64>,
    #[serde(default)]
    pub tx_pps: Option<f64>,
    #[serde(default)]
    pub rx_bytes: Option<u64>,
    #[serde(default)]
    pub tx_bytes: Option<u64>,
    #[serde(default)]
    pub rx_errors: Option<u64>,
    #[serde(default)]
    pub tx_errors: Option<u64>,
    #[serde(default)]
    pub rx_drops: Option<u64>,
    #[serde(default)]
    pub tx_drops: Option<u64>,
}

impl DiskIo {
    /// A device with only its name known.
    pub fn new(device: impl Into<String>) -> Self {
        Self {
            device: device.into(),
            read_bps: None,
            write_bps: None,
            read_ops: None,
            write_ops: None,
            busy_pct: None,
        }
    }
}

impl Interface {
    /// An interface with only its name known.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            rx_bps: None,
            tx_bps: None,
            rx_pps: None,
            tx_pps: None,
            rx_bytes: None,
            tx_bytes: None,
            rx_errors: None,
            tx_errors: None,
            rx_drops: None,
            tx_drops: None,
        }
    }
}

/// One temperature sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Temperature {
    /// The sensor's label (`coretemp Package id 0`, `nvme Composite`).
    pub label: String,
    pub celsius: f64,
    #[serde(default)]
    pub critical: Option<f64>,
}

/// How long the last reading of processes stays with a host's latest
/// sample when newer samples carry none.
pub const TOP_KEPT_MS: Millis = 60_000;

/// The heaviest processes, refreshed at their own (slower) cadence: a
/// sample carries them only when they were read again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopProcesses {
    /// When the processes were read.
    pub ts: Millis,
    /// Heaviest first by CPU %.
    #[serde(default)]
    pub by_cpu: Vec<ProcessUsage>,
    /// Heaviest first by resident memory.
    #[serde(default)]
    pub by_mem: Vec<ProcessUsage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessUsage {
    pub pid: u32,
    pub name: String,
    /// Owner's user name (or numeric uid when it has no name).
    #[serde(default)]
    pub user: Option<String>,
    /// Percent of one core since the previous reading (can exceed 100 on
    /// several cores, as in htop).
    #[serde(default)]
    pub cpu_pct: Option<f64>,
    /// Resident memory, bytes.
    #[serde(default)]
    pub rss: Option<u64>,
}
