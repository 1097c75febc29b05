//! The agent's run-loop: connect (retrying while NATS is down), announce,
//! sample every interval, answer info requests, say bye on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::Client;
use futures::StreamExt;
use swarm_common::codec;
use swarm_common::nats::{self, LinkState, NatsError, NatsHealth, publish_msgpack};
use swarm_common::protocol::{Bye, HostInfo};
use swarm_common::subject;
use swarm_common::time::now_ms;
use tokio::sync::watch;

use crate::collect::{CollectError, Collector};
use crate::config::AgentConfig;
use crate::outbox::Outbox;
use crate::probe::caps::Caps;
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
        let interval_ms = u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX);
        let mut collector = Collector::new(config.id.clone(), config.collectors)?;
        let caps = Caps::detect();
        let mut info = collector.host_info(interval_ms, &config.tags);
        info.probes = Some(caps.report());
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
        let mut ticker = tokio::time::interval(config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        loop {
            tokio::select! {
                () = &mut shutdown => break,
                connected = &mut connecting, if client.is_none() => {
                    let c = connected?;
                    tracing::info!(agent = %config.id, "publishing every {}", swarm_common::duration::short(config.interval));
                    spawn_info_responder(&c, &config.id, info_rx.clone(), outbox.clone()).await?;
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
                _ = ticker.tick() => {
                    let sample = collector.sample();
                    if outbox.send(client.as_ref(), subject::metrics(&config.id), &sample).await {
                        self.stats.published.fetch_add(1, Ordering::Relaxed);
                    } else {
                        let n = self.stats.undelivered.fetch_add(1, Ordering::Relaxed) + 1;
                        tracing::debug!("NATS unreachable; {n} samples spooled so far");
                    }
                }
            }
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
