//! The latest probe of each (test, agent) of the running tests, for
//! `/metrics` (`swarm_test_latency_seconds`, `swarm_test_probe_lost`): a
//! Grafana panel of network test latency needs no query of the store.
//! Bounded: at most [`MAX_ENTRIES`]; tests no longer running are dropped
//! when the exposition is made.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use swarm_common::protocol::Millis;

/// (test, agent) pairs kept at most; past it new pairs are not kept (and
/// counted).
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    pub ts: Millis,
    /// `None`: the probe was lost.
    pub latency_ms: Option<f64>,
}

/// Probes by test, then by agent: a result for a known pair is looked up
/// by `&str`, without building a key (this runs for every result).
#[derive(Default)]
struct Probes {
    by_test: HashMap<String, HashMap<String, Probe>>,
    len: usize,
}

#[derive(Default)]
pub struct TestLatest {
    probes: Mutex<Probes>,
    pub not_kept: AtomicU64,
}

impl TestLatest {
    fn lock(&self) -> std::sync::MutexGuard<'_, Probes> {
        self.probes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A result arrived; an older one (a replayed spool) changes nothing.
    pub fn observe(&self, test: &str, agent: &str, probe: Probe) {
        let mut probes = self.lock();
        if let Some(kept) = probes.by_test.get_mut(test).and_then(|a| a.get_mut(agent)) {
            if kept.ts <= probe.ts {
                *kept = probe;
            }
            return;
        }
        if probes.len >= MAX_ENTRIES {
            self.not_kept.fetch_add(1, Ordering::Relaxed);
            return;
        }
        probes.len += 1;
        probes
            .by_test
            .entry(test.to_owned())
            .or_default()
            .insert(agent.to_owned(), probe);
    }

    /// The probes of tests `running` says are still running, sorted; the
    /// others are forgotten.
    pub fn current(&self, running: impl Fn(&str) -> bool) -> Vec<(String, String, Probe)> {
        let mut probes = self.lock();
        probes.by_test.retain(|test, _| running(test));
        probes.len = probes.by_test.values().map(HashMap::len).sum();
        let mut out: Vec<_> = probes
            .by_test
            .iter()
            .flat_map(|(t, agents)| agents.iter().map(|(a, p)| (t.clone(), a.clone(), *p)))
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
