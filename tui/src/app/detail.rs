//! One test as its results arrive: the test, the hub's per-agent summary,
//! recent latencies per agent (for sparklines) and, for traceroute, each
//! agent's latest hop table. Results are fetched incrementally from the
//! newest one seen.

use std::collections::{BTreeMap, VecDeque};

use swarm_common::AgentId;
use swarm_common::protocol::{AgentSummary, Hop, Millis, Test, TestResult};

use crate::event::HubFailure;

/// Latencies kept per agent for its sparkline.
pub const RECENT_LEN: usize = 60;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestDetail {
    pub id: String,
    pub test: Option<Test>,
    pub summary: Vec<AgentSummary>,
    /// Oldest first; `None` is a lost probe.
    pub recent: BTreeMap<AgentId, VecDeque<Option<f64>>>,
    pub hops: BTreeMap<AgentId, Vec<Hop>>,
    /// Results from this time on are asked for next (inclusive).
    pub since: Millis,
    /// Results already taken at `since`, so that asking again from it
    /// counts none twice.
    seen_at_since: Vec<(AgentId, Option<u32>)>,
    pub error: Option<String>,
    /// A fetch is under way: the next tick does not ask again.
    pub fetching: bool,
}

impl TestDetail {
    pub fn new(id: String) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }

    pub fn apply(
        &mut self,
        test: Result<Test, HubFailure>,
        summary: Option<Vec<AgentSummary>>,
        results: Vec<TestResult>,
    ) {
        self.fetching = false;
        match test {
            Ok(test) => {
                self.test = Some(test);
                self.error = None;
            }
            Err(e) => self.error = Some(e.to_string()),
        }
        if let Some(summary) = summary {
            self.summary = summary;
        }
        // The hub answers in time order; sorting anyway keeps `since`
        // right whatever the order.
        let mut results = results;
        results.sort_by_key(|r| r.ts);
        for result in results {
            self.take(result);
        }
    }

    fn take(&mut self, result: TestResult) {
        let key = (result.agent.clone(), result.seq);
        if result.ts < self.since || (result.ts == self.since && self.seen_at_since.contains(&key))
        {
            return;
        }
        if result.ts > self.since {
            self.since = result.ts;
            self.seen_at_since.clear();
        }
        self.seen_at_since.push(key);
        let recent = self.recent.entry(result.agent.clone()).or_default();
        if recent.len() == RECENT_LEN {
            recent.pop_front();
        }
        recent.push_back(result.latency_ms());
        if let Some(hops) = result.hops {
            self.hops.insert(result.agent, hops);
        }
    }
}
