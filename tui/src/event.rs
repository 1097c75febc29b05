//! What flows into the console's state (events) and out of it (commands).

use crossterm::event::KeyEvent;
use swarm_common::AgentId;
use swarm_common::nats::LinkState;
use swarm_common::protocol::{HistoryReply, HostInfo, HostSummary, MetricsSample, Millis, Test};

#[derive(Debug, Clone)]
pub enum Event {
    Key(KeyEvent),
    Resize,
    /// Wall clock moved on (ages and online status depend on it).
    Tick(Millis),
    Nats(LinkState),
    Metrics(Box<MetricsSample>),
    Hello(Box<HostInfo>),
    Bye(AgentId),
    HubHosts(Vec<HostSummary>),
    HubDown(String),
    Tests(Vec<Test>),
    History {
        agent: AgentId,
        series: String,
        result: Result<HistoryReply, String>,
    },
    /// Live messages the network task could not hand over (console busy).
    Dropped(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    RefreshHosts,
    RefreshTests,
    FetchHistory {
        agent: AgentId,
        series: String,
        /// Negative: that many ms before now.
        from: i64,
    },
}
