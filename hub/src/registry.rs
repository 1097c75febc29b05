//! The hub's view of hosts: info, last contact, latest sample, hub-side
//! tags, and whether each is online (offline after `bye` or 3 missed
//! intervals).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use foldhash::HashSet;
use swarm_common::AgentId;
use swarm_common::protocol::{self, HostInfo, HostStatus, HostSummary, MetricsSample, Millis};
use swarm_common::selector::Selectable;

use crate::store::{HostRecord, Result, Store};

/// Interval assumed for an agent whose HostInfo was never seen.
/// Missed intervals before a silent agent counts as offline.

#[derive(Debug, Default)]
struct Hosts {
    /// In agent-id order, so the inventory pages by range.
    records: BTreeMap<AgentId, HostRecord>,
    /// Changed since the last persist.
    dirty: HashSet<AgentId>,
    /// Forgotten since the last persist.
    removed: HashSet<AgentId>,
    /// Changed by what must be on disk before its message is acknowledged
    /// (hello, bye, a new host); a new latest sample can wait for the
    /// checkpoint.
    urgent: HashSet<AgentId>,
}

/// Which hosts one inventory page holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageQuery<'a> {
    pub tag: Option<&'a str>,
    pub status: Option<HostStatus>,
    /// Only hosts whose agent id sorts after this.
    pub after: Option<&'a str>,
    pub limit: usize,
}

/// An online host as selectors see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub agent: AgentId,
    pub tags: Vec<String>,
}

impl Selectable for Member {
    fn agent_id(&self) -> &str {
        self.agent.as_str()
    }
    fn tag_list(&self) -> &[String] {
        &self.tags
    }
}

/// Why a host could not be forgotten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoveError {
    #[error("no host named {0}")]
    Unknown(AgentId),
    #[error("host {0} is online; stop its agent first")]
    Online(AgentId),
}

/// Hosts the hub holds at most by default (`--max-agents`).
pub const DEFAULT_MAX_AGENTS: usize = 100_000;

#[derive(Debug)]
pub struct Registry {
    hosts: Mutex<Hosts>,
    max_agents: AtomicUsize,
    /// Held from taking the records to write until they are written, so
    /// that writes of host records reach the store in the order their
    /// snapshots were taken: a commit's older copy of a host can never land
    /// after the removal of a host forgotten meanwhile.
    writing: Mutex<()>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            hosts: Mutex::default(),
            max_agents: AtomicUsize::new(DEFAULT_MAX_AGENTS),
            writing: Mutex::new(()),
        }
    }
}

/// A new agent past `--max-agents`: the cap it met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the hub holds its most hosts ({0})")]
pub struct AgentLimit(pub usize);

impl Registry {
    /// Loads what the store remembers of hosts.
    pub fn load(store: &Store) -> Result<Self> {
        let mut hosts = Hosts::default();
        for (agent, record) in store.records().hosts()? {
            match AgentId::parse(&agent) {
                Ok(id) => {
                    hosts.records.insert(id, record);
                }
                Err(e) => tracing::warn!("ignoring stored host {agent:?}: {e}"),
            }
        }
        Ok(Self {
            hosts: Mutex::new(hosts),
            ..Self::default()
        })
    }

    /// Caps the hosts held; those already known stay.
    pub fn set_max_agents(&self, max: usize) {
        self.max_agents.store(max, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Hosts> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn touch(
        &self,
        agent: &AgentId,
        now: Millis,
        urgent: bool,
        edit: impl FnOnce(&mut HostRecord),
    ) -> Result<(), AgentLimit> {
        let mut guard = self.lock();
        let hosts = &mut *guard;
        // A known host (nearly every message) costs lookups, no copies.
        let record = match hosts.records.get_mut(agent) {
            Some(record) => {
                if urgent {
                    hosts.urgent.insert(agent.clone());
                }
                record
            }
            None => {
                let max = self.max_agents.load(Ordering::Relaxed);
                if hosts.records.len() >= max {
                    return Err(AgentLimit(max));
                }
                hosts.urgent.insert(agent.clone());
                hosts
                    .records
                    .entry(agent.clone())
                    .or_insert_with(|| HostRecord {
                        first_seen: now,
                        ..HostRecord::default()
                    })
            }
        };
        record.last_seen = record.last_seen.max(now);
        edit(record);
        if !hosts.removed.is_empty() {
            hosts.removed.remove(agent);
        }
        if !hosts.dirty.contains(agent) {
            hosts.dirty.insert(agent.clone());
        }
        Ok(())
    }

    pub fn hello(&self, info: HostInfo, now: Millis) -> Result<(), AgentLimit> {
        let agent = info.agent.clone();
        self.touch(&agent, now, true, |r| {
            r.info = Some(info);
            r.said_bye = false;
        })
    }

    pub fn metrics(&self, mut sample: MetricsSample, now: Millis) -> Result<(), AgentLimit> {
        let agent = sample.agent.clone();
        self.touch(&agent, now, false, |r| {
            r.said_bye = false;
            // A replayed old sample must not replace a newer latest.
            if r.latest.as_ref().is_none_or(|l| l.ts <= sample.ts) {
                sample.keep_top_of(r.latest.take());
                r.latest = Some(sample);
            }
        })
    }

    /// A bye from an agent the hub does not know is not a reason to
    /// start knowing it.
    pub fn bye(&self, agent: &AgentId, now: Millis) {
        if self.contains(agent) {
            let _ = self.touch(agent, now, true, |r| r.said_bye = true);
        }
    }

    /// Writes changed records to the store and forgets removed ones.
    pub fn persist(&self, store: &Store) -> Result<()> {
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let (changed, removed) = {
            let mut hosts = self.lock();
            let dirty: Vec<AgentId> = hosts.dirty.drain().collect();
            let changed: Vec<(AgentId, HostRecord)> = dirty
                .into_iter()
                .filter_map(|a| hosts.records.get(&a).cloned().map(|r| (a, r)))
                .collect();
            let removed: Vec<AgentId> = hosts.removed.drain().collect();
            (changed, removed)
        };
        for (agent, record) in &changed {
            store.records().put_host(agent.as_str(), record)?;
        }
        for agent in &removed {
            store.records().remove_host(agent.as_str())?;
        }
        Ok(())
    }

    /// Writes the records changed by hello, bye or a new host.
    pub fn persist_urgent(&self, store: &Store) -> Result<bool> {
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let records: Vec<(AgentId, HostRecord)> = {
            let mut hosts = self.lock();
            let urgent: Vec<AgentId> = hosts.urgent.drain().collect();
            urgent
                .into_iter()
                .filter_map(|a| {
                    let record = hosts.records.get(&a).cloned()?;
                    hosts.dirty.remove(&a);
                    Some((a, record))
                })
                .collect()
        };
        for (i, (agent, record)) in records.iter().enumerate() {
            if let Err(e) = store.records().put_host(agent.as_str(), record) {
                // Not lost: the checkpoint tries these again.
                let mut hosts = self.lock();
                hosts
                    .dirty
                    .extend(records[i..].iter().map(|(a, _)| a.clone()));
                return Err(e);
            }
        }
        Ok(!records.is_empty())
    }

    pub fn summary(&self, agent: &AgentId, now: Millis) -> Option<HostSummary> {
        self.lock()
            .records
            .get(agent)
            .map(|r| summarise(agent, r, now))
    }

    /// Whether the hub knows this host.
    pub fn contains(&self, agent: &AgentId) -> bool {
        self.lock().records.contains_key(agent)
    }

    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every host (with `tag`, only those carrying it), sorted by agent id.
    pub fn summaries(&self, tag: Option<&str>, now: Millis) -> Vec<HostSummary> {
        self.page(
            PageQuery {
                tag,
                limit: usize::MAX,
                ..PageQuery::default()
            },
            now,
        )
        .0
    }

    /// Offline hosts last heard from before `cutoff`.
    pub fn retired(&self, cutoff: Millis, now: Millis) -> Vec<AgentId> {
        self.lock()
            .records
            .iter()
            .filter(|(_, r)| r.last_seen < cutoff && status(r, now) == HostStatus::Offline)
            .map(|(agent, _)| agent.clone())
            .collect()
    }

    /// Every host, online or not, with its merged tags, in agent-id order.
    pub fn members(&self) -> Vec<Member> {
        self.lock()
            .records
            .iter()
            .map(|(agent, r)| Member {
                agent: agent.clone(),
                tags: merged_tags(r),
            })
            .collect()
    }

    /// The hosts online now with their merged tags: what selectors are
    /// resolved against (no copy of info or samples, so 10,000 hosts are
    /// cheap).
    pub fn online(&self, now: Millis) -> Vec<Member> {
        self.lock()
            .records
            .iter()
            .filter(|(_, r)| status(r, now) == HostStatus::Online)
            .map(|(agent, r)| Member {
                agent: agent.clone(),
                tags: merged_tags(r),
            })
            .collect()
    }

    /// Every host with its merged tags and, for those offline by silence
    /// now, since when: what `host_down` rules look at.
    pub fn silences(&self, now: Millis) -> Vec<(Member, Option<Millis>)> {
        self.lock()
            .records
            .iter()
            .map(|(agent, r)| {
                let member = Member {
                    agent: agent.clone(),
                    tags: merged_tags(r),
                };
                (member, silent_since(r, now))
            })
            .collect()
    }

    /// Visits every host, in agent-id order, with its status and merged
    /// tags, under the registry's lock (keep `visit` short).
    pub fn for_each(
        &self,
        now: Millis,
        mut visit: impl FnMut(&AgentId, HostStatus, &HostRecord, &[String]),
    ) {
        let hosts = self.lock();
        for (agent, record) in &hosts.records {
            visit(agent, status(record, now), record, &merged_tags(record));
        }
    }

    /// A host's merged tags (empty for an unknown host).
    pub fn tags_of(&self, agent: &str) -> Vec<String> {
        self.lock()
            .records
            .get(agent)
            .map(merged_tags)
            .unwrap_or_default()
    }

    /// One page of hosts in agent-id order, and whether more follow.
    pub fn page(&self, query: PageQuery<'_>, now: Millis) -> (Vec<HostSummary>, bool) {
        let hosts = self.lock();
        let start = query.after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut matching = hosts
            .records
            .range::<str, _>((start, Bound::Unbounded))
            .filter(|(_, r)| {
                query
                    .tag
                    .is_none_or(|t| merged_tags(r).iter().any(|x| x == t))
            })
            .filter(|(_, r)| query.status.is_none_or(|s| status(r, now) == s));
        let page: Vec<HostSummary> = matching
            .by_ref()
            .take(query.limit)
            .map(|(a, r)| {
                let mut summary = summarise(a, r, now);
                // Pages stay the size they were before host detail: the
                // detail is in `swarm.api.host`.
                if let Some(latest) = &mut summary.latest {
                    latest.drop_detail();
                }
                summary
            })
            .collect();
        let more = matching.next().is_some();
        (page, more)
    }

    /// Forgets an offline host; it is a new host if it comes back.
    pub fn remove(&self, agent: &AgentId, now: Millis) -> Result<(), RemoveError> {
        let mut hosts = self.lock();
        let record = hosts
            .records
            .get(agent)
            .ok_or_else(|| RemoveError::Unknown(agent.clone()))?;
        if status(record, now) == HostStatus::Online {
            return Err(RemoveError::Online(agent.clone()));
        }
        hosts.records.remove(agent);
        hosts.dirty.remove(agent);
        hosts.urgent.remove(agent);
        hosts.removed.insert(agent.clone());
        Ok(())
    }

    /// Adds and removes hub-side tags (removals first); the result must
    /// pass the tag limits, or nothing changes. `None` for a host the hub
    /// does not know.
    pub fn edit_tags(
        &self,
        agent: &AgentId,
        add: &[String],
        remove: &[String],
        now: Millis,
    ) -> Option<Result<HostSummary, String>> {
        let mut hosts = self.lock();
        let record = hosts.records.get_mut(agent)?;
        let mut tags: Vec<String> = record
            .hub_tags
            .iter()
            .filter(|t| !remove.contains(t))
            .cloned()
            .collect();
        for tag in add {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        if let Err(e) = swarm_common::limits::check_tags(&tags) {
            return Some(Err(e));
        }
        record.hub_tags = tags;
        let summary = summarise(agent, record, now);
        hosts.dirty.insert(agent.clone());
        Some(Ok(summary))
    }
}

fn agent_tags(record: &HostRecord) -> &[String] {
    record.info.as_ref().map_or(&[], |i| i.tags.as_slice())
}

fn merged_tags(record: &HostRecord) -> Vec<String> {
    protocol::merged_tags(agent_tags(record), &record.hub_tags)
}

/// How long a host may stay silent before it is offline.
fn silence_allowed(record: &HostRecord) -> Millis {
    protocol::silence_allowed(record.info.as_ref().and_then(|i| i.interval_ms))
}

/// Online unless the agent said bye or missed its intervals.
pub fn status(record: &HostRecord, now: Millis) -> HostStatus {
    protocol::host_status(
        record.last_seen,
        record.said_bye,
        record.info.as_ref().and_then(|i| i.interval_ms),
        now,
    )
}

/// When the host went offline by silence (it missed its intervals without
/// a `bye`), if it is so now.
fn silent_since(record: &HostRecord, now: Millis) -> Option<Millis> {
    let offline_at = record.last_seen.saturating_add(silence_allowed(record));
    (!record.said_bye && now > offline_at).then_some(offline_at)
}

fn summarise(agent: &AgentId, record: &HostRecord, now: Millis) -> HostSummary {
    HostSummary {
        agent: agent.clone(),
        hostname: record.info.as_ref().and_then(|i| i.hostname.clone()),
        status: status(record, now),
        last_seen: Some(record.last_seen),
        tags: merged_tags(record),
        agent_tags: agent_tags(record).to_vec(),
        hub_tags: record.hub_tags.clone(),
        info: record.info.clone(),
        latest: record.latest.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(interval_ms: u64) -> HostInfo {
        HostInfo {
            hostname: Some("a.example".into()),
            interval_ms: Some(interval_ms),
            tags: vec!["role=web".into()],
            ..HostInfo::new(AgentId::parse("a").expect("valid"))
        }
    }

    #[test]
    fn offline_after_bye_at_once_and_after_three_silent_intervals() {
        let registry = Registry::default();
        let a = AgentId::parse("a").expect("valid");
        registry.hello(info(1_000), 10_000).expect("room");
        let status_at = |now| registry.summary(&a, now).map(|s| s.status);
        assert_eq!(status_at(10_000), Some(HostStatus::Online));
        assert_eq!(status_at(13_000), Some(HostStatus::Online));
        assert_eq!(status_at(13_001), Some(HostStatus::Offline));
        registry.bye(&a, 10_500);
        assert_eq!(status_at(10_500), Some(HostStatus::Offline));
        registry.hello(info(1_000), 11_000).expect("room");
        assert_eq!(status_at(11_000), Some(HostStatus::Online));
    }

    #[test]
    fn tag_filter() {
        let registry = Registry::default();
        registry.hello(info(1_000), 1).expect("room");
        assert_eq!(registry.summaries(Some("role=web"), 1).len(), 1);
        assert_eq!(registry.summaries(Some("role=db"), 1).len(), 0);
        assert_eq!(registry.summaries(None, 1).len(), 1);
    }

    #[test]
    fn new_agents_past_the_cap_are_refused_known_ones_stay() {
        let registry = Registry::default();
        registry.set_max_agents(1);
        registry.hello(info(1_000), 1).expect("room");
        let other = HostInfo::new(AgentId::parse("b").expect("valid"));
        assert_eq!(registry.hello(other, 1), Err(AgentLimit(1)));
        registry.hello(info(1_000), 2).expect("a known agent stays");
        registry.bye(&AgentId::parse("c").expect("valid"), 3);
        assert_eq!(registry.len(), 1, "a bye creates no host");
    }
}
