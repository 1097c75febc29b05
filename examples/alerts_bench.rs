//! Cost of alert evaluation on the ingest path: messages/s through the
//! hub's accept step (decode, validate, registry, alert rules) for 10,000
//! agents, with no rules and with RULES rules, in the same run.
//!
//! cargo run --release -p swarm-hub --example alerts-bench -- [RULES] [ROUNDS]

use std::sync::Arc;
use std::time::Instant;

use async_nats::Message;
use swarm_common::protocol::alerts::{Op, Rule};
use swarm_common::protocol::{DiskUsage, HostInfo, MetricsSample, NetUsage};
use swarm_common::time::now_ms;
use swarm_common::{AgentId, codec, subject};
use swarm_hub::Hub;
use swarm_hub::ingest::{Batch, handle};
use swarm_hub::store::Store;

const AGENTS: usize = 10_000;

fn message(subject: String, body: bytes::Bytes) -> Message {
    let length = subject.len() + body.len();
    Message {
        subject: subject.into(),
        reply: None,
        payload: body,
        headers: Some(codec::msgpack_headers()),
        status: None,
        description: None,
        length,
    }
}

fn samples(agents: &[AgentId], round: u64, t0: u64) -> Vec<Message> {
    agents
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut s = MetricsSample::new(a.clone(), t0 + round * 1_000);
            s.cpu_pct = Some(((i as u64 * 7 + round * 13) % 100) as f64);
            s.mem_total = Some(16 << 30);
            s.mem_used = Some((4 + (i % 8) as u64) << 30);
            s.swap_total = Some(2 << 30);
            s.swap_used = Some(0);
            s.load = Some([1.0, 0.8, 0.5]);
            s.uptime_s = Some(86_400);
            s.net = Some(NetUsage {
                rx_bps: Some(1e5),
                tx_bps: Some(5e4),
                ..NetUsage::default()
            });
            s.disks = ["/", "/var", "/home"]
                .iter()
                .map(|m| DiskUsage {
                    total: Some(1 << 40),
                    used: Some(1 << 39),
                    ..DiskUsage::new(*m)
                })
                .collect();
            let body = codec::to_msgpack(&s)
                .map_err(|e| e.to_string())
                .unwrap_or_default();
            message(subject::metrics(a), body)
        })
        .collect()
}

/// Messages per second through `handle` over `rounds` of every agent.
fn rate(state: &swarm_hub::HubState, agents: &[AgentId], rounds: u64, t0: u64) -> f64 {
    let batches: Vec<Vec<Message>> = (0..rounds).map(|r| samples(agents, r, t0)).collect();
    let started = Instant::now();
    let mut n = 0usize;
    for messages in &batches {
        let mut batch = Batch::default();
        for m in messages {
            handle(state, m, &mut batch);
            n += 1;
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rules: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100);
    let rounds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Store::open(dir.path())?);
    let hub = Hub::new(store.clone())?;
    let state = hub.state();
    let now = now_ms();
    let agents: Vec<AgentId> = (0..AGENTS)
        .map(|i| AgentId::parse(&format!("bench-{i:05}")))
        .collect::<Result<_, _>>()?;
    for a in &agents {
        let hello = HostInfo::new(a.clone());
        let body = codec::to_msgpack(&hello)?;
        handle(
            &state,
            &message(subject::hello(a), body),
            &mut Batch::default(),
        );
    }
    // Samples an hour old, a second apart: inside the hub's sanity window.
    let t0 = now - 3_600_000;
    let without = rate(&state, &agents, rounds, t0);
    // RULES rules over the series every sample has, half of them matching
    // every agent by `*`, half by a glob; thresholds as an operator sets
    // them: crossed now and then (CPU over 95-99 %), the rest rarely.
    let series = [
        ("cpu_pct", 95.0),
        ("mem_pct", 90.0),
        ("load1", 4.0),
        ("disk_pct:/", 90.0),
        ("net_rx_bps", 1e8),
    ];
    for i in 0..rules {
        let (name, threshold) = series[i % series.len()];
        let threshold = threshold + (i / series.len() % 5) as f64;
        let mut rule = Rule::new(&format!("r{i}"), name, Op::Gt, threshold);
        if i % 2 == 1 {
            rule.agents = vec!["bench-0*".into()];
        }
        rule.for_ms = 10_000;
        state.alerts.put_rule(&store, rule)?;
    }
    let with = rate(&state, &agents, rounds, t0 + rounds * 1_000);
    println!(
        "{AGENTS} agents, {rounds} rounds: {without:.0} msg/s without rules, {with:.0} msg/s with {rules} rules ({:.1} % slower); alerts now {}",
        (1.0 - with / without) * 100.0,
        state.alerts.stats_json()
    );
    Ok(())
}
