//! Every NATS subject of the contract is built here and nowhere else.
//! Tokens come only from validated [`AgentId`]s (and hub-made test ids), so
//! no subject is ever built from unchecked input.

use crate::{AgentId, TestId};

pub const PREFIX: &str = "swarm";

pub fn hello(agent: &AgentId) -> String {
    format!("{PREFIX}.hello.{agent}")
}

pub fn metrics(agent: &AgentId) -> String {
    format!("{PREFIX}.metrics.{agent}")
}

pub fn bye(agent: &AgentId) -> String {
    format!("{PREFIX}.bye.{agent}")
}

/// `swarm.agent.<agent>.info`: the agent answers with its HostInfo.
pub fn agent_info(agent: &AgentId) -> String {
    format!("{PREFIX}.agent.{agent}.info")
}

/// `swarm.agent.<agent>.run`: the hub starts a test run on the agent.
pub fn agent_run(agent: &AgentId) -> String {
    format!("{PREFIX}.agent.{agent}.run")
}

/// `swarm.agent.<agent>.cancel`
pub fn agent_cancel(agent: &AgentId) -> String {
    format!("{PREFIX}.agent.{agent}.cancel")
}

/// `swarm.agent.<agent>.config`: the hub sends the config the agent
/// should run with; the agent answers with the revision in force.
pub fn agent_config(agent: &AgentId) -> String {
    format!("{PREFIX}.agent.{agent}.config")
}

/// `swarm.agent.*.*`: every agent's requests (run, cancel, info), for one
/// process that answers for many agents (the simulator).
pub const AGENT_REQUESTS_ALL: &str = "swarm.agent.*.*";

/// `swarm.results.<test_id>.<agent>`; test ids are hub-made `[a-z0-9]`.
pub fn results(test_id: &TestId, agent: &AgentId) -> String {
    format!("{PREFIX}.results.{test_id}.{agent}")
}

/// `swarm.results.<test_id>.*`: every agent's results of one test.
pub fn results_of(test_id: &TestId) -> String {
    format!("{PREFIX}.results.{test_id}.*")
}

pub const RESULTS_ALL: &str = "swarm.results.*.*";

/// Splits `swarm.results.<test_id>.<agent>` into its two tokens.
pub fn parse_results_subject(subject: &str) -> Option<(&str, &str)> {
    let rest = subject.strip_prefix("swarm.results.")?;
    let (test_id, agent) = rest.split_once('.')?;
    (!agent.contains('.')).then_some((test_id, agent))
}

/// `swarm.alerts.<agent>.<rule>`: an alert's state changes (rule names
/// are checked `[a-z0-9_-]` tokens).
pub fn alert(agent: &str, rule: &str) -> String {
    format!("{PREFIX}.alerts.{agent}.{rule}")
}

pub const ALERTS_ALL: &str = "swarm.alerts.>";

pub const HELLO_ALL: &str = "swarm.hello.*";
pub const METRICS_ALL: &str = "swarm.metrics.*";
pub const BYE_ALL: &str = "swarm.bye.*";
pub const EVERYTHING: &str = "swarm.>";

/// API endpoints the hub serves (request-reply).
pub mod api {
    pub const HOSTS: &str = "swarm.api.hosts";
    pub const HOSTS_REMOVE: &str = "swarm.api.hosts.remove";
    pub const HOSTS_TAGS: &str = "swarm.api.hosts.tags";
    pub const HOST: &str = "swarm.api.host";
    pub const HISTORY: &str = "swarm.api.history";
    pub const TESTS_CREATE: &str = "swarm.api.tests.create";
    pub const TESTS_LIST: &str = "swarm.api.tests.list";
    pub const TESTS_GET: &str = "swarm.api.tests.get";
    pub const TESTS_CANCEL: &str = "swarm.api.tests.cancel";
    pub const TESTS_RESULTS: &str = "swarm.api.tests.results";
    pub const TESTS_SUMMARY: &str = "swarm.api.tests.summary";
    pub const ALERTS_RULES_PUT: &str = "swarm.api.alerts.rules.put";
    pub const ALERTS_RULES_LIST: &str = "swarm.api.alerts.rules.list";
    pub const ALERTS_RULES_DELETE: &str = "swarm.api.alerts.rules.delete";
    pub const ALERTS_LIST: &str = "swarm.api.alerts.list";
    pub const ALERTS_HISTORY: &str = "swarm.api.alerts.history";
    pub const ALERTS_ACK: &str = "swarm.api.alerts.ack";
    pub const SILENCES_CREATE: &str = "swarm.api.silences.create";
    pub const SILENCES_LIST: &str = "swarm.api.silences.list";
    pub const SILENCES_EXPIRE: &str = "swarm.api.silences.expire";
    pub const CONFIG_PUT: &str = "swarm.api.config.put";
    pub const CONFIG_STATUS: &str = "swarm.api.config.status";

    /// Every endpoint, for checks that must cover them all.
    pub const ALL: [&str; 22] = [
        HOSTS,
        HOSTS_REMOVE,
        HOSTS_TAGS,
        HOST,
        HISTORY,
        TESTS_CREATE,
        TESTS_LIST,
        TESTS_GET,
        TESTS_CANCEL,
        TESTS_RESULTS,
        TESTS_SUMMARY,
        ALERTS_RULES_PUT,
        ALERTS_RULES_LIST,
        ALERTS_RULES_DELETE,
        ALERTS_LIST,
        ALERTS_HISTORY,
        ALERTS_ACK,
        SILENCES_CREATE,
        SILENCES_LIST,
        SILENCES_EXPIRE,
        CONFIG_PUT,
        CONFIG_STATUS,
    ];
}

/// Name the hub registers as a NATS micro service.
pub const SERVICE_NAME: &str = "swarm-hub";

/// Kinds of agent-published subjects, as told apart by the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentSubject {
    Hello,
    Metrics,
    Bye,
}

/// Splits `swarm.<kind>.<agent>` into its kind and the agent token. The token
/// is returned raw: the caller checks it against the payload's agent id.
pub fn parse_agent_subject(subject: &str) -> Option<(AgentSubject, &str)> {
    let rest = subject.strip_prefix("swarm.")?;
    let (kind, token) = rest.split_once('.')?;
    if token.contains('.') {
        return None;
    }
    let kind = match kind {
        "hello" => AgentSubject::Hello,
        "metrics" => AgentSubject::Metrics,
        "bye" => AgentSubject::Bye,
        _ => return None,
    };
    Some((kind, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_and_parser_agree() {
        let id = AgentId::parse("web-1").expect("valid id");
        assert_eq!(metrics(&id), "swarm.metrics.web-1");
        assert_eq!(hello(&id), "swarm.hello.web-1");
        assert_eq!(bye(&id), "swarm.bye.web-1");
        assert_eq!(agent_info(&id), "swarm.agent.web-1.info");
        assert_eq!(
            parse_agent_subject(&metrics(&id)),
            Some((AgentSubject::Metrics, "web-1"))
        );
        assert_eq!(parse_agent_subject("swarm.metrics.a.b"), None);
        assert_eq!(parse_agent_subject("swarm.other.a"), None);
        assert_eq!(parse_agent_subject("metrics.a"), None);
        assert_eq!(
            results(&TestId::parse("t1").expect("valid"), &id),
            "swarm.results.t1.web-1"
        );
        assert_eq!(agent_run(&id), "swarm.agent.web-1.run");
        assert_eq!(
            parse_results_subject("swarm.results.t1.web-1"),
            Some(("t1", "web-1"))
        );
        assert_eq!(parse_results_subject("swarm.results.t1.a.b"), None);
    }
}
