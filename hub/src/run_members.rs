//! Who may send results for a test: the agents of its current (or last)
//! run, and of the run before it (whose results may still arrive from a
//! spool). A result from anyone else is refused (`not_in_run`).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use swarm_common::AgentId;
use swarm_common::protocol::Test;

/// Tests whose members are kept at once; past it the cache starts over
/// (members are rebuilt from the test on the next result).
const MAX_TESTS: usize = 1_024;

#[derive(Debug)]
struct Members {
    run_id: String,
    agents: HashSet<AgentId>,
    previous: Option<(String, HashSet<AgentId>)>,
}

impl Members {
    fn has(&self, run_id: &str, agent: &AgentId) -> bool {
        (self.run_id == run_id && self.agents.contains(agent))
            || self
                .previous
                .as_ref()
                .is_some_and(|(r, agents)| r == run_id && agents.contains(agent))
    }
}

/// Why a result was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownTest,
    NotInRun,
}

#[derive(Debug, Default)]
pub struct RunMembers {
    tests: Mutex<HashMap<String, Members>>,
}

impl RunMembers {
    /// Checks `agent`'s result of `run_id`. `current_run` is the test's
    /// run id if it is active; `load` reads the test when its members are
    /// not known yet or its run changed (once per run, not per result).
    pub fn check(
        &self,
        test_id: &str,
        run_id: &str,
        agent: &AgentId,
        current_run: Option<String>,
        load: impl FnOnce() -> Option<Test>,
    ) -> Result<(), Refusal> {
        let mut tests = self.tests.lock().unwrap_or_else(|p| p.into_inner());
        let stale = match (tests.get(test_id), &current_run) {
            (None, _) => true,
            (Some(m), Some(run)) => m.run_id != *run,
            (Some(_), None) => false,
        };
        if stale {
            let test = load().ok_or(Refusal::UnknownTest)?;
            let previous = tests.remove(test_id).map(|m| (m.run_id, m.agents));
            if tests.len() >= MAX_TESTS {
                tests.clear();
            }
            let agents = test.agents.iter().map(|a| a.agent.clone()).collect();
            tests.insert(
                test_id.to_owned(),
                Members {
                    run_id: test.run_id,
                    agents,
                    previous,
                },
            );
        }
        match tests.get(test_id) {
            Some(m) if m.has(run_id, agent) => Ok(()),
            _ => Err(Refusal::NotInRun),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarm_common::protocol::{AgentRunState, TestAgent, TestKind, TestSpec};

    fn test_with(run_id: &str, agents: &[&str]) -> Test {
        let spec = TestSpec::new(TestKind::Ping, "127.0.0.1", vec!["*".into()]);
        let mut test = crate::scheduler::validate(&spec, 1).expect("valid spec");
        test.run_id = run_id.into();
        test.agents = agents
            .iter()
            .map(|a| TestAgent {
                agent: AgentId::parse(a).expect("id"),
                state: AgentRunState::Running,
                error: None,
            })
            .collect();
        test
    }

    #[test]
    fn only_agents_of_the_current_and_previous_run() {
        let members = RunMembers::default();
        let a = AgentId::parse("a").expect("id");
        let b = AgentId::parse("b").expect("id");
        let run1 = test_with("r1", &["a"]);
        assert_eq!(
            members.check("t", "r1", &a, Some("r1".into()), || Some(run1.clone())),
            Ok(())
        );
        assert_eq!(
            members.check("t", "r1", &b, Some("r1".into()), || Some(run1.clone())),
            Err(Refusal::NotInRun),
            "b is not in the run"
        );
        assert_eq!(
            members.check("t", "r0", &a, Some("r1".into()), || Some(run1.clone())),
            Err(Refusal::NotInRun),
            "a run that never was"
        );
        let run2 = test_with("r2", &["b"]);
        assert_eq!(
            members.check("t", "r2", &b, Some("r2".into()), || Some(run2.clone())),
            Ok(())
        );
        assert_eq!(
            members.check("t", "r1", &a, Some("r2".into()), || None),
            Ok(()),
            "late results of the run before"
        );
        assert_eq!(
            members.check("x", "r1", &a, None, || None),
            Err(Refusal::UnknownTest)
        );
    }
}
