//! `swarm-hub`: ingests agent data into sled and answers the API over NATS.
//!
//! [`Hub::run`] takes a connected client and a shutdown future, so a test
//! starts one in-process on a real server in three lines.

pub mod access;
pub mod alerts;
pub mod api;
pub mod config;
pub mod disk;
pub mod handoff;
pub mod history;
pub mod ingest;
pub mod maintenance;
pub mod metrics;
pub mod pair_map;
pub mod pushed_config;
pub mod registry;
pub mod run_members;
pub mod scheduler;
pub mod source;
/// The time-series store, its own crate (`hub/store`).
pub use swarm_store as store;
pub mod summary;
pub mod test_latest;
pub mod test_policy;
#[cfg(feature = "testkit")]
pub mod testing;
pub mod validate;
pub mod watchdog;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::Client;
use swarm_common::subject;

use crate::ingest::Batch;
use crate::registry::Registry;
use crate::scheduler::TestBook;
use crate::source::Source;
use crate::store::Store;
use crate::validate::RejectionCounts;

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

/// Counters of the hub's work, shown in `$SRV.STATS` and logs.
#[derive(Debug, Default)]
pub struct HubStats {
    pub messages: AtomicU64,
    pub samples_stored: AtomicU64,
    pub samples_dropped: AtomicU64,
    pub store_errors: AtomicU64,
    pub rejections: RejectionCounts,
    /// API handlers that failed unexpectedly (answered `internal`).
    pub api_failures: AtomicU64,
    /// API replies that would not have fit `max_payload` (answered
    /// `internal` instead).
    pub api_replies_too_large: AtomicU64,
}

impl HubStats {
    pub fn as_json(&self) -> serde_json::Value {
        serde_json::json!({
            "messages": self.messages.load(Ordering::Relaxed),
            "samples_stored": self.samples_stored.load(Ordering::Relaxed),
            "samples_dropped": self.samples_dropped.load(Ordering::Relaxed),
            "store_errors": self.store_errors.load(Ordering::Relaxed),
            "api_failures": self.api_failures.load(Ordering::Relaxed),
            "api_replies_too_large": self.api_replies_too_large.load(Ordering::Relaxed),
            "rejected": self.rejections.as_json(),
        })
    }
}

/// How long each resolution is kept, and how much data at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw: Duration,
    pub minute: Duration,
    pub hour: Duration,
    /// How long test results are kept (their latency series age out with
    /// the other series).
    pub results: Duration,
    /// Cap on stored data (samples and rollups, keys and values).
    pub max_bytes: Option<u64>,
    /// Free space the hub always leaves on the data directory's disk.
    pub min_free_bytes: u64,
    /// Hosts offline longer than this are forgotten (`--forget-after`).
    pub forget_after: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw: Duration::from_secs(48 * 3600),
            minute: Duration::from_secs(30 * 86_400),
            hour: Duration::from_secs(400 * 86_400),
            results: Duration::from_secs(30 * 86_400),
            max_bytes: None,
            min_free_bytes: 256 << 20,
            forget_after: None,
        }
    }
}

impl Retention {
    pub fn cutoffs(&self, now: swarm_common::protocol::Millis) -> store::Cutoffs {
        let back = |d: Duration| now.saturating_sub(d.as_millis() as u64);
        store::Cutoffs {
            raw: back(self.raw),
            minute: back(self.minute),
            hour: back(self.hour),
        }
    }

    /// Applies the retention times, then the size cap.
    pub fn enforce(
        &self,
        store: &Store,
        now: swarm_common::protocol::Millis,
    ) -> Result<(store::PruneStats, Option<store::CapReport>), store::StoreError> {
        let mut removed = store.prune(&self.cutoffs(now))?;
        // Test results and alert history age out together.
        let before = now.saturating_sub(self.results.as_millis() as u64);
        removed.results = store.records().prune_results(before)?.0;
        store.alerts().prune_events(before)?;
        let capped = match self.max_bytes {
            Some(cap) => store.prune_to_size(cap, now)?,
            None => None,
        };
        Ok((removed, capped))
    }
}

/// What one sender can make the hub hold (`PROTOCOL.md`, v2 limits), and
/// what tests it accepts.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_agents: usize,
    pub max_series_per_agent: usize,
    pub tests: test_policy::TestPolicy,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_agents: registry::DEFAULT_MAX_AGENTS,
            max_series_per_agent: store::DEFAULT_MAX_SERIES_PER_AGENT,
            tests: test_policy::TestPolicy::default(),
        }
    }
}

/// How often retention is enforced.
pub const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// What ingest and the API share.
pub struct HubState {
    pub retention: Retention,
    pub store: Arc<Store>,
    pub registry: Registry,
    pub tests: TestBook,
    pub stats: HubStats,
    pub disk: disk::DiskGuard,
    /// Ends the process when a store job hangs (see [`watchdog`]).
    pub watchdog: Arc<watchdog::Watchdog>,
    /// The hub's NATS link health, when the binary hands it over: its
    /// counts of server errors and permission violations join the stats.
    pub nats: std::sync::OnceLock<Arc<swarm_common::nats::NatsHealth>>,
    pub alerts: alerts::AlertBook,
    pub configs: pushed_config::ConfigBook,
    /// The latest probe of each agent in each running test.
    pub test_latest: test_latest::TestLatest,
    /// Running per-agent summaries of the tests (`tests.summary`).
    pub summaries: summary::Summaries,
    pub notify_stats: Arc<alerts::notify::NotifyStats>,
}

impl HubState {
    /// Everything the hub counts, as `$SRV.STATS` shows it: ingest counters,
    /// the disk floor, and what the server refused.
    pub fn stats_json(&self) -> serde_json::Value {
        let mut json = self.stats.as_json();
        // Counted where the cap is applied, in the store.
        json["rejected"]["series_limit"] = self.store.series_limited().into();
        json["hosts"] = self.registry.len().into();
        json["quarantined_blocks"] = self.store.quarantined().into();
        json["disk_low"] = self.disk.is_low().into();
        json["disk_pauses"] = self.disk.pauses.load(Ordering::Relaxed).into();
        json["alerts"] = self.alerts.stats_json();
        let (tests, pairs) = self.summaries.kept();
        json["summaries"] = serde_json::json!({ "tests": tests, "pairs": pairs });
        json["notifications"] = self.notify_stats.as_json();
        json["config"] = self.configs.stats.as_json();
        json["cancels_dropped"] = self.tests.cancels_dropped.load(Ordering::Relaxed).into();
        if let Some(nats) = self.nats.get() {
            json["permission_violations"] = nats.permission_violations().into();
            json["slow_consumer_events"] = nats.slow_consumer_events().into();
        }
        json
    }
}

/// Why a host could not be forgotten.
#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    #[error(transparent)]
    Remove(#[from] registry::RemoveError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

impl HubState {
    /// Forgets an offline host: it leaves views and selectors, its hub
    /// tags and pushed config go, and with `purge` its history too. A
    /// forgotten agent that comes back is a new host.
    pub fn forget_host(
        &self,
        agent: &swarm_common::AgentId,
        purge: bool,
        now: swarm_common::protocol::Millis,
    ) -> Result<(), ForgetError> {
        self.registry.remove(agent, now)?;
        // Forgotten for good before anyone is told so.
        self.registry.persist(&self.store)?;
        self.configs.forget(&self.store, agent);
        if purge {
            self.store.purge_agent(agent.as_str())?;
        }
        Ok(())
    }

    /// Forgets the hosts offline longer than `--forget-after` (their
    /// history ages out by retention), and says so in the log.
    pub fn forget_retired(
        &self,
        now: swarm_common::protocol::Millis,
    ) -> Vec<swarm_common::AgentId> {
        let Some(after) = self.retention.forget_after else {
            return Vec::new();
        };
        let cutoff = now.saturating_sub(after.as_millis() as u64);
        let mut forgotten = Vec::new();
        for agent in self.registry.retired(cutoff, now) {
            match self.forget_host(&agent, false, now) {
                Ok(()) => {
                    tracing::info!(
                        %agent,
                        "forgot host: offline for more than {} (--forget-after)",
                        swarm_common::duration::short(after)
                    );
                    forgotten.push(agent);
                }
                // Back online meanwhile, or a store error: tried again later.
                Err(e) => tracing::warn!(%agent, "cannot forget retired host: {e}"),
            }
        }
        forgotten
    }
}

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
                registry,
                tests,
                stats: HubStats::default(),
                watchdog: watchdog::Watchdog::start(),
                nats: std::sync::OnceLock::new(),
                alerts,
                configs,
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
            state.clone(),
            client.clone(),
            swarm_common::time::now_ms,
        ));
        let config_pusher = tokio::spawn(pushed_config::ConfigBook::run(
            state.clone(),
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
            state.clone(),
            client.clone(),
            notifier.clone(),
        ));
        tracing::info!(
            "hub serving {} and ingesting swarm.{{hello,metrics,bye,results}}.*",
            subject::SERVICE_NAME
        );

        let mut batch = Batch::default();
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
                incoming = source.next(), if !state.disk.is_low() => {
                    let Some(incoming) = incoming else { break };
                    ingest::handle(state, &incoming.message, &mut batch);
                    if let Some(acker) = incoming.acker {
                        batch.ack_later(acker);
                    }
                    if batch.len() >= ingest::BATCH_ROWS && state.disk.has_room() {
                        batch.commit(state).await;
                    }
                }
                _ = tick.tick() => {
                    if state.disk.has_room() {
                        batch.commit(state).await;
                    }
                }
                _ = checkpoint.tick() => {
                    if state.disk.has_room() {
                        batch.commit(state).await;
                        ingest::checkpoint(state).await;
                    }
                }
                _ = prune.tick() => ingest::prune(state).await,
                _ = hosts_check.tick() => state.alerts.check_hosts(&state.registry, swarm_common::time::now_ms()),
            }
        }

        // Take what the client already received, then write it all down.
        drop(api_tasks);
        scheduler.abort();
        config_pusher.abort();
        let _ = service.stop().await;
        while let Some(incoming) = source.try_next() {
            ingest::handle(state, &incoming.message, &mut batch);
            if let Some(acker) = incoming.acker {
                batch.ack_later(acker);
            }
        }
        batch.commit(state).await;
        ingest::checkpoint(state).await;
        publisher.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        alerts::publish::publish_outbox(state, &client, notifier.as_ref()).await;
        if !batch.is_empty() {
            tracing::error!("{} samples could not be written at shutdown", batch.len());
        }
        tracing::info!("hub stopped; {}", state.stats_json());
        Ok(())
    }
}
