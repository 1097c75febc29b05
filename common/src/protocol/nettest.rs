//! Network tests: what the operator asks for (TestSpec), what the hub keeps
//! (Test), what an agent is told (TestRun), and what it measures
//! (TestResult). Contract: `PROTOCOL.md`.

use serde::{Deserialize, Serialize};

use crate::protocol::Millis;
use crate::{AgentId, TestId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestKind {
    Ping,
    Traceroute,
    Tcp,
}

impl TestKind {
    pub fn default_interval_ms(self) -> u64 {
        match self {
            Self::Traceroute => 30_000,
            Self::Ping | Self::Tcp => 1_000,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Traceroute => "traceroute",
            Self::Tcp => "tcp",
        }
    }
}

pub const DEFAULT_DURATION_MS: u64 = 300_000;

/// What an operator asks for on `swarm.api.tests.create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestSpec {
    pub kind: TestKind,
    pub target: String,
    #[serde(default)]
    pub port: Option<u16>,
    /// Selectors: an exact agent id, a glob (`web-*`), `tag:<tag>`, or `*`.
    pub agents: Vec<String>,
    #[serde(default)]
    pub interval_ms: Option<u64>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub start_at: Option<Millis>,
    #[serde(default)]
    pub repeat_every_ms: Option<u64>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
}

impl TestSpec {
    /// A spec with the hub's defaults for everything but what to probe and
    /// from where; set the rest with struct update syntax.
    pub fn new(kind: TestKind, target: impl Into<String>, agents: Vec<String>) -> Self {
        Self {
            kind,
            target: target.into(),
            port: None,
            agents,
            interval_ms: None,
            duration_ms: None,
            start_at: None,
            repeat_every_ms: None,
            timeout_ms: None,
            name: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    Scheduled,
    Running,
    Done,
    Cancelled,
    Failed,
}

impl TestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }

    /// Nothing more will happen to a test in this state.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Cancelled | Self::Failed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentRunState {
    Pending,
    Running,
    Done,
    Failed,
    Unreachable,
}

impl AgentRunState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Unreachable => "unreachable",
        }
    }
}

/// One agent's part in the current (or last) run of a test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestAgent {
    pub agent: AgentId,
    pub state: AgentRunState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A test as the hub keeps it: the spec (with defaults applied) and its
/// state. `agents` is resolved; the spec's selectors are in `selectors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Test {
    pub id: TestId,
    pub kind: TestKind,
    pub target: String,
    #[serde(default)]
    pub port: Option<u16>,
    pub selectors: Vec<String>,
    pub interval_ms: u64,
    pub duration_ms: u64,
    pub start_at: Millis,
    #[serde(default)]
    pub repeat_every_ms: Option<u64>,
    pub timeout_ms: u64,
    #[serde(default)]
    pub name: Option<String>,
    pub status: TestStatus,
    pub created: Millis,
    #[serde(default)]
    pub next_run: Option<Millis>,
    /// Id of the current or last run (empty before the first).
    #[serde(default)]
    pub run_id: String,
    /// Runs started so far.
    #[serde(default)]
    pub runs: u64,
    /// When the current run ends (absolute ms).
    #[serde(default)]
    pub until: Option<Millis>,
    pub agents: Vec<TestAgent>,
    /// Why the test failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Hub to agent, on `swarm.agent.<agent>.run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRun {
    pub test_id: TestId,
    pub run_id: String,
    pub kind: TestKind,
    pub target: String,
    #[serde(default)]
    pub port: Option<u16>,
    pub interval_ms: u64,
    /// The agent stops by itself at this time, even if the hub is gone.
    pub until: Millis,
    pub timeout_ms: u64,
}

/// Agent's answer to `run` and `cancel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub accepted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Ack {
    pub fn yes() -> Self {
        Self {
            accepted: true,
            error: None,
        }
    }

    pub fn no(error: impl Into<String>) -> Self {
        Self {
            accepted: false,
            error: Some(error.into()),
        }
    }
}

/// `swarm.agent.<agent>.cancel`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelRun {
    pub test_id: TestId,
}

/// One traceroute hop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hop {
    pub ttl: u8,
    #[serde(default)]
    pub addr: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub rtt_ms: Vec<f64>,
    pub loss_pct: f64,
}

/// One measurement, on `swarm.results.<test_id>.<agent>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub test_id: TestId,
    #[serde(default)]
    pub run_id: String,
    pub agent: AgentId,
    pub ts: Millis,
    pub kind: TestKind,
    #[serde(default)]
    pub target: String,
    // ping
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u32>,
    /// Absent when the probe was lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    // traceroute
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hops: Option<Vec<Hop>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reached: Option<bool>,
    // tcp
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl TestRun {
    /// The run request for a test's current run, ending at `until`.
    pub fn of(test: &Test, until: Millis) -> Self {
        Self {
            test_id: test.id.clone(),
            run_id: test.run_id.clone(),
            kind: test.kind,
            target: test.target.clone(),
            port: test.port,
            interval_ms: test.interval_ms,
            until,
            timeout_ms: test.timeout_ms,
        }
    }
}

/// Shortest probe interval a run may ask for.
pub const MIN_RUN_INTERVAL_MS: u64 = 100;

impl TestRun {
    /// Why an agent refuses this run as given (before asking whether it
    /// can probe at all): an end already past, too short an interval, a
    /// tcp test without port. (A test id that is not a safe subject token
    /// does not even decode.)
    pub fn check(&self, now: Millis) -> Result<(), String> {
        if self.until <= now {
            return Err("the run's `until` has already passed".into());
        }
        if self.interval_ms < MIN_RUN_INTERVAL_MS {
            return Err(format!(
                "interval_ms must be at least {MIN_RUN_INTERVAL_MS}"
            ));
        }
        if self.kind == TestKind::Tcp && self.port.is_none_or(|p| p == 0) {
            return Err("a tcp test needs a port".into());
        }
        Ok(())
    }
}

impl TestResult {
    /// A result with only the identifying fields set.
    pub fn new(run: &TestRun, agent: AgentId, ts: Millis) -> Self {
        Self {
            test_id: run.test_id.clone(),
            run_id: run.run_id.clone(),
            agent,
            ts,
            kind: run.kind,
            target: run.target.clone(),
            seq: None,
            rtt_ms: None,
            addr: None,
            hops: None,
            reached: None,
            connect_ms: None,
            ok: None,
            error: None,
        }
    }

    /// The latency this result measured, if any: ping RTT, TCP connect
    /// time, or the RTT of the hop that reached the target.
    pub fn latency_ms(&self) -> Option<f64> {
        match self.kind {
            TestKind::Ping => self.rtt_ms,
            TestKind::Tcp => self.connect_ms,
            TestKind::Traceroute => {
                if self.reached != Some(true) {
                    return None;
                }
                let last = self.hops.as_ref()?.last()?;
                let n = last.rtt_ms.len();
                (n > 0).then(|| last.rtt_ms.iter().sum::<f64>() / n as f64)
            }
        }
    }
}

/// Per-agent statistics over all results of a test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub agent: AgentId,
    pub sent: u64,
    pub received: u64,
    pub loss_pct: f64,
    pub rtt_min: Option<f64>,
    pub rtt_p50: Option<f64>,
    pub rtt_p95: Option<f64>,
    pub rtt_p99: Option<f64>,
    pub rtt_max: Option<f64>,
    pub jitter_ms: Option<f64>,
}

/// What a host's agent can probe with, announced in HostInfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeCaps {
    /// ICMP echo: `unprivileged` (datagram ICMP socket), `raw`, or `none`.
    pub icmp: String,
    /// Traceroute needs raw sockets.
    pub traceroute: bool,
    pub tcp: bool,
    /// What to change when something is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TestsListRequest {
    #[serde(default)]
    pub status: Option<TestStatus>,
    /// Tests created after this test id (ids sort by creation time).
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestsListReply {
    pub tests: Vec<Test>,
    /// The test id to send as `after` for the next page; absent on the
    /// last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestIdRequest {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestReply {
    pub test: Test,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsRequest {
    pub id: String,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub since: Option<Millis>,
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsReply {
    pub results: Vec<TestResult>,
    /// More results follow that did not fit this reply: ask again with
    /// `since` set to the last result's `ts` (results at that same `ts`
    /// come again; they are the same results).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
}

/// `swarm.api.tests.summary` request: one page of per-agent summaries in
/// agent-id order, those after `after`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryRequest {
    pub id: String,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryReply {
    pub summary: Vec<AgentSummary>,
    /// The agent id to send as `after` for the next page; absent on the
    /// last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}
