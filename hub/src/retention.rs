//! How long each resolution is kept and how much data at most: the
//! cut-offs, enforced every [`PRUNE_EVERY`] (with the size cap).

use std::time::Duration;

use crate::store::{self, Store};

/// How often retention is enforced.
pub const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// How long each resolution is kept, and how much data at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw: Duration,
    pub minute: Duration,
    pub hour: Duration,
    /// How long test results are kept (their latency series age out with
    /// the other series).
    pub results: Duration,
    /// Cap on stored data (samples and rollups, keys and values).
    pub max_bytes: Option<u64>,
    /// Free space the hub always leaves on the data directory's disk.
    pub min_free_bytes: u64,
    /// Hosts offline longer than this are forgotten (`--forget-after`).
    pub forget_after: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw: Duration::from_secs(48 * 3600),
            minute: Duration::from_secs(30 * 86_400),
            hour: Duration::from_secs(400 * 86_400),
            results: Duration::from_secs(30 * 86_400),
            max_bytes: None,
            min_free_bytes: 256 << 20,
            forget_after: None,
        }
    }
}

impl Retention {
    pub fn cutoffs(&self, now: swarm_common::protocol::Millis) -> store::Cutoffs {
        let back = |d: Duration| now.saturating_sub(d.as_millis() as u64);
        store::Cutoffs {
            raw: back(self.raw),
            minute: back(self.minute),
            hour: back(self.hour),
        }
    }

    /// Applies the retention times, then the size cap.
    pub fn enforce(
        &self,
        store: &Store,
        now: swarm_common::protocol::Millis,
    ) -> Result<(store::PruneStats, Option<store::CapReport>), store::StoreError> {
        let mut removed = store.prune(&self.cutoffs(now))?;
        // Test results and alert history age out together.
        let before = now.saturating_sub(self.results.as_millis() as u64);
        removed.results = store.records().prune_results(before)?.0;
        store.alerts().prune_events(before)?;
        let capped = match self.max_bytes {
            Some(cap) => store.prune_to_size(cap, now)?,
            None => None,
        };
        Ok((removed, capped))
    }
}
