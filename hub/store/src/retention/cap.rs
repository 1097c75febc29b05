//! The total size cap: when the stored data outgrows it, the oldest data
//! goes first. Raw samples are the finest and largest, so they go before
//! 1-minute buckets, which go before 1-hour buckets.

use swarm_common::protocol::Millis;

use crate::level::{Level, PerLevel};
use crate::retention::Cutoffs;
use crate::{Result, Store, keys};

/// What one enforcement of the cap removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapReport {
    pub cap: u64,
    pub before: u64,
    pub after: u64,
    /// Per level: data older than this was removed.
    pub cutoffs: PerLevel<Option<Millis>>,
    pub raw_samples: u64,
    pub rollup_buckets: u64,
    /// Test results older than this were removed (after raw data, before
    /// rollups).
    pub results_cutoff: Option<Millis>,
    pub results: u64,
}

impl std::fmt::Display for CapReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stored data was {} bytes, over the cap of {}: removed the oldest ({} raw samples, {} test results, {} rollup buckets",
            self.before, self.cap, self.raw_samples, self.results, self.rollup_buckets
        )?;
        if let Some(cut) = self.results_cutoff {
            write!(
                f,
                "; test results before {}",
                swarm_common::time::rfc3339(cut)
            )?;
        }
        for level in Level::ALL {
            if let Some(cut) = self.cutoffs[level] {
                let name = level.name();
                write!(
                    f,
                    "; {name} data before {}",
                    swarm_common::time::rfc3339(cut)
                )?;
            }
        }
        write!(f, "), now {} bytes", self.after)
    }
}

/// Rounds per level at most.
const MAX_ROUNDS: usize = 64;

impl Store {
    /// Bytes of stored samples, rollups and test results (keys and values
    /// in sled, before its own overhead, and the day files): what the size
    /// cap counts.
    pub fn data_bytes(&self) -> Result<u64> {
        let mut total = self.block_bytes(None)? + self.records().results_bytes()?;
        for item in self.chunks.iter().chain(self.index.iter()) {
            let (key, value) = item?;
            total += (key.len() + value.len()) as u64;
        }
        Ok(total)
    }

    /// The oldest chunk, block or bucket start at `level` over all series,
    /// not before what retention already removed.
    fn oldest_at(&self, level: Level) -> Result<Option<Millis>> {
        let (floor, listing) = {
            let inner = self.lock();
            (inner.floors.get(level), inner.catalog.listing())
        };
        let mut oldest: Option<Millis> = None;
        for pair in listing.iter() {
            let (a, s) = pair?;
            let open = match level {
                Level::Raw => &self.chunks,
                _ => &self.index,
            };
            for (tree, prefix) in [
                (open, keys::level_prefix(a, s, level)),
                (&self.index, keys::block_prefix(a, s, level)),
            ] {
                if let Some((first, _)) = tree.scan_prefix(prefix).next().transpose()?
                    && let Some(start) = keys::chunk_start(&first)
                {
                    let start = start.max(floor);
                    oldest = Some(oldest.map_or(start, |o| o.min(start)));
                }
            }
        }
        Ok(oldest)
    }

    /// Removes the oldest data until what is stored fits in `cap` bytes:
    /// each round moves one level's cutoff forward by a quarter of what
    /// that level still holds. `None` when nothing had to go. The store is
    /// scanned once for its size; rounds count what they free.
    pub fn prune_to_size(&self, cap: u64, now: Millis) -> Result<Option<CapReport>> {
        let before = self.data_bytes()?;
        if before <= cap {
            return Ok(None);
        }
        let mut report = CapReport {
            cap,
            before,
            after: before,
            cutoffs: PerLevel::default(),
            raw_samples: 0,
            rollup_buckets: 0,
            results_cutoff: None,
            results: 0,
        };
        for level in Level::ALL {
            // Test results go after raw data and before any rollup.
            if level == Level::Minute {
                self.cut_rounds(
                    (cap, now, Level::Raw.cap_step()),
                    &mut report,
                    || self.records().oldest_result(),
                    |cut, report| {
                        let (removed, freed) = self.records().prune_results(cut)?;
                        report.results += removed;
                        report.results_cutoff = Some(cut);
                        report.after = report.after.saturating_sub(freed);
                        Ok(())
                    },
                )?;
            }
            self.cut_rounds(
                (cap, now, level.cap_step()),
                &mut report,
                || self.oldest_at(level),
                |cut, report| {
                    let removed = self.prune(&Cutoffs::only(level, cut))?;
                    report.raw_samples += removed.raw_samples;
                    report.rollup_buckets += removed.rollup_buckets;
                    report.cutoffs[level] = Some(cut);
                    // Counted by the prune itself: no rescan of the store
                    // per round.
                    report.after = report.after.saturating_sub(removed.bytes_freed);
                    Ok(())
                },
            )?;
        }
        Ok(Some(report))
    }

    /// Rounds over one kind of data while the store is over the cap: the
    /// cutoff moves past the oldest by a quarter of the span left (at
    /// least `min_step`), and never past now (a floor in the future would
    /// refuse the samples of the next minutes as too old). Bounded: the
    /// cutoff only moves forward (an open head chunk keeps its old key
    /// until the next checkpoint). `remove` takes what is older than the
    /// cut and counts it in the report.
    fn cut_rounds(
        &self,
        (cap, now, min_step): (u64, Millis, u64),
        report: &mut CapReport,
        oldest: impl Fn() -> Result<Option<Millis>>,
        mut remove: impl FnMut(Millis, &mut CapReport) -> Result<()>,
    ) -> Result<()> {
        let mut last_cut = 0;
        for _ in 0..MAX_ROUNDS {
            if report.after <= cap {
                break;
            }
            let Some(oldest) = oldest()? else {
                break;
            };
            let step = (now.saturating_sub(oldest) / 4).max(min_step);
            let cut = oldest
                .saturating_add(step)
                .max(last_cut + min_step)
                .min(now);
            if cut <= last_cut {
                break;
            }
            last_cut = cut;
            remove(cut, report)?;
        }
        Ok(())
    }
}
