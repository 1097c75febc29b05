//! Test runs on the agent: accepts or refuses `run` requests, runs each
//! test in its own task until `until` or `cancel`, and publishes one result
//! per measurement. Runs never touch the metrics loop.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::Client;
use futures::StreamExt;
use swarm_common::codec::{self, Encoding};
use swarm_common::protocol::{Ack, CancelRun, TestKind, TestResult, TestRun};
use swarm_common::time::now_ms;
use swarm_common::{AgentId, TestId, subject};
use tokio::task::AbortHandle;

use crate::outbox::Outbox;
use crate::probe::caps::Caps;
use crate::probe::ping::{Echo, Pingers};
use crate::probe::{self, tcp, trace};

const DEFAULT_TIMEOUT_MS: u64 = 2_000;
/// At most this many runs at once on one agent.
const MAX_RUNS: usize = 1_000;
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

struct Running {
    run_id: String,
    abort: AbortHandle,
}

/// Owns the agent's running tests.
pub struct Runner {
    agent: AgentId,
    client: Client,
    caps: Caps,
    pingers: Arc<Pingers>,
    outbox: Arc<Outbox>,
    running: Mutex<HashMap<TestId, Running>>,
}

impl Runner {
    pub fn new(agent: AgentId, client: Client, caps: Caps, outbox: Arc<Outbox>) -> Arc<Self> {
        Arc::new(Self {
            agent,
            client,
            caps,
            outbox,
            pingers: Arc::new(Pingers::new(caps.icmp)),
            running: Mutex::new(HashMap::new()),
        })
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<TestId, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of runs in progress.
    pub fn active(&self) -> usize {
        let mut running = self.running();
        running.retain(|_, r| !r.abort.is_finished());
        running.len()
    }

    /// Serves `run` and `cancel` requests until the subscriptions end.
    pub async fn serve(self: Arc<Self>) -> Result<(), async_nats::SubscribeError> {
        let runs = self
            .client
            .subscribe(subject::agent_run(&self.agent))
            .await?;
        let cancels = self
            .client
            .subscribe(subject::agent_cancel(&self.agent))
            .await?;
        let mut requests = futures::stream::select(runs, cancels);
        while let Some(msg) = requests.next().await {
            let Some(reply) = msg.reply.clone() else {
                continue;
            };
            let enc = Encoding::of_request(msg.headers.as_ref(), &msg.payload);
            let ack = if msg.subject.as_str().ends_with(".run") {
                match enc.decode::<TestRun>(&msg.payload) {
                    Ok(run) => self.start(run).await,
                    Err(e) => Ack::no(format!("undecodable run request: {e}")),
                }
            } else {
                match enc.decode::<CancelRun>(&msg.payload) {
                    Ok(c) => self.cancel(c.test_id.as_str()),
                    Err(e) => Ack::no(format!("undecodable cancel request: {e}")),
                }
            };
            let sent = match codec::to_msgpack(&ack) {
                Ok(body) => self
                    .client
                    .publish_with_headers(reply, codec::msgpack_headers(), body)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = sent {
                tracing::warn!("cannot answer a test request: {e}");
            }
        }
        Ok(())
    }

    /// Checks a run and starts it, or says why not.
    pub async fn start(self: &Arc<Self>, run: TestRun) -> Ack {
        if let Err(why) = self.check(&run) {
            tracing::info!(test = %run.test_id, "refused run: {why}");
            return Ack::no(why);
        }
        if let Some(r) = self.running().get(&run.test_id)
            && r.run_id == run.run_id
            && !r.abort.is_finished()
        {
            return Ack::yes(); // the same request again
        }
        let ip = match probe::resolve(&run.target, RESOLVE_TIMEOUT).await {
            Ok(ip) => ip,
            Err(why) => return Ack::no(why.to_string()),
        };
        let this = self.clone();
        let test_id = run.test_id.clone();
        let run_id = run.run_id.clone();
        let task = tokio::spawn(async move { this.execute(run, ip).await });
        let previous = self.running().insert(
            test_id.clone(),
            Running {
                run_id,
                abort: task.abort_handle(),
            },
        );
        if let Some(previous) = previous {
            previous.abort.abort();
        }
        tracing::info!(test = %test_id, "run started");
        Ack::yes()
    }

    fn check(&self, run: &TestRun) -> Result<(), String> {
        run.check(now_ms())?;
        if self.active() >= MAX_RUNS {
            return Err(format!("this agent already runs {MAX_RUNS} tests"));
        }
        if let Some(why) = self.caps.refuse(run.kind) {
            return Err(why);
        }
        Ok(())
    }

    pub fn cancel(&self, test_id: &str) -> Ack {
        match self.running().remove(test_id) {
            Some(r) => {
                r.abort.abort();
                tracing::info!(test = %test_id, "run cancelled");
                Ack::yes()
            }
            // Nothing to stop is not an error: the goal is reached.
            None => Ack::yes(),
        }
    }

    /// Probes every interval until `until`; each probe runs on its own so a
    /// slow one never delays the next.
    async fn execute(self: Arc<Self>, run: TestRun, ip: IpAddr) {
        let interval = Duration::from_millis(run.interval_ms);
        let timeout = Duration::from_millis(if run.timeout_ms == 0 {
            DEFAULT_TIMEOUT_MS
        } else {
            run.timeout_ms
        });
        let until =
            tokio::time::Instant::now() + Duration::from_millis(run.until.saturating_sub(now_ms()));
        let ident: u16 = rand::random();
        let run = Arc::new(run);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut probes = tokio::task::JoinSet::new();
        let mut seq: u32 = 0;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = tokio::time::sleep_until(until) => break,
            }
            if tokio::time::Instant::now() >= until {
                break;
            }
            let (this, run) = (self.clone(), run.clone());
            let probe_seq = seq;
            probes.spawn(async move { this.probe_once(&run, ip, ident, probe_seq, timeout).await });
            seq = seq.wrapping_add(1);
            // Reap finished probes so the set stays small.
            while probes.try_join_next().is_some() {}
        }
        // Let probes in flight finish (they are bounded by the timeout).
        while probes.join_next().await.is_some() {}
        self.running().remove(&run.test_id);
        tracing::info!(test = %run.test_id, "run finished");
    }

    async fn probe_once(&self, run: &TestRun, ip: IpAddr, ident: u16, seq: u32, timeout: Duration) {
        let mut result = TestResult::new(run, self.agent.clone(), now_ms());
        match run.kind {
            TestKind::Ping => {
                result.seq = Some(seq);
                result.addr = Some(ip.to_string());
                match self.pingers.echo(ip, ident, seq as u16, timeout).await {
                    Ok(Echo::Reply { rtt_ms }) => result.rtt_ms = Some(rtt_ms),
                    Ok(Echo::Lost) => {}
                    Err(e) => result.error = Some(e.to_string()),
                }
            }
            TestKind::Tcp => {
                result.addr = Some(ip.to_string());
                match tcp::connect(ip, run.port.unwrap_or(0), timeout).await {
                    Ok(ms) => {
                        result.connect_ms = Some(ms);
                        result.ok = Some(true);
                    }
                    Err(e) => {
                        result.ok = Some(false);
                        result.error = Some(e.to_string());
                    }
                }
            }
            TestKind::Traceroute => {
                result.addr = Some(ip.to_string());
                match trace::round(ip, timeout).await {
                    Ok(t) => {
                        result.hops = Some(t.hops);
                        result.reached = Some(t.reached);
                    }
                    Err(e) => {
                        result.reached = Some(false);
                        result.error = Some(e.to_string());
                    }
                }
            }
        }
        // Results wait in the spool while the bus is away.
        let subject = subject::results(&run.test_id, &self.agent);
        self.outbox.send(Some(&self.client), subject, &result).await;
    }
}
