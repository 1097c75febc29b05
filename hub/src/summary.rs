//! Per-agent statistics of a test's results: loss, latency percentiles and
//! jitter.
//!
//! Percentiles use the nearest-rank method (the smallest sample with at
//! least p% of samples at or below it), so every figure is a measured RTT.
//! Jitter is the mean absolute difference of consecutive RTTs, in time
//! order, over the probes that got an answer.

use std::collections::BTreeMap;

use swarm_common::AgentId;
use swarm_common::protocol::{AgentSummary, TestResult};

/// One summary per agent, sorted by agent id. `results` in time order.
pub fn summarise(results: &[TestResult]) -> Vec<AgentSummary> {
    let mut by_agent: BTreeMap<&AgentId, Vec<Option<f64>>> = BTreeMap::new();
    for r in results {
        by_agent.entry(&r.agent).or_default().push(r.latency_ms());
    }
    by_agent
        .into_iter()
        .map(|(agent, latencies)| agent_summary(agent.clone(), &latencies))
        .collect()
}

/// Statistics of one agent's probes (`None` = lost), in time order.
pub fn agent_summary(agent: AgentId, latencies: &[Option<f64>]) -> AgentSummary {
    let received: Vec<f64> = latencies.iter().flatten().copied().collect();
    let sent = latencies.len() as u64;
    let mut sorted = received.clone();
    sorted.sort_by(f64::total_cmp);
    let jitter = (received.len() >= 2).then(|| {
        let total: f64 = received.windows(2).map(|w| (w[1] - w[0]).abs()).sum();
        total / (received.len() - 1) as f64
    });
    AgentSummary {
        agent,
        sent,
        received: received.len() as u64,
        loss_pct: if sent == 0 {
            0.0
        } else {
            (sent - received.len() as u64) as f64 * 100.0 / sent as f64
        },
        rtt_min: sorted.first().copied(),
        rtt_p50: percentile(&sorted, 50.0),
        rtt_p95: percentile(&sorted, 95.0),
        rtt_p99: percentile(&sorted, 99.0),
        rtt_max: sorted.last().copied(),
        jitter_ms: jitter,
    }
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
