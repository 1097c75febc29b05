//! Cost of alert evaluation on the ingest path, 10,000 agents, with no
//! rules and with RULES rules, in the same run: two hubs fed the same
//! rounds in turn. Two figures: the accept step alone (decode, validate,
//! registry, rules) and ingest as the hub runs it (the accept step and the
//! store's batch commits). Rules quiet (thresholds nobody crosses) and
//! busy (a third of the hosts enter or leave a pending alert every round).
//!
//! cargo run --release -p swarm-hub --example alerts-bench -- [RULES] [ROUNDS]

use std::sync::Arc;
use std::time::Instant;

use async_nats::Message;
use swarm_common::protocol::alerts::{Op, Rule};
use swarm_common::protocol::{DiskUsage, HostInfo, MetricsSample, NetUsage};
use swarm_common::time::now_ms;
use swarm_common::{AgentId, codec, subject};
use swarm_hub::ingest::{BATCH_ROWS, Batch, handle};
use swarm_hub::store::Store;
use swarm_hub::{Hub, HubState};

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

/// Seconds one round's messages take: accepted, and with `commit` also
/// written as ingest writes them (a commit every [`BATCH_ROWS`] rows).
async fn time_round(state: &Arc<HubState>, messages: &[Message], commit: bool) -> f64 {
    let started = Instant::now();
    let mut batch = Batch::default();
    for m in messages {
        handle(state, m, &mut batch);
        if commit && batch.len() >= BATCH_ROWS {
            batch.commit(state).await;
        }
    }
    if commit {
        batch.commit(state).await;
    }
    started.elapsed().as_secs_f64()
}

/// A hub on its own store with every agent said hello.
fn hub(agents: &[AgentId]) -> Result<(tempfile::TempDir, Hub), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Store::open(dir.path())?);
    let hub = Hub::new(store)?;
    let state = hub.state();
    for a in agents {
        let body = codec::to_msgpack(&HostInfo::new(a.clone()))?;
        handle(
            &state,
            &message(subject::hello(a), body),
            &mut Batch::default(),
        );
    }
    Ok((dir, hub))
}

/// RULES rules over the series every sample has, half of them matching
/// every agent by `*`, half by a glob; thresholds as an operator sets
/// them: CPU over 95-99 % (crossed by some hosts each round), the rest
/// rarely; `quiet` raises them all out of reach.
fn put_rules(
    state: &HubState,
    rules: usize,
    quiet: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let series = [
        ("cpu_pct", 95.0),
        ("mem_pct", 90.0),
        ("load1", 4.0),
        ("disk_pct:/", 90.0),
        ("net_rx_bps", 1e8),
    ];
    for i in 0..rules {
        let (name, threshold) = series[i % series.len()];
        let out_of_reach = if quiet { 1e12 } else { 0.0 };
        let threshold = threshold + (i / series.len() % 5) as f64 + out_of_reach;
        let mut rule = Rule::new(&format!("r{i}"), name, Op::Gt, threshold);
        if i % 2 == 1 {
            rule.agents = vec!["bench-0*".into()];
        }
        rule.for_ms = 10_000;
        state.alerts.put_rule(&state.store, rule)?;
    }
    Ok(())
}

/// Messages/s without and with rules, the two hubs taking turns first.
async fn compare(
    agents: &[AgentId],
    rules: usize,
    rounds: u64,
    quiet: bool,
    commit: bool,
) -> Result<(f64, f64, serde_json::Value), Box<dyn std::error::Error>> {
    let (_plain_dir, plain) = hub(agents)?;
    let (_ruled_dir, ruled) = hub(agents)?;
    let (plain, ruled) = (plain.state(), ruled.state());
    put_rules(&ruled, rules, quiet)?;
    // Samples an hour old, a second apart: inside the hub's sanity window.
    let t0 = now_ms() - 3_600_000;
    let (mut without, mut with) = (0.0, 0.0);
    for round in 0..rounds {
        let messages = samples(agents, round, t0);
        if round % 2 == 0 {
            without += time_round(&plain, &messages, commit).await;
            with += time_round(&ruled, &messages, commit).await;
        } else {
            with += time_round(&ruled, &messages, commit).await;
            without += time_round(&plain, &messages, commit).await;
        }
    }
    let n = (agents.len() as u64 * rounds) as f64;
    Ok((n / without, n / with, ruled.alerts.stats_json()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rules: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100);
    let rounds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let agents: Vec<AgentId> = (0..AGENTS)
        .map(|i| AgentId::parse(&format!("bench-{i:05}")))
        .collect::<Result<_, _>>()?;
    println!("{AGENTS} agents, {rounds} rounds, {rules} rules");
    for (what, commit) in [("accept step", false), ("ingest", true)] {
        for (how, quiet) in [("quiet", true), ("busy", false)] {
            let (without, with, stats) = compare(&agents, rules, rounds, quiet, commit).await?;
            println!(
                "{what:>11}, {how} rules: {without:>7.0} msg/s without, {with:>7.0} with ({:.1} % slower); alerts {stats}",
                (1.0 - with / without) * 100.0,
            );
        }
    }
    Ok(())
}
