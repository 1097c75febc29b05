//! History that no longer changes, in blocks ([`super::blocks`]): moving
//! it there from sled, reading it, the rare late sample that rewrites a
//! block, and retention.
//!
//! Per series, a sealed mark `t` splits the raw data: chunks starting
//! before `t` are in blocks (grouped by the hour they start in), the rest
//! in sled, so a sample's place is decided by its ts alone. Rollup buckets
//! before the hour of `t` (1 minute) or its day (1 hour) are in blocks.
//! Moves happen at checkpoints, for the hours a series' head has left.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use swarm_common::protocol::Millis;

use super::blocks::{DAY_MS, Location};
use super::{
    Contributions, Cutoffs, Effect, Inner, PruneStats, Result, Store, StoreError, add_pending,
    block_format, chunk, insert_sorted, keys, open_chunk, rollup,
};

use swarm_common::time::HOUR_MS;
/// Series sealed per group: their blocks are made durable together before
/// the index points at them.
const SEAL_GROUP: usize = 256;

/// The span of one block of a level.
/// What sealing one series writes, and the head's new marks (sealed
/// through, horizon) once its index batch is in.
struct SealPlan {
    index: sled::Batch,
    chunks: sled::Batch,
    marks: Option<(Millis, Millis)>,
}

pub fn period(level: u8) -> u64 {
    if level == 2 { DAY_MS } else { HOUR_MS }
}

fn floor_to(ts: Millis, width: u64) -> Millis {
    ts - ts % width
}

/// Rollup buckets of a level starting before this are in blocks.
fn rollup_boundary(level: u8, sealed_through: Millis) -> Millis {
    floor_to(sealed_through, period(level))
}

fn damaged(what: &str) -> StoreError {
    StoreError::Corrupt {
        tree: "blocks",
        reason: format!("undecodable {what}"),
    }
}

/// A raw block being rewritten by late samples.
struct OpenBlock {
    agent: u32,
    series: u32,
    start: Millis,
    /// The next block's start: later samples belong there.
    until: Millis,
    chunks: Vec<Vec<(Millis, f64)>>,
    changed: bool,
    pending: Contributions,
}

/// A late sample: (agent, series, ts, value).
pub type Late = (u32, u32, Millis, f64);

impl Store {
    /// The payload of an index entry's block.
    fn read_block(&self, level: u8, key: &[u8], value: &[u8]) -> Result<Vec<u8>> {
        let key: [u8; 17] = key.try_into().map_err(|_| damaged("block key"))?;
        let start = keys::chunk_start(&key).ok_or_else(|| damaged("block key"))?;
        let at = Location::decode(value).ok_or_else(|| damaged("block index entry"))?;
        self.blocks.read(level, &key, start, at)
    }

    /// What a write path read of an existing block: the block, or `None`
    /// when it is damaged (a bad checksum, a missing day file, bytes that
    /// do not decode). A damaged block is set aside in the quarantine tree
    /// with its index entry, logged and counted, and the write goes on as
    /// if it were not there: one bad block never stops every seal (and
    /// with them the start of the hub). I/O errors still fail.
    fn salvage<T>(&self, key: &[u8], value: &[u8], read: Result<T>) -> Result<Option<T>> {
        match read {
            Ok(found) => Ok(Some(found)),
            Err(StoreError::Corrupt { reason, .. }) => {
                // Said and counted once per block, however often it is met.
                if self.quarantine.insert(key, value)?.is_none() {
                    tracing::error!(
                        "quarantined a damaged block ({reason}); its series goes on without it"
                    );
                    self.quarantined.fetch_add(1, Ordering::Relaxed);
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn block_chunks(&self, key: &[u8], value: &[u8]) -> Result<Vec<Vec<(Millis, f64)>>> {
        let payload = self.read_block(rollup::RAW, key, value)?;
        let chunks = block_format::decode_chunks(&payload).ok_or_else(|| damaged("raw block"))?;
        chunks
            .into_iter()
            .map(|c| chunk::decode(c).map_err(|_| damaged("chunk in a block")))
            .collect()
    }

    fn block_buckets(
        &self,
        level: u8,
        key: &[u8],
        value: &[u8],
    ) -> Result<Vec<(Millis, rollup::Bucket)>> {
        let payload = self.read_block(level, key, value)?;
        block_format::decode_buckets(&payload).ok_or_else(|| damaged("rollup block"))
    }

    /// Appends a block and points the index at it (in `batch`).
    fn write_block(
        &self,
        batch: &mut sled::Batch,
        (agent, series, level): (u32, u32, u8),
        start: Millis,
        payload: &[u8],
        count: usize,
    ) -> Result<()> {
        let key = keys::block(agent, series, level, start);
        let at = self.blocks.append(
            level,
            &key,
            start,
            payload,
            u32::try_from(count).unwrap_or(u32::MAX),
        )?;
        batch.insert(&key, &at.encode());
        Ok(())
    }

    fn write_buckets(
        &self,
        batch: &mut sled::Batch,
        id: (u32, u32, u8),
        start: Millis,
        buckets: &BTreeMap<Millis, rollup::Bucket>,
    ) -> Result<()> {
        let list: Vec<(Millis, rollup::Bucket)> =
            buckets.iter().map(|(s, b)| (*s, b.clone())).collect();
        let payload = block_format::encode_buckets(&list);
        self.write_block(batch, id, start, &payload, list.len())
    }

    /// Writes rollup contributions (one per bucket): those of closed
    /// periods into their blocks (read, merged, appended again), the others
    /// into open bucket entries.
    fn write_rollups(
        &self,
        batch: &mut sled::Batch,
        (agent, series): (u32, u32),
        sealed_through: Millis,
        contributions: impl IntoIterator<Item = ((u8, Millis), rollup::Bucket)>,
    ) -> Result<()> {
        let mut open = Contributions::new();
        let mut by_block: BTreeMap<(u8, Millis), Vec<(Millis, rollup::Bucket)>> = BTreeMap::new();
        for ((level, start), bucket) in contributions {
            if start < rollup_boundary(level, sealed_through) {
                by_block
                    .entry((level, floor_to(start, period(level))))
                    .or_default()
                    .push((start, bucket));
            } else {
                open.push(((level, start), bucket));
            }
        }
        for ((level, start), buckets) in by_block {
            let mut all = self.buckets_at(agent, series, level, start)?;
            for (s, b) in buckets {
                rollup::merge_into(&mut all, s, b);
            }
            self.write_buckets(batch, (agent, series, level), start, &all)?;
        }
        self.add_rollups(batch, agent, series, &open)
    }

    /// The buckets of the block of `level` at `start`, if there is one.
    fn buckets_at(
        &self,
        agent: u32,
        series: u32,
        level: u8,
        start: Millis,
    ) -> Result<BTreeMap<Millis, rollup::Bucket>> {
        let key = keys::block(agent, series, level, start);
        Ok(match self.index.get(key)? {
            Some(value) => self
                .salvage(&key, &value, self.block_buckets(level, &key, &value))?
                .unwrap_or_default()
                .into_iter()
                .collect(),
            None => BTreeMap::new(),
        })
    }

    /// Loads the series' sealed mark (0: nothing sealed yet).
    pub(super) fn sealed_mark(&self, agent: u32, series: u32) -> Result<Millis> {
        Ok(self
            .index
            .get(keys::sealed(agent, series))?
            .and_then(|v| keys::u64_from(&v))
            .unwrap_or(0))
    }

    /// Moves into blocks what every head has left behind: raw chunks that
    /// start in an hour before the head's, and rollup buckets of closed
    /// hours and days. Called by the checkpoint, after the heads are
    /// written.
    ///
    /// Per series, one batch on the index moves the data (block entries,
    /// buckets, the sealed mark) once the blocks are durable; then one on
    /// the open chunks removes what moved. A crash between the two leaves
    /// chunks before the sealed mark, which every reader ignores and the
    /// next seal removes.
    pub(super) fn seal(&self, inner: &mut Inner) -> Result<()> {
        let series: Vec<(u32, u32)> = inner.heads.keys().copied().collect();
        for group in series.chunks(SEAL_GROUP) {
            let mut batches = Vec::new();
            for &(agent, series) in group {
                if let Some(plan) = self.seal_series(inner, agent, series)? {
                    batches.push(((agent, series), plan));
                }
            }
            if batches.is_empty() {
                continue;
            }
            self.blocks.sync()?;
            let mut removals = Vec::with_capacity(batches.len());
            for ((agent, series), plan) in batches {
                self.index.apply_batch(plan.index)?;
                // The series' new mark is in the index now; only now may
                // readers and the next seal go by it. A failure before
                // this leaves the series as it was.
                if let (Some(marks), Some(head)) =
                    (plan.marks, inner.heads.get_mut(&(agent, series)))
                {
                    (head.sealed_through, head.sealed_horizon) = marks;
                }
                removals.push(plan.chunks);
            }
            self.index_db.flush()?;
            for chunks in removals {
                self.chunks.apply_batch(chunks)?;
            }
        }
        Ok(())
    }

    /// The index batch and the open-chunk batch that seal one series, and
    /// the marks its head takes once the index batch is applied.
    fn seal_series(&self, inner: &mut Inner, agent: u32, series: u32) -> Result<Option<SealPlan>> {
        let Some(head) = inner.heads.get_mut(&(agent, series)) else {
            return Ok(None);
        };
        let Some(open_from) = head.start().or(head.sealed_end.map(|e| e + 1)) else {
            return Ok(None);
        };
        let horizon = floor_to(open_from, HOUR_MS);
        if horizon == head.sealed_horizon {
            return Ok(None);
        }
        let mut batch = sled::Batch::default();
        let mut removals = sled::Batch::default();
        let mut removed_any = false;
        let mut by_hour: BTreeMap<Millis, Vec<sled::IVec>> = BTreeMap::new();
        // The moved chunks' rollup contributions, merged per bucket.
        let mut moved_rollups: BTreeMap<(u8, Millis), rollup::Bucket> = BTreeMap::new();
        for item in self
            .chunks
            .range(keys::chunk(agent, series, 0)..keys::chunk(agent, series, horizon))
        {
            let (key, bytes) = item?;
            let start = keys::chunk_start(&key).ok_or_else(|| damaged("chunk key"))?;
            removals.remove(&key);
            removed_any = true;
            if start < head.sealed_through {
                continue; // moved by a seal that a crash interrupted
            }
            for (at, bucket) in self.contributions(&bytes)? {
                rollup::merge_into(&mut moved_rollups, at, bucket);
            }
            by_hour
                .entry(floor_to(start, HOUR_MS))
                .or_default()
                .push(bytes);
        }
        let mut sealed_through = head.sealed_through;
        if !by_hour.is_empty() {
            // Everything before the first chunk left in sled (or the head)
            // is now in blocks.
            let next = self
                .chunks
                .range(keys::chunk(agent, series, horizon)..=keys::chunk(agent, series, u64::MAX))
                .next()
                .transpose()?
                .and_then(|(k, _)| keys::chunk_start(&k));
            sealed_through = [next, head.start(), head.sealed_end.map(|e| e + 1)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(horizon)
                .max(sealed_through);
            for (hour, moved) in by_hour {
                let key = keys::block(agent, series, rollup::RAW, hour);
                // A late sample may have made this hour's block already;
                // its chunks are older than the moved ones.
                let mut old = Vec::new();
                if let Some(value) = self.index.get(key)? {
                    let read = self
                        .read_block(rollup::RAW, &key, &value)
                        .and_then(|payload| {
                            block_format::decode_chunks(&payload)
                                .ok_or_else(|| damaged("raw block"))?;
                            Ok(payload)
                        });
                    old = self.salvage(&key, &value, read)?.unwrap_or_default();
                }
                let mut chunks =
                    block_format::decode_chunks(&old).ok_or_else(|| damaged("raw block"))?;
                for value in &moved {
                    chunks.push(open_chunk::chunk(value).ok_or_else(|| damaged("chunk"))?);
                }
                let count = chunks.iter().map(|c| chunk::count(c)).sum();
                let payload = block_format::encode_chunks(chunks);
                self.write_block(
                    &mut batch,
                    (agent, series, rollup::RAW),
                    hour,
                    &payload,
                    count,
                )?;
            }
        }
        // Open bucket entries of periods now closed join the moved chunks'
        // contributions on their way into blocks.
        for (level, _) in rollup::LEVELS {
            let boundary = rollup_boundary(level, sealed_through);
            for item in self.index.range(
                keys::level(agent, series, level, 0)..keys::level(agent, series, level, boundary),
            ) {
                let (key, bytes) = item?;
                let start = keys::chunk_start(&key).ok_or_else(|| damaged("bucket key"))?;
                let bucket = rollup::Bucket::decode(&bytes).ok_or_else(|| damaged("bucket"))?;
                batch.remove(key);
                rollup::merge_into(&mut moved_rollups, (level, start), bucket);
            }
        }
        if sealed_through == head.sealed_through && moved_rollups.is_empty() {
            head.sealed_horizon = horizon;
            return Ok(removed_any.then(|| SealPlan {
                index: sled::Batch::default(),
                chunks: removals,
                marks: None,
            }));
        }
        self.write_rollups(&mut batch, (agent, series), sealed_through, moved_rollups)?;
        batch.insert(&keys::sealed(agent, series), &keys::u64_key(sealed_through));
        Ok(Some(SealPlan {
            index: batch,
            chunks: removals,
            marks: Some((sealed_through, horizon)),
        }))
    }

    /// Writes late samples (older than their series' sealed mark) into the
    /// blocks that hold their place: each block read and written once per
    /// call, however many of them land in it.
    pub(super) fn merge_into_blocks(&self, inner: &Inner, mut late: Vec<Late>) -> Result<()> {
        // Stable: of two values for one ts, the later one still wins.
        late.sort_by_key(|l| (l.0, l.1, l.2));
        let mut open: Option<OpenBlock> = None;
        for (agent, series, ts, value) in late {
            let holds = open
                .as_ref()
                .is_some_and(|o| (o.agent, o.series) == (agent, series) && ts < o.until);
            if !holds {
                if let Some(done) = open.take() {
                    self.close_block(inner, done)?;
                }
                open = Some(self.open_block(agent, series, ts)?);
            }
            let Some(block) = open.as_mut() else {
                continue;
            };
            // The chunk whose time the sample falls in: the last one that
            // starts at or before it, else (the oldest sample of the
            // series) a new first chunk.
            let found = block
                .chunks
                .iter()
                .rposition(|c| c.first().is_some_and(|f| f.0 <= ts));
            let index = match found {
                Some(i) => i,
                None => {
                    block.chunks.insert(0, Vec::new());
                    0
                }
            };
            let effect = insert_sorted(&mut block.chunks[index], ts, value);
            if effect != Effect::Same {
                block.changed = true;
                let latency = inner
                    .series
                    .names
                    .get(&series)
                    .is_some_and(|n| rollup::is_latency(n));
                add_pending(&mut block.pending, ts, value, effect, latency);
            }
        }
        if let Some(done) = open {
            self.close_block(inner, done)?;
        }
        Ok(())
    }

    /// The raw block holding the place of a sample at `ts`.
    fn open_block(&self, agent: u32, series: u32, ts: Millis) -> Result<OpenBlock> {
        let first = keys::block(agent, series, rollup::RAW, 0);
        let last = keys::block(agent, series, rollup::RAW, u64::MAX);
        let mut found = None;
        for item in self
            .index
            .range(first..=keys::block(agent, series, rollup::RAW, ts))
            .rev()
        {
            let (key, value) = item?;
            let Some(chunks) = self.salvage(&key, &value, self.block_chunks(&key, &value))? else {
                continue;
            };
            if chunks.iter().any(|c| c.first().is_some_and(|f| f.0 <= ts)) {
                found = Some((keys::chunk_start(&key).unwrap_or(0), chunks));
                break;
            }
        }
        let (start, chunks) = match found {
            Some(found) => found,
            None => {
                let start = floor_to(ts, HOUR_MS);
                let key = keys::block(agent, series, rollup::RAW, start);
                let chunks = match self.index.get(key)? {
                    Some(value) => self
                        .salvage(&key, &value, self.block_chunks(&key, &value))?
                        .unwrap_or_default(),
                    None => Vec::new(),
                };
                (start, chunks)
            }
        };
        let until = self
            .index
            .range(keys::block(agent, series, rollup::RAW, start.saturating_add(1))..=last)
            .next()
            .transpose()?
            .and_then(|(k, _)| keys::chunk_start(&k))
            .unwrap_or(u64::MAX);
        Ok(OpenBlock {
            agent,
            series,
            start,
            until,
            chunks,
            changed: false,
            pending: Contributions::new(),
        })
    }

    /// Writes a changed block and its rollup contributions: into rollup
    /// blocks where those are sealed, into sled buckets where not; one
    /// atomic index update once the blocks are durable.
    fn close_block(&self, inner: &Inner, block: OpenBlock) -> Result<()> {
        if !block.changed {
            return Ok(());
        }
        let (agent, series) = (block.agent, block.series);
        let mut batch = sled::Batch::default();
        let encoded: Vec<Vec<u8>> = block.chunks.iter().map(|c| chunk::encode(c)).collect();
        let count = block.chunks.iter().map(Vec::len).sum();
        let payload = block_format::encode_chunks(encoded.iter().map(Vec::as_slice));
        self.write_block(
            &mut batch,
            (agent, series, rollup::RAW),
            block.start,
            &payload,
            count,
        )?;
        let sealed_through = inner
            .heads
            .get(&(agent, series))
            .map_or(0, |h| h.sealed_through);
        self.write_rollups(&mut batch, (agent, series), sealed_through, block.pending)?;
        self.blocks.sync()?;
        self.index.apply_batch(batch)?;
        Ok(())
    }

    /// Index entries of the blocks of `level` that may hold data in
    /// `[from, to]`. Raw chunks may run past their block's hour: the chunk
    /// that holds `from` is in the last block starting at or before it,
    /// or, if that block's chunks all start after `from`, in the one
    /// before; raw reads start there.
    pub(super) fn block_range(
        &self,
        agent: u32,
        series: u32,
        level: u8,
        (from, to): (Millis, Millis),
    ) -> Result<sled::Iter> {
        let first = if level == rollup::RAW {
            let mut before = self
                .index
                .range(
                    keys::block(agent, series, level, 0)..=keys::block(agent, series, level, from),
                )
                .rev()
                .take(2);
            let (last, one_before) = (before.next().transpose()?, before.next().transpose()?);
            one_before
                .or(last)
                .map(|(k, _)| k.to_vec())
                .unwrap_or_else(|| keys::block(agent, series, level, 0).to_vec())
        } else {
            keys::block(agent, series, level, floor_to(from, period(level))).to_vec()
        };
        Ok(self
            .index
            .range(first..=keys::block(agent, series, level, to).to_vec()))
    }

    /// Calls `f` with each sealed raw sample in `[from, to]` (the caller
    /// has raised `from` to the retention floor), in time order, one block
    /// in memory at a time.
    pub(super) fn for_each_sealed<E>(
        &self,
        (agent, series): (u32, u32),
        (from, to): (Millis, Millis),
        f: &mut impl FnMut(Millis, f64) -> Result<(), E>,
    ) -> Result<Result<(), E>> {
        for item in self.block_range(agent, series, rollup::RAW, (from, to))? {
            let (key, value) = item?;
            for c in self.block_chunks(&key, &value)? {
                for (ts, v) in c {
                    if (from..=to).contains(&ts)
                        && let Err(e) = f(ts, v)
                    {
                        return Ok(Err(e));
                    }
                }
            }
        }
        Ok(Ok(()))
    }

    /// Sealed buckets of a level starting in `[from, to]`, merged into
    /// `into`.
    pub(super) fn sealed_buckets(
        &self,
        inner: &Inner,
        (agent, series, level): (u32, u32, u8),
        (from, to): (Millis, Millis),
        into: &mut BTreeMap<Millis, rollup::Bucket>,
    ) -> Result<()> {
        let floor = inner.floors[usize::from(level)];
        for item in self.block_range(agent, series, level, (from, to))? {
            let (key, value) = item?;
            for (start, bucket) in self.block_buckets(level, &key, &value)? {
                if start >= from.max(floor) && start <= to {
                    rollup::merge_into(into, start, bucket);
                }
            }
        }
        Ok(())
    }

    /// Samples (raw) or buckets in sealed blocks in `[from, to]`, counted
    /// from the index without reading blocks.
    pub(super) fn sealed_count(
        &self,
        agent: u32,
        series: u32,
        level: u8,
        window: (Millis, Millis),
    ) -> Result<u64> {
        let mut n = 0;
        for item in self.block_range(agent, series, level, window)? {
            let (_, value) = item?;
            n += Location::decode(&value).map_or(0, |l| u64::from(l.count));
        }
        Ok(n)
    }

    /// Retention for blocks: each level's floor moves up to its cutoff
    /// (reads hide what is below it), index entries wholly below it go, and
    /// day files that no entry points into any more are deleted.
    pub(super) fn prune_blocks(
        &self,
        inner: &mut Inner,
        series: &[(u32, u32)],
        cutoffs: &Cutoffs,
    ) -> Result<PruneStats> {
        let mut stats = PruneStats::default();
        for (level, cutoff) in [
            (rollup::RAW, cutoffs.raw),
            (1, cutoffs.minute),
            (2, cutoffs.hour),
        ] {
            let old = inner.floors[usize::from(level)];
            if cutoff <= old {
                continue;
            }
            self.floors.insert([level], &keys::u64_key(cutoff))?;
            inner.floors[usize::from(level)] = cutoff;
            let mut oldest_day: Option<u64> = None;
            for &(agent, series) in series {
                let mut batch = sled::Batch::default();
                let below =
                    keys::block(agent, series, level, 0)..keys::block(agent, series, level, cutoff);
                for item in self.index.range(below) {
                    let (key, value) = item?;
                    // What this block holds between the old and the new
                    // floor is what goes now; what lies above keeps it.
                    let (gone, above) = if level == rollup::RAW {
                        let samples = self.block_chunks(&key, &value)?.into_iter().flatten();
                        count_split(samples.map(|s| s.0), old, cutoff)
                    } else {
                        let buckets = self.block_buckets(level, &key, &value)?.into_iter();
                        count_split(buckets.map(|b| b.0), old, cutoff)
                    };
                    if level == rollup::RAW {
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
                    .scan_prefix(keys::level_prefix(agent, series, keys::BLOCKS + level))
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

    /// Loads the retention floors.
    pub(super) fn load_floors(&self, inner: &mut Inner) -> Result<()> {
        for level in [rollup::RAW, 1, 2] {
            if let Some(v) = self.floors.get([level])? {
                inner.floors[usize::from(level)] = keys::u64_from(&v).unwrap_or(0);
            }
        }
        Ok(())
    }

    /// Bytes of the day files of a level, or of all levels.
    pub(super) fn block_bytes(&self, level: Option<u8>) -> Result<u64> {
        let levels = match level {
            Some(l) => vec![l],
            None => vec![rollup::RAW, 1, 2],
        };
        let mut total = 0;
        for l in levels {
            total += self.blocks.bytes(l)?;
        }
        Ok(total)
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
