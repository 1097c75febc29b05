//! Network interfaces from `/proc/net/dev`: rates between two readings,
//! the kernel's error and drop counters, and the sum over the
//! non-loopback interfaces (the v1 `net` figures).

use std::collections::HashMap;
use std::time::Instant;

use procfs::net::DeviceStatus;
use swarm_common::limits::MAX_INTERFACES;
use swarm_common::protocol::{Interface, NetUsage};

pub fn is_loopback(interface: &str) -> bool {
    interface == "lo" || interface.starts_with("lo0") || interface.starts_with("Loopback")
}

/// Keeps the previous counters between samples.
#[derive(Debug, Default)]
pub struct NetSampler {
    last: Option<(Instant, HashMap<String, DeviceStatus>)>,
}

/// What one reading gives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetReading {
    pub total: NetUsage,
    pub interfaces: Vec<Interface>,
}

impl NetSampler {
    /// The first reading has counters but no rates yet (0 for the sum, as
    /// v1 senders did).
    pub fn read(&mut self) -> NetReading {
        let Ok(devices) = procfs::net::dev_status() else {
            return NetReading::default();
        };
        let now = Instant::now();
        let devices: HashMap<String, DeviceStatus> = devices
            .into_iter()
            .filter(|(name, _)| !is_loopback(name))
            .collect();
        let secs = self
            .last
            .as_ref()
            .map(|(then, _)| now.duration_since(*then).as_secs_f64());
        let before = self.last.as_ref().map(|(_, d)| d);
        let reading = reading(&devices, before, secs);
        self.last = Some((now, devices));
        reading
    }
}

fn reading(
    now: &HashMap<String, DeviceStatus>,
    before: Option<&HashMap<String, DeviceStatus>>,
    secs: Option<f64>,
) -> NetReading {
    let rate = |a: u64, b: Option<u64>| -> Option<f64> {
        let secs = secs.filter(|s| *s > 0.0)?;
        // Counters go backwards when an interface is re-created.
        Some((a.saturating_sub(b?) as f64 / secs).round())
    };
    let mut interfaces: Vec<Interface> = now
        .iter()
        .map(|(name, d)| {
            let b = before.and_then(|b| b.get(name));
            Interface {
                name: name.clone(),
                rx_bps: rate(d.recv_bytes, b.map(|b| b.recv_bytes)),
                tx_bps: rate(d.sent_bytes, b.map(|b| b.sent_bytes)),
                rx_pps: rate(d.recv_packets, b.map(|b| b.recv_packets)),
                tx_pps: rate(d.sent_packets, b.map(|b| b.sent_packets)),
                rx_bytes: Some(d.recv_bytes),
                tx_bytes: Some(d.sent_bytes),
                rx_errors: Some(d.recv_errs),
                tx_errors: Some(d.sent_errs),
                rx_drops: Some(d.recv_drop),
                tx_drops: Some(d.sent_drop),
            }
        })
        .collect();
    interfaces.sort_by(|a, b| a.name.cmp(&b.name));
    let sum = |f: fn(&Interface) -> Option<f64>| interfaces.iter().filter_map(f).sum::<f64>();
    let total = NetUsage {
        rx_bytes: Some(
            interfaces
                .iter()
                .filter_map(|i| i.rx_bytes)
                .fold(0, u64::saturating_add),
        ),
        tx_bytes: Some(
            interfaces
                .iter()
                .filter_map(|i| i.tx_bytes)
                .fold(0, u64::saturating_add),
        ),
        rx_bps: Some(sum(|i| i.rx_bps)),
        tx_bps: Some(sum(|i| i.tx_bps)),
    };
    // The sum covers every interface; the list is bounded (busiest kept
    // would reorder between samples, so the first by name are).
    interfaces.truncate(MAX_INTERFACES);
    NetReading { total, interfaces }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_match_proc_net_dev() {
        let mut sampler = NetSampler::default();
        let first = sampler.read();
        assert!(
            first.interfaces.iter().all(|i| i.rx_bps.is_none()),
            "no rate from one reading"
        );
        let text = std::fs::read_to_string("/proc/net/dev").expect("readable");
        let names: Vec<&str> = text
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next().map(str::trim))
            .filter(|n| !is_loopback(n))
            .collect();
        let mut want: Vec<&str> = names.into_iter().take(MAX_INTERFACES).collect();
        want.sort_unstable();
        let got: Vec<&str> = first.interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(got, want);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let second = sampler.read();
        assert!(
            second
                .interfaces
                .iter()
                .all(|i| i.rx_bps.is_some_and(|r| r >= 0.0))
        );
        let total_rx: u64 = second.interfaces.iter().filter_map(|i| i.rx_bytes).sum();
        assert_eq!(second.total.rx_bytes, Some(total_rx));
    }
}
