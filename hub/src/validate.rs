//! What the hub accepts from agents. Every rejection has a reason that is
//! counted and logged; none stops ingest.

use std::sync::atomic::{AtomicU64, Ordering};

use swarm_common::limits;
use swarm_common::protocol::{HostInfo, MetricsSample, Millis, TestResult};

/// How far ahead of the hub's clock a sample may be (agent clock skew).
const MAX_FUTURE_MS: u64 = 5 * 60 * 1000;
/// Oldest sample accepted (a long outage replayed from a spool).
const MAX_AGE_MS: u64 = 400 * 24 * 3600 * 1000;
const MAX_NAME_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("undecodable payload: {0}")]
    Undecodable(String),
    #[error("subject {subject} is not an agent subject")]
    BadSubject { subject: String },
    #[error("subject token {token:?} disagrees with the payload's agent {agent:?}")]
    SubjectMismatch { token: String, agent: String },
    #[error("bad value: {0}")]
    BadValue(String),
    #[error("over a per-message limit: {0}")]
    TooLarge(String),
    #[error("the hub holds its most hosts ({0}); a new agent is refused")]
    AgentLimit(usize),
    #[error("agent {agent} is not in run {run_id:?} of test {test_id}")]
    NotInRun {
        test_id: String,
        run_id: String,
        agent: String,
    },
}

/// Rejection counters, one per reason.
#[derive(Debug, Default)]
pub struct RejectionCounts {
    pub undecodable: AtomicU64,
    pub bad_subject: AtomicU64,
    pub subject_mismatch: AtomicU64,
    pub bad_value: AtomicU64,
    pub too_large: AtomicU64,
    pub agent_limit: AtomicU64,
    pub not_in_run: AtomicU64,
}

impl RejectionCounts {
    pub fn count(&self, rejection: &Rejection) {
        let counter = match rejection {
            Rejection::Undecodable(_) => &self.undecodable,
            Rejection::BadSubject { .. } => &self.bad_subject,
            Rejection::SubjectMismatch { .. } => &self.subject_mismatch,
            Rejection::BadValue(_) => &self.bad_value,
            Rejection::TooLarge(_) => &self.too_large,
            Rejection::AgentLimit(_) => &self.agent_limit,
            Rejection::NotInRun { .. } => &self.not_in_run,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter with its reason's name, as `$SRV.STATS` shows them.
    fn by_reason(&self) -> [(&'static str, &AtomicU64); 7] {
        [
            ("undecodable", &self.undecodable),
            ("bad_subject", &self.bad_subject),
            ("subject_mismatch", &self.subject_mismatch),
            ("bad_value", &self.bad_value),
            ("too_large", &self.too_large),
            ("agent_limit", &self.agent_limit),
            ("not_in_run", &self.not_in_run),
        ]
    }

    pub fn total(&self) -> u64 {
        self.by_reason()
            .iter()
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .sum()
    }

    pub fn as_json(&self) -> serde_json::Value {
        self.by_reason()
            .iter()
            .map(|(name, c)| ((*name).to_owned(), c.load(Ordering::Relaxed).into()))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// A payload over its encoded-size limit is refused before it is decoded.
pub fn size(what: &str, payload: &[u8], max: usize) -> Result<(), Rejection> {
    if payload.len() > max {
        return Err(Rejection::TooLarge(format!(
            "a {what} of {} bytes (at most {max})",
            payload.len()
        )));
    }
    Ok(())
}

/// A HostInfo's tags: at most 64, each 1-128 bytes.
pub fn host_info(info: &HostInfo) -> Result<(), Rejection> {
    limits::check_tags(&info.tags).map_err(Rejection::TooLarge)
}

/// The subject's agent token must be the payload's agent id.
pub fn same_agent(token: &str, agent: &str) -> Result<(), Rejection> {
    if token == agent {
        Ok(())
    } else {
        Err(Rejection::SubjectMismatch {
            token: token.to_owned(),
            agent: agent.to_owned(),
        })
    }
}

/// Checks a sample's timestamp and values for sanity.
pub fn sample(s: &MetricsSample, now: Millis) -> Result<(), Rejection> {
    if s.ts > now.saturating_add(MAX_FUTURE_MS) {
        return Err(bad(format!(
            "ts {} is more than 5 minutes in the future",
            s.ts
        )));
    }
    if s.ts < now.saturating_sub(MAX_AGE_MS) {
        return Err(bad(format!("ts {} is older than 400 days", s.ts)));
    }
    if let Some(cpu) = s.cpu_pct
        && !(0.0..=100.0).contains(&cpu)
    {
        return Err(bad(format!("cpu_pct {cpu} is outside 0..=100")));
    }
    if let Some(load) = s.load
        && load.iter().any(|l| !l.is_finite() || *l < 0.0)
    {
        return Err(bad(format!(
            "load {load:?} must be finite and not negative"
        )));
    }
    if s.disks.len() > limits::MAX_DISKS {
        return Err(Rejection::TooLarge(format!(
            "{} disks (at most {})",
            s.disks.len(),
            limits::MAX_DISKS
        )));
    }
    if s.custom.len() > limits::MAX_CUSTOM {
        return Err(Rejection::TooLarge(format!(
            "{} custom metrics (at most {})",
            s.custom.len(),
            limits::MAX_CUSTOM
        )));
    }
    within("mem_used", s.mem_used, s.mem_total)?;
    within("mem_available", s.mem_available, s.mem_total)?;
    within("swap_used", s.swap_used, s.swap_total)?;
    for disk in &s.disks {
        check_name("disk mount", &disk.mount)?;
        within("disk used", disk.used, disk.total)?;
    }
    if let Some(net) = &s.net {
        for (name, v) in [("net.rx_bps", net.rx_bps), ("net.tx_bps", net.tx_bps)] {
            if let Some(v) = v
                && (!v.is_finite() || v < 0.0)
            {
                return Err(bad(format!("{name} {v} must be finite and not negative")));
            }
        }
    }
    for (name, v) in &s.custom {
        check_name("custom metric", name)?;
        if !v.is_finite() {
            return Err(bad(format!("custom metric {name:?} is {v}")));
        }
    }
    host_detail(s)
}

/// The host-detail parts of a sample: each list bounded, each name a
/// name, each rate finite and not negative, each share a percentage.
fn host_detail(s: &MetricsSample) -> Result<(), Rejection> {
    let count = |what: &str, n: usize, max: usize| {
        if n > max {
            Err(Rejection::TooLarge(format!("{n} {what} (at most {max})")))
        } else {
            Ok(())
        }
    };
    count("cores", s.cores.len(), limits::MAX_CORES)?;
    count("block devices", s.disk_io.len(), limits::MAX_DISK_IO)?;
    count("interfaces", s.interfaces.len(), limits::MAX_INTERFACES)?;
    count("temperature sensors", s.temps.len(), limits::MAX_TEMPS)?;
    if let Some(top) = &s.top {
        count("top processes by CPU", top.by_cpu.len(), limits::MAX_TOP)?;
        count("top processes by memory", top.by_mem.len(), limits::MAX_TOP)?;
        for p in top.by_cpu.iter().chain(&top.by_mem) {
            check_name("process", &p.name)?;
            if let Some(user) = &p.user {
                check_name("process user", user)?;
            }
            rate("process cpu_pct", p.cpu_pct)?;
        }
    }
    if let Some(cpu) = &s.cpu {
        for (kind, v) in cpu.kinds() {
            share(kind, v)?;
        }
    }
    for core in &s.cores {
        share("core", Some(*core))?;
    }
    for part in [s.mem_free, s.mem_cached, s.mem_buffers] {
        within("memory part", part, s.mem_total)?;
    }
    for disk in &s.disks {
        within("disk available", disk.available, disk.total)?;
        within("inodes used", disk.inodes_used, disk.inodes_total)?;
    }
    for io in &s.disk_io {
        check_name("block device", &io.device)?;
        for v in [io.read_bps, io.write_bps, io.read_ops, io.write_ops] {
            rate("disk I/O", v)?;
        }
        share("busy_pct", io.busy_pct)?;
    }
    for iface in &s.interfaces {
        check_name("interface", &iface.name)?;
        for v in [iface.rx_bps, iface.tx_bps, iface.rx_pps, iface.tx_pps] {
            rate("interface rate", v)?;
        }
    }
    for t in &s.temps {
        check_name("sensor", &t.label)?;
        if !(-273.15..=2_000.0).contains(&t.celsius) {
            return Err(bad(format!(
                "temperature {} is not a temperature",
                t.celsius
            )));
        }
    }
    Ok(())
}

fn rate(what: &str, v: Option<f64>) -> Result<(), Rejection> {
    match v {
        Some(v) if !v.is_finite() || v < 0.0 => {
            Err(bad(format!("{what} {v} must be finite and not negative")))
        }
        _ => Ok(()),
    }
}

fn share(what: &str, v: Option<f64>) -> Result<(), Rejection> {
    match v {
        Some(v) if !(0.0..=100.0).contains(&v) => {
            Err(bad(format!("{what} {v} is outside 0..=100")))
        }
        _ => Ok(()),
    }
}

/// Checks a test result's timestamp and numbers.
pub fn result(r: &TestResult, now: Millis) -> Result<(), Rejection> {
    if r.ts > now.saturating_add(MAX_FUTURE_MS) || r.ts < now.saturating_sub(MAX_AGE_MS) {
        return Err(bad(format!("result ts {} is out of range", r.ts)));
    }
    let latency_ok = |v: f64| v.is_finite() && (0.0..=3_600_000.0).contains(&v);
    for (name, v) in [("rtt_ms", r.rtt_ms), ("connect_ms", r.connect_ms)] {
        if let Some(v) = v
            && !latency_ok(v)
        {
            return Err(bad(format!("{name} {v} is not a sane latency")));
        }
    }
    if let Some(hops) = &r.hops {
        if hops.len() > limits::MAX_HOPS {
            return Err(Rejection::TooLarge(format!(
                "{} hops (at most {})",
                hops.len(),
                limits::MAX_HOPS
            )));
        }
        for hop in hops {
            if hop.rtt_ms.len() > 64 || !hop.rtt_ms.iter().all(|v| latency_ok(*v)) {
                return Err(bad(format!("hop {} has bad rtt_ms", hop.ttl)));
            }
            if !(0.0..=100.0).contains(&hop.loss_pct) {
                return Err(bad(format!(
                    "hop {} loss_pct {} is outside 0..=100",
                    hop.ttl, hop.loss_pct
                )));
            }
        }
    }
    Ok(())
}

fn within(what: &str, part: Option<u64>, total: Option<u64>) -> Result<(), Rejection> {
    match (part, total) {
        (Some(p), Some(t)) if p > t => Err(bad(format!("{what} {p} exceeds its total {t}"))),
        _ => Ok(()),
    }
}

fn check_name(what: &str, name: &str) -> Result<(), Rejection> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(bad(format!(
            "{what} name {name:?} is empty, too long or has control characters"
        )));
    }
    Ok(())
}

fn bad(reason: String) -> Rejection {
    Rejection::BadValue(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarm_common::AgentId;
    use swarm_common::protocol::{
        CpuTimes, DiskIo, DiskUsage, Interface, NetUsage, ProcessUsage, TopProcesses,
    };

    const NOW: Millis = 1_800_000_000_000;

    fn base() -> MetricsSample {
        MetricsSample {
            cpu_pct: Some(50.0),
            load: Some([0.1, 0.2, 0.3]),
            mem_total: Some(100),
            mem_used: Some(50),
            mem_available: Some(50),
            swap_total: Some(0),
            swap_used: Some(0),
            ..MetricsSample::new(AgentId::parse("a").expect("valid"), NOW)
        }
    }

    #[test]
    fn sane_samples_pass_and_absurd_ones_do_not() {
        assert_eq!(sample(&base(), NOW), Ok(()));
        type Edit = fn(&mut MetricsSample);
        let cases: &[(&str, Edit)] = &[
            ("future", |s| s.ts = NOW + 3_600_000),
            ("ancient", |s| s.ts = 1),
            ("cpu over 100", |s| s.cpu_pct = Some(140.0)),
            ("cpu NaN", |s| s.cpu_pct = Some(f64::NAN)),
            ("negative load", |s| s.load = Some([-1.0, 0.0, 0.0])),
            ("mem over total", |s| s.mem_used = Some(1_000)),
            ("swap over total", |s| s.swap_used = Some(1)),
            ("disk over total", |s| {
                s.disks.push(DiskUsage {
                    total: Some(1),
                    used: Some(2),
                    ..DiskUsage::new("/")
                })
            }),
            ("inodes over total", |s| {
                s.disks.push(DiskUsage {
                    inodes_total: Some(1),
                    inodes_used: Some(2),
                    ..DiskUsage::new("/")
                })
            }),
            ("core over 100", |s| s.cores = vec![10.0, 101.0]),
            ("iowait NaN", |s| {
                s.cpu = Some(CpuTimes {
                    iowait: Some(f64::NAN),
                    ..CpuTimes::default()
                })
            }),
            ("cached over total", |s| s.mem_cached = Some(101)),
            ("interface with a newline", |s| {
                s.interfaces.push(Interface {
                    name: "eth\n0".into(),
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
                })
            }),
            ("disk busy over 100", |s| {
                s.disk_io.push(DiskIo {
                    device: "sda".into(),
                    read_bps: None,
                    write_bps: None,
                    read_ops: None,
                    write_ops: None,
                    busy_pct: Some(250.0),
                })
            }),
            ("process CPU negative", |s| {
                s.top = Some(TopProcesses {
                    ts: NOW,
                    by_cpu: vec![ProcessUsage {
                        pid: 1,
                        name: "init".into(),
                        user: None,
                        cpu_pct: Some(-1.0),
                        rss: None,
                    }],
                    by_mem: vec![],
                })
            }),
            ("infinite rate", |s| {
                s.net = Some(NetUsage {
                    rx_bps: Some(f64::INFINITY),
                    ..NetUsage::default()
                })
            }),
            ("custom NaN", |s| {
                s.custom.insert("q".into(), f64::NAN);
            }),
            ("custom empty name", |s| {
                s.custom.insert(String::new(), 1.0);
            }),
        ];
        for (name, edit) in cases {
            let mut s = base();
            edit(&mut s);
            assert!(
                matches!(sample(&s, NOW), Err(Rejection::BadValue(_))),
                "{name}"
            );
        }
    }
}
