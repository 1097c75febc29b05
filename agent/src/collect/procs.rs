//! The heaviest processes by CPU and by memory, as htop's first screen
//! shows them. Reading every `/proc/<pid>/stat` costs about 10 µs a
//! process, so this runs at its own cadence (`--processes-every`), not
//! necessarily every sample.

use std::collections::HashMap;
use std::time::Instant;

use swarm_common::limits::MAX_TOP;
use swarm_common::protocol::{ProcessUsage, TopProcesses};
use swarm_common::time::now_ms;

/// Processes in each list.
pub const TOP: usize = 10;
const _: () = assert!(TOP <= MAX_TOP);

/// One process at one reading.
#[derive(Debug, Clone)]
struct Seen {
    /// Start time in ticks since boot: with the pid, names the process
    /// (pids are reused).
    start: u64,
    ticks: u64,
}

/// What a pass found: the count of processes and the top lists.
#[derive(Debug, Clone, Default)]
pub struct ProcsReading {
    pub count: u64,
    pub top: TopProcesses,
}

#[derive(Default)]
pub struct ProcSampler {
    last: Option<(Instant, HashMap<i32, Seen>)>,
    /// uid -> user name, refreshed when an unknown uid shows up.
    users: HashMap<u32, String>,
    /// One reload of the user list per pass at most.
    may_reload_users: bool,
}

impl ProcSampler {
    pub fn read(&mut self) -> Option<ProcsReading> {
        let all = procfs::process::all_processes().ok()?;
        self.may_reload_users = true;
        let now = Instant::now();
        let tps = procfs::ticks_per_second().max(1);
        let page = procfs::page_size();
        let secs = self
            .last
            .as_ref()
            .map(|(then, _)| now.duration_since(*then).as_secs_f64());
        let mut seen = HashMap::new();
        let mut rows = Vec::new();
        for process in all.flatten() {
            // A process can end between listing and reading: skipped.
            let Ok(stat) = process.stat() else { continue };
            let ticks = stat.utime.saturating_add(stat.stime);
            let cpu_pct = match (&self.last, secs) {
                (Some((_, before)), Some(secs)) if secs > 0.0 => {
                    let earlier = before
                        .get(&stat.pid)
                        .filter(|b| b.start == stat.starttime)
                        .map_or(0, |b| b.ticks);
                    let pct = ticks.saturating_sub(earlier) as f64 * 100.0 / (tps as f64 * secs);
                    Some((pct * 10.0).round() / 10.0)
                }
                _ => None,
            };
            seen.insert(
                stat.pid,
                Seen {
                    start: stat.starttime,
                    ticks,
                },
            );
            rows.push((
                process.uid().ok(),
                ProcessUsage {
                    pid: u32::try_from(stat.pid).unwrap_or(0),
                    name: swarm_common::text::printable(&stat.comm, 64),
                    user: None,
                    cpu_pct,
                    rss: Some(stat.rss.saturating_mul(page)),
                },
            ));
        }
        self.last = Some((now, seen));
        let count = rows.len() as u64;
        let by_cpu = self.heaviest(&rows, |p| p.cpu_pct.unwrap_or(0.0));
        let by_mem = self.heaviest(&rows, |p| p.rss.unwrap_or(0) as f64);
        Some(ProcsReading {
            count,
            top: TopProcesses {
                ts: now_ms(),
                by_cpu,
                by_mem,
            },
        })
    }

    /// The [`TOP`] heaviest by `weight`, with their owners' names.
    fn heaviest(
        &mut self,
        rows: &[(Option<u32>, ProcessUsage)],
        weight: impl Fn(&ProcessUsage) -> f64,
    ) -> Vec<ProcessUsage> {
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(|a, b| weight(&rows[*b].1).total_cmp(&weight(&rows[*a].1)));
        order
            .into_iter()
            .take(TOP)
            .map(|i| {
                let (uid, p) = &rows[i];
                let mut p = p.clone();
                p.user = uid.map(|u| self.user_name(u));
                p
            })
            .collect()
    }

    fn user_name(&mut self, uid: u32) -> String {
        if !self.users.contains_key(&uid) && self.may_reload_users {
            // A user added since the last load, or the first lookup.
            self.may_reload_users = false;
            if let Ok(users) = sysinfo::Users::new_with_refreshed_list() {
                self.users = users
                    .iter()
                    .map(|u| (**u.id(), u.name().to_owned()))
                    .collect();
            }
        }
        self.users
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_shows_up_with_its_memory() {
        let mut sampler = ProcSampler::default();
        let first = sampler.read().expect("/proc is readable");
        assert!(first.count > 0);
        assert!(
            first.top.by_cpu.iter().all(|p| p.cpu_pct.is_none()),
            "no rate from one pass"
        );
        // Busy for a while so this process is among the heaviest by CPU.
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(300) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let second = sampler.read().expect("/proc is readable");
        assert_eq!(second.top.by_cpu.len(), TOP.min(second.count as usize));
        let me = std::process::id();
        let mine = second.top.by_cpu.iter().find(|p| p.pid == me);
        let mine =
            mine.unwrap_or_else(|| panic!("a busy process is in the top: {:?}", second.top.by_cpu));
        assert!(mine.cpu_pct.is_some_and(|c| c > 20.0), "{mine:?}");
        let status = std::fs::read_to_string("/proc/self/status").expect("readable");
        let rss_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        let rss = mine.rss.expect("rss") / 1024;
        assert!(
            rss.abs_diff(rss_kb) < rss_kb / 2 + 1024,
            "rss {rss} kB vs VmRSS {rss_kb} kB"
        );
        assert!(mine.user.is_some());
        let heaviest = &second.top.by_mem;
        assert!(heaviest.windows(2).all(|w| w[0].rss >= w[1].rss));
    }
}
