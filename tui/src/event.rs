//! What flows into the console's state (events) and out of it (commands).

use crossterm::event::KeyEvent;
use swarm_common::AgentId;
use swarm_common::api::CallError;
use swarm_common::nats::LinkState;
use swarm_common::protocol::alerts::Alert;
use swarm_common::protocol::fleet::ConfigStatus;
use swarm_common::protocol::{
    AgentSummary, ApiError, HistoryReply, HostInfo, HostSummary, MetricsSample, Millis, Test,
    TestResult, TestSpec,
};

/// Why a request to the hub came to nothing, by what the operator can do
/// about it: the hub refused it (fix the request), no hub answered (look
/// at the hub and the bus), or something else went wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HubFailure {
    #[error("the hub answered: {0}")]
    Refused(ApiError),
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Failed(String),
}

impl From<CallError> for HubFailure {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Api(api) => Self::Refused(api),
            CallError::Timeout { .. } | CallError::NoResponders { .. } => {
                Self::Unreachable(format!("{e} (is swarm-hub running?)"))
            }
            CallError::Request { .. } | CallError::Codec(_) => Self::Failed(e.to_string()),
        }
    }
}

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
        result: Result<HistoryReply, HubFailure>,
    },
    /// The hub's answer to a create: the test, or why not.
    TestCreated(Result<Test, HubFailure>),
    /// A poll of one test: its state, summary, and results since the last.
    TestUpdate {
        id: String,
        test: Result<Test, HubFailure>,
        summary: Option<Vec<AgentSummary>>,
        results: Vec<TestResult>,
    },
    TestCancelled(Result<Test, HubFailure>),
    /// Live messages the network task could not hand over (console busy).
    Dropped(u64),
    /// The hub's pending and firing alerts.
    Alerts(Result<Vec<Alert>, HubFailure>),
    /// What a silence or an acknowledgement came to.
    AlertAction(Result<String, HubFailure>),
    /// What a change of hub-side tags came to.
    TagsEdited(Result<String, HubFailure>),
    /// Hosts the hub forgot, and what went wrong with the others.
    HostsForgotten {
        forgotten: Vec<AgentId>,
        failed: Option<String>,
    },
    /// The pushed-config revisions of one host (`None`: nothing pushed).
    ConfigStatus {
        agent: AgentId,
        status: Result<Option<ConfigStatus>, HubFailure>,
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
