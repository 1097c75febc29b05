//! What a MetricsSample or a TestResult may hold: sane timestamps,
//! bounded lists, names that are names, finite rates, shares within
//! 0..=100. One rule for everyone who reads agents' messages: the hub
//! refuses what breaks it (and counts why), the console does not show it,
//! so a bad publisher's `cpu -5%` never appears on a screen the hub
//! would not store it for.

use crate::limits;
use crate::protocol::{MetricsSample, Millis, TestResult};

/// How far ahead of the reader's clock a sample may be (agent clock skew).
const MAX_FUTURE_MS: u64 = 5 * 60 * 1000;
/// Oldest sample accepted (a long outage replayed from a spool).
const MAX_AGE_MS: u64 = 400 * 24 * 3600 * 1000;
const MAX_NAME_LEN: usize = 128;

/// Why a message breaks the rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SampleError {
    /// A value out of its range, a bad name or timestamp.
    #[error("bad value: {0}")]
    BadValue(String),
    /// More list entries than a message may carry.
    #[error("over a per-message limit: {0}")]
    TooLarge(String),
}

/// Checks a sample's timestamp and values for sanity.
pub fn sample(s: &MetricsSample, now: Millis) -> Result<(), SampleError> {
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
        return Err(SampleError::TooLarge(format!(
            "{} disks (at most {})",
            s.disks.len(),
            limits::MAX_DISKS
        )));
    }
    if s.custom.len() > limits::MAX_CUSTOM {
        return Err(SampleError::TooLarge(format!(
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
fn host_detail(s: &MetricsSample) -> Result<(), SampleError> {
    let count = |what: &str, n: usize, max: usize| {
        if n > max {
            Err(SampleError::TooLarge(format!("{n} {what} (at most {max})")))
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

fn rate(what: &str, v: Option<f64>) -> Result<(), SampleError> {
    match v {
        Some(v) if !v.is_finite() || v < 0.0 => {
            Err(bad(format!("{what} {v} must be finite and not negative")))
        }
        _ => Ok(()),
    }
}

fn share(what: &str, v: Option<f64>) -> Result<(), SampleError> {
    match v {
        Some(v) if !(0.0..=100.0).contains(&v) => {
            Err(bad(format!("{what} {v} is outside 0..=100")))
        }
        _ => Ok(()),
    }
}

/// Checks a test result's timestamp and numbers.
pub fn result(r: &TestResult, now: Millis) -> Result<(), SampleError> {
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
            return Err(SampleError::TooLarge(format!(
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

fn within(what: &str, part: Option<u64>, total: Option<u64>) -> Result<(), SampleError> {
    match (part, total) {
        (Some(p), Some(t)) if p > t => Err(bad(format!("{what} {p} exceeds its total {t}"))),
        _ => Ok(()),
    }
}

fn check_name(what: &str, name: &str) -> Result<(), SampleError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(bad(format!(
            "{what} name {name:?} is empty, too long or has control characters"
        )));
    }
    Ok(())
}

fn bad(reason: String) -> SampleError {
    SampleError::BadValue(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AgentId;

    #[test]
    fn a_negative_cpu_breaks_the_rule_and_a_sane_sample_does_not() {
        let now = 1_800_000_000_000;
        let mut s = MetricsSample {
            cpu_pct: Some(12.0),
            ..MetricsSample::new(AgentId::parse("a").expect("valid"), now)
        };
        assert_eq!(sample(&s, now), Ok(()));
        s.cpu_pct = Some(-5.0);
        assert_eq!(
            sample(&s, now),
            Err(SampleError::BadValue(
                "cpu_pct -5 is outside 0..=100".into()
            ))
        );
    }
}
