//! The hub's view of hosts: info, last contact, latest sample, and whether
//! each is online (offline after `bye` or 3 missed intervals).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use swarm_common::AgentId;
use swarm_common::protocol::{HostInfo, HostStatus, HostSummary, MetricsSample, Millis};

use crate::store::{HostRecord, Result, Store};

/// Interval assumed for an agent whose HostInfo was never seen.
const DEFAULT_INTERVAL_MS: u64 = 5_000;
/// Missed intervals before a silent agent counts as offline.
const MISSED_INTERVALS: u64 = 3;

#[derive(Debug, Default)]
struct Hosts {
    records: HashMap<AgentId, HostRecord>,
    /// Changed since the last persist.
    dirty: HashSet<AgentId>,
}

#[derive(Debug, Default)]
pub struct Registry {
    hosts: Mutex<Hosts>,
}

impl Registry {
    /// Loads what the store remembers of hosts.
    pub fn load(store: &Store) -> Result<Self> {
        let mut hosts = Hosts::default();
        for (agent, record) in store.hosts()? {
            match AgentId::parse(&agent) {
                Ok(id) => {
                    hosts.records.insert(id, record);
                }
                Err(e) => tracing::warn!("ignoring stored host {agent:?}: {e}"),
            }
        }
        Ok(Self {
            hosts: Mutex::new(hosts),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Hosts> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn touch(&self, agent: &AgentId, now: Millis, edit: impl FnOnce(&mut HostRecord)) {
        let mut hosts = self.lock();
        let record = hosts
            .records
            .entry(agent.clone())
            .or_insert_with(|| HostRecord {
                first_seen: now,
                ..HostRecord::default()
            });
        record.last_seen = record.last_seen.max(now);
        edit(record);
        hosts.dirty.insert(agent.clone());
    }

    pub fn hello(&self, info: HostInfo, now: Millis) {
        let agent = info.agent.clone();
        self.touch(&agent, now, |r| {
            r.info = Some(info);
            r.said_bye = false;
        });
    }

    pub fn metrics(&self, sample: MetricsSample, now: Millis) {
        let agent = sample.agent.clone();
        self.touch(&agent, now, |r| {
            r.said_bye = false;
            // A replayed old sample must not replace a newer latest.
            if r.latest.as_ref().is_none_or(|l| l.ts <= sample.ts) {
                r.latest = Some(sample);
            }
        });
    }

    pub fn bye(&self, agent: &AgentId, now: Millis) {
        self.touch(agent, now, |r| r.said_bye = true);
    }

    /// Writes changed records to the store.
    pub fn persist(&self, store: &Store) -> Result<()> {
        let (changed, records): (Vec<AgentId>, Vec<HostRecord>) = {
            let mut hosts = self.lock();
            let dirty: Vec<AgentId> = hosts.dirty.drain().collect();
            let records = dirty
                .iter()
                .filter_map(|a| hosts.records.get(a).cloned())
                .collect();
            (dirty, records)
        };
        for (agent, record) in changed.iter().zip(&records) {
            store.put_host(agent.as_str(), record)?;
        }
        Ok(())
    }

    pub fn summary(&self, agent: &AgentId, now: Millis) -> Option<HostSummary> {
        self.lock()
            .records
            .get(agent)
            .map(|r| summarise(agent, r, now))
    }

    /// Every host (with `tag`, only those carrying it), sorted by agent id.
    pub fn summaries(&self, tag: Option<&str>, now: Millis) -> Vec<HostSummary> {
        let hosts = self.lock();
        let mut out: Vec<HostSummary> = hosts
            .records
            .iter()
            .filter(|(_, r)| tag.is_none_or(|t| tags_of(r).iter().any(|x| x == t)))
            .map(|(a, r)| summarise(a, r, now))
            .collect();
        out.sort_by(|a, b| a.agent.cmp(&b.agent));
        out
    }
}

fn tags_of(record: &HostRecord) -> &[String] {
    record.info.as_ref().map_or(&[], |i| i.tags.as_slice())
}

/// Online unless the agent said bye or missed 3 intervals.
pub fn status(record: &HostRecord, now: Millis) -> HostStatus {
    let interval = record
        .info
        .as_ref()
        .and_then(|i| i.interval_ms)
        .filter(|i| *i > 0)
        .unwrap_or(DEFAULT_INTERVAL_MS);
    let silent_for = now.saturating_sub(record.last_seen);
    if record.said_bye || silent_for > interval.saturating_mul(MISSED_INTERVALS) {
        HostStatus::Offline
    } else {
        HostStatus::Online
    }
}

fn summarise(agent: &AgentId, record: &HostRecord, now: Millis) -> HostSummary {
    HostSummary {
        agent: agent.clone(),
        hostname: record.info.as_ref().and_then(|i| i.hostname.clone()),
        status: status(record, now),
        last_seen: Some(record.last_seen),
        tags: tags_of(record).to_vec(),
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
        registry.hello(info(1_000), 10_000);
        let status_at = |now| registry.summary(&a, now).map(|s| s.status);
        assert_eq!(status_at(10_000), Some(HostStatus::Online));
        assert_eq!(status_at(13_000), Some(HostStatus::Online));
        assert_eq!(status_at(13_001), Some(HostStatus::Offline));
        registry.bye(&a, 10_500);
        assert_eq!(status_at(10_500), Some(HostStatus::Offline));
        registry.hello(info(1_000), 11_000);
        assert_eq!(status_at(11_000), Some(HostStatus::Online));
    }

    #[test]
    fn tag_filter() {
        let registry = Registry::default();
        registry.hello(info(1_000), 1);
        assert_eq!(registry.summaries(Some("role=web"), 1).len(), 1);
        assert_eq!(registry.summaries(Some("role=db"), 1).len(), 0);
        assert_eq!(registry.summaries(None, 1).len(), 1);
    }
}
