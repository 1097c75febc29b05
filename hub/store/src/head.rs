//! The open head of a series: its newest samples in memory, in time
//! order, with the rollup contributions they add, until the head is full
//! or old enough to become a chunk.

use swarm_common::protocol::Millis;

use crate::level::Level;
use crate::open_chunk::Contributions;
use crate::rollup;

/// Samples per chunk before it is sealed. Every open head keeps room for
/// this many raw samples (16 bytes each) in memory, so it sets most of
/// the hub's memory: 10,000 hosts of about 21 series hold 210,000 heads.
pub const CHUNK_CAP: usize = 120;
/// A head older than this is sealed even if not full, so that it is never
/// rewritten for long.
pub(crate) const MAX_CHUNK_SPAN_MS: u64 = 2 * 3600 * 1000;

#[derive(Debug, Default)]
pub(crate) struct Head {
    /// Sorted by ts, no duplicate ts.
    pub(crate) samples: Vec<(Millis, f64)>,
    /// The first sample's ts, kept beside the head's other fields: read
    /// from `samples` it was a cache miss a row.
    pub(crate) first: Option<Millis>,
    /// Last ts of the newest sealed chunk: samples at or before it belong
    /// to sealed chunks.
    pub(crate) sealed_end: Option<Millis>,
    /// Key start under which this head was last checkpointed.
    pub(crate) persisted_start: Option<Millis>,
    pub(crate) dirty: bool,
    /// A latency series: its rollups carry sketches.
    pub(crate) latency: bool,
    /// Samples before this are in blocks (see `sealed`).
    pub(crate) sealed_through: Millis,
    /// The hour the last seal moved everything before: until the head
    /// reaches a later hour there is nothing new to move.
    pub(crate) sealed_horizon: Millis,
    /// Rollup contributions of the head's samples, written with them
    /// ([`open_chunk`]).
    pub(crate) pending: Contributions,
}

/// What inserting a sample changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Effect {
    New,
    Same,
    /// Same ts, other value (a conflicting duplicate): the sum is
    /// corrected; min and max keep the old value's reach.
    Replaced {
        old: f64,
    },
}

/// Adds one sample's effect to the rollup contributions. A latency
/// series' sketch takes new samples only: a sketch cannot take a value
/// back, so a conflicting duplicate (rare: redeliveries carry the same
/// value) leaves the first value in it.
pub(crate) fn add_pending(
    pending: &mut Contributions,
    ts: Millis,
    value: f64,
    effect: Effect,
    latency: bool,
) {
    let agg = match effect {
        Effect::Same => return,
        Effect::New => rollup::Agg::one(value),
        Effect::Replaced { old } => rollup::Agg {
            min: value,
            max: value,
            sum: value - old,
            count: 0,
        },
    };
    let sketched = latency && effect == Effect::New;
    for level in Level::ROLLUPS {
        let key = (level, level.bucket_start(ts));
        let bucket = match pending.iter_mut().rev().find(|(k, _)| *k == key) {
            Some((_, b)) => b,
            None => {
                pending.push((key, rollup::Bucket::empty(latency)));
                let Some((_, b)) = pending.last_mut() else {
                    return;
                };
                b
            }
        };
        bucket.agg.merge(&agg);
        if let (true, Some(sketch)) = (sketched, &mut bucket.sketch) {
            sketch.add(value);
        }
    }
}

impl Head {
    pub(crate) fn start(&self) -> Option<Millis> {
        debug_assert_eq!(self.first, self.samples.first().map(|s| s.0));
        self.first
    }

    /// Inserts or replaces (same ts) a sample.
    pub(crate) fn insert(&mut self, ts: Millis, value: f64) -> Effect {
        // Room for a whole chunk at once: growing by doubling would copy
        // the samples six times and end with room for 128.
        if self.samples.len() == self.samples.capacity() {
            self.samples
                .reserve_exact(CHUNK_CAP.saturating_sub(self.samples.len()).max(1));
        }
        let effect = insert_sorted(&mut self.samples, ts, value);
        if self.first.is_none_or(|first| ts < first) {
            self.first = Some(ts);
        }
        if effect != Effect::Same {
            self.dirty = true;
            add_pending(&mut self.pending, ts, value, effect, self.latency);
        }
        effect
    }

    pub(crate) fn is_full(&self) -> bool {
        match (self.start(), self.samples.last()) {
            (Some(first), Some(last)) => {
                self.samples.len() >= CHUNK_CAP || last.0 - first >= MAX_CHUNK_SPAN_MS
            }
            _ => false,
        }
    }
}

/// Inserts into time-ordered samples; a sample at an existing ts replaces it.
pub(crate) fn insert_sorted(samples: &mut Vec<(Millis, f64)>, ts: Millis, value: f64) -> Effect {
    // Samples nearly always come in order: one look at the last instead
    // of a search, whose dependent loads miss the cache one after another
    // (heads are spread over the heap; this was a quarter of ingest time).
    if samples.last().is_none_or(|last| last.0 < ts) {
        samples.push((ts, value));
        return Effect::New;
    }
    match samples.binary_search_by_key(&ts, |s| s.0) {
        Ok(i) if samples[i].1.to_bits() == value.to_bits() => Effect::Same,
        Ok(i) => {
            let old = samples[i].1;
            samples[i].1 = value;
            Effect::Replaced { old }
        }
        Err(i) => {
            samples.insert(i, (ts, value));
            Effect::New
        }
    }
}
