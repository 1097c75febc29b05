//! The hub as one value: [`Hub::run`] takes a connected client and a
//! shutdown future, so a test starts one in-process on a real server in
//! three lines.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use swarm_common::subject;

use crate::ingest::{Batch, Commit};
use crate::registry::Registry;
use crate::retention::{PRUNE_EVERY, Retention};
use crate::scheduler::TestBook;
use crate::source::{Incoming, Source};
use crate::state::{HubState, HubStats, Limits};
use crate::store::Store;
use crate::{
    alerts, api, disk, ingest, metrics, pushed_config, store, summary, test_latest, watchdog,
};

/// How often open chunks and host records are checkpointed. Every
/// checkpoint rewrites each changed open chunk whole, so this sets most of
/// the hub's disk writing (10,000 hosts every 10 s wrote hundreds of MB/s
/// through sled); the write-ahead log keeps everything in between durable,
/// and a restart replays at most this much of it.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot subscribe to {subject}: {source}")]
    Subscribe {
        subject: &'static str,
        source: async_nats::SubscribeError,
    },
    #[error("cannot open the ingest subscriptions: {0}")]
    Source(async_nats::Error),
    #[error("cannot start the API service: {0}")]
    Service(async_nats::Error),
    #[error("cannot listen for metrics on {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Messages received and held while a commit runs; past this many, the
/// hub stops taking more until it is done (the stream, or the client's
/// subscription buffer, holds the rest).
const MAX_RECEIVED: usize = 10_000;

/// Handles one message into the batch, holding its ack.
fn take(state: &HubState, incoming: Incoming, batch: &mut Batch) {
    ingest::handle(state, &incoming.message, batch);
    if let Some(acker) = incoming.acker {
        batch.ack_later(acker);
    }
}

/// The commit under way, if any, has finished (pending while none runs).
async fn finished(committing: &mut Option<Commit>) -> Batch {
    match committing {
        Some(commit) => commit.finish().await,
        None => std::future::pending().await,
    }
}

/// Waits for the commit under way, then handles what came meanwhile.
async fn settle(
    state: &HubState,
    committing: &mut Option<Commit>,
    received: &mut Vec<Incoming>,
    batch: &mut Batch,
) {
    if let Some(mut commit) = committing.take() {
        batch.take_back(commit.finish().await);
    }
    for incoming in received.drain(..) {
        take(state, incoming, batch);
    }
}

/// Counters of the hub's work, shown in `$SRV.STATS` and logs.
pub struct Hub {
    state: Arc<HubState>,
    notify: alerts::notify::NotifyConfig,
    /// Where `/metrics` is served, if anywhere.
    metrics: Option<std::net::SocketAddr>,
}

impl Hub {
    pub fn new(store: Arc<Store>) -> Result<Self, HubError> {
        Self::with_retention(store, Retention::default())
    }

    pub fn with_retention(store: Arc<Store>, retention: Retention) -> Result<Self, HubError> {
        let registry = Registry::load(&store)?;
        let tests = TestBook::load(&store)?;
        let alerts = alerts::AlertBook::load(&store)?;
        let configs = pushed_config::ConfigBook::load(&store)?;
        Ok(Self {
            notify: alerts::notify::NotifyConfig::default(),
            metrics: None,
            state: Arc::new(HubState {
                disk: disk::DiskGuard::new(store.dir(), retention.min_free_bytes),
                retention,
                store,
                registry: Arc::new(registry),
                tests: Arc::new(tests),
                stats: HubStats::default(),
                watchdog: watchdog::Watchdog::start(),
                nats: std::sync::OnceLock::new(),
                alerts: Arc::new(alerts),
                configs: Arc::new(configs),
                test_latest: test_latest::TestLatest::default(),
                summaries: summary::Summaries::default(),
                notify_stats: Arc::default(),
            }),
        })
    }

    /// Applies the per-hub and per-agent caps.
    pub fn with_limits(self, limits: Limits) -> Self {
        self.state.registry.set_max_agents(limits.max_agents);
        self.state
            .store
            .set_max_series_per_agent(limits.max_series_per_agent);
        self.state.tests.set_policy(limits.tests);
        self
    }

    /// Where alert notifications go.
    pub fn with_notify(mut self, notify: alerts::notify::NotifyConfig) -> Self {
        self.notify = notify;
        self
    }

    /// Serves Prometheus metrics on `addr`.
    pub fn with_metrics(mut self, addr: Option<std::net::SocketAddr>) -> Self {
        self.metrics = addr;
        self
    }

    pub fn state(&self) -> Arc<HubState> {
        self.state.clone()
    }

    /// Ingests and serves the API until `shutdown` resolves; then commits
    /// what is buffered, checkpoints and flushes.
    pub async fn run(
        &self,
        client: Client,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), HubError> {
        let state = &self.state;
        let mut source = Source::open(&client).await.map_err(HubError::Source)?;
        let (service, api_tasks) = api::start(&client, state.clone())
            .await
            .map_err(HubError::Service)?;
        let scheduler = tokio::spawn(TestBook::run(
            state.tests.clone(),
            (state.store.clone(), state.registry.clone()),
            client.clone(),
            swarm_common::time::now_ms,
        ));
        let config_pusher = tokio::spawn(pushed_config::ConfigBook::run(
            state.configs.clone(),
            state.store.clone(),
            client.clone(),
        ));
        let notifier =
            alerts::notify::Notifier::start(self.notify.clone(), state.notify_stats.clone());
        let metrics = match self.metrics {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| HubError::Metrics { addr, source })?;
                Some(tokio::spawn(metrics::serve(listener, state.clone())))
            }
            None => None,
        };
        let publisher = tokio::spawn(alerts::publish::run(
            state.alerts.clone(),
            client.clone(),
            notifier.clone(),
        ));
        tracing::info!(
            "hub serving {} and ingesting swarm.{{hello,metrics,bye,results}}.*",
            subject::SERVICE_NAME
        );

        let mut batch = Batch::default();
        // One commit at a time runs while the next messages are received
        // (not handled: see `Batch::begin_commit`), so the stream keeps
        // delivering during a write instead of waiting for the next pull.
        let mut committing: Option<Commit> = None;
        let mut received: Vec<Incoming> = Vec::new();
        let mut tick = tokio::time::interval(ingest::BATCH_TICK);
        let mut checkpoint = tokio::time::interval(CHECKPOINT_EVERY);
        checkpoint.reset();
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        let mut hosts_check = tokio::time::interval(alerts::HOSTS_CHECK_EVERY);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                // Below the disk floor nothing is taken: JetStream keeps it.
                incoming = source.next(), if !state.disk.is_low() && received.len() < MAX_RECEIVED => {
                    let Some(incoming) = incoming else { break };
                    if committing.is_some() {
                        received.push(incoming);
                        continue;
                    }
                    take(state, incoming, &mut batch);
                    // Without JetStream each sender waits for the hub's
                    // answer: what came is committed as soon as nothing
                    // more is waiting, not at the next tick.
                    let eager = source.answers_senders();
                    if eager {
                        while batch.len() < ingest::BATCH_ROWS {
                            let Some(incoming) = source.try_next() else { break };
                            take(state, incoming, &mut batch);
                        }
                    }
                    if (eager || batch.len() >= ingest::BATCH_ROWS) && state.disk.has_room() {
                        committing = Some(batch.begin_commit(state));
                    }
                }
                left = finished(&mut committing) => {
                    committing = None;
                    batch.take_back(left);
                    for incoming in received.drain(..) {
                        take(state, incoming, &mut batch);
                    }
                    let eager = source.answers_senders() && !batch.is_empty();
                    if (eager || batch.len() >= ingest::BATCH_ROWS) && state.disk.has_room() {
                        committing = Some(batch.begin_commit(state));
                    }
                }
                _ = tick.tick() => {
                    if committing.is_none() && state.disk.has_room() {
                        committing = Some(batch.begin_commit(state));
                    }
                }
                _ = checkpoint.tick() => {
                    if state.disk.has_room() {
                        settle(state, &mut committing, &mut received, &mut batch).await;
                        batch.commit(state).await;
                        ingest::checkpoint(state).await;
                    }
                }
                _ = prune.tick() => ingest::prune(state).await,
                _ = hosts_check.tick() => state.alerts.check_hosts(&state.registry, swarm_common::time::now_ms()),
            }
        }
        settle(state, &mut committing, &mut received, &mut batch).await;

        // Take what the client already received, then write it all down.
        drop(api_tasks);
        scheduler.abort();
        config_pusher.abort();
        let _ = service.stop().await;
        while let Some(incoming) = source.try_next() {
            take(state, incoming, &mut batch);
        }
        batch.commit(state).await;
        ingest::checkpoint(state).await;
        publisher.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        alerts::publish::publish_outbox(&state.alerts, &client, notifier.as_ref()).await;
        if !batch.is_empty() {
            tracing::error!("{} samples could not be written at shutdown", batch.len());
        }
        tracing::info!("hub stopped; {}", state.stats_json());
        Ok(())
    }
}
