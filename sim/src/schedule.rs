//! When each virtual agent publishes: agent `i` of `N` has a fixed slot
//! `i/N` of the way through every interval, so 10,000 agents spread evenly
//! over the interval instead of bursting at once.

use std::time::Duration;

/// Slots of `agents` agents in an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    agents: u32,
    interval: Duration,
}

/// A position in the schedule: agent `agent` in round `round`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slot {
    pub round: u64,
    pub agent: u32,
}

impl Schedule {
    pub fn new(agents: u32, interval: Duration) -> Self {
        Self {
            agents: agents.max(1),
            interval,
        }
    }

    /// How far into every interval agent `agent` publishes.
    pub fn phase(&self, agent: u32) -> Duration {
        let nanos = self.interval.as_nanos() * u128::from(agent) / u128::from(self.agents);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// When `slot` is due, measured from the start.
    pub fn due(&self, slot: Slot) -> Duration {
        let rounds = u32::try_from(slot.round).unwrap_or(u32::MAX);
        self.interval.saturating_mul(rounds) + self.phase(slot.agent)
    }

    /// The slot after `slot`.
    pub fn next(&self, slot: Slot) -> Slot {
        if slot.agent + 1 >= self.agents {
            Slot {
                round: slot.round + 1,
                agent: 0,
            }
        } else {
            Slot {
                round: slot.round,
                agent: slot.agent + 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_spread_evenly_and_repeat_every_interval() {
        let s = Schedule::new(4, Duration::from_secs(1));
        let mut slot = Slot::default();
        let mut dues = Vec::new();
        for _ in 0..8 {
            dues.push(s.due(slot).as_millis());
            slot = s.next(slot);
        }
        assert_eq!(dues, [0, 250, 500, 750, 1000, 1250, 1500, 1750]);
        assert_eq!(slot, Slot { round: 2, agent: 0 });
    }

    #[test]
    fn ten_thousand_agents_never_burst() {
        let s = Schedule::new(10_000, Duration::from_secs(1));
        let mut per_ms = std::collections::HashMap::<u128, u32>::new();
        let mut slot = Slot::default();
        while slot.round == 0 {
            *per_ms.entry(s.due(slot).as_millis()).or_default() += 1;
            slot = s.next(slot);
        }
        assert_eq!(per_ms.len(), 1_000, "every millisecond has its share");
        assert!(per_ms.values().all(|&n| n == 10));
    }
}
