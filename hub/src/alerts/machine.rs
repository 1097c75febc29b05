//! One (rule, agent)'s state machine, in sample time: pending while the
//! condition holds for less than `for_ms`, firing after, resolved once the
//! value has stayed on the far side of `recover` for `keep_firing_for_ms`.
//! Pure: time comes with each sample, so a replayed spool evaluates as if
//! it had arrived live.

use swarm_common::protocol::Millis;
use swarm_common::protocol::alerts::{Alert, AlertState, Rule};

/// What a sample did to an alert: its new current state (`None`: no alert
/// any more) and the event to announce, if its state changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub current: Option<Alert>,
    pub event: Option<Alert>,
}

/// Evaluates one sample of `rule`'s series for `agent`, given the alert
/// as it stands (`None` when the condition did not hold last time).
/// Samples at or before the alert's last one are ignored (late or
/// replayed twice).
pub fn step(rule: &Rule, agent: &str, current: Option<&Alert>, ts: Millis, value: f64) -> Step {
    let unchanged = || Step {
        current: current.cloned(),
        event: None,
    };
    let holds = rule.op.holds(value, rule.threshold);
    let Some(alert) = current else {
        if !holds {
            return unchanged();
        }
        let state = if rule.for_ms == 0 {
            AlertState::Firing
        } else {
            AlertState::Pending
        };
        let alert = new_alert(rule, agent, state, value, rule.threshold, ts);
        return Step {
            current: Some(alert.clone()),
            event: Some(alert),
        };
    };
    if ts <= alert.ts {
        return unchanged();
    }
    let mut next = Alert {
        value,
        ts,
        ..alert.clone()
    };
    match alert.state {
        AlertState::Pending if !holds => {
            // Cleared before it fired: gone, and said so.
            next.state = AlertState::Resolved;
            next.since = ts;
            Step {
                current: None,
                event: Some(next),
            }
        }
        AlertState::Pending if ts.saturating_sub(alert.since) >= rule.for_ms => {
            next.state = AlertState::Firing;
            next.since = ts;
            next.fired_at = Some(ts);
            Step {
                current: Some(next.clone()),
                event: Some(next),
            }
        }
        AlertState::Firing => {
            let recovered = !rule.op.holds(value, rule.recover_at());
            if !recovered {
                next.recovering_since = None;
                return Step {
                    current: Some(next),
                    event: None,
                };
            }
            let back_since = alert.recovering_since.unwrap_or(ts);
            if ts.saturating_sub(back_since) >= rule.keep_firing_for_ms {
                next.state = AlertState::Resolved;
                next.since = ts;
                next.recovering_since = None;
                Step {
                    current: None,
                    event: Some(next),
                }
            } else {
                next.recovering_since = Some(back_since);
                Step {
                    current: Some(next),
                    event: None,
                }
            }
        }
        _ => Step {
            current: Some(next),
            event: None,
        },
    }
}

/// A new alert of `rule` on `agent`, in `state` since `ts`.
fn new_alert(
    rule: &Rule,
    agent: &str,
    state: AlertState,
    value: f64,
    threshold: f64,
    ts: Millis,
) -> Alert {
    Alert {
        rule: rule.name.clone(),
        agent: agent.to_owned(),
        state,
        severity: rule.severity,
        value,
        threshold,
        since: ts,
        ts,
        silenced: false,
        acked: None,
        summary: rule.summary.clone(),
        fired_at: (state == AlertState::Firing).then_some(ts),
        recovering_since: None,
    }
}

/// The `host_down` machine, on the hub's clock: `silent_since` is when the
/// host went offline by silence (`None`: online, or gone with a `bye`).
pub fn host_step(
    rule: &Rule,
    agent: &str,
    current: Option<&Alert>,
    now: Millis,
    silent_since: Option<Millis>,
) -> Step {
    let down_for = |since: Millis| now.saturating_sub(since) as f64 / 1000.0;
    match (current, silent_since) {
        (None, None) => Step {
            current: None,
            event: None,
        },
        (None, Some(since)) => {
            let firing = now.saturating_sub(since) >= rule.for_ms;
            let state = if firing {
                AlertState::Firing
            } else {
                AlertState::Pending
            };
            // Its value and threshold are seconds offline.
            let threshold = rule.for_ms as f64 / 1000.0;
            let alert = new_alert(rule, agent, state, down_for(since), threshold, now);
            Step {
                current: Some(alert.clone()),
                event: Some(alert),
            }
        }
        (Some(alert), None) => {
            let mut next = Alert {
                state: AlertState::Resolved,
                since: now,
                ts: now,
                value: 0.0,
                ..alert.clone()
            };
            next.recovering_since = None;
            Step {
                current: None,
                event: Some(next),
            }
        }
        (Some(alert), Some(since)) => {
            let mut next = Alert {
                value: down_for(since),
                ts: now,
                ..alert.clone()
            };
            let event = (alert.state == AlertState::Pending
                && now.saturating_sub(since) >= rule.for_ms)
                .then(|| {
                    next.state = AlertState::Firing;
                    next.since = now;
                    next.fired_at = Some(now);
                    next.clone()
                });
            Step {
                current: Some(next),
                event,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarm_common::protocol::alerts::Op;

    fn rule(for_ms: Millis, recover: Option<f64>, keep: Millis) -> Rule {
        Rule {
            for_ms,
            recover,
            keep_firing_for_ms: keep,
            ..Rule::new("cpu", "cpu_pct", Op::Gt, 90.0)
        }
    }

    /// Feeds samples, returns the states announced.
    fn run(rule: &Rule, samples: &[(Millis, f64)]) -> Vec<(Millis, AlertState)> {
        let mut current = None;
        let mut events = Vec::new();
        for &(ts, v) in samples {
            let s = step(rule, "a", current.as_ref(), ts, v);
            if let Some(e) = s.event {
                events.push((e.ts, e.state));
            }
            current = s.current;
        }
        events
    }

    #[test]
    fn for_holds_pending_then_fires_and_a_short_spike_only_pends() {
        let r = rule(30_000, None, 0);
        let samples: Vec<_> = [95.0, 95.0, 95.0, 95.0, 50.0]
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64 * 10_000, *v))
            .collect();
        use AlertState::*;
        assert_eq!(
            run(&r, &samples),
            [(0, Pending), (30_000, Firing), (40_000, Resolved)]
        );
        let spike = [(0, 95.0), (10_000, 50.0)];
        assert_eq!(run(&r, &spike), [(0, Pending), (10_000, Resolved)]);
    }

    #[test]
    fn recover_and_keep_firing_for_stop_flapping() {
        // Fires above 90, resolves only below 80 held for 20 s.
        let r = rule(0, Some(80.0), 20_000);
        use AlertState::*;
        let flapping = [
            (0, 95.0),
            (10_000, 85.0), // under 90 but not under 80: still firing
            (20_000, 70.0), // back since 20 s
            (30_000, 95.0), // up again: the recovery restarts
            (40_000, 70.0),
            (50_000, 75.0),
            (60_000, 79.0), // 20 s back: resolved
        ];
        assert_eq!(run(&r, &flapping), [(0, Firing), (60_000, Resolved)]);
    }

    #[test]
    fn late_and_repeated_samples_change_nothing() {
        let r = rule(0, None, 0);
        let s = [
            (10_000, 95.0),
            (10_000, 10.0),
            (5_000, 10.0),
            (20_000, 10.0),
        ];
        use AlertState::*;
        assert_eq!(run(&r, &s), [(10_000, Firing), (20_000, Resolved)]);
    }

    #[test]
    fn a_host_down_fires_after_for_and_resolves_when_heard_again() {
        let r = Rule {
            series: "host_down".into(),
            ..rule(60_000, None, 0)
        };
        let s1 = host_step(&r, "a", None, 100_000, Some(90_000));
        assert_eq!(
            s1.event.as_ref().map(|e| e.state),
            Some(AlertState::Pending)
        );
        let s2 = host_step(&r, "a", s1.current.as_ref(), 140_000, Some(90_000));
        assert!(s2.event.is_none(), "50 s down: still pending");
        let s3 = host_step(&r, "a", s2.current.as_ref(), 151_000, Some(90_000));
        assert_eq!(s3.event.as_ref().map(|e| e.state), Some(AlertState::Firing));
        let s4 = host_step(&r, "a", s3.current.as_ref(), 152_000, Some(90_000));
        assert!(s4.event.is_none(), "announced once");
        let s5 = host_step(&r, "a", s4.current.as_ref(), 160_000, None);
        assert_eq!(s5.event.map(|e| e.state), Some(AlertState::Resolved));
        assert!(s5.current.is_none());
    }
}
