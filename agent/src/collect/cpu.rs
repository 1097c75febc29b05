//! CPU time by kind and per core, from the deltas of `/proc/stat`'s tick
//! counters between two readings.

use procfs::{CpuTime, CurrentSI, KernelStats};
use swarm_common::protocol::CpuTimes;

/// Most cores reported per sample (`PROTOCOL.md` limits).
pub const MAX_CORES: usize = swarm_common::limits::MAX_CORES;

/// Tick counters of one CPU (or all), in the order of [`CpuTimes::kinds`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Ticks([u64; 8]);

impl Ticks {
    fn of(t: &CpuTime) -> Self {
        // Guest time is already inside user and nice; not counted twice.
        Self([
            t.user,
            t.nice,
            t.system,
            t.iowait.unwrap_or(0),
            t.irq.unwrap_or(0),
            t.softirq.unwrap_or(0),
            t.steal.unwrap_or(0),
            t.idle,
        ])
    }

    /// Counters can step back (iowait does, per the kernel's own
    /// documentation): such a kind counts 0 for that interval.
    fn since(&self, earlier: &Self) -> [u64; 8] {
        let mut d = [0; 8];
        for (i, slot) in d.iter_mut().enumerate() {
            *slot = self.0[i].saturating_sub(earlier.0[i]);
        }
        d
    }
}

/// Shares in percent, to 0.01.
fn shares(delta: [u64; 8]) -> Option<CpuTimes> {
    let total: u64 = delta.iter().sum();
    if total == 0 {
        return None;
    }
    let pct = |v: u64| Some((v as f64 * 10_000.0 / total as f64).round() / 100.0);
    Some(CpuTimes {
        user: pct(delta[0]),
        nice: pct(delta[1]),
        system: pct(delta[2]),
        iowait: pct(delta[3]),
        irq: pct(delta[4]),
        softirq: pct(delta[5]),
        steal: pct(delta[6]),
        idle: pct(delta[7]),
    })
}

/// What one interval showed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuReading {
    pub times: Option<CpuTimes>,
    /// Busy % per core (everything but idle and iowait).
    pub cores: Vec<f64>,
}

impl CpuReading {
    /// Busy % of all cores: what is neither idle nor waiting for I/O.
    pub fn busy_pct(&self) -> Option<f64> {
        let t = self.times.as_ref()?;
        let idle = t.idle? + t.iowait.unwrap_or(0.0);
        Some(((100.0 - idle).clamp(0.0, 100.0) * 100.0).round() / 100.0)
    }
}

/// Keeps the previous counters between samples.
#[derive(Debug, Default)]
pub struct CpuSampler {
    total: Option<Ticks>,
    cores: Vec<Ticks>,
    /// What the last interval with ticks showed.
    last: CpuReading,
}

impl CpuSampler {
    /// Reads `/proc/stat`: shares over the time since the last reading
    /// (since boot for the first).
    pub fn read(&mut self, per_core: bool) -> CpuReading {
        let Ok(stats) = KernelStats::current() else {
            return CpuReading::default();
        };
        self.next(&stats, per_core)
    }

    fn next(&mut self, stats: &KernelStats, per_core: bool) -> CpuReading {
        let total = Ticks::of(&stats.total);
        let ticked = self
            .total
            .is_some_and(|before| total.since(&before).iter().sum::<u64>() > 0);
        if self.total.is_some() && !ticked {
            // Read again within one clock tick (USER_HZ is 100 on Linux):
            // nothing moved, so the last interval's figures still hold and
            // the baseline stays for the next reading.
            return self.last.clone();
        }
        // The first reading has no earlier one: its figures are since boot,
        // as top's first screen shows them.
        let times = shares(total.since(&self.total.unwrap_or_default()));
        self.total = Some(total);
        let mut cores = Vec::new();
        if per_core {
            let now: Vec<Ticks> = stats
                .cpu_time
                .iter()
                .take(MAX_CORES)
                .map(Ticks::of)
                .collect();
            if now.len() != self.cores.len() {
                // First reading, or cores came or went: since boot.
                self.cores = vec![Ticks::default(); now.len()];
            }
            cores = now
                .iter()
                .zip(&self.cores)
                .filter_map(|(n, b)| {
                    let d = n.since(b);
                    let sum: u64 = d.iter().sum();
                    (sum > 0).then(|| {
                        let busy = sum - d[3] - d[7];
                        (busy as f64 * 10_000.0 / sum as f64).round() / 100.0
                    })
                })
                .collect();
            if cores.len() != now.len() {
                // A core without ticks (offline): no partial list.
                cores.clear();
            }
            self.cores = now;
        }
        self.last = CpuReading { times, cores };
        self.last.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_backward_counters_count_zero() {
        let before = Ticks([100, 0, 50, 10, 0, 0, 0, 840]);
        let after = Ticks([160, 0, 70, 5, 0, 0, 20, 940]);
        let t = shares(after.since(&before)).expect("ticks passed");
        // iowait stepped back: 0, not a huge number.
        assert_eq!(t.iowait, Some(0.0));
        assert_eq!(t.user, Some(30.0));
        assert_eq!(t.system, Some(10.0));
        assert_eq!(t.steal, Some(10.0));
        assert_eq!(t.idle, Some(50.0));
        let reading = CpuReading {
            times: Some(t),
            cores: vec![],
        };
        assert_eq!(reading.busy_pct(), Some(50.0));
    }

    #[test]
    fn a_reading_within_one_tick_repeats_the_last_one() {
        let mut sampler = CpuSampler::default();
        let stats = |user: u64, idle: u64| {
            let text = format!(
                "cpu {user} 0 0 {idle} 0 0 0 0 0 0\ncpu0 {user} 0 0 {idle} 0 0 0 0 0 0\nctxt 1\nbtime 1\nprocesses 1\n"
            );
            let info = procfs::ExplicitSystemInfo {
                boot_time_secs: 1,
                ticks_per_second: 100,
                page_size: 4096,
                is_little_endian: true,
            };
            <KernelStats as procfs::FromReadSI>::from_read(text.as_bytes(), &info)
                .expect("a /proc/stat text")
        };
        let boot = sampler.next(&stats(10, 90), true);
        assert_eq!(
            boot.busy_pct(),
            Some(10.0),
            "the first reading is since boot"
        );
        assert_eq!(boot.cores, vec![10.0]);
        let busy = sampler.next(&stats(20, 100), true);
        assert_eq!(busy.busy_pct(), Some(50.0));
        assert_eq!(
            sampler.next(&stats(20, 100), true),
            busy,
            "no tick: same figures"
        );
        assert_eq!(sampler.next(&stats(20, 110), true).busy_pct(), Some(0.0));
    }

    #[test]
    fn this_machine_reports_every_core() {
        let mut sampler = CpuSampler::default();
        let first = sampler.read(true);
        assert!(
            first.busy_pct().is_some(),
            "the first reading is since boot"
        );
        std::thread::sleep(std::time::Duration::from_millis(120));
        let second = sampler.read(true);
        let times = second.times.expect("ticks passed in 120 ms");
        let sum: f64 = times.kinds().iter().filter_map(|(_, v)| *v).sum();
        assert!((sum - 100.0).abs() < 0.1, "kinds add to 100: {sum}");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Cores visible in /proc/stat can exceed those this process may use.
        assert!(
            second.cores.len() >= cores.min(MAX_CORES),
            "{:?}",
            second.cores
        );
        assert!(second.cores.iter().all(|c| (0.0..=100.0).contains(c)));
    }
}
