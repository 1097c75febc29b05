//! Per-agent statistics of a test's results: loss, latency percentiles and
//! jitter, kept up to date as results arrive, so `tests.summary` costs
//! O(agents) however long the test ran.
//!
//! Percentiles use the nearest-rank method (the smallest sample with at
//! least p% of samples at or below it), so every figure is a measured RTT,
//! exactly, up to [`EXACT_MAX`] answers per agent; past that, from a
//! DDSketch (within 1 % of the nearest-rank value), as the history's
//! rollups do. Minimum and maximum stay exact. Jitter is the mean absolute
//! difference of consecutive RTTs, in time order, over the probes that got
//! an answer.
//!
//! Memory is bounded: the accumulators of at most [`MAX_CACHED_PAIRS`]
//! (test, agent) pairs are kept, least recently asked tests forgotten
//! first; a test not kept is summed from the store when asked (and kept
//! from then on if it fits). A result the accumulators cannot place in
//! time order (a redelivery, a late one) marks its test for one rebuild
//! from the store: figures stay what a full scan gives.

use std::collections::BTreeMap;
use std::sync::Mutex;

use sketches_ddsketch::DDSketch;
use swarm_common::AgentId;
use swarm_common::protocol::{AgentSummary, Millis, TestResult};

use crate::store::rollup;

/// Answers per agent whose percentiles are exact nearest-rank values
/// (8 KB of RTTs); past it a sketch (a few KB) takes over.
pub const EXACT_MAX: usize = 1_024;
/// (test, agent) accumulators kept at most (each at most ~16 KB).
pub const MAX_CACHED_PAIRS: usize = 20_000;
/// Results held for a test while its accumulators are built from the
/// store; past it the build is not kept (the next ask builds again).
const MAX_PENDING: usize = 100_000;

/// One agent's probes of one test, as they arrive in time order.
#[derive(Clone, Default)]
pub struct Accumulator {
    sent: u64,
    received: u64,
    min: Option<f64>,
    max: Option<f64>,
    last_rtt: Option<f64>,
    jitter_total: f64,
    last_ts: Option<Millis>,
    /// Sorted answers, while there are at most [`EXACT_MAX`].
    exact: Vec<f64>,
    sketch: Option<Box<DDSketch>>,
}

impl Accumulator {
    /// Adds a probe (`None`: lost) taken at `ts`; false (and nothing
    /// added) when it is not later than the last one.
    pub fn add(&mut self, ts: Millis, latency: Option<f64>) -> bool {
        if self.last_ts.is_some_and(|last| ts <= last) {
            return false;
        }
        self.last_ts = Some(ts);
        self.sent += 1;
        let Some(rtt) = latency else {
            return true;
        };
        self.received += 1;
        self.min = Some(self.min.map_or(rtt, |m| m.min(rtt)));
        self.max = Some(self.max.map_or(rtt, |m| m.max(rtt)));
        if let Some(last) = self.last_rtt {
            self.jitter_total += (rtt - last).abs();
        }
        self.last_rtt = Some(rtt);
        match &mut self.sketch {
            Some(sketch) => sketch.add(rtt),
            None if self.exact.len() < EXACT_MAX => {
                let at = self.exact.partition_point(|v| v.total_cmp(&rtt).is_le());
                self.exact.insert(at, rtt);
            }
            None => {
                let mut sketch = Box::new(rollup::new_sketch());
                for v in self.exact.drain(..) {
                    sketch.add(v);
                }
                sketch.add(rtt);
                self.exact = Vec::new();
                self.sketch = Some(sketch);
            }
        }
        true
    }

    fn percentile(&self, p: f64) -> Option<f64> {
        match &self.sketch {
            Some(sketch) => sketch.quantile(p / 100.0).ok().flatten(),
            None => percentile(&self.exact, p),
        }
    }

    pub fn summary(&self, agent: AgentId) -> AgentSummary {
        AgentSummary {
            agent,
            sent: self.sent,
            received: self.received,
            loss_pct: if self.sent == 0 {
                0.0
            } else {
                (self.sent - self.received) as f64 * 100.0 / self.sent as f64
            },
            rtt_min: self.min,
            rtt_p50: self.percentile(50.0),
            rtt_p95: self.percentile(95.0),
            rtt_p99: self.percentile(99.0),
            rtt_max: self.max,
            jitter_ms: (self.received >= 2).then(|| self.jitter_total / (self.received - 1) as f64),
        }
    }
}

/// Adds a result to the accumulators of its test, by agent (results in
/// time order, as the store lists them: by time, then agent).
fn accumulate(by_agent: &mut BTreeMap<AgentId, Accumulator>, r: &TestResult) {
    match by_agent.get_mut(&r.agent) {
        Some(acc) => {
            acc.add(r.ts, r.latency_ms());
        }
        None => {
            let mut acc = Accumulator::default();
            acc.add(r.ts, r.latency_ms());
            by_agent.insert(r.agent.clone(), acc);
        }
    }
}

/// The accumulators of every result `scan` hands over.
fn sum<E>(
    scan: impl FnOnce(&mut dyn FnMut(TestResult)) -> Result<(), E>,
) -> Result<BTreeMap<AgentId, Accumulator>, E> {
    let mut by_agent = BTreeMap::new();
    scan(&mut |r| accumulate(&mut by_agent, &r)).map(|()| by_agent)
}

fn summaries(by_agent: &BTreeMap<AgentId, Accumulator>) -> Vec<AgentSummary> {
    by_agent
        .iter()
        .map(|(agent, acc)| acc.summary(agent.clone()))
        .collect()
}

/// One summary per agent, sorted by agent id. `results` in time order.
pub fn summarise(results: &[TestResult]) -> Vec<AgentSummary> {
    let mut by_agent = BTreeMap::new();
    for r in results {
        accumulate(&mut by_agent, r);
    }
    summaries(&by_agent)
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

enum Entry {
    /// Being summed from the store; results arriving meanwhile wait here.
    Building(Vec<(AgentId, Millis, Option<f64>)>),
    Ready {
        by_agent: BTreeMap<AgentId, Accumulator>,
        /// A result came out of order: rebuild at the next ask.
        stale: bool,
        /// When it was last asked for (a counter), for eviction.
        used: u64,
    },
}

#[derive(Default)]
struct Cache {
    tests: std::collections::HashMap<String, Entry>,
    /// Accumulators held by `Ready` entries.
    pairs: usize,
    clock: u64,
}

impl Cache {
    fn remove(&mut self, test: &str) {
        if let Some(Entry::Ready { by_agent, .. }) = self.tests.remove(test) {
            self.pairs -= by_agent.len();
        }
    }

    /// Forgets the least recently asked tests until `room` more pairs fit.
    fn make_room(&mut self, room: usize) -> bool {
        while self.pairs + room > MAX_CACHED_PAIRS {
            let oldest = self
                .tests
                .iter()
                .filter_map(|(t, e)| match e {
                    Entry::Ready { used, .. } => Some((*used, t.clone())),
                    Entry::Building(_) => None,
                })
                .min();
            match oldest {
                Some((_, test)) => self.remove(&test),
                None => return false,
            }
        }
        true
    }
}

/// The hub's running summaries.
#[derive(Default)]
pub struct Summaries {
    cache: Mutex<Cache>,
}

impl Summaries {
    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A result was written to the store.
    pub fn observe(&self, test: &str, agent: &AgentId, ts: Millis, latency: Option<f64>) {
        let mut cache = self.lock();
        let cache = &mut *cache;
        match cache.tests.get_mut(test) {
            None => {}
            Some(Entry::Building(pending)) => {
                if pending.len() < MAX_PENDING {
                    pending.push((agent.clone(), ts, latency));
                } else {
                    // Too much at once: this build is not kept.
                    cache.tests.remove(test);
                }
            }
            Some(Entry::Ready {
                by_agent, stale, ..
            }) => match by_agent.get_mut(agent) {
                Some(acc) => {
                    if !acc.add(ts, latency) {
                        *stale = true;
                    }
                }
                None if cache.pairs < MAX_CACHED_PAIRS => {
                    let mut acc = Accumulator::default();
                    acc.add(ts, latency);
                    by_agent.insert(agent.clone(), acc);
                    cache.pairs += 1;
                }
                None => cache.remove(test),
            },
        }
    }

    /// The test's summary, from the accumulators, or summed from `scan`
    /// (which hands over every result of the test, in time order) when
    /// they are not kept.
    pub fn summary<E>(
        &self,
        test: &str,
        scan: impl FnOnce(&mut dyn FnMut(TestResult)) -> Result<(), E>,
    ) -> Result<Vec<AgentSummary>, E> {
        {
            let mut cache = self.lock();
            cache.clock += 1;
            let clock = cache.clock;
            match cache.tests.get_mut(test) {
                Some(Entry::Ready {
                    by_agent,
                    stale: false,
                    used,
                }) => {
                    *used = clock;
                    return Ok(summaries(by_agent));
                }
                // Another ask is building it: sum without keeping.
                Some(Entry::Building(_)) => {
                    drop(cache);
                    return sum(scan).map(|by_agent| summaries(&by_agent));
                }
                _ => {
                    cache.remove(test);
                    cache
                        .tests
                        .insert(test.to_owned(), Entry::Building(Vec::new()));
                }
            }
        }
        let scanned = sum(scan);
        let mut cache = self.lock();
        let pending = match cache.tests.remove(test) {
            Some(Entry::Building(pending)) => Some(pending),
            _ => None,
        };
        let mut by_agent = scanned?;
        // Results accepted while the store was read: those not in it yet
        // are later than what it gave.
        if let Some(pending) = pending {
            for (agent, ts, latency) in pending {
                by_agent.entry(agent).or_default().add(ts, latency);
            }
            if cache.make_room(by_agent.len()) {
                let out = summaries(&by_agent);
                cache.pairs += by_agent.len();
                let used = cache.clock;
                cache.tests.insert(
                    test.to_owned(),
                    Entry::Ready {
                        by_agent,
                        stale: false,
                        used,
                    },
                );
                return Ok(out);
            }
        }
        Ok(summaries(&by_agent))
    }

    /// Results were removed (retention): every summary is summed again.
    pub fn clear(&self) {
        let mut cache = self.lock();
        cache.tests.clear();
        cache.pairs = 0;
    }

    /// (tests, pairs) kept, for `$SRV.STATS`.
    pub fn kept(&self) -> (usize, usize) {
        let cache = self.lock();
        (cache.tests.len(), cache.pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Statistics of one agent's probes (`None` = lost), in time order.
    fn agent_summary(agent: AgentId, latencies: &[Option<f64>]) -> AgentSummary {
        let mut acc = Accumulator::default();
        for (i, latency) in latencies.iter().enumerate() {
            acc.add(i as Millis, *latency);
        }
        acc.summary(agent)
    }

    fn id() -> AgentId {
        AgentId::parse("a").expect("valid")
    }

    #[test]
    fn hand_computed_summary() {
        // RTTs 10, lost, 30, 20, lost, 40 (time order).
        let s = agent_summary(
            id(),
            &[Some(10.0), None, Some(30.0), Some(20.0), None, Some(40.0)],
        );
        assert_eq!((s.sent, s.received), (6, 4));
        assert!((s.loss_pct - 33.333_333).abs() < 1e-3);
        assert_eq!(s.rtt_min, Some(10.0));
        assert_eq!(s.rtt_max, Some(40.0));
        // Sorted 10 20 30 40: p50 rank ceil(2) = 2 -> 20; p95 rank ceil(3.8) = 4 -> 40.
        assert_eq!(s.rtt_p50, Some(20.0));
        assert_eq!(s.rtt_p95, Some(40.0));
        assert_eq!(s.rtt_p99, Some(40.0));
        // |30-10| + |20-30| + |40-20| = 50, over 3 differences.
        assert!((s.jitter_ms.expect("jitter") - 50.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn all_lost_and_single_probe() {
        let lost = agent_summary(id(), &[None, None, None]);
        assert_eq!((lost.sent, lost.received, lost.loss_pct), (3, 0, 100.0));
        assert_eq!(
            (lost.rtt_min, lost.rtt_p50, lost.rtt_max, lost.jitter_ms),
            (None, None, None, None)
        );
        let one = agent_summary(id(), &[Some(7.5)]);
        assert_eq!((one.sent, one.received, one.loss_pct), (1, 1, 0.0));
        assert_eq!(
            (one.rtt_min, one.rtt_p50, one.rtt_p99, one.rtt_max),
            (Some(7.5), Some(7.5), Some(7.5), Some(7.5))
        );
        assert_eq!(one.jitter_ms, None, "jitter needs two answers");
        let none = agent_summary(id(), &[]);
        assert_eq!((none.sent, none.loss_pct), (0, 0.0));
    }

    #[test]
    fn percentiles_of_a_hundred() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50.0));
        assert_eq!(percentile(&sorted, 95.0), Some(95.0));
        assert_eq!(percentile(&sorted, 99.0), Some(99.0));
        assert_eq!(percentile(&sorted, 0.0), Some(1.0));
        assert_eq!(percentile(&sorted, 100.0), Some(100.0));
    }

    fn result(agent: &str, ts: Millis, latency: Option<f64>) -> TestResult {
        let run = swarm_common::protocol::TestRun {
            test_id: swarm_common::TestId::parse("t1").expect("valid"),
            run_id: "r1".into(),
            kind: swarm_common::protocol::TestKind::Ping,
            target: "127.0.0.1".into(),
            port: None,
            interval_ms: 1_000,
            until: 0,
            timeout_ms: 1_000,
        };
        let mut r = TestResult::new(&run, AgentId::parse(agent).expect("valid"), ts);
        r.rtt_ms = latency;
        r
    }

    /// A scan that must not happen.
    fn unused(_: &mut dyn FnMut(TestResult)) -> Result<(), String> {
        Err("the store was read".into())
    }

    /// A scan of these results.
    fn of(
        results: &[TestResult],
    ) -> impl FnOnce(&mut dyn FnMut(TestResult)) -> Result<(), String> + '_ {
        move |each| {
            results.iter().cloned().for_each(each);
            Ok(())
        }
    }

    #[test]
    fn a_kept_summary_follows_arriving_results_without_reading_the_store() {
        let summaries = Summaries::default();
        let mut stored: Vec<TestResult> = (0..50)
            .map(|i| {
                result(
                    if i % 2 == 0 { "a" } else { "b" },
                    i,
                    (i % 7 != 0).then_some(i as f64),
                )
            })
            .collect();
        let first = summaries.summary("t1", of(&stored)).expect("built");
        assert_eq!(first, summarise(&stored));
        for i in 50..80 {
            let r = result(if i % 3 == 0 { "c" } else { "a" }, i, Some(i as f64 / 3.0));
            summaries.observe("t1", &r.agent, r.ts, r.latency_ms());
            stored.push(r);
        }
        assert_eq!(summaries.summary("t1", unused), Ok(summarise(&stored)));
        assert_eq!(summaries.kept(), (1, 3));
    }

    #[test]
    fn a_result_out_of_order_rebuilds_from_the_store_once() {
        let summaries = Summaries::default();
        let stored = vec![result("a", 10, Some(1.0)), result("a", 20, Some(2.0))];
        summaries.summary("t1", of(&stored)).expect("built");
        // A redelivery of the first: the accumulators cannot tell.
        summaries.observe("t1", &stored[0].agent, 10, Some(1.0));
        assert_eq!(
            summaries.summary("t1", unused),
            Err("the store was read".to_owned())
        );
        let rebuilt = summaries.summary("t1", of(&stored)).expect("rebuilt");
        assert_eq!(rebuilt[0].sent, 2);
        assert_eq!(summaries.summary("t1", unused), Ok(rebuilt));
    }

    #[test]
    fn long_tests_switch_to_a_sketch_within_one_percent() {
        let mut acc = Accumulator::default();
        let mut all = Vec::new();
        for i in 0..20_000u64 {
            // 1..50 ms, with a slow tail.
            let rtt =
                1.0 + (i * 7_919 % 4_900) as f64 / 100.0 + if i % 97 == 0 { 200.0 } else { 0.0 };
            acc.add(i, Some(rtt));
            all.push(rtt);
        }
        assert!(acc.sketch.is_some() && acc.exact.is_empty());
        all.sort_by(f64::total_cmp);
        let s = acc.summary(id());
        for (got, p) in [(s.rtt_p50, 50.0), (s.rtt_p95, 95.0), (s.rtt_p99, 99.0)] {
            let exact = percentile(&all, p).expect("some");
            let got = got.expect("some");
            assert!(
                (got - exact).abs() <= exact * 0.011,
                "p{p}: {got} vs {exact}"
            );
        }
        assert_eq!(
            (s.rtt_min, s.rtt_max),
            (all.first().copied(), all.last().copied())
        );
    }

    #[test]
    fn kept_pairs_are_bounded_least_recently_asked_first() {
        let summaries = Summaries::default();
        let big: Vec<TestResult> = (0..MAX_CACHED_PAIRS as u64 - 10)
            .map(|i| result(&format!("h{i}"), i, Some(1.0)))
            .collect();
        summaries.summary("big", of(&big)).expect("built");
        let small: Vec<TestResult> = (0..20)
            .map(|i| result(&format!("s{i}"), i, Some(1.0)))
            .collect();
        summaries.summary("small", of(&small)).expect("built");
        // "big" was asked longest ago and went to make room.
        assert_eq!(summaries.kept(), (1, 20));
        assert!(summaries.summary("small", unused).is_ok());
    }
}
