//! The simulator's run-loop. One task walks the schedule and publishes for
//! every agent whose slot is due (hello the first time, then metrics; bye
//! and a later hello under churn); one task answers every agent's requests
//! through a single wildcard subscription; each accepted test run is a
//! task of its own. At shutdown every online agent says bye.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, Message};
use futures::{FutureExt, StreamExt};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use swarm_common::codec::{self, Encoding};
use swarm_common::protocol::fleet::{ConfigAck, ConfigPush};
use swarm_common::protocol::{Ack, Bye, CancelRun, HostInfo, TestRun};
use swarm_common::subject;
use swarm_common::time::now_ms;
use tokio::time::Instant;

use crate::config::{ConfigError, SimConfig};
use crate::fleet::{self, Host, InfoOptions};
use crate::runs::Runs;
use crate::schedule::{Schedule, Slot};
use crate::seed::mix;
use crate::stats::{self, SimStats, Summary};
use crate::walk::{CustomMetrics, Walk};

/// How long the last messages may take to leave at shutdown.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// The driver checks for shutdown at least this often while catching up.
const SHUTDOWN_CHECK_EVERY: u32 = 256;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot subscribe to {subject}: {source}")]
    Subscribe {
        subject: String,
        source: async_nats::SubscribeError,
    },
}

/// A simulation: configure, then [`Sim::run`] it on a connected client.
pub struct Sim {
    config: SimConfig,
    stats: Arc<SimStats>,
}

/// Which request an agent subject carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Run,
    Cancel,
    Info,
    Config,
}

/// What the driver and the request task share.
struct Shared {
    hosts: Vec<Arc<Host>>,
    /// Agents that said hello and not bye: only they answer requests.
    online: Vec<AtomicBool>,
    /// The pushed-config revision each agent acknowledged (0: none).
    config_rev: Vec<AtomicU64>,
    info: InfoOptions,
    stats: Arc<SimStats>,
    runs: Arc<Runs>,
    client: Client,
}

/// Where a virtual agent stands between its slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    /// Says hello at its next slot (start, or the link came back).
    Announce,
    Online,
    /// Said bye; comes back at this round.
    Away {
        back: u64,
    },
}

struct Agent {
    walk: Walk,
    presence: Presence,
}

impl Sim {
    pub fn new(config: SimConfig) -> Self {
        Self {
            config,
            stats: Arc::default(),
        }
    }

    /// The counters, readable while the simulation runs.
    pub fn stats(&self) -> Arc<SimStats> {
        self.stats.clone()
    }

    /// Runs until `shutdown` resolves or the configured duration is over,
    /// then says bye for every online agent and flushes.
    pub async fn run(
        self,
        client: Client,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Summary, SimError> {
        let config = self.config;
        config.validate()?;
        let started = Instant::now();
        let now = now_ms();
        let width = fleet::id_width(config.agents);
        let mut hosts = Vec::with_capacity(config.agents as usize);
        for n in 0..config.agents {
            let id = fleet::agent_id(&config.prefix, n, width).map_err(|source| {
                ConfigError::BadPrefix {
                    prefix: config.prefix.clone(),
                    source,
                }
            })?;
            hosts.push(Arc::new(Host::new(id, n, config.seed, now)));
        }
        let routes = routes(&hosts);
        let requests = client
            .subscribe(subject::AGENT_REQUESTS_ALL)
            .await
            .map_err(|source| SimError::Subscribe {
                subject: subject::AGENT_REQUESTS_ALL.to_owned(),
                source,
            })?;
        let shared = Arc::new(Shared {
            online: hosts.iter().map(|_| AtomicBool::new(false)).collect(),
            config_rev: hosts.iter().map(|_| AtomicU64::new(0)).collect(),
            hosts,
            info: InfoOptions {
                interval_ms: u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX),
                pad_to: config.info_bytes,
            },
            stats: self.stats.clone(),
            runs: Runs::new(client.clone(), self.stats.clone(), config.seed),
            client: client.clone(),
        });
        tracing::info!(
            "{} agents {}..{} publishing every {} (seed {})",
            config.agents,
            shared.hosts.first().map_or("", |h| h.id.as_str()),
            shared.hosts.last().map_or("", |h| h.id.as_str()),
            swarm_common::duration::short(config.interval),
            config.seed
        );
        let server = tokio::spawn(serve(shared.clone(), requests, routes));
        let reporter = config
            .rate_report
            .map(|every| tokio::spawn(report_rates(self.stats.clone(), config.agents, every)));

        let stop = async {
            match config.duration {
                Some(d) => {
                    tokio::select! {
                        () = shutdown => {}
                        () = tokio::time::sleep(d) => {}
                    }
                }
                None => shutdown.await,
            }
        };
        Driver::new(&shared, &config).drive(stop).await;

        server.abort();
        if let Some(r) = reporter {
            r.abort();
        }
        shared.runs.stop_all();
        for (host, online) in shared.hosts.iter().zip(&shared.online) {
            if online.swap(false, Ordering::Relaxed) {
                let bye = Bye {
                    agent: host.id.clone(),
                    ts: now_ms(),
                };
                publish(&shared, &shared.stats.bye, subject::bye(&host.id), &bye).await;
                shared.stats.online.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if tokio::time::timeout(FLUSH_TIMEOUT, client.flush())
            .await
            .is_err()
        {
            tracing::warn!("could not flush the last messages within {FLUSH_TIMEOUT:?}");
        }
        Ok(Summary {
            agents: config.agents,
            elapsed: started.elapsed(),
            totals: self.stats.snapshot(),
        })
    }
}

/// Subject of every request to every agent, built with the contract's
/// builders, to the agent and the kind of request.
fn routes(hosts: &[Arc<Host>]) -> HashMap<String, (u32, Request)> {
    let mut routes = HashMap::with_capacity(hosts.len() * 4);
    for host in hosts {
        routes.insert(subject::agent_run(&host.id), (host.n, Request::Run));
        routes.insert(subject::agent_cancel(&host.id), (host.n, Request::Cancel));
        routes.insert(subject::agent_info(&host.id), (host.n, Request::Info));
        routes.insert(subject::agent_config(&host.id), (host.n, Request::Config));
    }
    routes
}

/// The schedule's walker: owns every agent's changing state.
struct Driver<'a> {
    shared: &'a Shared,
    agents: Vec<Agent>,
    schedule: Schedule,
    custom: CustomMetrics,
    /// Probability that an online agent leaves at its slot.
    churn: f64,
    rng: SmallRng,
    dt_s: f64,
}

impl<'a> Driver<'a> {
    fn new(shared: &'a Shared, config: &SimConfig) -> Self {
        Self {
            agents: shared
                .hosts
                .iter()
                .map(|h| Agent {
                    walk: Walk::new(h, config.seed),
                    presence: Presence::Announce,
                })
                .collect(),
            shared,
            schedule: Schedule::new(config.agents, config.interval),
            custom: CustomMetrics::fixed(config.custom, config.fresh_custom),
            churn: config.churn_pct / 100.0,
            rng: SmallRng::seed_from_u64(mix(config.seed, 0, 400)),
            dt_s: config.interval.as_secs_f64(),
        }
    }

    /// Walks the schedule until `stop` resolves.
    async fn drive(&mut self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let start = Instant::now();
        let mut slot = Slot::default();
        let mut since_check = 0u32;
        let mut link = self.shared.client.connection_state();
        loop {
            let due = start + self.schedule.due(slot);
            if due > Instant::now() {
                tokio::select! {
                    biased;
                    () = &mut stop => break,
                    () = tokio::time::sleep_until(due) => {}
                }
                since_check = SHUTDOWN_CHECK_EVERY;
            }
            self.shared
                .stats
                .note_lag(Instant::now().saturating_duration_since(due));
            since_check += 1;
            if since_check >= SHUTDOWN_CHECK_EVERY {
                since_check = 0;
                if (&mut stop).now_or_never().is_some() {
                    break;
                }
                let state = self.shared.client.connection_state();
                if state == State::Connected && link != State::Connected {
                    self.reconnected();
                }
                link = state;
            }
            self.tick(slot).await;
            slot = self.schedule.next(slot);
        }
    }

    /// Back from an outage: every online agent says hello again at its
    /// next slot, as a real one does on reconnect.
    fn reconnected(&mut self) {
        for a in &mut self.agents {
            if a.presence == Presence::Online {
                a.presence = Presence::Announce;
            }
        }
    }

    /// One agent's turn: hello when (re)joining, maybe bye under churn,
    /// then a metrics sample.
    async fn tick(&mut self, slot: Slot) {
        let shared = self.shared;
        let n = slot.agent as usize;
        let (Some(agent), Some(host), Some(online)) = (
            self.agents.get_mut(n),
            shared.hosts.get(n),
            shared.online.get(n),
        ) else {
            return;
        };
        match agent.presence {
            Presence::Away { back } if slot.round < back => return,
            Presence::Away { .. } | Presence::Announce => {
                if !online.swap(true, Ordering::Relaxed) {
                    shared.stats.online.fetch_add(1, Ordering::Relaxed);
                }
                let info = shared.info_of(host);
                publish(shared, &shared.stats.hello, subject::hello(&host.id), &info).await;
                agent.presence = Presence::Online;
            }
            Presence::Online => {
                if self.churn > 0.0 && self.rng.random_bool(self.churn) {
                    online.store(false, Ordering::Relaxed);
                    shared.stats.online.fetch_sub(1, Ordering::Relaxed);
                    shared.runs.stop_agent(host.n);
                    let bye = Bye {
                        agent: host.id.clone(),
                        ts: now_ms(),
                    };
                    publish(shared, &shared.stats.bye, subject::bye(&host.id), &bye).await;
                    agent.presence = Presence::Away {
                        back: slot.round + self.rng.random_range(1..=3),
                    };
                    return;
                }
            }
        }
        let sample = agent.walk.next(host, self.dt_s, now_ms(), &self.custom);
        publish(
            shared,
            &shared.stats.metrics,
            subject::metrics(&host.id),
            &sample,
        )
        .await;
    }
}

impl Shared {
    /// A host's HostInfo now, with the config revision it acknowledged
    /// (it keeps its own interval: only the revision is simulated).
    fn info_of(&self, host: &Host) -> HostInfo {
        let mut info = host.info(&self.info, now_ms());
        info.config_rev = self
            .config_rev
            .get(host.n as usize)
            .map(|r| r.load(Ordering::Relaxed));
        info
    }
}

/// Publishes `value` as MessagePack with the contract's header, counted
/// under `kind`.
async fn publish<T: Serialize>(shared: &Shared, kind: &AtomicU64, subject: String, value: &T) {
    match codec::to_msgpack(value) {
        Ok(body) => {
            let len = body.len();
            let sent = shared
                .client
                .publish_with_headers(subject, codec::msgpack_headers(), body)
                .await
                .map_err(|e| e.to_string());
            shared.stats.count_publish(kind, len, sent);
        }
        Err(e) => shared.stats.count_error(&e.to_string()),
    }
}

/// Answers `run`, `cancel` and `info` for every online agent. Requests to
/// agents of other processes, or to agents that are away, go unanswered,
/// as they would with real agents.
async fn serve(
    shared: Arc<Shared>,
    mut requests: async_nats::Subscriber,
    routes: HashMap<String, (u32, Request)>,
) {
    while let Some(msg) = requests.next().await {
        let Some(&(n, request)) = routes.get(msg.subject.as_str()) else {
            continue;
        };
        let (Some(host), Some(online)) =
            (shared.hosts.get(n as usize), shared.online.get(n as usize))
        else {
            continue;
        };
        if !online.load(Ordering::Relaxed) {
            continue;
        }
        let Some(reply) = msg.reply.clone() else {
            continue;
        };
        let answer = answer(&shared, host, request, &msg);
        match answer {
            Ok(body) => {
                let len = body.len();
                let sent = shared
                    .client
                    .publish_with_headers(reply, codec::msgpack_headers(), body)
                    .await
                    .map_err(|e| e.to_string());
                shared.stats.count_publish(&shared.stats.replies, len, sent);
            }
            Err(e) => shared.stats.count_error(&e.to_string()),
        }
    }
}

fn answer(
    shared: &Shared,
    host: &Arc<Host>,
    request: Request,
    msg: &Message,
) -> Result<bytes::Bytes, codec::CodecError> {
    let enc = Encoding::of_request(msg.headers.as_ref(), &msg.payload);
    match request {
        Request::Run => {
            let ack = match enc.decode::<TestRun>(&msg.payload) {
                Ok(run) => shared.runs.start(host.clone(), run),
                Err(e) => Ack::no(format!("undecodable run request: {e}")),
            };
            codec::to_msgpack(&ack)
        }
        Request::Cancel => {
            let ack = match enc.decode::<CancelRun>(&msg.payload) {
                Ok(c) => shared.runs.cancel(host.n, &c.test_id),
                Err(e) => Ack::no(format!("undecodable cancel request: {e}")),
            };
            codec::to_msgpack(&ack)
        }
        Request::Info => codec::to_msgpack(&shared.info_of(host)),
        Request::Config => {
            let slot = shared.config_rev.get(host.n as usize);
            let applied = slot.map_or(0, |s| s.load(Ordering::Relaxed));
            // A virtual agent has no plugins: a config naming one is
            // refused, as a real agent without it refuses it.
            let ack = match enc.decode::<ConfigPush>(&msg.payload) {
                Ok(push) if push.config.plugins.as_ref().is_some_and(|p| !p.is_empty()) => {
                    ConfigAck {
                        applied_rev: applied,
                        error: Some("no plugins are installed on a simulated agent".into()),
                    }
                }
                Ok(push) => match push.config.check() {
                    Ok(()) => {
                        if let Some(slot) = slot {
                            slot.store(push.rev, Ordering::Relaxed);
                        }
                        ConfigAck {
                            applied_rev: push.rev,
                            error: None,
                        }
                    }
                    Err(e) => ConfigAck {
                        applied_rev: applied,
                        error: Some(e),
                    },
                },
                Err(e) => ConfigAck {
                    applied_rev: applied,
                    error: Some(format!("undecodable config: {e}")),
                },
            };
            codec::to_msgpack(&ack)
        }
    }
}

/// Prints a rate line to stderr every `every`.
async fn report_rates(stats: Arc<SimStats>, agents: u32, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    let mut before = stats.snapshot();
    let mut at = Instant::now();
    loop {
        ticker.tick().await;
        let now = stats.snapshot();
        let line = stats::rate_line(agents, &before, &now, at.elapsed(), stats.take_max_lag());
        eprintln!("{line}");
        before = now;
        at = Instant::now();
    }
}
