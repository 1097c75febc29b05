//! Late samples: older than their series' head. One whose place is an
//! open chunk in sled rewrites that chunk; one older than the sealed mark
//! rewrites the block that holds its place, each block read and written
//! once per batch however many samples land in it.

use swarm_common::protocol::Millis;

use crate::head::{Effect, add_pending, insert_sorted};
use crate::level::Level;
use crate::open_chunk::{self, Contributions};
use crate::sealed::damaged;
use crate::{Inner, Result, Store, block_format, chunk, keys};

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
    /// A late sample (older than the head): rewrite the sealed chunk that
    /// covers its time.
    pub(crate) fn merge_into_sealed(
        &self,
        inner: &Inner,
        agent: u32,
        series: u32,
        ts: Millis,
        value: f64,
    ) -> Result<()> {
        let sealed_through = self.sealed_of(inner, agent, series)?;
        let found = self
            .chunks
            .range(keys::chunk(agent, series, sealed_through)..=keys::chunk(agent, series, ts))
            .next_back()
            .transpose()?;
        let (key, mut samples, mut contributions) = match found {
            Some((key, bytes)) => (
                key.to_vec(),
                self.decode(inner, agent, series, &bytes)?,
                self.contributions(&bytes)?,
            ),
            None => (
                keys::chunk(agent, series, ts).to_vec(),
                Vec::new(),
                Contributions::new(),
            ),
        };
        let effect = insert_sorted(&mut samples, ts, value);
        if effect == Effect::Same {
            return Ok(());
        }
        let latency = inner.catalog.is_latency(series);
        add_pending(&mut contributions, ts, value, effect, latency);
        // The chunk and its rollup contributions in one value.
        self.chunks.insert(
            key,
            open_chunk::encode(&chunk::encode(&samples), &contributions),
        )?;
        Ok(())
    }

    /// Writes late samples (older than their series' sealed mark) into the
    /// blocks that hold their place: each block read and written once per
    /// call, however many of them land in it.
    pub(crate) fn merge_into_blocks(&self, inner: &Inner, mut late: Vec<Late>) -> Result<()> {
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
                let latency = inner.catalog.is_latency(series);
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
        let first = keys::block(agent, series, Level::Raw, 0);
        let last = keys::block(agent, series, Level::Raw, u64::MAX);
        let mut found = None;
        for item in self
            .index
            .range(first..=keys::block(agent, series, Level::Raw, ts))
            .rev()
        {
            let (key, value) = item?;
            let Some(chunks) = self.salvage(&key, &value, self.block_chunks(&key, &value))? else {
                continue;
            };
            if chunks.iter().any(|c| c.first().is_some_and(|f| f.0 <= ts)) {
                let start = keys::chunk_start(&key).ok_or_else(|| damaged("block key"))?;
                found = Some((start, chunks));
                break;
            }
        }
        let (start, chunks) = match found {
            Some(found) => found,
            None => {
                let start = Level::Raw.period_start(ts);
                let key = keys::block(agent, series, Level::Raw, start);
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
            .range(keys::block(agent, series, Level::Raw, start.saturating_add(1))..=last)
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
            (agent, series, Level::Raw),
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
}
