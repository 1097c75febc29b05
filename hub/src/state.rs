//! What ingest, the API and the hub's tasks share: the store, the host
//! registry, the test book, alerts, pushed configs, counters and limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::registry::Registry;
use crate::retention::Retention;
use crate::scheduler::TestBook;
use crate::store::Store;
use crate::validate::RejectionCounts;
use crate::{
    alerts, disk, pushed_config, registry, store, summary, test_latest, test_policy, watchdog,
};

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

/// What ingest and the API share.
pub struct HubState {
    pub retention: Retention,
    pub store: Arc<Store>,
    pub registry: Arc<Registry>,
    pub tests: Arc<TestBook>,
    pub stats: HubStats,
    pub disk: disk::DiskGuard,
    /// Ends the process when a store job hangs (see [`watchdog`]).
    pub watchdog: Arc<watchdog::Watchdog>,
    /// The hub's NATS link health, when the binary hands it over: its
    /// counts of server errors and permission violations join the stats.
    pub nats: std::sync::OnceLock<Arc<swarm_common::nats::NatsHealth>>,
    pub alerts: Arc<alerts::AlertBook>,
    pub configs: Arc<pushed_config::ConfigBook>,
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
