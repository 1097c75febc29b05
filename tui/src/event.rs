//! What flows into the console's state (events) and out of it (commands).

use crossterm::event::KeyEvent;
use swarm_common::AgentId;
use swarm_common::nats::LinkState;
use swarm_common::protocol::alerts::Alert;
use swarm_common::protocol::fleet::ConfigStatus;
use swarm_common::protocol::{
    AgentSummary, HistoryReply, HostInfo, HostSummary, MetricsSample, Millis, Test, TestResult,
    TestSpec,
};

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
        /// The window asked for (negative ms), to drop stale answers.
        from: i64,
        result: Result<HistoryReply, String>,
    },
    /// The hub's answer to a create: the test, or why not.
    TestCreated(Result<Test, String>),
    /// A poll of one test: its state, summary, and results since the last.
    TestUpdate {
        id: String,
        test: Result<Test, String>,
        summary: Option<Vec<AgentSummary>>,
        results: Vec<TestResult>,
    },
    TestCancelled(Result<Test, String>),
    /// Live messages the network task could not hand over (console busy).
    Dropped(u64),
    /// The hub's pending and firing alerts.
    Alerts(Result<Vec<Alert>, String>),
    /// What a silence or an acknowledgement came to.
    AlertAction(Result<String, String>),
    /// What a change of hub-side tags came to.
    TagsEdited(Result<String, String>),
    /// Hosts the hub forgot, and what went wrong with the others.
    HostsForgotten {
        forgotten: Vec<AgentId>,
        failed: Option<String>,
    },
    /// The pushed-config revisions of one host (`None`: nothing pushed).
    ConfigStatus {
        agent: AgentId,
        status: Result<Option<ConfigStatus>, String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    RefreshHosts,
    RefreshTests,
    FetchHistory {
        agent: AgentId,
        series: String,
        /// Negative: that many ms before now.
        from: i64,
    },
    CreateTest(Box<TestSpec>),
    FetchTestDetail {
        id: String,
        /// Results from this time on.
        since: Millis,
    },
    CancelTest(String),
    RefreshAlerts,
    /// Silences every rule on one host, from now.
    SilenceHost {
        agent: String,
        for_ms: Millis,
    },
    AckAlert {
        agent: String,
        rule: String,
        comment: Option<String>,
    },
    /// Desired and applied config revision of one host.
    FetchConfigStatus(AgentId),
    /// Asks the hub to forget offline hosts (`purge`: their history too).
    ForgetHosts {
        agents: Vec<AgentId>,
        purge: bool,
    },
    /// Adds and removes hub-side tags of hosts.
    EditTags {
        agents: Vec<AgentId>,
        add: Vec<String>,
        remove: Vec<String>,
    },
}
