//! `tests.summary` of a long test: 1,000,000 results (100 agents, 10,000
//! probes each, 2 % lost) in a real store. The first ask sums them from the
//! store; later asks come from the running accumulators, while results
//! keep arriving.
//!
//! cargo run --release -p swarm-hub --example summary-bench -- [AGENTS] [PROBES]

use std::time::Instant;

use swarm_common::protocol::{TestKind, TestResult, TestRun};
use swarm_common::{AgentId, TestId};
use swarm_hub::store::Store;
use swarm_hub::summary::Summaries;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let agents: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100);
    let probes: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let run = TestRun {
        test_id: TestId::parse("long")?,
        run_id: "r1".into(),
        kind: TestKind::Ping,
        target: "127.0.0.1".into(),
        port: None,
        interval_ms: 100,
        until: 0,
        timeout_ms: 1_000,
    };
    let ids: Vec<AgentId> = (0..agents)
        .map(|i| AgentId::parse(&format!("probe-{i:03}")))
        .collect::<Result<_, _>>()?;
    let result = |i: u64, a: u64| {
        let mut r = TestResult::new(&run, ids[a as usize].clone(), 1_700_000_000_000 + i * 100);
        // Lost one in fifty; otherwise 1-40 ms with a slow tail.
        r.rtt_ms = (i % 50 != a % 50).then(|| {
            1.0 + ((i * 7_919 + a * 31) % 3_900) as f64 / 100.0
                + u64::from(i.is_multiple_of(211)) as f64 * 150.0
        });
        r
    };
    let started = Instant::now();
    for i in 0..probes {
        let batch: Vec<TestResult> = (0..agents).map(|a| result(i, a)).collect();
        store.records().put_results(&batch)?;
    }
    let total = agents * probes;
    println!(
        "{total} results written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let summaries = Summaries::default();
    let started = Instant::now();
    let first = summaries.summary("long", |each| store.records().each_result("long", each))?;
    println!(
        "first ask (summed from the store): {:.0} ms for {} agents",
        started.elapsed().as_secs_f64() * 1e3,
        first.len()
    );
    // Results keep arriving between asks, as the console asks every second.
    let asks: u32 = 1_000;
    let started = Instant::now();
    for next in probes..probes + u64::from(asks) {
        for a in 0..agents {
            let r = result(next, a);
            summaries.observe("long", &r.agent, r.ts, r.latency_ms());
        }
        let s = summaries.summary("long", |_| Err("the store was read again".to_owned()))?;
        assert_eq!(s.len(), agents as usize);
    }
    println!(
        "later asks (running accumulators, {agents} new results before each): {:.1} us each",
        started.elapsed().as_secs_f64() * 1e6 / f64::from(asks)
    );
    let s = &first[0];
    println!(
        "{}: sent {} received {} loss {:.1} % p50 {:?} p95 {:?} p99 {:?} max {:?}",
        s.agent, s.sent, s.received, s.loss_pct, s.rtt_p50, s.rtt_p95, s.rtt_p99, s.rtt_max
    );
    Ok(())
}
