//! How a virtual agent's numbers wander: a mean-reverting random walk per
//! measurement, shaped by the host's role and size, so charts look like
//! real hosts (busy web servers, steady caches, databases that fill their
//! disks) without any two agents moving in lockstep.

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use swarm_common::protocol::{
    CpuTimes, DiskIo, DiskUsage, Interface, MetricsSample, Millis, NetUsage,
};

use crate::fleet::{Host, Role};
use crate::seed::mix;

/// What custom metrics a sample carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomMetrics {
    /// Names of the fixed custom metrics (`m0`, `m1`, ...).
    pub names: Vec<String>,
    /// Add one metric with a name never used before (`fresh<seq>`) to
    /// every sample: a hostile load for the hub's series limits.
    pub fresh: bool,
}

impl CustomMetrics {
    /// `count` fixed metrics named `m0..m<count-1>`.
    pub fn fixed(count: u32, fresh: bool) -> Self {
        Self {
            names: (0..count).map(|i| format!("m{i}")).collect(),
            fresh,
        }
    }
}

/// The changing state of one virtual agent between samples.
#[derive(Debug, Clone)]
pub struct Walk {
    rng: SmallRng,
    cpu: f64,
    cpu_base: f64,
    load: [f64; 3],
    mem_frac: f64,
    swap_frac: f64,
    disk_frac: [f64; 3],
    rx_bytes: u64,
    tx_bytes: u64,
    rx_bps: f64,
    tx_bps: f64,
    net_base: f64,
    procs: f64,
    /// Samples taken so far.
    seq: u64,
}

/// A value near `x`, moved by up to `step` either way and pulled a little
/// towards `mean`, kept within `lo..=hi`.
fn wander(rng: &mut SmallRng, x: f64, mean: f64, step: f64, lo: f64, hi: f64) -> f64 {
    let noise: f64 = rng.random_range(-1.0..=1.0) + rng.random_range(-1.0..=1.0);
    (x + 0.15 * (mean - x) + noise * step / 2.0).clamp(lo, hi)
}

impl Walk {
    /// The starting point of host `host` under `seed`.
    pub fn new(host: &Host, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(mix(seed, u64::from(host.n), 100));
        let (cpu_base, net_base) = match host.role {
            Role::Web => (rng.random_range(15.0..45.0), rng.random_range(2e6..2e7)),
            Role::Db => (rng.random_range(25.0..60.0), rng.random_range(5e5..5e6)),
            Role::Cache => (rng.random_range(5.0..25.0), rng.random_range(5e6..5e7)),
        };
        let load1 = cpu_base / 100.0 * f64::from(host.cpu_cores);
        let disk_frac = [
            rng.random_range(0.2..0.7),
            rng.random_range(0.1..0.8),
            rng.random_range(0.3..0.85),
        ];
        let rx_bytes = rng.random_range(1u64 << 30..1u64 << 40);
        let tx_bytes = rng.random_range(1u64 << 30..1u64 << 40);
        Self {
            cpu: cpu_base,
            cpu_base,
            load: [load1, load1, load1],
            mem_frac: rng.random_range(0.3..0.85),
            swap_frac: if host.swap_total > 0 {
                rng.random_range(0.0..0.1)
            } else {
                0.0
            },
            disk_frac,
            rx_bytes,
            tx_bytes,
            rx_bps: net_base,
            tx_bps: net_base * 0.6,
            net_base,
            procs: rng.random_range(150.0..450.0),
            seq: 0,
            rng,
        }
    }

    /// Samples taken so far.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Moves every number on by `dt_s` seconds and returns the sample
    /// taken at `ts`.
    pub fn next(
        &mut self,
        host: &Host,
        dt_s: f64,
        ts: Millis,
        custom: &CustomMetrics,
    ) -> MetricsSample {
        self.step(host, dt_s);
        self.seq += 1;
        self.sample(host, ts, custom)
    }

    fn step(&mut self, host: &Host, dt_s: f64) {
        let rng = &mut self.rng;
        // Now and then a burst of work.
        let mean = if rng.random_bool(0.02) {
            95.0
        } else {
            self.cpu_base
        };
        self.cpu = wander(rng, self.cpu, mean, 8.0, 0.0, 100.0);
        let cores = f64::from(host.cpu_cores);
        let load1 = (self.cpu / 100.0 * cores * rng.random_range(0.8..1.2)).max(0.0);
        // Load averages are exponential averages over 1, 5 and 15 minutes.
        for (avg, window_s) in self.load.iter_mut().zip([60.0, 300.0, 900.0]) {
            let k = (dt_s / window_s).min(1.0);
            *avg += (load1 - *avg) * k.max(0.05);
        }
        self.mem_frac = wander(rng, self.mem_frac, self.mem_frac, 0.01, 0.05, 0.97);
        if host.swap_total > 0 {
            let mean = if self.mem_frac > 0.9 { 0.3 } else { 0.02 };
            self.swap_frac = wander(rng, self.swap_frac, mean, 0.005, 0.0, 1.0);
        }
        for frac in &mut self.disk_frac {
            // Disks fill slowly; once in a while someone cleans up.
            *frac = if rng.random_bool(0.001) {
                (*frac - 0.2).max(0.05)
            } else {
                (*frac + rng.random_range(-0.0002..0.0006) * dt_s.max(1.0)).clamp(0.01, 0.99)
            };
        }
        let hi = self.net_base * 20.0;
        self.rx_bps = wander(
            rng,
            self.rx_bps,
            self.net_base,
            self.net_base * 0.2,
            0.0,
            hi,
        );
        self.tx_bps = wander(
            rng,
            self.tx_bps,
            self.net_base * 0.6,
            self.net_base * 0.15,
            0.0,
            hi,
        );
        self.rx_bytes = self.rx_bytes.wrapping_add((self.rx_bps * dt_s) as u64);
        self.tx_bytes = self.tx_bytes.wrapping_add((self.tx_bps * dt_s) as u64);
        self.procs = wander(rng, self.procs, self.procs, 4.0, 60.0, 4_000.0);
    }

    fn sample(&self, host: &Host, ts: Millis, custom: &CustomMetrics) -> MetricsSample {
        let mut s = MetricsSample::new(host.id.clone(), ts);
        s.cpu_pct = Some(round2(self.cpu));
        s.load = Some(self.load.map(round2));
        let mem_used = (host.mem_total as f64 * self.mem_frac) as u64;
        s.mem_total = Some(host.mem_total);
        s.mem_used = Some(mem_used);
        s.mem_available = Some(host.mem_total - mem_used);
        s.swap_total = Some(host.swap_total);
        s.swap_used = Some((host.swap_total as f64 * self.swap_frac) as u64);
        s.disks = host
            .disks
            .iter()
            .zip(self.disk_frac)
            .map(|(d, frac)| {
                let used = (d.total as f64 * frac) as u64;
                // 5 % reserved for root, as ext4 keeps by default.
                let reserved = d.total / 20;
                DiskUsage {
                    fs: Some(d.fs.to_owned()),
                    total: Some(d.total),
                    used: Some(used),
                    available: Some(d.total.saturating_sub(used).saturating_sub(reserved)),
                    inodes_total: Some(d.total / 16_384),
                    inodes_used: Some((d.total as f64 * frac / 65_536.0) as u64),
                    ..DiskUsage::new(d.mount)
                }
            })
            .collect();
        // CPU time by kind: the busy share split as a typical server's.
        let busy = self.cpu;
        s.cpu = Some(CpuTimes {
            user: Some(round2(busy * 0.7)),
            nice: Some(0.0),
            system: Some(round2(busy * 0.25)),
            iowait: Some(round2((busy * 0.04).min(100.0 - busy))),
            irq: Some(0.0),
            softirq: Some(round2(busy * 0.05)),
            steal: Some(0.0),
            idle: Some(round2(100.0 - busy - (busy * 0.04).min(100.0 - busy))),
        });
        s.interfaces = vec![Interface {
            name: "eth0".into(),
            rx_bps: Some(self.rx_bps.round()),
            tx_bps: Some(self.tx_bps.round()),
            rx_pps: Some((self.rx_bps / 900.0).round()),
            tx_pps: Some((self.tx_bps / 900.0).round()),
            rx_bytes: Some(self.rx_bytes),
            tx_bytes: Some(self.tx_bytes),
            rx_errors: Some(0),
            tx_errors: Some(0),
            rx_drops: Some(0),
            tx_drops: Some(0),
        }];
        s.disk_io = vec![DiskIo {
            device: "vda".into(),
            read_bps: Some((self.tx_bps * 0.1).round()),
            write_bps: Some((self.rx_bps * 0.2).round()),
            read_ops: Some(round2(self.tx_bps / 40_000.0)),
            write_ops: Some(round2(self.rx_bps / 20_000.0)),
            busy_pct: Some(round2((busy / 4.0).min(100.0))),
        }];
        s.net = Some(NetUsage {
            rx_bytes: Some(self.rx_bytes),
            tx_bytes: Some(self.tx_bytes),
            rx_bps: Some(self.rx_bps.round()),
            tx_bps: Some(self.tx_bps.round()),
        });
        s.uptime_s = Some((ts / 1_000).saturating_sub(host.boot_time));
        s.procs = Some(self.procs as u64);
        s.custom = custom_values(host.n, self.seq, custom);
        s
    }
}

/// Custom metrics of sample `seq`: smooth waves, each metric with its own
/// level, period and phase, so they need no state of their own.
fn custom_values(n: u32, seq: u64, custom: &CustomMetrics) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (i, name) in custom.names.iter().enumerate() {
        let h = mix(u64::from(n), i as u64, 200);
        let level = (h % 1_000) as f64;
        let period = 20.0 + (h >> 10) as f64 % 200.0;
        let phase = (h >> 20) as f64 % 628.0 / 100.0;
        let v = level * (1.0 + 0.5 * (seq as f64 / period * std::f64::consts::TAU + phase).sin());
        out.insert(name.clone(), round2(v));
    }
    if custom.fresh {
        out.insert(format!("fresh{seq}"), seq as f64);
    }
    out
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::agent_id;

    const NOW: Millis = 1_800_000_000_000;

    fn host(n: u32) -> Host {
        Host::new(agent_id("sim", n, 5).expect("valid id"), n, 5, NOW)
    }

    #[test]
    fn samples_stay_within_bounds_for_a_long_time() {
        for n in 0..20 {
            let h = host(n);
            let mut walk = Walk::new(&h, 5);
            let mut last_rx = 0;
            for k in 0..2_000u64 {
                let s = walk.next(&h, 5.0, NOW + k * 5_000, &CustomMetrics::default());
                let cpu = s.cpu_pct.expect("cpu");
                assert!((0.0..=100.0).contains(&cpu), "cpu {cpu}");
                assert!(
                    s.load
                        .expect("load")
                        .iter()
                        .all(|l| l.is_finite() && *l >= 0.0)
                );
                assert!(s.mem_used <= s.mem_total && s.mem_available <= s.mem_total);
                assert!(s.swap_used <= s.swap_total);
                for d in &s.disks {
                    assert!(d.used <= d.total, "{d:?}");
                }
                let net = s.net.as_ref().expect("net");
                assert!(net.rx_bps.expect("rx") >= 0.0 && net.tx_bps.expect("tx") >= 0.0);
                let rx = net.rx_bytes.expect("rx bytes");
                assert!(rx >= last_rx, "counters only grow");
                last_rx = rx;
                assert!(s.uptime_s.expect("uptime") > 3_000);
                assert_eq!(s.disks.len(), h.disks.len());
            }
        }
    }

    #[test]
    fn cpu_wanders() {
        let h = host(1);
        let mut walk = Walk::new(&h, 5);
        let cpus: Vec<f64> = (0..200)
            .map(|k| {
                walk.next(&h, 5.0, NOW + k * 5_000, &CustomMetrics::default())
                    .cpu_pct
                    .expect("cpu")
            })
            .collect();
        let distinct = cpus.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(distinct > 150, "cpu moves from sample to sample");
        let (lo, hi) = cpus
            .iter()
            .fold((100.0f64, 0.0f64), |(lo, hi), c| (lo.min(*c), hi.max(*c)));
        assert!(hi - lo > 10.0, "and over a wide range: {lo}..{hi}");
    }

    #[test]
    fn the_same_seed_walks_the_same_way() {
        let h = host(2);
        let (mut a, mut b) = (Walk::new(&h, 5), Walk::new(&h, 5));
        for k in 0..50 {
            let custom = CustomMetrics::default();
            assert_eq!(
                a.next(&h, 1.0, NOW + k, &custom),
                b.next(&h, 1.0, NOW + k, &custom)
            );
        }
    }

    #[test]
    fn custom_metrics_fixed_and_fresh() {
        let h = host(3);
        let mut walk = Walk::new(&h, 5);
        let fixed = CustomMetrics::fixed(3, false);
        let s = walk.next(&h, 1.0, NOW, &fixed);
        let names: Vec<&str> = s.custom.keys().map(String::as_str).collect();
        assert_eq!(names, ["m0", "m1", "m2"]);
        assert!(s.custom.values().all(|v| v.is_finite()));

        let fresh = CustomMetrics::fixed(1, true);
        let a = walk.next(&h, 1.0, NOW + 1, &fresh);
        let b = walk.next(&h, 1.0, NOW + 2, &fresh);
        let fresh_name =
            |s: &MetricsSample| s.custom.keys().find(|k| k.starts_with("fresh")).cloned();
        assert!(a.custom.contains_key("m0"));
        assert_ne!(fresh_name(&a), fresh_name(&b), "a new name in every sample");
        assert!(fresh_name(&a).is_some());
    }
}
