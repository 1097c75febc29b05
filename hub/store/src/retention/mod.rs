//! Retention, all of it: the cut-offs (how old each level's data may be),
//! the floors below which no read sees anything, the prune that removes
//! what lies below them, and the size cap ([`cap`]). The hub decides the
//! cut-offs (its `--retain-*` flags) and when to prune.

mod cap;

pub use cap::CapReport;

use swarm_common::protocol::Millis;

use crate::blocks::DAY_MS;
use crate::level::{Level, PerLevel};
use crate::{Inner, Result, Store, StoreError, keys};

/// Oldest time each resolution keeps (absolute ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub raw: Millis,
    pub minute: Millis,
    pub hour: Millis,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneStats {
    pub raw_samples: u64,
    pub rollup_buckets: u64,
    /// Test results (retention only).
    pub results: u64,
    /// Stored data freed (keys and values, as `data_bytes` counts them).
    pub bytes_freed: u64,
}

impl Cutoffs {
    pub fn of(&self, level: Level) -> Millis {
        match level {
            Level::Raw => self.raw,
            Level::Minute => self.minute,
            Level::Hour => self.hour,
        }
    }

    /// Cuts one level only.
    pub fn only(level: Level, cut: Millis) -> Self {
        let mut cutoffs = Self {
            raw: 0,
            minute: 0,
            hour: 0,
        };
        match level {
            Level::Raw => cutoffs.raw = cut,
            Level::Minute => cutoffs.minute = cut,
            Level::Hour => cutoffs.hour = cut,
        }
        cutoffs
    }
}

/// Per level: retention removed what is older. Kept in the index
/// database, and in memory for every read.
pub(crate) struct Floors {
    tree: sled::Tree,
    at: PerLevel<Millis>,
}

impl Floors {
    pub(crate) fn open(index_db: &sled::Db) -> Result<Self> {
        let tree = index_db.open_tree("floors")?;
        let mut at = PerLevel::default();
        for level in Level::ALL {
            if let Some(v) = tree.get([level.byte()])? {
                at[level] = keys::u64_from(&v).ok_or(StoreError::Corrupt {
                    tree: "floors",
                    reason: format!("the {} floor is not 8 bytes", level.name()),
                })?;
            }
        }
        Ok(Self { tree, at })
    }

    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    pub(crate) fn get(&self, level: Level) -> Millis {
        self.at[level]
    }

    /// Raises a level's floor to `to` (stored first); false when it was
    /// there already.
    fn raise(&mut self, level: Level, to: Millis) -> Result<bool> {
        if to <= self.at[level] {
            return Ok(false);
        }
        self.tree.insert([level.byte()], &keys::u64_key(to))?;
        self.at[level] = to;
        Ok(true)
    }
}

impl Store {
    /// Removes what retention no longer keeps: raw samples older than
    /// `cutoffs.raw`, rollup buckets that start before their level's
    /// cutoff. Exactly those, nothing else: from then on no read returns
    /// them, and their space goes with whole day files (open chunks, an
    /// hour or so per series, go when sealed).
    pub fn prune(&self, cutoffs: &Cutoffs) -> Result<PruneStats> {
        let mut inner = self.lock();
        let mut stats = PruneStats::default();
        let series = inner
            .catalog
            .listing()
            .iter()
            .collect::<Result<Vec<(u32, u32)>>>()?;
        let old_floor = inner.floors.get(Level::Raw);
        for &(a, s) in &series {
            // Open chunks are not cut: what they hold below the cutoff is
            // hidden by the floor from now on, leaves with them when they
            // are sealed and their blocks expire, and is counted here.
            // Their rollup contributions stay.
            if cutoffs.raw > old_floor {
                let hidden = |ts: &Millis| (old_floor..cutoffs.raw).contains(ts);
                for item in self.raw_chunks(&inner, a, s, old_floor, cutoffs.raw)? {
                    let samples = self.decode(&inner, a, s, &item?.1)?;
                    stats.raw_samples += samples.iter().filter(|p| hidden(&p.0)).count() as u64;
                }
                if let Some(head) = inner.heads.get(&(a, s)) {
                    stats.raw_samples +=
                        head.samples.iter().filter(|p| hidden(&p.0)).count() as u64;
                }
            }
            // Buckets of open periods go exactly.
            let mut batch = sled::Batch::default();
            let mut removed = 0;
            for level in Level::ROLLUPS {
                let cutoff = cutoffs.of(level);
                for item in self
                    .index
                    .range(keys::bucket(a, s, level, 0)..keys::bucket(a, s, level, cutoff))
                {
                    let (key, value) = item?;
                    stats.bytes_freed += (key.len() + value.len()) as u64;
                    batch.remove(key);
                    removed += 1;
                }
            }
            // A batch takes sled's global write lock: none for nothing
            // (most series have nothing to remove at most prunes).
            if removed > 0 {
                stats.rollup_buckets += removed;
                self.index.apply_batch(batch)?;
            }
        }
        let sealed = self.prune_blocks(&mut inner, &series, cutoffs)?;
        stats.raw_samples += sealed.raw_samples;
        stats.rollup_buckets += sealed.rollup_buckets;
        stats.bytes_freed += sealed.bytes_freed;
        drop(inner);
        self.index_db.flush()?;
        Ok(stats)
    }

    /// Retention for blocks: each level's floor moves up to its cutoff
    /// (reads hide what is below it), index entries wholly below it go, and
    /// day files that no entry points into any more are deleted.
    fn prune_blocks(
        &self,
        inner: &mut Inner,
        series: &[(u32, u32)],
        cutoffs: &Cutoffs,
    ) -> Result<PruneStats> {
        let mut stats = PruneStats::default();
        for level in Level::ALL {
            let cutoff = cutoffs.of(level);
            let old = inner.floors.get(level);
            if !inner.floors.raise(level, cutoff)? {
                continue;
            }
            let mut oldest_day: Option<u64> = None;
            for &(agent, series) in series {
                let mut batch = sled::Batch::default();
                let below =
                    keys::block(agent, series, level, 0)..keys::block(agent, series, level, cutoff);
                for item in self.index.range(below) {
                    let (key, value) = item?;
                    // What this block holds between the old and the new
                    // floor is what goes now; what lies above keeps it.
                    let (gone, above) = if level == Level::Raw {
                        let samples = self.block_chunks(&key, &value)?.into_iter().flatten();
                        count_split(samples.map(|s| s.0), old, cutoff)
                    } else {
                        let buckets = self.block_buckets(level, &key, &value)?.into_iter();
                        count_split(buckets.map(|b| b.0), old, cutoff)
                    };
                    if level == Level::Raw {
                        stats.raw_samples += gone;
                    } else {
                        stats.rollup_buckets += gone;
                    }
                    if above == 0 {
                        stats.bytes_freed += (key.len() + value.len()) as u64;
                        batch.remove(key);
                    }
                }
                self.index.apply_batch(batch)?;
                if let Some((key, _)) = self
                    .index
                    .scan_prefix(keys::block_prefix(agent, series, level))
                    .next()
                    .transpose()?
                    && let Some(start) = keys::chunk_start(&key)
                {
                    let day = start / DAY_MS;
                    oldest_day = Some(oldest_day.map_or(day, |d| d.min(day)));
                }
            }
            // Files of days before every remaining block's day hold
            // nothing anyone reads (the store's lock keeps appends whose
            // index is not written yet away from here).
            let keep_from = oldest_day.unwrap_or(u64::MAX);
            stats.bytes_freed += self.blocks.remove_before(level, keep_from)?;
        }
        Ok(stats)
    }
}

/// Of the given times, how many lie in `[old, new)` and how many at or
/// after `new`.
fn count_split(times: impl Iterator<Item = Millis>, old: Millis, new: Millis) -> (u64, u64) {
    let (mut gone, mut above) = (0, 0);
    for t in times {
        if t >= new {
            above += 1;
        } else if t >= old {
            gone += 1;
        }
    }
    (gone, above)
}
