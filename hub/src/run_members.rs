//! Who may send results for a test, and of when: the agents of its current
//! (or last) run, and of the run before it (whose results may still arrive
//! from a spool; kept with the test, so after a restart too), each for the
//! time of its run. A result from anyone else is refused (`not_in_run`),
//! one from outside its run's time as a bad value.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use swarm_common::AgentId;
use swarm_common::protocol::{Millis, Test};

use crate::store::PastRun;

/// Tests whose members are kept at once; past it the cache starts over
/// (members are rebuilt from the test on the next result).
const MAX_TESTS: usize = 1_024;

/// How far a result's time may lie outside its run: the clocks of agent
/// and hub may disagree (the hub takes samples up to 5 minutes ahead, too).
const CLOCK_SLACK_MS: Millis = 5 * 60 * 1000;

#[derive(Debug)]
struct Run {
    id: String,
    agents: HashSet<AgentId>,
    /// When its results may be taken: from its start to its end, with
    /// the clock slack on both sides. A run that has ended no longer says
    /// when it ran (its test keeps no `until`): then from the test's start
    /// on.
    window: (Millis, Millis),
}

impl Run {
    fn of(test: &Test) -> Self {
        let (from, to) = window(test, Millis::MAX);
        Self::new(
            test.run_id.clone(),
            test.agents.iter().map(|a| a.agent.clone()),
            (from, to),
        )
    }

    fn past(run: PastRun) -> Self {
        Self::new(run.run_id, run.agents, (run.from, run.to))
    }

    fn new(
        id: String,
        agents: impl IntoIterator<Item = AgentId>,
        (from, to): (Millis, Millis),
    ) -> Self {
        Self {
            id,
            agents: agents.into_iter().collect(),
            window: (
                from.saturating_sub(CLOCK_SLACK_MS),
                to.saturating_add(CLOCK_SLACK_MS),
            ),
        }
    }
}

/// When a test's current (or last) run ran: from its start to its end,
/// or to `ended` when the test no longer says (an ended run keeps no
/// `until`: then from the test's start on).
fn window(test: &Test, ended: Millis) -> (Millis, Millis) {
    match test.until {
        Some(until) => (until.saturating_sub(test.duration_ms), until.min(ended)),
        None => (test.start_at, ended),
    }
}

/// The run a test has now, as it is kept once the next one starts at
/// `now`; `None` before its first run.
pub fn past_run(test: &Test, now: Millis) -> Option<PastRun> {
    if test.run_id.is_empty() {
        return None;
    }
    let (from, to) = window(test, now);
    Some(PastRun {
        run_id: test.run_id.clone(),
        agents: test.agents.iter().map(|a| a.agent.clone()).collect(),
        from,
        to,
    })
}

#[derive(Debug)]
struct Members {
    current: Run,
    previous: Option<Run>,
}

impl Members {
    fn run(&self, run_id: &str, agent: &AgentId) -> Option<&Run> {
        [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|run| run.id == run_id && run.agents.contains(agent))
    }
}

/// Why a result was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownTest,
    NotInRun,
    /// Its time lies outside its run (with the clock slack).
    OutsideRun {
        from: Millis,
        to: Millis,
    },
}

#[derive(Debug, Default)]
pub struct RunMembers {
    tests: Mutex<HashMap<String, Members>>,
}

impl RunMembers {
    /// Checks `agent`'s result of `run_id` taken at `ts`. `current_run` is
    /// the test's run id if it is active; `load` reads the test and the
    /// run before its current when its members are not known yet or its
    /// run changed (once per run, not per result).
    pub fn check(
        &self,
        test_id: &str,
        (run_id, agent, ts): (&str, &AgentId, Millis),
        current_run: Option<String>,
        load: impl FnOnce() -> Option<(Test, Option<PastRun>)>,
    ) -> Result<(), Refusal> {
        let mut tests = self.tests.lock().unwrap_or_else(|p| p.into_inner());
        let stale = match (tests.get(test_id), &current_run) {
            (None, _) => true,
            (Some(m), Some(run)) => m.current.id != *run,
            (Some(_), None) => false,
        };
        if stale {
            let (test, kept) = load().ok_or(Refusal::UnknownTest)?;
            let current = Run::of(&test);
            // The run this cache knew is the exact one before; the kept
            // one serves after a restart (or once the cache started over).
            let previous = tests
                .remove(test_id)
                .map(|m| m.current)
                .filter(|run| run.id != current.id)
                .or_else(|| kept.filter(|run| run.run_id != current.id).map(Run::past));
            if tests.len() >= MAX_TESTS {
                tests.clear();
            }
            tests.insert(test_id.to_owned(), Members { current, previous });
        }
        let run = tests
            .get(test_id)
            .and_then(|m| m.run(run_id, agent))
            .ok_or(Refusal::NotInRun)?;
        let (from, to) = run.window;
        if !(from..=to).contains(&ts) {
            return Err(Refusal::OutsideRun { from, to });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarm_common::protocol::{AgentRunState, TestAgent, TestKind, TestSpec};

    /// Runs last a minute and end at `END`.
    const END: Millis = 1_800_000_060_000;
    const DURING: Millis = END - 30_000;

    fn test_with(run_id: &str, agents: &[&str]) -> Test {
        let mut spec = TestSpec::new(TestKind::Ping, "127.0.0.1", vec!["*".into()]);
        spec.duration_ms = Some(60_000);
        let mut test = crate::scheduler::validate(&spec, 1).expect("valid spec");
        test.run_id = run_id.into();
        test.until = Some(END);
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
            members.check("t", ("r1", &a, DURING), Some("r1".into()), || Some((
                run1.clone(),
                None
            ))),
            Ok(())
        );
        assert_eq!(
            members.check("t", ("r1", &b, DURING), Some("r1".into()), || Some((
                run1.clone(),
                None
            ))),
            Err(Refusal::NotInRun),
            "b is not in the run"
        );
        assert_eq!(
            members.check("t", ("r0", &a, DURING), Some("r1".into()), || Some((
                run1.clone(),
                None
            ))),
            Err(Refusal::NotInRun),
            "a run that never was"
        );
        let run2 = test_with("r2", &["b"]);
        assert_eq!(
            members.check("t", ("r2", &b, DURING), Some("r2".into()), || Some((
                run2.clone(),
                None
            ))),
            Ok(())
        );
        assert_eq!(
            members.check("t", ("r1", &a, DURING), Some("r2".into()), || None),
            Ok(()),
            "late results of the run before"
        );
        assert_eq!(
            members.check("x", ("r1", &a, DURING), None, || None),
            Err(Refusal::UnknownTest)
        );
    }

    #[test]
    fn the_run_before_is_known_after_a_restart() {
        let a = AgentId::parse("a").expect("id");
        let run1 = test_with("r1", &["a"]);
        let kept = past_run(&run1, END + 1_000).expect("a run");
        assert_eq!((kept.from, kept.to), (END - 60_000, END));
        let mut run2 = test_with("r2", &["b"]);
        run2.until = Some(END + 120_000);
        // A fresh cache, as after a restart: only what was kept.
        let members = RunMembers::default();
        let load = || Some((run2.clone(), Some(kept.clone())));
        assert_eq!(
            members.check("t", ("r1", &a, DURING), Some("r2".into()), load),
            Ok(()),
            "a late result of the run before, from a spool"
        );
        let members = RunMembers::default();
        assert_eq!(
            members.check("t", ("r1", &a, END + 86_400_000), Some("r2".into()), load),
            Err(Refusal::OutsideRun {
                from: END - 60_000 - CLOCK_SLACK_MS,
                to: END + CLOCK_SLACK_MS
            }),
            "only of its own time"
        );
        let members = RunMembers::default();
        assert_eq!(
            members.check("t", ("r1", &a, DURING), Some("r2".into()), || Some((
                run2.clone(),
                None
            ))),
            Err(Refusal::NotInRun),
            "nothing kept, nothing taken"
        );
        let fresh = test_with("", &[]);
        assert_eq!(past_run(&fresh, END), None, "no run yet");
    }

    #[test]
    fn only_for_the_time_of_the_run() {
        let members = RunMembers::default();
        let a = AgentId::parse("a").expect("id");
        let run = test_with("r1", &["a"]);
        let at = |ts| {
            members.check("t", ("r1", &a, ts), Some("r1".into()), || {
                Some((run.clone(), None))
            })
        };
        let slack = CLOCK_SLACK_MS;
        assert_eq!(
            at(END - 60_000 - slack),
            Ok(()),
            "its start, less the slack"
        );
        assert_eq!(at(END + slack), Ok(()), "its end, and the slack");
        let outside = Err(Refusal::OutsideRun {
            from: END - 60_000 - slack,
            to: END + slack,
        });
        assert_eq!(at(END - 300 * 86_400_000), outside, "long before the run");
        assert_eq!(at(END + slack + 1), outside, "after it");
        // Ended: from the test's start on.
        let mut ended = test_with("r1", &["a"]);
        (ended.until, ended.start_at) = (None, END - 60_000);
        let members = RunMembers::default();
        let at = |ts| members.check("t", ("r1", &a, ts), None, || Some((ended.clone(), None)));
        assert_eq!(at(END + 86_400_000), Ok(()), "a late result, from a spool");
        assert!(at(END - 300 * 86_400_000).is_err(), "before the test began");
    }
}
