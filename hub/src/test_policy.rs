//! What tests the hub accepts beyond a valid spec: which targets may be
//! probed (`--test-targets`), how many tests may be active at once, and
//! how many one agent may take part in.

use std::net::IpAddr;

use ipnet::IpNet;
use swarm_common::AgentId;
use swarm_common::protocol::{ApiError, ErrorCode, Test};
use wildmatch::WildMatch;

/// Active tests the hub holds at most by default (`--max-active-tests`).
pub const DEFAULT_MAX_ACTIVE: usize = 1_000;
/// Active tests one agent takes part in at most by default
/// (`--max-tests-per-agent`).
pub const DEFAULT_MAX_PER_AGENT: usize = 16;

/// One allowed target: a network (`10.0.0.0/8`, an address) or a host-name
/// glob (`*.example.net`).
#[derive(Debug, Clone)]
enum Rule {
    Net(IpNet),
    Host(String),
}

#[derive(Debug, Clone)]
pub struct TestPolicy {
    /// Empty: any target.
    targets: Vec<Rule>,
    pub max_active: usize,
    pub max_per_agent: usize,
}

impl Default for TestPolicy {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
            max_active: DEFAULT_MAX_ACTIVE,
            max_per_agent: DEFAULT_MAX_PER_AGENT,
        }
    }
}

impl TestPolicy {
    /// Parses the allow-list; each entry a network, an address or a host
    /// glob.
    pub fn with_targets(mut self, entries: &[String]) -> Result<Self, String> {
        self.targets = entries
            .iter()
            .map(|e| {
                let e = e.trim();
                if let Ok(net) = e.parse::<IpNet>() {
                    Ok(Rule::Net(net))
                } else if let Ok(ip) = e.parse::<IpAddr>() {
                    Ok(Rule::Net(IpNet::from(ip)))
                } else if !e.is_empty() && e.chars().all(|c| c.is_ascii_alphanumeric() || "-.*?".contains(c)) {
                    Ok(Rule::Host(e.to_ascii_lowercase()))
                } else {
                    Err(format!(
                        "--test-targets entry {e:?} is not a network (10.0.0.0/8), an address or a host-name glob (*.example.net)"
                    ))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// Whether `target` may be probed. Names are matched as names: the
    /// agents resolve them, the hub does not.
    pub fn allows_target(&self, target: &str) -> bool {
        if self.targets.is_empty() {
            return true;
        }
        let ip = target.parse::<IpAddr>().ok();
        let name = target.to_ascii_lowercase();
        self.targets.iter().any(|rule| match (rule, ip) {
            (Rule::Net(net), Some(ip)) => net.contains(&ip),
            (Rule::Host(glob), None) => WildMatch::new(glob).matches(&name),
            _ => false,
        })
    }

    /// Checks a new test against the caps, given the active tests and the
    /// agents it would run on now.
    pub fn admit<'a>(
        &self,
        test: &Test,
        active: impl Iterator<Item = &'a Test> + Clone,
        agents: &[&AgentId],
    ) -> Result<(), ApiError> {
        if !self.allows_target(&test.target) {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "target: {:?} is not among the targets this hub allows (--test-targets)",
                    test.target
                ),
            ));
        }
        if active.clone().count() >= self.max_active {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "the hub holds its most active tests ({}); cancel one or wait for one to end",
                    self.max_active
                ),
            ));
        }
        for agent in agents {
            let taking_part = active
                .clone()
                .filter(|t| t.agents.iter().any(|a| &a.agent == *agent))
                .count();
            if taking_part >= self.max_per_agent {
                return Err(ApiError::new(
                    ErrorCode::Unavailable,
                    format!(
                        "agent {agent} already takes part in {taking_part} active tests (at most {})",
                        self.max_per_agent
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_by_network_address_or_name() {
        let policy = TestPolicy::default()
            .with_targets(&["10.0.0.0/8".into(), "::1".into(), "*.example.net".into()])
            .expect("valid");
        for ok in ["10.1.2.3", "::1", "db.example.net", "DB.Example.NET"] {
            assert!(policy.allows_target(ok), "{ok}");
        }
        for no in ["192.168.1.1", "example.net", "db.example.org", "::2"] {
            assert!(!policy.allows_target(no), "{no}");
        }
        assert!(TestPolicy::default().allows_target("anything"));
        assert!(TestPolicy::default().with_targets(&["a b".into()]).is_err());
    }
}
