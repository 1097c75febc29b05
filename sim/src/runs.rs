//! Network tests on virtual agents: a `run` is accepted (or refused for the
//! reasons a real agent refuses it), then synthetic results are published
//! every `interval_ms` until `until` or `cancel`. Nothing is probed: the
//! numbers come from the agent, the target and the seed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::Client;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use swarm_common::codec;
use swarm_common::protocol::{Ack, Hop, Millis, TestKind, TestResult, TestRun};
use swarm_common::time::now_ms;
use swarm_common::{TestId, subject};
use tokio::task::AbortHandle;

use crate::fleet::Host;
use crate::seed::mix;
use crate::stats::SimStats;

/// At most this many runs at once on one virtual agent.
const MAX_RUNS_PER_AGENT: usize = 100;
/// At most this many runs at once in the whole simulator.
pub const MAX_RUNS: usize = 100_000;

/// Why a run is refused, in the words a real agent uses (its own rule).
pub fn check(run: &TestRun, now: Millis) -> Result<(), String> {
    run.check(now)
}

/// The address a target "resolves" to: itself if it is an IP, else a
/// stable address in TEST-NET-2 (198.51.100.0/24).
pub fn target_addr(target: &str) -> String {
    if let Ok(ip) = target.parse::<IpAddr>() {
        return ip.to_string();
    }
    format!("198.51.100.{}", 1 + hash_str(target) % 254)
}

fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Typical round trip from `host` to `target`, in ms: a few ms inside a
/// data centre, tens of ms across.
fn base_rtt_ms(host: &Host, target: &str) -> f64 {
    let h = mix(hash_str(target), u64::from(host.n), 300);
    0.3 + (h % 4_000) as f64 / 100.0
}

/// Result number `seq` of `run` on `host`, measured at `ts`.
pub fn result(run: &TestRun, host: &Host, seq: u32, ts: Millis, rng: &mut SmallRng) -> TestResult {
    let mut r = TestResult::new(run, host.id.clone(), ts);
    let addr = target_addr(&run.target);
    let base = base_rtt_ms(host, &run.target);
    let jittered = |rng: &mut SmallRng, base: f64| round3(base * rng.random_range(0.9..1.25));
    match run.kind {
        TestKind::Ping => {
            r.seq = Some(seq);
            r.addr = Some(addr);
            if !rng.random_bool(0.02) {
                r.rtt_ms = Some(jittered(rng, base));
            }
        }
        TestKind::Tcp => {
            r.addr = Some(addr);
            if rng.random_bool(0.01) {
                r.ok = Some(false);
                r.error = Some(format!("timed out after {} ms", run.timeout_ms));
            } else {
                r.ok = Some(true);
                r.connect_ms = Some(jittered(rng, base * 1.5));
            }
        }
        TestKind::Traceroute => {
            let hops = 3 + (mix(hash_str(&run.target), u64::from(host.n), 301) % 4) as u8;
            let reached = !rng.random_bool(0.05);
            let mut list = Vec::with_capacity(usize::from(hops));
            for ttl in 1..=hops {
                let last = ttl == hops;
                let hop_base = base * f64::from(ttl) / f64::from(hops);
                let answered = if last && !reached {
                    0
                } else {
                    (0..3).filter(|_| !rng.random_bool(0.03)).count()
                };
                let rtts: Vec<f64> = (0..answered).map(|_| jittered(rng, hop_base)).collect();
                let addr = if last {
                    reached.then(|| addr.clone())
                } else {
                    let dc = mix(u64::from(host.n), 0, 302) % 250;
                    Some(format!("10.{dc}.{ttl}.1"))
                };
                list.push(Hop {
                    ttl,
                    host: None,
                    addr,
                    loss_pct: round3((3 - rtts.len()) as f64 * 100.0 / 3.0),
                    rtt_ms: rtts,
                });
            }
            r.addr = Some(addr);
            r.hops = Some(list);
            r.reached = Some(reached);
        }
    }
    r
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

struct Running {
    run_id: String,
    abort: AbortHandle,
}

/// Runs in progress by agent and test id. An entry leaves when its run
/// ends, is cancelled or replaced, or its agent goes away.
#[derive(Default)]
struct Table {
    by_agent: HashMap<u32, HashMap<TestId, Running>>,
    total: usize,
}

impl Table {
    fn remove(&mut self, agent: u32, test_id: &str) -> Option<Running> {
        let runs = self.by_agent.get_mut(&agent)?;
        let removed = runs.remove(test_id)?;
        if runs.is_empty() {
            self.by_agent.remove(&agent);
        }
        self.total -= 1;
        Some(removed)
    }
}

/// The runs in progress on every virtual agent.
pub struct Runs {
    client: Client,
    stats: Arc<SimStats>,
    seed: u64,
    table: Mutex<Table>,
}

impl Runs {
    pub fn new(client: Client, stats: Arc<SimStats>, seed: u64) -> Arc<Self> {
        Arc::new(Self {
            client,
            stats,
            seed,
            table: Mutex::new(Table::default()),
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs in progress.
    pub fn active(&self) -> usize {
        self.table().total
    }

    /// Checks `run` and starts it on `host`, or says why not.
    pub fn start(self: &Arc<Self>, host: Arc<Host>, run: TestRun) -> Ack {
        if let Err(why) = check(&run, now_ms()) {
            return Ack::no(why);
        }
        let mut table = self.table();
        let on_agent = table.by_agent.get(&host.n);
        if let Some(r) = on_agent.and_then(|runs| runs.get(&run.test_id))
            && r.run_id == run.run_id
            && !r.abort.is_finished()
        {
            return Ack::yes(); // the same request again
        }
        let replaces = on_agent.is_some_and(|runs| runs.contains_key(&run.test_id));
        if !replaces {
            if table.total >= MAX_RUNS {
                return Ack::no(format!("the simulator already runs {MAX_RUNS} tests"));
            }
            if on_agent.is_some_and(|runs| runs.len() >= MAX_RUNS_PER_AGENT) {
                return Ack::no(format!(
                    "this agent already runs {MAX_RUNS_PER_AGENT} tests"
                ));
            }
        }
        let (agent, test_id, run_id) = (host.n, run.test_id.clone(), run.run_id.clone());
        let this = self.clone();
        let task = tokio::spawn(async move { this.execute(host, run).await });
        let running = Running {
            run_id,
            abort: task.abort_handle(),
        };
        match table
            .by_agent
            .entry(agent)
            .or_default()
            .insert(test_id, running)
        {
            Some(previous) => previous.abort.abort(),
            None => table.total += 1,
        }
        self.stats.runs_started.fetch_add(1, Ordering::Relaxed);
        Ack::yes()
    }

    /// Stops a run; stopping one that is not running is no error.
    pub fn cancel(&self, agent: u32, test_id: &str) -> Ack {
        if let Some(r) = self.table().remove(agent, test_id) {
            r.abort.abort();
        }
        Ack::yes()
    }

    /// Stops every run of one agent (it went away).
    pub fn stop_agent(&self, agent: u32) {
        let mut table = self.table();
        if let Some(runs) = table.by_agent.remove(&agent) {
            table.total -= runs.len();
            for r in runs.into_values() {
                r.abort.abort();
            }
        }
    }

    /// Stops every run.
    pub fn stop_all(&self) {
        let mut table = self.table();
        for r in table
            .by_agent
            .drain()
            .flat_map(|(_, runs)| runs.into_values())
        {
            r.abort.abort();
        }
        table.total = 0;
    }

    async fn execute(self: Arc<Self>, host: Arc<Host>, run: TestRun) {
        let seed = mix(self.seed, u64::from(host.n), hash_str(&run.run_id));
        let mut rng = SmallRng::seed_from_u64(seed);
        let until =
            tokio::time::Instant::now() + Duration::from_millis(run.until.saturating_sub(now_ms()));
        let subject = subject::results(&run.test_id, &host.id);
        let mut ticker = tokio::time::interval(Duration::from_millis(run.interval_ms));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut seq: u32 = 0;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = tokio::time::sleep_until(until) => break,
            }
            let r = result(&run, &host, seq, now_ms(), &mut rng);
            seq = seq.wrapping_add(1);
            match codec::to_msgpack(&r) {
                Ok(body) => {
                    let len = body.len();
                    let sent = self
                        .client
                        .publish_with_headers(subject.clone(), codec::msgpack_headers(), body)
                        .await;
                    self.stats.count_publish(
                        &self.stats.results,
                        len,
                        sent.map_err(|e| e.to_string()),
                    );
                }
                Err(e) => self.stats.count_error(&e.to_string()),
            }
        }
        let mut table = self.table();
        let ours = table
            .by_agent
            .get(&host.n)
            .and_then(|runs| runs.get(&run.test_id))
            .is_some_and(|r| r.run_id == run.run_id);
        if ours {
            table.remove(host.n, &run.test_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::agent_id;

    const NOW: Millis = 1_800_000_000_000;

    fn run(kind: TestKind) -> TestRun {
        TestRun {
            test_id: TestId::parse("t1").expect("valid id"),
            run_id: "r1".into(),
            kind,
            target: "db.internal".into(),
            port: (kind == TestKind::Tcp).then_some(5432),
            interval_ms: 1_000,
            until: NOW + 60_000,
            timeout_ms: 2_000,
        }
    }

    fn host() -> Host {
        Host::new(agent_id("sim", 4, 5).expect("valid id"), 4, 1, NOW)
    }

    #[test]
    fn refuses_what_an_agent_refuses() {
        let ok = run(TestKind::Ping);
        assert_eq!(check(&ok, NOW), Ok(()));
        type Spoil = fn(&mut TestRun);
        let cases: [(&str, Spoil); 3] = [
            ("past until", |r| r.until = NOW - 1),
            ("short interval", |r| r.interval_ms = 10),
            ("tcp without port", |r| {
                r.kind = TestKind::Tcp;
                r.port = None;
            }),
        ];
        for (what, spoil) in cases {
            let mut r = ok.clone();
            spoil(&mut r);
            assert!(check(&r, NOW).is_err(), "{what}");
        }
        // A test id that is no safe subject token never even decodes.
        let mut json = serde_json::to_value(&ok).expect("encodes");
        for bad in ["T.1", ""] {
            json["test_id"] = bad.into();
            assert!(
                serde_json::from_value::<TestRun>(json.clone()).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn addresses_are_stable() {
        assert_eq!(target_addr("10.0.0.5"), "10.0.0.5");
        assert_eq!(target_addr("::1"), "::1");
        assert_eq!(target_addr("db.internal"), target_addr("db.internal"));
        assert!(target_addr("db.internal").starts_with("198.51.100."));
    }

    #[test]
    fn ping_results_have_seq_and_some_loss() {
        let (h, r) = (host(), run(TestKind::Ping));
        let mut rng = SmallRng::seed_from_u64(1);
        let results: Vec<TestResult> = (0..1_000)
            .map(|s| result(&r, &h, s, NOW, &mut rng))
            .collect();
        let lost = results.iter().filter(|r| r.rtt_ms.is_none()).count();
        assert!((1..100).contains(&lost), "about 2% lost, got {lost}");
        for (s, res) in results.iter().enumerate() {
            assert_eq!(res.seq, Some(s as u32));
            assert_eq!(
                (res.test_id.as_str(), res.agent.as_str()),
                ("t1", "sim-00004")
            );
            assert!(res.rtt_ms.is_none_or(|v| v > 0.0 && v < 100.0));
            assert_eq!(res.latency_ms(), res.rtt_ms);
        }
    }

    #[test]
    fn tcp_and_traceroute_results() {
        let h = host();
        let mut rng = SmallRng::seed_from_u64(2);
        let tcp = result(&run(TestKind::Tcp), &h, 0, NOW, &mut rng);
        assert!(tcp.ok.is_some());
        assert_eq!(tcp.ok == Some(true), tcp.connect_ms.is_some());

        for seq in 0..50 {
            let t = result(&run(TestKind::Traceroute), &h, seq, NOW, &mut rng);
            let hops = t.hops.as_ref().expect("hops");
            assert!((3..=6).contains(&hops.len()));
            assert!(
                hops.iter()
                    .enumerate()
                    .all(|(i, hop)| usize::from(hop.ttl) == i + 1)
            );
            if t.reached == Some(true) {
                assert_eq!(hops.last().and_then(|h| h.addr.clone()), t.addr);
                assert!(
                    t.latency_ms().is_some() || hops.last().is_some_and(|h| h.rtt_ms.is_empty())
                );
            }
        }
    }
}
