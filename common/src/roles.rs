//! Who may do what on the bus: the four roles of `DESIGN.md` (Security) as
//! NATS permissions, and their rendering as `nats.conf` user entries.
//!
//! Plain `nats.conf` has no permission templates, so each agent gets a user
//! entry of its own (`agent-<id>`) naming its own subjects. Every user reads
//! replies under its own inbox prefix (`_INBOX.<user>`), so no one reads
//! another's replies; agents and the hub answer requests through
//! `allow_responses` instead of a general right to publish to inboxes.

use crate::AgentId;
use crate::subject::{self, SERVICE_NAME, api};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Role {
    /// Publishes its own data, answers its own requests.
    Agent,
    /// Reads agent data, calls agents, serves the API, uses JetStream.
    Hub,
    /// Reads live data and the read-only API.
    Viewer,
    /// A viewer who may also create and cancel tests.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Hub => "hub",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        [Role::Agent, Role::Hub, Role::Viewer, Role::Operator]
            .into_iter()
            .find(|r| r.as_str() == raw)
    }
}

/// How many replies a user may send to requests it received, and for how
/// long after each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Responses {
    /// As many as it likes (the hub serves the API).
    Any,
    /// One reply within `expires` (agents answer `run`, `cancel`, `info`).
    One { expires: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    pub responses: Option<Responses>,
}

/// The NATS user name of an agent: `agent-<id>`.
pub fn agent_user(agent: &AgentId) -> String {
    format!("agent-{agent}")
}

/// Where a user's replies arrive: `_INBOX.<user>`.
pub fn inbox_prefix(user: &str) -> String {
    format!("_INBOX.{user}")
}

/// Checks a user name: it becomes a subject token (the inbox) and a word
/// in `nats.conf`, so the agent-id alphabet only.
pub fn check_user_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 72
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "user name {name:?} must be 1-72 characters of a-z, 0-9, - and _"
        ))
    }
}

const READ_API: [&str; 12] = [
    api::HOSTS,
    api::HOST,
    api::HISTORY,
    api::TESTS_LIST,
    api::TESTS_GET,
    api::TESTS_RESULTS,
    api::TESTS_SUMMARY,
    api::ALERTS_RULES_LIST,
    api::ALERTS_LIST,
    api::ALERTS_HISTORY,
    api::SILENCES_LIST,
    api::CONFIG_STATUS,
];

/// What an operator may call beyond a viewer: the endpoints that change
/// something.
const OPERATOR_API: [&str; 10] = [
    api::TESTS_CREATE,
    api::TESTS_CANCEL,
    api::HOSTS_REMOVE,
    api::HOSTS_TAGS,
    api::ALERTS_RULES_PUT,
    api::ALERTS_RULES_DELETE,
    api::ALERTS_ACK,
    api::SILENCES_CREATE,
    api::SILENCES_EXPIRE,
    api::CONFIG_PUT,
];

/// The permissions of `user` in `role`; `agent` is the agent's id (role
/// agent only).
pub fn permissions(role: Role, user: &str, agent: Option<&AgentId>) -> Permissions {
    let inbox = format!("{}.>", inbox_prefix(user));
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    match role {
        Role::Agent => {
            let id = agent.map_or("-", AgentId::as_str);
            Permissions {
                publish: vec![
                    format!("{}.hello.{id}", subject::PREFIX),
                    format!("{}.metrics.{id}", subject::PREFIX),
                    format!("{}.bye.{id}", subject::PREFIX),
                    format!("{}.results.*.{id}", subject::PREFIX),
                    // Is a hub listening? (the spool replays only then)
                    format!("$SRV.PING.{SERVICE_NAME}"),
                ],
                subscribe: vec![format!("{}.agent.{id}.>", subject::PREFIX), inbox],
                responses: Some(Responses::One { expires: "1m" }),
            }
        }
        Role::Hub => Permissions {
            publish: vec![
                format!("{}.agent.*.>", subject::PREFIX),
                subject::ALERTS_ALL.to_owned(),
                "$JS.API.>".to_owned(),
                "$JS.ACK.>".to_owned(),
            ],
            subscribe: vec![
                subject::HELLO_ALL.to_owned(),
                subject::METRICS_ALL.to_owned(),
                subject::BYE_ALL.to_owned(),
                subject::RESULTS_ALL.to_owned(),
                format!("{}.api.>", subject::PREFIX),
                "$SRV.>".to_owned(),
                inbox,
            ],
            responses: Some(Responses::Any),
        },
        Role::Viewer | Role::Operator => {
            let mut publish = owned(&READ_API);
            publish.extend([
                "$SRV.PING".to_owned(),
                format!("$SRV.*.{SERVICE_NAME}"),
                format!("$SRV.*.{SERVICE_NAME}.>"),
            ]);
            if role == Role::Operator {
                publish.extend(owned(&OPERATOR_API));
            }
            Permissions {
                publish,
                subscribe: vec![
                    subject::HELLO_ALL.to_owned(),
                    subject::METRICS_ALL.to_owned(),
                    subject::BYE_ALL.to_owned(),
                    subject::RESULTS_ALL.to_owned(),
                    subject::ALERTS_ALL.to_owned(),
                    inbox,
                ],
                responses: None,
            }
        }
    }
}

/// One `users` entry of `nats.conf`. `password` is a bcrypt hash, or
/// `None` for a user mapped from its TLS certificate (`verify_and_map`).
pub fn render_user(user: &str, password: Option<&str>, perms: &Permissions) -> String {
    let list = |v: &[String]| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = format!("    {{\n      user: \"{user}\"\n");
    if let Some(hash) = password {
        out.push_str(&format!("      password: \"{hash}\"\n"));
    }
    out.push_str("      permissions: {\n");
    out.push_str(&format!(
        "        publish: {{ allow: [{}] }}\n",
        list(&perms.publish)
    ));
    out.push_str(&format!(
        "        subscribe: {{ allow: [{}] }}\n",
        list(&perms.subscribe)
    ));
    match &perms.responses {
        Some(Responses::Any) => out.push_str("        allow_responses: true\n"),
        Some(Responses::One { expires }) => out.push_str(&format!(
            "        allow_responses: {{ max: 1, expires: \"{expires}\" }}\n"
        )),
        None => {}
    }
    out.push_str("      }\n    }\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_may_touch_only_its_own_subjects() {
        let id = AgentId::parse("web-1").expect("id");
        let p = permissions(Role::Agent, &agent_user(&id), Some(&id));
        assert!(p.publish.contains(&"swarm.metrics.web-1".to_owned()));
        assert!(p.publish.iter().all(|s| !s.contains('>')));
        assert_eq!(p.subscribe, ["swarm.agent.web-1.>", "_INBOX.agent-web-1.>"]);
        let text = render_user("agent-web-1", Some("$2a$11$x"), &p);
        assert!(text.contains("allow_responses: { max: 1, expires: \"1m\" }"));
        assert!(text.contains("password: \"$2a$11$x\""));
    }

    #[test]
    fn only_operators_write_tests() {
        let viewer = permissions(Role::Viewer, "v", None);
        let operator = permissions(Role::Operator, "o", None);
        assert!(!viewer.publish.iter().any(|s| s == api::TESTS_CREATE));
        assert!(operator.publish.iter().any(|s| s == api::TESTS_CREATE));
    }

    #[test]
    fn user_names_are_subject_tokens() {
        for bad in ["", "a.b", "a b", "*", ">", "Web", &"x".repeat(73)] {
            assert!(check_user_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_user_name("agent-web-1"), Ok(()));
    }
}
