//! What alerting keeps across restarts, in sled trees of MessagePack:
//!
//! - `alert_rules`: rule name -> Rule;
//! - `alert_states`: `rule | 0 | agent` -> Alert (pending or firing);
//! - `alert_events`: `ts u64 | seq u64` -> Alert (every state change, in
//!   the order they happened);
//! - `silences`: silence id -> Silence.

use std::sync::atomic::{AtomicU64, Ordering};

use swarm_common::protocol::Millis;
use swarm_common::protocol::alerts::{Alert, Rule, Silence};

use crate::Result;
use crate::records::{all, decode_record, encode_record};

pub struct AlertRecords {
    rules: sled::Tree,
    states: sled::Tree,
    events: sled::Tree,
    silences: sled::Tree,
    /// Orders events of the same millisecond.
    next_seq: AtomicU64,
}

/// State changes to write together: alerts now pending or firing, alerts
/// gone (resolved), and the events that tell of them.
#[derive(Debug, Default)]
pub struct AlertChanges {
    pub current: Vec<Alert>,
    pub gone: Vec<(String, String)>,
    pub events: Vec<Alert>,
}

impl AlertChanges {
    pub fn is_empty(&self) -> bool {
        self.current.is_empty() && self.gone.is_empty() && self.events.is_empty()
    }
}

fn state_key(rule: &str, agent: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(rule.len() + agent.len() + 1);
    key.extend_from_slice(rule.as_bytes());
    key.push(0);
    key.extend_from_slice(agent.as_bytes());
    key
}

fn event_key(ts: Millis, seq: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&ts.to_be_bytes());
    key[8..].copy_from_slice(&seq.to_be_bytes());
    key
}

impl AlertRecords {
    pub(crate) fn open(db: &sled::Db) -> Result<Self> {
        let events = db.open_tree("alert_events")?;
        let next_seq = match events.last()? {
            Some((key, _)) => key
                .get(8..16)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, |b| u64::from_be_bytes(b).wrapping_add(1)),
            None => 0,
        };
        Ok(Self {
            rules: db.open_tree("alert_rules")?,
            states: db.open_tree("alert_states")?,
            events,
            silences: db.open_tree("silences")?,
            next_seq: AtomicU64::new(next_seq),
        })
    }

    pub(crate) fn trees(&self) -> [&sled::Tree; 4] {
        [&self.rules, &self.states, &self.events, &self.silences]
    }

    pub fn put_rule(&self, rule: &Rule) -> Result<()> {
        self.rules
            .insert(rule.name.as_bytes(), encode_record("alert_rules", rule)?)?;
        Ok(())
    }

    /// Deletes a rule and its current alerts.
    pub fn delete_rule(&self, name: &str) -> Result<()> {
        self.rules.remove(name.as_bytes())?;
        let mut prefix = name.as_bytes().to_vec();
        prefix.push(0);
        let mut batch = sled::Batch::default();
        for key in self.states.scan_prefix(prefix).keys() {
            batch.remove(key?);
        }
        self.states.apply_batch(batch)?;
        Ok(())
    }

    pub fn rules(&self) -> Result<Vec<Rule>> {
        all(&self.rules, "alert_rules")
    }

    /// Alerts pending or firing when the hub last wrote them.
    pub fn states(&self) -> Result<Vec<Alert>> {
        all(&self.states, "alert_states")
    }

    /// Writes current states, removes gone ones and appends events.
    pub fn apply(&self, changes: &AlertChanges) -> Result<()> {
        let mut states = sled::Batch::default();
        for alert in &changes.current {
            states.insert(
                state_key(&alert.rule, &alert.agent),
                encode_record("alert_states", alert)?,
            );
        }
        for (rule, agent) in &changes.gone {
            states.remove(state_key(rule, agent));
        }
        self.states.apply_batch(states)?;
        let mut events = sled::Batch::default();
        for event in &changes.events {
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            events.insert(
                &event_key(event.ts, seq)[..],
                encode_record("alert_events", event)?,
            );
        }
        self.events.apply_batch(events)?;
        Ok(())
    }

    /// Events with `from <= ts <= to` that `keep` selects, oldest first,
    /// at most `limit`; and whether more follow.
    pub fn events(
        &self,
        from: Millis,
        to: Millis,
        limit: usize,
        keep: impl Fn(&Alert) -> bool,
    ) -> Result<(Vec<Alert>, bool)> {
        let mut out = Vec::new();
        let range = event_key(from, 0)..=event_key(to, u64::MAX);
        for item in self.events.range(range) {
            let (_, bytes) = item?;
            let event: Alert = decode_record("alert_events", &bytes)?;
            if keep(&event) {
                if out.len() == limit {
                    return Ok((out, true));
                }
                out.push(event);
            }
        }
        Ok((out, false))
    }

    /// Deletes events older than `before`; returns how many went.
    pub fn prune_events(&self, before: Millis) -> Result<u64> {
        let mut removed = 0u64;
        loop {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for key in self
                .events
                .range(..event_key(before, 0))
                .keys()
                .take(10_000)
            {
                batch.remove(key?);
                n += 1;
            }
            if n == 0 {
                return Ok(removed);
            }
            self.events.apply_batch(batch)?;
            removed += n;
        }
    }

    pub fn put_silence(&self, silence: &Silence) -> Result<()> {
        self.silences
            .insert(silence.id.as_bytes(), encode_record("silences", silence)?)?;
        Ok(())
    }

    pub fn remove_silence(&self, id: &str) -> Result<()> {
        self.silences.remove(id.as_bytes())?;
        Ok(())
    }

    pub fn silences(&self) -> Result<Vec<Silence>> {
        all(&self.silences, "silences")
    }
}
