//! Configuration pushed to agents (`PROTOCOL.md`, "v2: agent
//! configuration"): the desired config per agent with its revision, sent
//! on `swarm.agent.<agent>.config` when it is put and whenever a `hello`
//! shows an older `config_rev`, and what each agent answered.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_nats::Client;
use swarm_common::AgentId;
use swarm_common::api;
use swarm_common::protocol::fleet::{AgentConfig, ConfigAck, ConfigPush, ConfigStatus};
use swarm_common::protocol::{ApiError, ErrorCode, Millis};
use swarm_common::selector;
use swarm_common::text::{MAX_MESSAGE_BYTES, printable};
use tokio::sync::Semaphore;

use crate::handoff::Handoff;
use crate::registry::Registry;
use crate::scheduler::DISPATCH_TIMEOUT;
use crate::store::config_records::AgentConfigRecord;
use crate::store::{Result, Store};

/// Pushes waiting to be sent, at most: past it they are dropped and
/// counted (the agent gets its config at its next `hello`).
const PUSH_QUEUE: usize = 100_000;
/// Pushes in flight at once.
const PUSHES_IN_FLIGHT: usize = 64;
/// Agents named in a `config.put` reply, at most (`matched` counts all).
pub const MAX_REPLY_AGENTS: usize = 1_000;

#[derive(Debug, Default)]
pub struct ConfigStats {
    pub pushes: AtomicU64,
    pub applied: AtomicU64,
    pub refused: AtomicU64,
    /// Pushes nobody answered (agent gone, timeout); retried at `hello`.
    pub unanswered: AtomicU64,
    /// Pushes dropped because the queue was full.
    pub dropped: AtomicU64,
}

impl ConfigStats {
    pub fn as_json(&self) -> serde_json::Value {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "pushes": load(&self.pushes),
            "applied": load(&self.applied),
            "refused": load(&self.refused),
            "unanswered": load(&self.unanswered),
            "dropped": load(&self.dropped),
        })
    }
}

pub struct ConfigBook {
    records: Mutex<BTreeMap<AgentId, AgentConfigRecord>>,
    next_rev: AtomicU64,
    queue: Handoff<AgentId>,
    pub stats: ConfigStats,
}

/// What a put did: the revision and the hosts it is for.
#[derive(Debug, Clone, PartialEq)]
pub struct Put {
    pub rev: u64,
    pub agents: Vec<AgentId>,
}

impl ConfigBook {
    pub fn load(store: &Store) -> Result<Self> {
        let configs = store.configs();
        let records = configs
            .all()?
            .into_iter()
            .map(|r| (r.agent.clone(), r))
            .collect();
        Ok(Self {
            records: Mutex::new(records),
            next_rev: AtomicU64::new(configs.next_rev()?),
            queue: Handoff::new(PUSH_QUEUE),
            stats: ConfigStats::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<AgentId, AgentConfigRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets `config` as the desired config of every host the selectors
    /// match now (online or not); the online ones are sent it at once.
    pub fn put(
        &self,
        store: &Store,
        registry: &Registry,
        selectors: &[String],
        config: AgentConfig,
        now: Millis,
    ) -> std::result::Result<Put, ApiError> {
        selector::validate_list("agents", selectors).map_err(ApiError::bad_request)?;
        config
            .check()
            .map_err(|e| ApiError::bad_request(format!("config: {e}")))?;
        let matcher = selector::Compiled::new(selectors);
        let hosts = registry.members();
        let matched: Vec<AgentId> = hosts
            .iter()
            .filter(|h| matcher.matches(*h))
            .map(|h| h.agent.clone())
            .collect();
        if matched.is_empty() {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "agents: the selectors match no known host",
            ));
        }
        let online: Vec<AgentId> = registry.online(now).into_iter().map(|m| m.agent).collect();
        let mut records = self.lock();
        let rev = self.next_rev.fetch_add(1, Ordering::Relaxed);
        let changed: Vec<AgentConfigRecord> = matched
            .iter()
            .map(|agent| {
                let r = records
                    .entry(agent.clone())
                    .or_insert_with(|| AgentConfigRecord::new(agent.clone()));
                r.desired_rev = rev;
                r.config = config.clone();
                r.clone()
            })
            .collect();
        store.configs().put(&changed, rev + 1).map_err(|e| {
            ApiError::new(ErrorCode::Internal, format!("cannot keep the config: {e}"))
        })?;
        drop(records);
        for agent in matched.iter().filter(|a| online.binary_search(a).is_ok()) {
            self.enqueue(agent.clone());
        }
        Ok(Put {
            rev,
            agents: matched,
        })
    }

    /// A `hello` told the revision in force: remembered, and the desired
    /// config sent if the agent runs an older one.
    pub fn hello(&self, store: &Store, agent: &AgentId, config_rev: Option<u64>) {
        let applied = config_rev.unwrap_or(0);
        let (push, changed) = {
            let mut records = self.lock();
            let Some(r) = records.get_mut(agent) else {
                return;
            };
            let changed = r.applied_rev != applied;
            r.applied_rev = applied;
            (r.needs_push(), changed.then(|| r.clone()))
        };
        if let Some(r) = changed {
            self.keep(store, &r);
        }
        if push {
            self.enqueue(agent.clone());
        }
    }

    fn keep(&self, store: &Store, record: &AgentConfigRecord) {
        let next = self.next_rev.load(Ordering::Relaxed);
        if let Err(e) = store.configs().put(std::slice::from_ref(record), next) {
            tracing::warn!(agent = %record.agent, "cannot keep the config state: {e}");
        }
    }

    fn enqueue(&self, agent: AgentId) {
        if !self.queue.send(agent) {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// What an agent answered to a push.
    fn acked(&self, store: &Store, agent: &AgentId, pushed_rev: u64, ack: ConfigAck) {
        let record = {
            let mut records = self.lock();
            let Some(r) = records.get_mut(agent) else {
                return;
            };
            r.applied_rev = ack.applied_rev;
            match ack.error {
                Some(error) if ack.applied_rev < pushed_rev => {
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%agent, rev = pushed_rev, "agent refused its config: {}", printable(&error, 200));
                    r.error = Some(printable(&error, MAX_MESSAGE_BYTES));
                    r.refused_rev = pushed_rev;
                }
                _ => {
                    self.stats.applied.fetch_add(1, Ordering::Relaxed);
                    r.error = None;
                }
            }
            r.clone()
        };
        self.keep(store, &record);
    }

    /// The host is forgotten: so is its config.
    pub fn forget(&self, store: &Store, agent: &AgentId) {
        if self.lock().remove(agent).is_some()
            && let Err(e) = store.configs().remove(agent)
        {
            tracing::warn!(%agent, "cannot forget the config: {e}");
        }
    }

    /// One agent's status with its desired config.
    pub fn status_of(&self, agent: &AgentId) -> Option<ConfigStatus> {
        self.lock().get(agent).map(|r| {
            let mut s = status(r);
            s.config = Some(r.config.clone());
            s
        })
    }

    /// Statuses in agent-id order after `after`, at most `limit`, and
    /// whether more follow.
    pub fn statuses(&self, after: Option<&str>, limit: usize) -> (Vec<ConfigStatus>, bool) {
        let records = self.lock();
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut range = records.range::<str, _>((start, Bound::Unbounded));
        let page = range.by_ref().take(limit).map(|(_, r)| status(r)).collect();
        (page, range.next().is_some())
    }

    /// Sends queued pushes until the book is dropped; a few at a time.
    pub async fn run(book: Arc<Self>, store: Arc<Store>, client: Client) {
        let Some(mut waiting) = book.queue.take() else {
            return;
        };
        let slots = Arc::new(Semaphore::new(PUSHES_IN_FLIGHT));
        while let Some(agent) = waiting.recv().await {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let (book, store, client) = (book.clone(), store.clone(), client.clone());
            tokio::spawn(async move {
                push(&book, &store, &client, &agent).await;
                drop(slot);
            });
        }
    }
}

fn status(r: &AgentConfigRecord) -> ConfigStatus {
    ConfigStatus {
        agent: r.agent.clone(),
        desired_rev: r.desired_rev,
        applied_rev: r.applied_rev,
        error: r.error.clone(),
        config: None,
    }
}

async fn push(book: &ConfigBook, store: &Store, client: &Client, agent: &AgentId) {
    let message = {
        let records = book.lock();
        match records.get(agent) {
            Some(r) if r.needs_push() => ConfigPush {
                rev: r.desired_rev,
                config: r.config.clone(),
            },
            // Applied or refused meanwhile (a push queued twice).
            _ => return,
        }
    };
    book.stats.pushes.fetch_add(1, Ordering::Relaxed);
    let subject = swarm_common::subject::agent_config(agent);
    match api::call::<_, ConfigAck>(client, &subject, &message, DISPATCH_TIMEOUT).await {
        Ok(ack) => book.acked(store, agent, message.rev, ack),
        Err(e) => {
            book.stats.unanswered.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%agent, "config push unanswered: {e}");
        }
    }
}
