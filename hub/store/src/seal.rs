//! Sealing: at each checkpoint, what every head has left behind moves from
//! sled into blocks ([`crate::sealed`]): raw chunks that start in an hour
//! before the head's, and rollup buckets of closed hours and days.
//!
//! Per series, a sealed mark `t` splits the raw data: chunks starting
//! before `t` are in blocks (grouped by the hour they start in), the rest
//! in sled, so a sample's place is decided by its ts alone. Rollup buckets
//! before the period of `t` are in blocks. A series' mark moves only once
//! its blocks are durable and its index batch is in: a seal that fails
//! leaves every series as it was.

use std::collections::BTreeMap;

use swarm_common::protocol::Millis;

use crate::level::Level;
use crate::sealed::damaged;
use crate::{Inner, Result, Store, block_format, chunk, keys, open_chunk, rollup};

/// Series sealed per group: their blocks are made durable together before
/// the index points at them.
const SEAL_GROUP: usize = 256;

/// What sealing one series did: it has something to write (added to its
/// group's batches), and the head's new marks (sealed through, horizon)
/// once the index batch is in, if they move.
struct Sealed {
    marks: Option<(Millis, Millis)>,
}

/// Rollup buckets of a level starting before this are in blocks.
pub(crate) fn rollup_boundary(level: Level, sealed_through: Millis) -> Millis {
    level.period_start(sealed_through)
}

impl Store {
    /// Moves into blocks what every head has left behind: raw chunks that
    /// start in an hour before the head's, and rollup buckets of closed
    /// hours and days. Called by the checkpoint, after the heads are
    /// written.
    ///
    /// Per group of series, one batch on the index moves the data (block
    /// entries, buckets, the sealed marks) once the blocks are durable;
    /// then one on the open chunks removes what moved. A crash between the
    /// two leaves chunks before the sealed mark, which every reader
    /// ignores and the next seal removes.
    pub(crate) fn seal(&self, inner: &mut Inner) -> Result<()> {
        let series: Vec<(u32, u32)> = inner.heads.keys().copied().collect();
        for group in series.chunks(SEAL_GROUP) {
            // One batch a tree for the whole group: sled writes out its log
            // buffer twice for every batch (measured with a batch a series:
            // 80,000 buffer writes, 14 GB, for one checkpoint of 20,000
            // series). A batch is atomic, so a group moves whole or not.
            let mut index = sled::Batch::default();
            let mut chunks = sled::Batch::default();
            let mut marks = Vec::new();
            let mut any = false;
            for &(agent, series) in group {
                if let Some(sealed) =
                    self.seal_series(inner, agent, series, &mut index, &mut chunks)?
                {
                    any = true;
                    if let Some(m) = sealed.marks {
                        marks.push(((agent, series), m));
                    }
                }
            }
            if !any {
                continue;
            }
            if !marks.is_empty() {
                self.blocks.sync()?;
                self.index.apply_batch(index)?;
                // The new marks are in the index now; only now may readers
                // and the next seal go by them. A failure before this
                // leaves every series as it was.
                for (key, m) in marks {
                    if let Some(head) = inner.heads.get_mut(&key) {
                        (head.sealed_through, head.sealed_horizon) = m;
                    }
                }
                self.index_db.flush()?;
            }
            self.chunks.apply_batch(chunks)?;
        }
        Ok(())
    }

    /// Adds what seals one series to its group's index and open-chunk
    /// batches; says whether it added anything, and the marks its head
    /// takes once the index batch is applied.
    fn seal_series(
        &self,
        inner: &mut Inner,
        agent: u32,
        series: u32,
        batch: &mut sled::Batch,
        removals: &mut sled::Batch,
    ) -> Result<Option<Sealed>> {
        let Some(head) = inner.heads.get_mut(&(agent, series)) else {
            return Ok(None);
        };
        let Some(open_from) = head.start().or(head.sealed_end.map(|e| e + 1)) else {
            return Ok(None);
        };
        let horizon = Level::Raw.period_start(open_from);
        if horizon == head.sealed_horizon {
            return Ok(None);
        }
        let mut removed_any = false;
        let mut by_hour: BTreeMap<Millis, Vec<sled::IVec>> = BTreeMap::new();
        // The moved chunks' rollup contributions, merged per bucket.
        let mut moved_rollups: BTreeMap<(Level, Millis), rollup::Bucket> = BTreeMap::new();
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
                .entry(Level::Raw.period_start(start))
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
                let key = keys::block(agent, series, Level::Raw, hour);
                // A late sample may have made this hour's block already;
                // its chunks are older than the moved ones.
                let mut old = Vec::new();
                if let Some(value) = self.index.get(key)? {
                    let read = self
                        .read_block(Level::Raw, &key, &value)
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
                self.write_block(batch, (agent, series, Level::Raw), hour, &payload, count)?;
            }
        }
        // Open bucket entries of periods now closed join the moved chunks'
        // contributions on their way into blocks.
        for level in Level::ROLLUPS {
            let boundary = rollup_boundary(level, sealed_through);
            for item in self.index.range(
                keys::bucket(agent, series, level, 0)..keys::bucket(agent, series, level, boundary),
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
            return Ok(removed_any.then_some(Sealed { marks: None }));
        }
        self.write_rollups(batch, (agent, series), sealed_through, moved_rollups)?;
        batch.insert(&keys::sealed(agent, series), &keys::u64_key(sealed_through));
        Ok(Some(Sealed {
            marks: Some((sealed_through, horizon)),
        }))
    }
}
