//! Every NATS subject of the contract is built here and nowhere else.
//! Tokens come only from validated [`AgentId`]s (and hub-made test ids), so
//! no subject is ever built from unchecked input.

use crate::AgentId;

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

pub const HELLO_ALL: &str = "swarm.hello.*";
pub const METRICS_ALL: &str = "swarm.metrics.*";
pub const BYE_ALL: &str = "swarm.bye.*";
pub const EVERYTHING: &str = "swarm.>";

/// API endpoints the hub serves (request-reply).
pub mod api {
    pub const HOSTS: &str = "swarm.api.hosts";
    pub const HOST: &str = "swarm.api.host";
    pub const HISTORY: &str = "swarm.api.history";
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
    }
}
