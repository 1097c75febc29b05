//! The agent's run-loop: connect (retrying while NATS is down), announce,
//! sample every interval, answer info requests, say bye on shutdown.
//! Plugins run in a task of their own, so a slow one never delays a sample.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::Client;
use futures::StreamExt;
use swarm_common::codec;
use swarm_common::limits::MAX_RECORD_BYTES;
use swarm_common::nats::{self, LinkState, NatsError, NatsHealth, publish_msgpack};
use swarm_common::protocol::fleet::{ConfigAck, ConfigPush, PluginStatus};
use swarm_common::protocol::{Bye, HostInfo};
use swarm_common::subject;
use swarm_common::time::now_ms;
use tokio::sync::{mpsc, watch};

use crate::collect::{CollectError, Collector};
use crate::config::AgentConfig;
use crate::outbox::Outbox;
use crate::plugins::{PluginRun, Plugins};
use crate::probe::caps::Caps;
use crate::pushed::{Base, Effective, Pushed};
use crate::runs::Runner;
use crate::spool::Spool;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Collect(#[from] CollectError),
    #[error(transparent)]
    Nats(#[from] NatsError),
    #[error(transparent)]
    Spool(#[from] crate::spool::SpoolError),
    #[error("cannot subscribe to {subject}: {source}")]
    Subscribe {
        subject: String,
        source: async_nats::SubscribeError,
    },
}

/// What the agent counts about its own delivery, readable while it runs.
#[derive(Debug, Default)]
pub struct AgentStats {
    /// Metrics samples published as they were taken.
    pub published: AtomicU64,
    /// Metrics samples that went to the spool instead (delivered later).
    pub undelivered: AtomicU64,
    pub publish_errors: AtomicU64,
}

/// A running agent's handles, for tests and the binary.
pub struct Agent {
    config: AgentConfig,
    pub stats: Arc<AgentStats>,
    pub health: Arc<NatsHealth>,
    outbox: Option<Arc<Outbox>>,
}

impl Agent {
    pub fn new(config: AgentConfig) -> Self {
        Self {
            config,
            stats: Arc::default(),
            health: NatsHealth::new(),
            outbox: None,
        }
    }

    /// Runs until `shutdown` resolves, then publishes `bye` and flushes.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
        let config = &self.config;
        let (mut pushed, problem) = Pushed::load(&config.spool_dir);
        if let Some(problem) = problem {
            tracing::warn!("{problem}");
        }
        let base = Base {
            interval: config.interval,
            tags: config.tags.clone(),
            collectors: config.collectors,
        };
        let mut effective = base.with(pushed.current());
        if effective.rev > 0 {
            tracing::info!(
                rev = effective.rev,
                "running with the config the hub pushed last"
            );
        }
        let mut collector = Collector::new(config.id.clone(), effective.collectors)?;
        let caps = Caps::detect();
        let mut info = collector.host_info(
            swarm_common::duration::millis(effective.interval),
            &effective.tags,
        );
        info.probes = Some(caps.report());
        info.config_rev = Some(effective.rev);
        if let Some(note) = &info.probes.as_ref().and_then(|p| p.note.clone()) {
            tracing::warn!("some network tests cannot run here: {note}");
        }
        let (info_tx, info_rx) = watch::channel(info);
        let spool = Spool::open(&config.spool_dir, config.spool_max_bytes)?;
        if !spool.is_empty() {
            tracing::info!(
                "{} messages wait in the spool at {}",
                spool.state().records,
                config.spool_dir.display()
            );
        }
        let outbox = Outbox::new(self.health.clone(), spool);
        self.outbox = Some(outbox.clone());

        let connecting =
            nats::connect_with_retry(&config.nats, config.id.as_str(), self.health.clone());
        tokio::pin!(connecting);
        tokio::pin!(shutdown);
        let mut client: Option<Client> = None;
        let mut link = self.health.subscribe();
        let mut ticker = sampling_ticker(effective.interval);
        let plugins_of = |e: &Effective| {
            config.plugins_dir.as_ref().map(|dir| {
                let mut plugins = Plugins::new(dir.clone(), config.plugin_timeout);
                plugins.set_enabled(e.plugins.clone());
                plugins
            })
        };
        let (mut plugin_runs, mut plugin_task) =
            spawn_plugins(plugins_of(&effective), effective.interval);
        let (push_tx, mut pushes) =
            mpsc::channel::<(Result<ConfigPush, String>, Option<async_nats::Subject>)>(8);

        loop {
            tokio::select! {
                () = &mut shutdown => break,
                connected = &mut connecting, if client.is_none() => {
                    let c = connected?;
                    tracing::info!(agent = %config.id, "publishing every {}", swarm_common::duration::short(effective.interval));
                    spawn_info_responder(&c, &config.id, info_rx.clone(), outbox.clone()).await?;
                    spawn_config_listener(&c, &config.id, push_tx.clone()).await?;
                    tokio::spawn(outbox.clone().replay(c.clone()));
                    let runner = Runner::new(config.id.clone(), c.clone(), caps, outbox.clone());
                    tokio::spawn(async move {
                        if let Err(e) = runner.serve().await {
                            tracing::error!("cannot take test requests: {e}");
                        }
                    });
                    self.announce(&c, &info_tx, &outbox).await;
                    link.borrow_and_update();
                    client = Some(c);
                }
                changed = link.changed() => {
                    if changed.is_err() {
                        continue;
                    }
                    let now_connected = *link.borrow_and_update() == LinkState::Connected;
                    if let (true, Some(c)) = (now_connected, &client) {
                        self.announce(c, &info_tx, &outbox).await;
                    }
                }
                Some((push, reply)) = pushes.recv() => {
                    let rev = push.as_ref().map_or(0, |p| p.rev);
                    let installed = plugins_of(&effective).map(|p| p.installed()).unwrap_or_default();
                    let outcome = match push {
                        // Already in force (sent again).
                        Ok(push) if push.rev == pushed.rev() => Ok(()),
                        Ok(push) => pushed.accept(push, &installed),
                        Err(e) => Err(e),
                    };
                    let ack = match outcome {
                        Ok(()) => {
                            let next = base.with(pushed.current());
                            if next != effective {
                                tracing::info!(rev, "applying the config the hub pushed");
                                if next.interval != effective.interval {
                                    ticker = sampling_ticker(next.interval);
                                }
                                collector.set_settings(next.collectors);
                                if next.plugins != effective.plugins || next.interval != effective.interval {
                                    if let Some(task) = plugin_task.take() {
                                        task.abort();
                                    }
                                    (plugin_runs, plugin_task) = spawn_plugins(plugins_of(&next), next.interval);
                                }
                                info_tx.send_modify(|i| {
                                    i.tags = next.tags.clone();
                                    i.interval_ms = Some(swarm_common::duration::millis(next.interval));
                                    i.config_rev = Some(next.rev);
                                });
                                effective = next;
                                if let Some(c) = &client {
                                    self.announce(c, &info_tx, &outbox).await;
                                }
                            }
                            ConfigAck { applied_rev: rev, error: None }
                        }
                        Err(error) => {
                            tracing::warn!(rev, "refused the config the hub pushed: {error}");
                            ConfigAck { applied_rev: pushed.rev(), error: Some(error) }
                        }
                    };
                    if let (Some(c), Some(reply)) = (&client, reply) {
                        self.publish(c, reply.to_string(), &ack).await;
                    }
                }
                changed = async { plugin_runs.as_mut()?.changed().await.ok() }, if plugin_runs.is_some() => {
                    let (Some(()), Some(runs)) = (changed, plugin_runs.as_mut()) else {
                        // The plugin task is gone; samples go on without it.
                        plugin_runs = None;
                        continue;
                    };
                    let statuses = runs.borrow_and_update().statuses.clone();
                    let mut differs = false;
                    info_tx.send_modify(|i| differs = set_plugins(i, statuses));
                    if differs {
                        for s in info_tx.borrow().plugins.iter().filter(|s| !s.ok) {
                            tracing::warn!(plugin = %s.name, "{}", s.error.as_deref().unwrap_or("failed"));
                        }
                        if let Some(c) = &client {
                            self.announce(c, &info_tx, &outbox).await;
                        }
                    }
                }
                _ = ticker.tick() => {
                    let mut sample = collector.sample();
                    if let Some(runs) = &plugin_runs {
                        sample.custom = runs.borrow().metrics.clone();
                    }
                    if outbox.send(client.as_ref(), subject::metrics(&config.id), &sample).await {
                        self.stats.published.fetch_add(1, Ordering::Relaxed);
                    } else {
                        let n = self.stats.undelivered.fetch_add(1, Ordering::Relaxed) + 1;
                        tracing::debug!("NATS unreachable; {n} samples spooled so far");
                    }
                }
            }
        }

        if let Some(task) = plugin_task {
            // Dropping a run kills the plugins it started.
            task.abort();
        }
        if let Some(c) = client {
            let bye = Bye {
                agent: config.id.clone(),
                ts: now_ms(),
            };
            self.publish(&c, subject::bye(&config.id), &bye).await;
            // Bounded: a dead server must not hold the shutdown hostage.
            if tokio::time::timeout(Duration::from_secs(2), c.flush())
                .await
                .is_err()
            {
                tracing::warn!("could not flush the last messages to NATS within 2 s");
            }
        }
        tracing::info!(agent = %config.id, "stopped");
        Ok(())
    }

    /// `hello` on every (re)connect, with a fresh timestamp.
    async fn announce(&self, client: &Client, info: &watch::Sender<HostInfo>, outbox: &Outbox) {
        info.send_modify(|i| {
            i.ts = Some(now_ms());
            i.spool = Some(outbox.spool_info());
        });
        let current = info.borrow().clone();
        // Through the outbox: a hello sent before any hub listens would be
        // lost, and the hub needs it for the interval and tags.
        outbox
            .send(Some(client), subject::hello(&self.config.id), &current)
            .await;
    }

    async fn publish<T: serde::Serialize>(&self, client: &Client, subject: String, value: &T) {
        match publish_msgpack(client, subject, value).await {
            Ok(()) => {}
            Err(err) => {
                self.stats.publish_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("{err}");
            }
        }
    }
}

fn sampling_ticker(interval: Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

/// The latest plugin run, and the task that makes them (none without a
/// plugin directory).
type PluginTask = (
    Option<watch::Receiver<PluginRun>>,
    Option<tokio::task::JoinHandle<()>>,
);

/// Runs the plugins every `interval` (a run that outlasts it delays the
/// next, so runs never overlap) and hands over the latest run.
fn spawn_plugins(plugins: Option<Plugins>, interval: Duration) -> PluginTask {
    let Some(mut plugins) = plugins else {
        return (None, None);
    };
    let (tx, rx) = watch::channel(PluginRun::default());
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if tx.send(plugins.run().await).is_err() {
                break;
            }
        }
    });
    (Some(rx), Some(task))
}

/// Takes `swarm.agent.<id>.config` pushes to the run-loop, which checks,
/// applies and answers them.
async fn spawn_config_listener(
    client: &Client,
    id: &swarm_common::AgentId,
    pushes: mpsc::Sender<(Result<ConfigPush, String>, Option<async_nats::Subject>)>,
) -> Result<(), AgentError> {
    let subject = subject::agent_config(id);
    let mut requests = client
        .subscribe(subject.clone())
        .await
        .map_err(|source| AgentError::Subscribe { subject, source })?;
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let encoding = codec::Encoding::of_request(request.headers.as_ref(), &request.payload);
            let push = encoding
                .decode::<ConfigPush>(&request.payload)
                .map_err(|e| format!("undecodable config: {e}"));
            if pushes.send((push, request.reply)).await.is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// Puts `statuses` in `info`, their errors shortened until the HostInfo
/// fits [`MAX_RECORD_BYTES`] (the hub refuses a larger one whole, and 64
/// long errors could get there). Says whether some plugin's `ok` or
/// `error` changed, which is worth a new hello; a new time or count is not.
fn set_plugins(info: &mut HostInfo, statuses: Vec<PluginStatus>) -> bool {
    let key = |s: &PluginStatus| (s.name.clone(), s.ok, s.error.clone());
    let before: Vec<_> = info.plugins.iter().map(key).collect();
    info.plugins = statuses;
    let mut max = crate::plugins::MAX_ERROR_BYTES;
    while max > 1 && codec::to_msgpack(&*info).is_ok_and(|b| b.len() > MAX_RECORD_BYTES) {
        max /= 2;
        for error in info.plugins.iter_mut().filter_map(|s| s.error.as_mut()) {
            *error = swarm_common::text::printable(error, max);
        }
    }
    info.plugins.iter().map(key).ne(before)
}

/// Answers `swarm.agent.<id>.info` with the current HostInfo.
async fn spawn_info_responder(
    client: &Client,
    id: &swarm_common::AgentId,
    info: watch::Receiver<HostInfo>,
    outbox: Arc<Outbox>,
) -> Result<(), AgentError> {
    let subject = subject::agent_info(id);
    let mut requests = client
        .subscribe(subject.clone())
        .await
        .map_err(|source| AgentError::Subscribe { subject, source })?;
    let client = client.clone();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let Some(reply) = request.reply else { continue };
            let mut current = info.borrow().clone();
            current.spool = Some(outbox.spool_info());
            current.ts = Some(now_ms());
            let sent = match codec::to_msgpack(&current) {
                Ok(body) => client
                    .publish_with_headers(reply, codec::msgpack_headers(), body)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = sent {
                tracing::warn!("cannot answer info request: {e}");
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarm_common::AgentId;

    fn status(i: usize, error: Option<String>) -> PluginStatus {
        PluginStatus {
            name: format!("{i:02}-{}", "p".repeat(61)),
            ok: error.is_none(),
            error,
            last_run: Some(1),
            duration_ms: Some(2),
            metrics: Some(3),
        }
    }

    #[test]
    fn statuses_fit_a_host_info_and_only_a_new_outcome_counts_as_a_change() {
        let mut info = HostInfo::new(AgentId::parse("a").expect("id"));
        info.tags = (0..64)
            .map(|i| format!("{i:02}{}", "t".repeat(62)))
            .collect();
        let long = "e".repeat(crate::plugins::MAX_ERROR_BYTES);
        let failing: Vec<_> = (0..64).map(|i| status(i, Some(long.clone()))).collect();
        assert!(set_plugins(&mut info, failing));
        let size = codec::to_msgpack(&info).expect("encodes").len();
        assert!(size <= MAX_RECORD_BYTES, "{size}");
        assert!(info.plugins.iter().all(|s| s.error.is_some()));

        let ok: Vec<_> = (0..64).map(|i| status(i, None)).collect();
        assert!(set_plugins(&mut info, ok.clone()));
        let mut later = ok;
        for s in &mut later {
            s.last_run = Some(99);
            s.metrics = Some(4);
        }
        assert!(!set_plugins(&mut info, later));
        assert_eq!(info.plugins[0].last_run, Some(99));
    }
}
