//! Alerting: rules evaluated on the samples ingest takes (sample time) and
//! on the hosts' silence (hub time), alerts and their events kept in the
//! store, silences, acknowledgements, and an outbox of events for the
//! publisher ([`publish`]).
//!
//! Memory is bounded: at most [`MAX_RULES`] rules and [`MAX_SILENCES`]
//! silences; an alert exists only while its condition holds (pending or
//! firing), so at most rules x hosts; the outbox holds at most
//! [`MAX_OUTBOX`] events, past which the oldest are dropped and counted
//! (every event is in the history anyway).

pub mod machine;
pub mod notify;
pub mod publish;

use std::collections::VecDeque;

// Every row of every sample is looked up by series name: a fast hash.
use foldhash::{HashMap, HashMapExt};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use swarm_common::protocol::Millis;
use swarm_common::protocol::alerts::{
    Ack, Alert, AlertState, MAX_RULES, MAX_SILENCES, MAX_WINDOW_SAMPLES, Rule, Silence,
};
use swarm_common::selector::{self, Selectable};

use crate::pair_map::PairMap;
use crate::registry::Registry;
use crate::store::alert_records::AlertChanges;
use crate::store::{Result as StoreResult, Store};

/// Events waiting to be published.
pub const MAX_OUTBOX: usize = 100_000;
/// How often `host_down` rules look at the hosts.
pub const HOSTS_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A host as selectors see it.
struct Host<'a> {
    agent: &'a str,
    tags: &'a [String],
}

impl Selectable for Host<'_> {
    fn agent_id(&self) -> &str {
        self.agent
    }
    fn tag_list(&self) -> &[String] {
        self.tags
    }
}

#[derive(Default)]
struct Book {
    rules: Vec<Rule>,
    /// Rule indices by series name.
    by_series: HashMap<String, Vec<usize>>,
    /// The distinct selector lists of the rules, compiled: rules that
    /// share one (most do) are matched once per message.
    selectors: Vec<selector::Compiled>,
    /// Each rule's entry in `selectors` (same order as `rules`).
    selector_of: Vec<usize>,
    /// Per message, each selector's answer once asked.
    matched: Vec<Option<bool>>,
    /// Some rule selects by tag: tags must be looked up.
    needs_tags: bool,
    /// Pending and firing alerts by agent, then rule: a sample of an agent
    /// without alerts that crosses nothing costs one lookup per message.
    current: PairMap<Alert>,
    silences: Vec<Silence>,
    /// Changes not yet written to the store.
    unwritten: AlertChanges,
    /// Agents with a pending or firing `host_down` alert: a message from
    /// one resolves it at once.
    down: std::collections::HashSet<String>,
    /// Recent samples of windowed rules, by agent then rule, oldest first.
    windows: PairMap<VecDeque<(Millis, f64)>>,
    /// Samples held in all windows, at most [`MAX_WINDOW_SAMPLES_TOTAL`].
    window_samples: usize,
}

/// Samples all rule windows hold together (16 bytes each: 64 MB); past
/// it a window takes a sample only by dropping its own oldest.
pub const MAX_WINDOW_SAMPLES_TOTAL: usize = 4_000_000;

impl Book {
    /// The value a rule compares for this sample: the sample itself, or
    /// the aggregate over the rule's window with the sample added. `None`
    /// for a late sample (at or before the window's newest).
    fn windowed(&mut self, rule: usize, agent: &str, ts: Millis, value: f64) -> Option<f64> {
        let r = &self.rules[rule];
        let Some(width) = r.window_ms else {
            return Some(value);
        };
        let aggregate = r.aggregate.unwrap_or_default();
        let full = self.window_samples >= MAX_WINDOW_SAMPLES_TOTAL;
        let window = self
            .windows
            .get_or_insert_with(agent, &r.name, VecDeque::new);
        if window.back().is_some_and(|(last, _)| *last >= ts) {
            return None;
        }
        let before = window.len();
        window.push_back((ts, value));
        let start = ts.saturating_sub(width);
        while window.front().is_some_and(|(t, _)| *t <= start)
            || window.len() > MAX_WINDOW_SAMPLES
            || (full && window.len() > before)
        {
            window.pop_front();
        }
        self.window_samples = (self.window_samples + window.len()).saturating_sub(before);
        aggregate.of(window.iter().map(|(_, v)| *v))
    }
}

impl Book {
    fn index(&mut self) {
        self.selectors.clear();
        self.selector_of.clear();
        let mut seen: HashMap<&[String], usize> = HashMap::new();
        for rule in &self.rules {
            let next = seen.len();
            let i = *seen.entry(rule.agents.as_slice()).or_insert(next);
            if i == next {
                self.selectors.push(selector::Compiled::new(&rule.agents));
            }
            self.selector_of.push(i);
        }
        self.by_series.clear();
        for (i, rule) in self.rules.iter().enumerate() {
            self.by_series
                .entry(rule.series.clone())
                .or_default()
                .push(i);
        }
        self.needs_tags = self
            .rules
            .iter()
            .any(|r| r.agents.iter().any(|s| s.starts_with("tag:")));
    }

    /// Whether rule `i` selects the host, each selector list asked once
    /// per message (`matched` is reset for each).
    fn selects(&mut self, i: usize, host: &Host<'_>) -> bool {
        let s = self.selector_of[i];
        *self.matched[s].get_or_insert_with(|| self.selectors[s].matches(host))
    }

    /// Forgets a rule's windows (it changed or went).
    fn drop_windows(&mut self, rule: &str) {
        let mut freed = 0;
        self.windows.retain(|_, r, w| {
            let keep = r != rule;
            if !keep {
                freed += w.len();
            }
            keep
        });
        self.window_samples = self.window_samples.saturating_sub(freed);
    }

    fn is_host_down(&self, rule: &str) -> bool {
        self.rules
            .iter()
            .any(|r| r.name == rule && r.is_host_down())
    }

    fn silenced(&self, rule: &str, host: &Host<'_>, now: Millis) -> bool {
        self.silences.iter().any(|s| {
            s.is_active(now) && s.covers_rule(rule) && selector::matches_any(&s.agents, host)
        })
    }

    /// Records a step's outcome for (`rule`, the host): the current alert
    /// and its event. The caller knows whether the rule is `host_down`
    /// (no scan of the rules per sample).
    fn apply(
        &mut self,
        (rule, host_down): (&str, bool),
        step: machine::Step,
        host: &Host<'_>,
        now: Millis,
    ) {
        let agent = host.agent;
        // Silences are looked up for state changes only: a sample that only
        // moves a firing alert's value keeps its mark (the list recomputes
        // marks as of now anyway), so no silence is scanned per sample.
        let silenced = match &step.event {
            Some(_) => self.silenced(rule, host, now),
            None => step.current.as_ref().is_some_and(|a| a.silenced),
        };
        if host_down {
            if step.current.is_some() {
                self.down.insert(agent.to_owned());
            } else {
                self.down.remove(agent);
            }
        }
        match step.current {
            Some(mut alert) => {
                alert.silenced = silenced;
                if step.event.is_some() {
                    self.unwritten.current.push(alert.clone());
                }
                self.current.insert(agent, rule, alert);
            }
            None => {
                if self.current.remove(agent, rule).is_some() {
                    self.unwritten
                        .gone
                        .push((rule.to_owned(), agent.to_owned()));
                }
            }
        }
        if let Some(mut event) = step.event {
            event.silenced = silenced;
            self.unwritten.events.push(event);
        }
    }
}

/// The hub's alerting state.
#[derive(Default)]
pub struct AlertBook {
    book: Mutex<Book>,
    outbox: Mutex<VecDeque<Alert>>,
    pub outbox_dropped: AtomicU64,
    pub events_total: AtomicU64,
}

/// Why a request about alerts was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error("{0}")]
    Invalid(String),
    #[error("no {0}")]
    NotFound(String),
    #[error("{0}")]
    Full(String),
    #[error("the store failed: {0}")]
    Store(String),
}

impl From<crate::store::StoreError> for AlertError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

impl AlertBook {
    /// Rules, alerts and silences as the store kept them: a firing alert
    /// is still firing, and is not announced again.
    pub fn load(store: &Store) -> StoreResult<Self> {
        let records = store.alerts();
        let mut book = Book {
            rules: records.rules()?,
            silences: records.silences()?,
            ..Book::default()
        };
        book.rules.truncate(MAX_RULES);
        book.index();
        for alert in records.states()? {
            if book.is_host_down(&alert.rule) {
                book.down.insert(alert.agent.clone());
            }
            let (agent, rule) = (alert.agent.clone(), alert.rule.clone());
            book.current.insert(&agent, &rule, alert);
        }
        Ok(Self {
            book: Mutex::new(book),
            ..Self::default()
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Evaluates one message's rows (`series`, value) of `agent` at sample
    /// time `ts`. `tags` is asked only when some rule selects by tag.
    pub fn observe<'a>(
        &self,
        agent: &str,
        ts: Millis,
        rows: impl IntoIterator<Item = (&'a str, f64)>,
        tags: impl FnOnce() -> Vec<String>,
        now: Millis,
    ) {
        let mut book = self.lock();
        if book.rules.is_empty() {
            return;
        }
        let tags = if book.needs_tags { tags() } else { Vec::new() };
        let host = Host { agent, tags: &tags };
        let selectors = book.selectors.len();
        book.matched.clear();
        book.matched.resize(selectors, None);
        // One lookup for the message: most agents have no alert at all.
        let has_alerts = book.current.has_outer(agent);
        for (series, value) in rows {
            // Taken out and put back: no copy of the list per sample.
            let Some(indices) = book.by_series.get_mut(series).map(std::mem::take) else {
                continue;
            };
            for &i in &indices {
                if !book.selects(i, &host) {
                    continue;
                }
                let rule = &book.rules[i];
                // The common case, without a lookup: no alert on this
                // agent and a sample that does not cross.
                if rule.window_ms.is_none()
                    && !rule.op.holds(value, rule.threshold)
                    && !(has_alerts && book.current.get(agent, &rule.name).is_some())
                {
                    continue;
                }
                let Some(value) = book.windowed(i, agent, ts, value) else {
                    continue;
                };
                let rule = &book.rules[i];
                let step =
                    machine::step(rule, agent, book.current.get(agent, &rule.name), ts, value);
                if step.current.is_none() && step.event.is_none() {
                    continue;
                }
                let (name, host_down) = (rule.name.clone(), rule.is_host_down());
                book.apply((&name, host_down), step, &host, now);
            }
            if let Some(slot) = book.by_series.get_mut(series) {
                *slot = indices;
            }
        }
    }

    /// A message came from `agent`: a `host_down` alert of it resolves now
    /// (the periodic check could miss a host that is back only briefly).
    pub fn heard_from(&self, agent: &str, now: Millis) {
        let mut book = self.lock();
        if !book.down.contains(agent) {
            return;
        }
        let rules: Vec<Rule> = book
            .rules
            .iter()
            .filter(|r| r.is_host_down())
            .cloned()
            .collect();
        let tags = Vec::new();
        let host = Host { agent, tags: &tags };
        for rule in &rules {
            let step =
                machine::host_step(rule, agent, book.current.get(agent, &rule.name), now, None);
            if step.event.is_some() {
                book.apply((&rule.name, true), step, &host, now);
            }
        }
    }

    /// Evaluates `host_down` rules against every host's silence.
    pub fn check_hosts(&self, registry: &Registry, now: Millis) {
        let rules: Vec<Rule> = {
            let book = self.lock();
            book.rules
                .iter()
                .filter(|r| r.is_host_down())
                .cloned()
                .collect()
        };
        if rules.is_empty() {
            return;
        }
        let hosts = registry.silences(now);
        let mut book = self.lock();
        for (member, silent_since) in &hosts {
            let host = Host {
                agent: member.agent.as_str(),
                tags: &member.tags,
            };
            for rule in &rules {
                if !selector::matches_any(&rule.agents, &host) {
                    continue;
                }
                let step = machine::host_step(
                    rule,
                    host.agent,
                    book.current.get(host.agent, &rule.name),
                    now,
                    *silent_since,
                );
                if step.current.is_none() && step.event.is_none() {
                    continue;
                }
                book.apply((&rule.name, true), step, &host, now);
            }
        }
    }

    /// Writes what changed since the last call; the events written go to
    /// the outbox. On failure they stay for the next call.
    pub fn write_changes(&self, store: &Store) -> StoreResult<bool> {
        let changes = std::mem::take(&mut self.lock().unwritten);
        if changes.is_empty() {
            return Ok(false);
        }
        if let Err(e) = store.alerts().apply(&changes) {
            let mut book = self.lock();
            let newer = std::mem::replace(&mut book.unwritten, changes);
            book.unwritten.current.extend(newer.current);
            book.unwritten.gone.extend(newer.gone);
            book.unwritten.events.extend(newer.events);
            return Err(e);
        }
        self.events_total
            .fetch_add(changes.events.len() as u64, Ordering::Relaxed);
        let mut outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        outbox.extend(changes.events);
        let excess = outbox.len().saturating_sub(MAX_OUTBOX);
        if excess > 0 {
            outbox.drain(..excess);
            self.outbox_dropped
                .fetch_add(excess as u64, Ordering::Relaxed);
        }
        Ok(true)
    }

    /// Events written and not yet published, oldest first.
    pub fn take_outbox(&self) -> Vec<Alert> {
        let mut outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        outbox.drain(..).collect()
    }

    pub fn rules(&self) -> Vec<Rule> {
        self.lock().rules.clone()
    }

    /// Creates or replaces a rule (by name). A replaced rule keeps its
    /// alerts; they follow the new definition from the next sample.
    pub fn put_rule(&self, store: &Store, rule: Rule) -> Result<Rule, AlertError> {
        rule.check().map_err(AlertError::Invalid)?;
        let mut book = self.lock();
        let existing = book.rules.iter().position(|r| r.name == rule.name);
        if existing.is_none() && book.rules.len() >= MAX_RULES {
            return Err(AlertError::Full(format!(
                "the hub holds at most {MAX_RULES} rules"
            )));
        }
        store.alerts().put_rule(&rule)?;
        match existing {
            Some(i) => book.rules[i] = rule.clone(),
            None => book.rules.push(rule.clone()),
        }
        book.drop_windows(&rule.name);
        book.index();
        Ok(rule)
    }

    /// Deletes a rule and its alerts (without announcing them).
    pub fn delete_rule(&self, store: &Store, name: &str) -> Result<Rule, AlertError> {
        let mut book = self.lock();
        let i = book
            .rules
            .iter()
            .position(|r| r.name == name)
            .ok_or_else(|| AlertError::NotFound(format!("rule {name:?}")))?;
        store.alerts().delete_rule(name)?;
        let rule = book.rules.remove(i);
        book.drop_windows(name);
        book.current.retain(|_, r, _| r != name);
        if rule.is_host_down() {
            let Book { down, current, .. } = &mut *book;
            down.retain(|a| current.has_outer(a));
        }
        book.unwritten.current.retain(|a| a.rule != name);
        book.index();
        Ok(rule)
    }

    /// Pending and firing alerts, most severe and oldest first, with
    /// their silenced mark as of `now`.
    pub fn list(
        &self,
        state: Option<AlertState>,
        agent: Option<&str>,
        registry: &Registry,
        now: Millis,
    ) -> Vec<Alert> {
        let book = self.lock();
        let mut out: Vec<Alert> = book
            .current
            .values()
            .filter(|a| state.is_none_or(|s| a.state == s))
            .filter(|a| agent.is_none_or(|g| a.agent == g))
            .cloned()
            .collect();
        for alert in &mut out {
            let tags = if book.silences.is_empty() {
                Vec::new()
            } else {
                registry.tags_of(&alert.agent)
            };
            let host = Host {
                agent: &alert.agent,
                tags: &tags,
            };
            alert.silenced = book.silenced(&alert.rule, &host, now);
        }
        out.sort_by_cached_key(Alert::list_key);
        out
    }

    /// Acknowledges a pending or firing alert (kept until it resolves).
    pub fn ack(
        &self,
        store: &Store,
        agent: &str,
        rule: &str,
        ack: Ack,
    ) -> Result<Alert, AlertError> {
        let mut book = self.lock();
        let alert = book
            .current
            .get_mut(agent, rule)
            .ok_or_else(|| AlertError::NotFound(format!("alert {rule:?} on {agent:?}")))?;
        alert.acked = Some(ack);
        let alert = alert.clone();
        store.alerts().apply(&AlertChanges {
            current: vec![alert.clone()],
            ..AlertChanges::default()
        })?;
        Ok(alert)
    }

    pub fn silences(&self) -> Vec<Silence> {
        self.lock().silences.clone()
    }

    /// Adds a silence (its id made here); expired ones are dropped first.
    pub fn add_silence(
        &self,
        store: &Store,
        mut silence: Silence,
        now: Millis,
    ) -> Result<Silence, AlertError> {
        silence.check(now).map_err(AlertError::Invalid)?;
        silence.starts_at = Some(silence.starts_at.unwrap_or(now));
        let mut book = self.lock();
        let expired: Vec<String> = book
            .silences
            .iter()
            .filter(|s| s.ends_at <= now)
            .map(|s| s.id.clone())
            .collect();
        for id in &expired {
            store.alerts().remove_silence(id)?;
        }
        book.silences.retain(|s| s.ends_at > now);
        if book.silences.len() >= MAX_SILENCES {
            return Err(AlertError::Full(format!(
                "the hub holds at most {MAX_SILENCES} silences"
            )));
        }
        silence.id = swarm_common::test_id::time_sortable(now);
        while book.silences.iter().any(|s| s.id == silence.id) {
            silence.id = swarm_common::test_id::time_sortable(now);
        }
        store.alerts().put_silence(&silence)?;
        book.silences.push(silence.clone());
        Ok(silence)
    }

    /// Ends a silence now (listed, ended, until the next one is added).
    pub fn expire_silence(
        &self,
        store: &Store,
        id: &str,
        now: Millis,
    ) -> Result<Silence, AlertError> {
        let mut book = self.lock();
        let silence = book
            .silences
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| AlertError::NotFound(format!("silence {id:?}")))?;
        silence.ends_at = silence.ends_at.min(now);
        let silence = silence.clone();
        store.alerts().put_silence(&silence)?;
        Ok(silence)
    }

    /// Counts for `$SRV.STATS`.
    pub fn stats_json(&self) -> serde_json::Value {
        let book = self.lock();
        let firing = book
            .current
            .values()
            .filter(|a| a.state == AlertState::Firing)
            .count();
        serde_json::json!({
            "rules": book.rules.len(),
            "firing": firing,
            "pending": book.current.len() - firing,
            "silences": book.silences.len(),
            "window_samples": book.window_samples,
            "events": self.events_total.load(Ordering::Relaxed),
            "outbox_dropped": self.outbox_dropped.load(Ordering::Relaxed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarm_common::protocol::alerts::{Aggregate, LOSS_PREFIX, Op};

    fn book() -> (tempfile::TempDir, Store, AlertBook) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let book = AlertBook::load(&store).expect("book");
        (dir, store, book)
    }

    fn states(book: &AlertBook) -> Vec<(String, AlertState)> {
        book.lock()
            .unwritten
            .events
            .iter()
            .map(|e| (e.agent.clone(), e.state))
            .collect()
    }

    #[test]
    fn loss_over_a_window_fires_on_the_share_of_lost_probes_not_on_one() {
        let (_dir, store, book) = book();
        let series = format!("{LOSS_PREFIX}t1");
        let rule = Rule {
            window_ms: Some(10_000),
            aggregate: Some(Aggregate::Avg),
            ..Rule::new("loss", &series, Op::Gt, 20.0)
        };
        book.put_rule(&store, rule).expect("rule");
        // One probe a second; one lost in ten is 10 %: nothing.
        for i in 0..10u64 {
            let lost = if i == 5 { 100.0 } else { 0.0 };
            book.observe("a", 1_000 * i, [(series.as_str(), lost)], Vec::new, 0);
        }
        assert!(states(&book).is_empty());
        // Then three in a row: 30 % of the last ten seconds.
        for i in 10..13u64 {
            book.observe("a", 1_000 * i, [(series.as_str(), 100.0)], Vec::new, 0);
        }
        assert_eq!(states(&book), [("a".to_owned(), AlertState::Firing)]);
    }

    #[test]
    fn p95_latency_over_a_window() {
        let (_dir, store, book) = book();
        let rule = Rule {
            window_ms: Some(60_000),
            aggregate: Some(Aggregate::P95),
            ..Rule::new("slow", "test:t1", Op::Gt, 100.0)
        };
        book.put_rule(&store, rule).expect("rule");
        // 100 samples, 4 slow ones: p95 stays fast.
        for i in 0..100u64 {
            let ms = if i % 25 == 0 { 500.0 } else { 10.0 };
            book.observe("a", 100 * i, [("test:t1", ms)], Vec::new, 0);
        }
        assert!(states(&book).is_empty(), "{:?}", states(&book));
        for i in 100..110u64 {
            book.observe("a", 100 * i, [("test:t1", 500.0)], Vec::new, 0);
        }
        assert_eq!(states(&book), [("a".to_owned(), AlertState::Firing)]);
        // Late samples are not counted twice.
        let held = book.lock().window_samples;
        book.observe("a", 50, [("test:t1", 500.0)], Vec::new, 0);
        assert_eq!(book.lock().window_samples, held);
    }
}
