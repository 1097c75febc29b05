//! History that no longer changes, in blocks ([`crate::blocks`] holds the
//! day files): writing a block and pointing the index at it, reading
//! blocks back (raw chunks, rollup buckets), and setting a damaged block
//! aside (quarantine) so that one bad block never stops the store.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use swarm_common::protocol::Millis;

use crate::blocks::Location;
use crate::level::Level;
use crate::open_chunk::Contributions;
use crate::seal::rollup_boundary;
use crate::{Result, Store, StoreError, block_format, chunk, keys, rollup};

pub(crate) fn damaged(what: &str) -> StoreError {
    StoreError::Corrupt {
        tree: "blocks",
        reason: format!("undecodable {what}"),
    }
}

/// Index entries of damaged blocks, set aside (in the index database): the
/// day file keeps their bytes; the series goes on without them.
pub(crate) struct Quarantine {
    tree: sled::Tree,
    count: AtomicU64,
}

impl Quarantine {
    pub(crate) fn open(index_db: &sled::Db) -> Result<Self> {
        Ok(Self {
            tree: index_db.open_tree("quarantine")?,
            count: AtomicU64::new(0),
        })
    }

    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Blocks set aside since the store opened.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sets a block's index entry aside: said and counted once per block,
    /// however often it is met.
    fn set_aside(&self, key: &[u8], value: &[u8], reason: &str) -> Result<()> {
        if self.tree.insert(key, value)?.is_none() {
            tracing::error!(
                "quarantined a damaged block ({reason}); its series goes on without it"
            );
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Store {
    /// The payload of an index entry's block.
    pub(crate) fn read_block(&self, level: Level, key: &[u8], value: &[u8]) -> Result<Vec<u8>> {
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
    pub(crate) fn salvage<T>(
        &self,
        key: &[u8],
        value: &[u8],
        read: Result<T>,
    ) -> Result<Option<T>> {
        match read {
            Ok(found) => Ok(Some(found)),
            Err(StoreError::Corrupt { reason, .. }) => {
                self.quarantine.set_aside(key, value, &reason)?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) fn block_chunks(&self, key: &[u8], value: &[u8]) -> Result<Vec<Vec<(Millis, f64)>>> {
        let payload = self.read_block(Level::Raw, key, value)?;
        let chunks = block_format::decode_chunks(&payload).ok_or_else(|| damaged("raw block"))?;
        chunks
            .into_iter()
            .map(|c| chunk::decode(c).map_err(|_| damaged("chunk in a block")))
            .collect()
    }

    pub(crate) fn block_buckets(
        &self,
        level: Level,
        key: &[u8],
        value: &[u8],
    ) -> Result<Vec<(Millis, rollup::Bucket)>> {
        let payload = self.read_block(level, key, value)?;
        block_format::decode_buckets(&payload).ok_or_else(|| damaged("rollup block"))
    }

    /// Appends a block and points the index at it (in `batch`).
    pub(crate) fn write_block(
        &self,
        batch: &mut sled::Batch,
        (agent, series, level): (u32, u32, Level),
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
        id: (u32, u32, Level),
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
    pub(crate) fn write_rollups(
        &self,
        batch: &mut sled::Batch,
        (agent, series): (u32, u32),
        sealed_through: Millis,
        contributions: impl IntoIterator<Item = ((Level, Millis), rollup::Bucket)>,
    ) -> Result<()> {
        let mut open = Contributions::new();
        let mut by_block: BTreeMap<(Level, Millis), Vec<(Millis, rollup::Bucket)>> =
            BTreeMap::new();
        for ((level, start), bucket) in contributions {
            if start < rollup_boundary(level, sealed_through) {
                by_block
                    .entry((level, level.period_start(start)))
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
        level: Level,
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
    pub(crate) fn sealed_mark(&self, agent: u32, series: u32) -> Result<Millis> {
        match self.index.get(keys::sealed(agent, series))? {
            Some(v) => keys::u64_from(&v).ok_or_else(|| damaged("sealed mark")),
            None => Ok(0),
        }
    }

    /// Index entries of the blocks of `level` that may hold data in
    /// `[from, to]`. Raw chunks may run past their block's hour: the chunk
    /// that holds `from` is in the last block starting at or before it,
    /// or, if that block's chunks all start after `from`, in the one
    /// before; raw reads start there.
    pub(crate) fn block_range(
        &self,
        agent: u32,
        series: u32,
        level: Level,
        (from, to): (Millis, Millis),
    ) -> Result<sled::Iter> {
        let first = if level == Level::Raw {
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
            keys::block(agent, series, level, level.period_start(from)).to_vec()
        };
        Ok(self
            .index
            .range(first..=keys::block(agent, series, level, to).to_vec()))
    }
}
