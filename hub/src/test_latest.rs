//! The latest probe of each (test, agent) of the running tests, for
//! `/metrics` (`swarm_test_latency_seconds`, `swarm_test_probe_lost`): a
//! Grafana panel of network test latency needs no query of the store.
//! Bounded: at most [`MAX_ENTRIES`]; tests no longer running are dropped
//! when the exposition is made.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use swarm_common::protocol::Millis;

use crate::pair_map::PairMap;

/// (test, agent) pairs kept at most; past it new pairs are not kept (and
/// counted).
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    pub ts: Millis,
    /// `None`: the probe was lost.
    pub latency_ms: Option<f64>,
}

#[derive(Default)]
pub struct TestLatest {
    /// By test, then agent: a result for a known pair builds no key (this
    /// runs for every result).
    probes: Mutex<PairMap<Probe>>,
    pub not_kept: AtomicU64,
}

impl TestLatest {
    fn lock(&self) -> std::sync::MutexGuard<'_, PairMap<Probe>> {
        self.probes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A result arrived; an older one (a replayed spool) changes nothing.
    pub fn observe(&self, test: &str, agent: &str, probe: Probe) {
        let mut probes = self.lock();
        if let Some(kept) = probes.get_mut(test, agent) {
            if kept.ts <= probe.ts {
                *kept = probe;
            }
            return;
        }
        if probes.len() >= MAX_ENTRIES {
            self.not_kept.fetch_add(1, Ordering::Relaxed);
            return;
        }
        probes.insert(test, agent, probe);
    }

    /// The probes of tests `running` says are still running, sorted; the
    /// others are forgotten.
    pub fn current(&self, running: impl Fn(&str) -> bool) -> Vec<(String, String, Probe)> {
        let mut probes = self.lock();
        probes.retain_outer(running);
        let mut out: Vec<_> = probes
            .iter()
            .map(|(t, a, p)| (t.to_owned(), a.to_owned(), *p))
            .collect();
        out.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_probe_of_running_tests_is_kept() {
        let t = TestLatest::default();
        t.observe(
            "t1",
            "a",
            Probe {
                ts: 2,
                latency_ms: Some(5.0),
            },
        );
        t.observe(
            "t1",
            "a",
            Probe {
                ts: 1,
                latency_ms: Some(9.0),
            },
        );
        t.observe(
            "t2",
            "a",
            Probe {
                ts: 1,
                latency_ms: None,
            },
        );
        let now = t.current(|test| test == "t1");
        assert_eq!(
            now,
            vec![(
                "t1".into(),
                "a".into(),
                Probe {
                    ts: 2,
                    latency_ms: Some(5.0)
                }
            )]
        );
        assert!(t.current(|_| true).len() == 1, "t2 was forgotten");
    }
}
