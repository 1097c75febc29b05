//! Network tests on the hub: validation of specs, the book of active tests,
//! and the scheduler that starts runs (now, later, every so often),
//! dispatches them to agents by request-reply, finishes and cancels them.
//!
//! Tests live in sled, so a schedule survives a restart; a run missed while
//! the hub was down is run once when it is back, never once per missed slot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::Client;
use swarm_common::api::{self, CallError};
use swarm_common::duration::of_ms;
use swarm_common::protocol::{
    Ack, AgentRunState, ApiError, CancelRun, ErrorCode, Millis, Test, TestAgent, TestKind, TestRun,
    TestSpec, TestStatus,
};
use swarm_common::subject;
use swarm_common::{AgentId, TestId};
use tokio::sync::Notify;

use crate::handoff::Handoff;
use crate::registry::Registry;
use crate::run_members::{self, Refusal, RunMembers};
use crate::store::Store;
use crate::test_policy::TestPolicy;
use swarm_common::selector;

/// How long an agent has to accept a run or a cancel.
pub const DISPATCH_TIMEOUT: Duration = Duration::from_secs(3);
const TICK: Duration = Duration::from_millis(200);
/// The agents' own floor: a run they would refuse is refused here first.
const MIN_INTERVAL_MS: u64 = swarm_common::protocol::MIN_RUN_INTERVAL_MS;
const MAX_INTERVAL_MS: u64 = 3_600_000;
const MAX_DURATION_MS: u64 = 7 * 86_400_000;
const MAX_TIMEOUT_MS: u64 = 60_000;
const DEFAULT_TIMEOUT_MS: u64 = 2_000;
/// Longest repeat period, and how far ahead a test may start: a year, so
/// that slot arithmetic never overflows.
const MAX_REPEAT_MS: u64 = 365 * 86_400_000;

/// Cancels waiting to be sent to agents, at most; past it they are dropped
/// and counted (the agents stop by themselves at the run's `until`).
const CANCEL_QUEUE: usize = 100_000;

/// Tests not yet final, kept in memory; every change is written to sled.
pub struct TestBook {
    active: Mutex<BTreeMap<TestId, Test>>,
    members: RunMembers,
    policy: std::sync::RwLock<TestPolicy>,
    wake: Notify,
    /// Agents to tell that a run was cancelled; sent by [`TestBook::run`].
    cancels: Handoff<(AgentId, CancelRun)>,
    pub cancels_dropped: AtomicU64,
}

impl Default for TestBook {
    fn default() -> Self {
        Self {
            active: Mutex::default(),
            members: RunMembers::default(),
            policy: std::sync::RwLock::default(),
            wake: Notify::new(),
            cancels: Handoff::new(CANCEL_QUEUE),
            cancels_dropped: AtomicU64::new(0),
        }
    }
}

/// An IP address (IPv6 with a zone too), or a host name as resolvers take
/// it: labels of 1-63 letters, digits, `-` and `_` (not starting or ending
/// with `-`), joined by dots, an optional trailing dot, 253 characters at
/// most.
fn is_host_or_ip(target: &str) -> bool {
    if target.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    // A link-local IPv6 address with its zone (`fe80::1%eth0`).
    if let Some((addr, zone)) = target.split_once('%') {
        return addr.parse::<std::net::Ipv6Addr>().is_ok()
            && (1..=15).contains(&zone.len())
            && zone
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    }
    let name = target.strip_suffix('.').unwrap_or(target);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Applies defaults and checks every field; errors name the field.
pub fn validate(spec: &TestSpec, now: Millis) -> Result<Test, ApiError> {
    let target = spec.target.trim();
    if !is_host_or_ip(target) {
        return Err(ApiError::bad_request(
            "target: must be a host name (dot-separated labels of letters, digits, - and _, at most 253 characters) or an IP address",
        ));
    }
    let port = match (spec.kind, spec.port) {
        (TestKind::Tcp, None | Some(0)) => {
            return Err(ApiError::bad_request(
                "port: a tcp test needs a port (1-65535)",
            ));
        }
        (_, port) => port,
    };
    selector::validate_list("agents", &spec.agents).map_err(ApiError::bad_request)?;
    let min_interval = if spec.kind == TestKind::Traceroute {
        1_000
    } else {
        MIN_INTERVAL_MS
    };
    let interval_ms = spec.interval_ms.unwrap_or(spec.kind.default_interval_ms());
    if !(min_interval..=MAX_INTERVAL_MS).contains(&interval_ms) {
        return Err(ApiError::bad_request(format!(
            "interval_ms: must be {} to {} (got {})",
            of_ms(min_interval),
            of_ms(MAX_INTERVAL_MS),
            of_ms(interval_ms)
        )));
    }
    let duration_ms = spec
        .duration_ms
        .unwrap_or(swarm_common::protocol::DEFAULT_DURATION_MS);
    if !(interval_ms..=MAX_DURATION_MS).contains(&duration_ms) {
        return Err(ApiError::bad_request(format!(
            "duration_ms: must be at least the interval ({}) and at most {} (got {})",
            of_ms(interval_ms),
            of_ms(MAX_DURATION_MS),
            of_ms(duration_ms)
        )));
    }
    if let Some(every) = spec.repeat_every_ms
        && !(duration_ms..=MAX_REPEAT_MS).contains(&every)
    {
        return Err(ApiError::bad_request(format!(
            "repeat_every_ms: must be at least the duration ({}) so runs do not overlap, and at most {} (got {})",
            of_ms(duration_ms),
            of_ms(MAX_REPEAT_MS),
            of_ms(every)
        )));
    }
    if spec
        .start_at
        .is_some_and(|at| at > now.saturating_add(MAX_REPEAT_MS))
    {
        return Err(ApiError::bad_request(format!(
            "start_at: at most {} ahead",
            of_ms(MAX_REPEAT_MS)
        )));
    }
    let timeout_ms = spec.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS.max(
        if spec.kind == TestKind::Traceroute {
            3_000
        } else {
            0
        },
    ));
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(ApiError::bad_request(format!(
            "timeout_ms: must be 1ms to {} (got {})",
            of_ms(MAX_TIMEOUT_MS),
            of_ms(timeout_ms)
        )));
    }
    if spec
        .name
        .as_ref()
        .is_some_and(|n| n.len() > 100 || n.chars().any(char::is_control))
    {
        return Err(ApiError::bad_request(
            "name: at most 100 characters, no control characters",
        ));
    }
    let start_at = spec.start_at.unwrap_or(now).max(now);
    Ok(Test {
        id: TestId::new(now),
        kind: spec.kind,
        target: target.to_owned(),
        port,
        selectors: spec.agents.clone(),
        interval_ms,
        duration_ms,
        start_at,
        repeat_every_ms: spec.repeat_every_ms,
        timeout_ms,
        name: spec.name.clone(),
        status: TestStatus::Scheduled,
        created: now,
        next_run: Some(start_at),
        run_id: String::new(),
        runs: 0,
        until: None,
        agents: Vec::new(),
        error: None,
    })
}

/// The first slot of a recurring schedule strictly after `now`.
pub fn next_slot(start_at: Millis, every: u64, now: Millis) -> Millis {
    if now < start_at {
        return start_at;
    }
    // Saturating: a test stored by an older hub may hold any period.
    let every = every.max(1);
    let k = (now - start_at) / every + 1;
    start_at.saturating_add(k.saturating_mul(every))
}

impl TestBook {
    /// Loads the tests that are not final yet.
    pub fn load(store: &Store) -> crate::store::Result<Self> {
        let book = Self::default();
        {
            let mut active = book.lock();
            for test in store.records().tests()? {
                if !test.status.is_final() {
                    active.insert(test.id.clone(), test);
                }
            }
        }
        Ok(book)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<TestId, Test>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets which targets and how many tests the book accepts.
    pub fn set_policy(&self, policy: TestPolicy) {
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    pub fn is_active(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// Whether `agent` may send results of `run_id` for test `test_id`:
    /// it is among the agents of that run, the test's current (or last)
    /// run or the one before.
    pub fn check_result(
        &self,
        store: &Store,
        test_id: &str,
        (run_id, agent, ts): (&str, &swarm_common::AgentId, Millis),
    ) -> Result<(), Refusal> {
        let current = self.lock().get(test_id).map(|t| t.run_id.clone());
        self.members
            .check(test_id, (run_id, agent, ts), current, || {
                let active = self.lock().get(test_id).cloned();
                let test = active.or_else(|| store.records().test(test_id).ok().flatten())?;
                Some((test, store.records().previous_run(test_id).ok().flatten()))
            })
    }

    pub fn create(
        &self,
        store: &Store,
        registry: &Registry,
        spec: &TestSpec,
        now: Millis,
    ) -> Result<Test, ApiError> {
        let test = validate(spec, now)?;
        let online = registry.online(now);
        let matched = selector::resolve(&test.selectors, &online);
        if matched.is_empty() {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!(
                    "agents: no online agent matches {}",
                    test.selectors.join(", ")
                ),
            ));
        }
        let agents: Vec<&swarm_common::AgentId> = matched.iter().map(|m| &m.agent).collect();
        let mut active = self.lock();
        self.policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .admit(&test, active.values(), &agents)?;
        store
            .records()
            .put_test(&test)
            .map_err(ApiError::internal)?;
        active.insert(test.id.clone(), test.clone());
        drop(active);
        self.wake.notify_one();
        tracing::info!(test = %test.id, kind = test.kind.as_str(), target = %test.target, "test created");
        Ok(test)
    }

    pub fn get(&self, store: &Store, id: &str) -> Result<Test, ApiError> {
        if let Some(test) = self.lock().get(id) {
            return Ok(test.clone());
        }
        store
            .records()
            .test(id)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no test {id:?}")))
    }

    pub fn list(&self, store: &Store, status: Option<TestStatus>) -> Result<Vec<Test>, ApiError> {
        let mut tests = store.records().tests().map_err(ApiError::internal)?;
        let active = self.lock();
        for t in &mut tests {
            if let Some(live) = active.get(t.id.as_str()) {
                *t = live.clone();
            }
        }
        tests.retain(|t| status.is_none_or(|s| t.status == s));
        Ok(tests)
    }

    /// Cancels a test: it will not run again, and agents running it are
    /// told to stop.
    pub fn cancel(&self, store: &Store, id: &str) -> Result<Test, ApiError> {
        let removed = self.lock().remove(id);
        let test = {
            let Some(mut test) = removed else {
                // Not active: already final (cancelling again changes
                // nothing), or unknown.
                return self.get(store, id);
            };
            test.status = TestStatus::Cancelled;
            test.next_run = None;
            for a in &mut test.agents {
                if matches!(a.state, AgentRunState::Running | AgentRunState::Pending) {
                    a.state = AgentRunState::Done;
                }
            }
            test
        };
        store
            .records()
            .put_test(&test)
            .map_err(ApiError::internal)?;
        for agent in &test.agents {
            let cancel = CancelRun {
                test_id: test.id.clone(),
            };
            if !self.cancels.send((agent.agent.clone(), cancel)) {
                self.cancels_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        tracing::info!(test = %id, "test cancelled");
        Ok(test)
    }

    /// Runs the schedule until the task is dropped, reading the time from
    /// `clock` (the wall clock in the hub).
    pub async fn run(
        book: Arc<Self>,
        (store, registry): (Arc<Store>, Arc<Registry>),
        client: Client,
        clock: fn() -> Millis,
    ) {
        if let Some(cancels) = book.cancels.take() {
            tokio::spawn(send_cancels(cancels, client.clone()));
        }
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = book.wake.notified() => {}
            }
            let now = clock();
            let due = due(&book.lock(), now);
            for id in due {
                book.step((&store, &registry), &client, &id, now);
            }
        }
    }

    /// Moves one due test on: start its run, or finish it.
    fn step(
        self: &Arc<Self>,
        (store, registry): (&Arc<Store>, &Registry),
        client: &Client,
        id: &str,
        now: Millis,
    ) {
        let (test, dispatch, previous) = {
            let mut active = self.lock();
            let Some(test) = active.get_mut(id) else {
                return;
            };
            let mut previous = None;
            let dispatch = match test.status {
                TestStatus::Scheduled => {
                    let before = run_members::past_run(test, now);
                    let dispatch = start_run(test, &registry.online(now), now);
                    previous = before.filter(|run| run.run_id != test.run_id);
                    dispatch
                }
                TestStatus::Running => {
                    finish_run(test, now);
                    Vec::new()
                }
                _ => Vec::new(),
            };
            let test = test.clone();
            if test.status.is_final() {
                active.remove(id);
            }
            (test, dispatch, previous)
        };
        // Before the test that names the new run: late results of the
        // one before stay welcome after a restart.
        if let Some(run) = previous
            && let Err(e) = store.records().put_previous_run(id, &run)
        {
            tracing::error!(test = %id, "cannot keep the previous run: {e}");
        }
        if let Err(e) = store.records().put_test(&test) {
            tracing::error!(test = %id, "cannot save test: {e}");
        }
        for run in dispatch {
            let (book, store, client) = (self.clone(), store.clone(), client.clone());
            tokio::spawn(async move { dispatch_one(&book, &store, &client, run).await });
        }
    }

    /// Records an agent's answer to a run request.
    fn settle(
        &self,
        store: &Store,
        test_id: &str,
        run_id: &str,
        agent: &str,
        outcome: Result<Ack, CallError>,
    ) {
        let test = {
            let mut active = self.lock();
            let Some(test) = active.get_mut(test_id) else {
                return;
            };
            if test.run_id != run_id {
                return; // an answer about an older run
            }
            let Some(a) = test.agents.iter_mut().find(|a| a.agent.as_str() == agent) else {
                return;
            };
            if a.state != AgentRunState::Pending {
                return;
            }
            (a.state, a.error) = match outcome {
                Ok(Ack { accepted: true, .. }) => (AgentRunState::Running, None),
                Ok(Ack { error, .. }) => (
                    AgentRunState::Failed,
                    Some(error.unwrap_or_else(|| "refused".into())),
                ),
                Err(e) => (AgentRunState::Unreachable, Some(e.to_string())),
            };
            test.clone()
        };
        if let Err(e) = store.records().put_test(&test) {
            tracing::error!(test = %test_id, "cannot save test: {e}");
        }
    }
}

/// Starts a run against the agents online now; returns what to dispatch.
fn start_run(
    test: &mut Test,
    online: &[crate::registry::Member],
    now: Millis,
) -> Vec<(TestId, TestRun, swarm_common::AgentId)> {
    let matched = selector::resolve(&test.selectors, online);
    test.next_run = test
        .repeat_every_ms
        .map(|every| next_slot(test.start_at, every, now));
    if matched.is_empty() {
        let why = format!(
            "no online agent matched {} at {now}",
            test.selectors.join(", ")
        );
        tracing::warn!(test = %test.id, "{why}");
        test.error = Some(why);
        test.status = if test.next_run.is_some() {
            TestStatus::Scheduled
        } else {
            TestStatus::Failed
        };
        return Vec::new();
    }
    test.run_id = swarm_common::test_id::time_sortable(now);
    test.runs += 1;
    test.until = Some(now + test.duration_ms);
    test.status = TestStatus::Running;
    test.error = None;
    test.agents = matched
        .iter()
        .map(|h| TestAgent {
            agent: h.agent.clone(),
            state: AgentRunState::Pending,
            error: None,
        })
        .collect();
    let run = TestRun::of(test, now + test.duration_ms);
    tracing::info!(test = %test.id, run = %test.run_id, agents = test.agents.len(), "run started");
    test.agents
        .iter()
        .map(|a| (test.id.clone(), run.clone(), a.agent.clone()))
        .collect()
}

fn finish_run(test: &mut Test, now: Millis) {
    for a in &mut test.agents {
        a.state = match a.state {
            AgentRunState::Running => AgentRunState::Done,
            AgentRunState::Pending => {
                a.error = Some("no answer to the run request".into());
                AgentRunState::Unreachable
            }
            other => other,
        };
    }
    let any_ran = test.agents.iter().any(|a| a.state == AgentRunState::Done);
    test.until = None;
    if let Some(every) = test.repeat_every_ms {
        test.status = TestStatus::Scheduled;
        test.next_run = Some(
            test.next_run
                .unwrap_or_else(|| next_slot(test.start_at, every, now)),
        );
    } else if any_ran {
        test.status = TestStatus::Done;
    } else {
        test.status = TestStatus::Failed;
        test.error = Some("no agent ran the test".into());
    }
    tracing::info!(test = %test.id, status = test.status.as_str(), "run finished");
}

/// The tests with something to do at `now`: a scheduled run to start, or
/// a running one to finish.
fn due(active: &BTreeMap<TestId, Test>, now: Millis) -> Vec<TestId> {
    active
        .values()
        .filter(|t| match t.status {
            TestStatus::Scheduled => t.next_run.is_some_and(|n| n <= now),
            TestStatus::Running => t.until.is_some_and(|u| u <= now),
            _ => false,
        })
        .map(|t| t.id.clone())
        .collect()
}

/// Tells agents of cancelled runs, as the API queued them.
async fn send_cancels(
    mut cancels: tokio::sync::mpsc::Receiver<(AgentId, CancelRun)>,
    client: Client,
) {
    while let Some((agent, cancel)) = cancels.recv().await {
        let client = client.clone();
        tokio::spawn(async move {
            let subject = subject::agent_cancel(&agent);
            if let Err(e) = api::call::<_, Ack>(&client, &subject, &cancel, DISPATCH_TIMEOUT).await
            {
                tracing::warn!("{subject}: {e}");
            }
        });
    }
}

async fn dispatch_one(
    book: &TestBook,
    store: &Store,
    client: &Client,
    (test_id, run, agent): (TestId, TestRun, swarm_common::AgentId),
) {
    let subject = subject::agent_run(&agent);
    let outcome = api::call::<_, Ack>(client, &subject, &run, DISPATCH_TIMEOUT).await;
    if let Err(e) = &outcome {
        tracing::warn!(test = %test_id, agent = %agent, "run not dispatched: {e}");
    }
    book.settle(
        store,
        test_id.as_str(),
        &run.run_id,
        agent.as_str(),
        outcome,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TestSpec {
        TestSpec::new(TestKind::Ping, "127.0.0.1", vec!["web-*".into()])
    }

    #[test]
    fn targets_are_host_names_or_addresses() {
        for good in [
            "127.0.0.1",
            "::1",
            "fe80::1%eth0",
            "db-1.internal",
            "a.b.c",
            "host.",
            "x_y.example",
        ] {
            assert!(is_host_or_ip(good), "{good:?}");
        }
        let long = format!("{}.x", "a".repeat(64));
        for bad in [
            "",
            "*",
            ">",
            "..",
            "a..b",
            "-a.b",
            "a b",
            "a\nb",
            "a.*",
            long.as_str(),
        ] {
            assert!(!is_host_or_ip(bad), "{bad:?}");
        }
    }

    #[test]
    fn defaults_and_field_errors() {
        let t = validate(&spec(), 1_000).expect("valid");
        assert_eq!(
            (t.interval_ms, t.duration_ms, t.timeout_ms, t.start_at),
            (1_000, 300_000, 2_000, 1_000)
        );
        assert!(
            t.id.len() <= 32
                && t.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        type Edit = fn(&mut TestSpec);
        let cases: &[(&str, Edit)] = &[
            ("target", |s| s.target = " ".into()),
            ("target", |s| s.target = "a b".into()),
            ("port", |s| s.kind = TestKind::Tcp),
            ("agents", |s| s.agents.clear()),
            ("agents", |s| s.agents = vec!["Web.1".into()]),
            ("interval_ms", |s| s.interval_ms = Some(5)),
            ("duration_ms", |s| s.duration_ms = Some(10)),
            ("repeat_every_ms", |s| s.repeat_every_ms = Some(1_000)),
            ("repeat_every_ms", |s| {
                s.repeat_every_ms = Some(u64::MAX - 1)
            }),
            ("start_at", |s| s.start_at = Some(u64::MAX)),
            ("agents", |s| s.agents = vec!["*".into(); 65]),
            ("timeout_ms", |s| s.timeout_ms = Some(0)),
            ("interval_ms", |s| {
                s.kind = TestKind::Traceroute;
                s.interval_ms = Some(500);
            }),
        ];
        for (field, edit) in cases {
            let mut s = spec();
            edit(&mut s);
            let err = validate(&s, 1_000)
                .err()
                .map(|e| e.message)
                .unwrap_or_default();
            assert!(err.starts_with(field), "{field}: {err}");
        }
    }

    #[test]
    fn missed_slots_collapse_into_one() {
        assert_eq!(next_slot(1_000, 100, 500), 1_000);
        assert_eq!(next_slot(1_000, 100, 1_000), 1_100);
        // Hub down from 1_050 to 1_975: the next slot is after now, not 1_100.
        assert_eq!(next_slot(1_000, 100, 1_975), 2_000);
        assert_eq!(next_slot(1_000, u64::MAX, 2_000), u64::MAX, "saturates");
        assert_eq!(next_slot(1_000, 0, 2_000), 2_001, "a zero period is 1 ms");
    }

    #[test]
    fn a_recurring_test_runs_at_each_slot_on_the_clock_it_is_given() {
        let mut spec = spec();
        spec.start_at = Some(10_000);
        spec.repeat_every_ms = Some(60_000);
        spec.duration_ms = Some(5_000);
        spec.interval_ms = Some(1_000);
        let test = validate(&spec, 1_000).expect("valid");
        let id = test.id.clone();
        let mut active = BTreeMap::from([(id.clone(), test)]);
        let online = [crate::registry::Member {
            agent: swarm_common::AgentId::parse("web-1").expect("id"),
            tags: Vec::new(),
        }];
        let mut starts = Vec::new();
        // Every second of three minutes, as the run loop ticks.
        for now in (1_000..190_000).step_by(1_000) {
            for due_id in due(&active, now) {
                let test = active.get_mut(&due_id).expect("active");
                match test.status {
                    TestStatus::Scheduled => {
                        let runs = start_run(test, &online, now);
                        assert_eq!(runs.len(), 1);
                        assert_eq!(runs[0].1.until, now + 5_000);
                        starts.push(now);
                    }
                    _ => {
                        assert_eq!(test.until, Some(now), "finished at its end");
                        finish_run(test, now);
                        assert_eq!(test.status, TestStatus::Scheduled);
                    }
                }
            }
        }
        assert_eq!(starts, [10_000, 70_000, 130_000]);
        assert_eq!(active[&id].runs, 3);
    }
}
