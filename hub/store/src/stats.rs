//! What the store holds, counted: for `stats`, the size cap and
//! benchmarks.

use crate::blocks::Location;
use crate::keys::{self, Kind};
use crate::level::{Level, PerLevel};
use crate::{Result, Store, chunk, open_chunk};

/// Counts for `stats` and benchmarks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    pub agents: usize,
    pub series: usize,
    /// Raw chunks in sled (the newest hours).
    pub chunks: usize,
    /// Raw samples in sled chunks and in blocks.
    pub samples_in_chunks: u64,
    /// Blocks per level in day files.
    pub blocks: PerLevel<usize>,
    /// Rollup buckets per level (none at the raw level).
    pub rollup_buckets: PerLevel<usize>,
    pub samples_in_heads: u64,
    pub wal_batches: usize,
    /// Keys and values of samples and rollups in sled, and day files.
    pub data_bytes: u64,
    pub bytes_on_disk: u64,
}

impl Store {
    pub fn stats(&self) -> Result<StoreStats> {
        let bytes_on_disk = self.disk_bytes()?;
        let inner = self.lock();
        let block_bytes = self.block_bytes(None)?;
        let mut stats = StoreStats {
            agents: inner.catalog.agent_count(),
            series: inner.catalog.series_count(),
            wal_batches: inner.wal.len(),
            bytes_on_disk,
            data_bytes: block_bytes,
            samples_in_heads: inner.heads.values().map(|h| h.samples.len() as u64).sum(),
            ..StoreStats::default()
        };
        for item in self.chunks.iter().chain(self.index.iter()) {
            let (key, bytes) = item?;
            stats.data_bytes += (key.len() + bytes.len()) as u64;
            let count = || Location::decode(&bytes).map_or(0, |l| l.count);
            match keys::kind_of(&key) {
                Some(Kind::Chunk) => {
                    stats.chunks += 1;
                    stats.samples_in_chunks +=
                        open_chunk::chunk(&bytes).map_or(0, chunk::count) as u64;
                }
                Some(Kind::Bucket(level)) => stats.rollup_buckets[level] += 1,
                Some(Kind::Block(Level::Raw)) => {
                    stats.blocks[Level::Raw] += 1;
                    stats.samples_in_chunks += u64::from(count());
                }
                Some(Kind::Block(level)) => {
                    stats.blocks[level] += 1;
                    stats.rollup_buckets[level] += count() as usize;
                }
                Some(Kind::Sealed) | None => {}
            }
        }
        Ok(stats)
    }

    /// Total size of the raw data: encoded open chunks in sled (without
    /// their rollup contributions, before sled's own overhead) and raw day
    /// files.
    pub fn chunk_bytes(&self) -> Result<u64> {
        let mut total = self.block_bytes(Some(Level::Raw))?;
        for item in self.chunks.iter() {
            let (key, value) = item?;
            if keys::kind_of(&key) == Some(Kind::Chunk) {
                let chunk = open_chunk::chunk(&value).map_or(0, <[u8]>::len);
                total += (key.len() + chunk) as u64;
            }
        }
        Ok(total)
    }

    /// Bytes the store takes on disk: both sled databases and the day
    /// files (cheap: file sizes, no scan of the data).
    pub fn disk_bytes(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()? + self.index_db.size_on_disk()? + self.block_bytes(None)?)
    }

    /// Bytes of the day files of a level, or of all levels.
    pub(crate) fn block_bytes(&self, level: Option<Level>) -> Result<u64> {
        let mut total = 0;
        for l in Level::ALL
            .into_iter()
            .filter(|l| level.is_none_or(|w| w == *l))
        {
            total += self.blocks.bytes(l)?;
        }
        Ok(total)
    }
}
