//! The write path: each ingest batch into the write-ahead log, then into
//! the series' heads; heads that fill or age out become open chunks in
//! sled; a checkpoint writes every changed head, seals what the heads left
//! behind ([`crate::seal`]) and trims the log. Samples older than their
//! head go the late path ([`crate::late`]).

use swarm_common::protocol::Millis;

use crate::head::{Head, MAX_CHUNK_SPAN_MS};
use crate::late::Late;
use crate::open_chunk::{self, Contributions};
use crate::{Inner, Result, SampleRow, Store, StoreError, chunk, keys, rollup, wal};
use std::sync::atomic::Ordering;

impl Store {
    /// Logs a batch in the write-ahead log, then applies it to the heads.
    pub fn ingest(&self, rows: &[SampleRow<'_>]) -> Result<()> {
        self.ingest_rows(rows.iter().copied())
    }

    /// [`Store::ingest`] of rows as they come, without a slice of them.
    pub fn ingest_rows<'a>(&self, rows: impl IntoIterator<Item = SampleRow<'a>>) -> Result<()> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        // Reused from batch to batch: fresh buffers of this size cost a
        // page fault every few rows.
        let mut ids = std::mem::take(&mut inner.scratch);
        ids.clear();
        // Rows come grouped by message, so by agent.
        let mut last_agent: Option<(&str, u32)> = None;
        for row in rows {
            let agent = match last_agent {
                Some((name, id)) if name == row.agent => id,
                _ => {
                    let id = inner.catalog.intern_agent(row.agent)?;
                    last_agent = Some((row.agent, id));
                    id
                }
            };
            let Some(series) = inner.catalog.admit_series(agent, row.series)? else {
                self.series_limited.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            ids.push((agent, series, row.ts, row.value));
        }
        let applied = self.log_and_apply(inner, &ids);
        inner.scratch = ids;
        applied
    }

    fn log_and_apply(&self, inner: &mut Inner, ids: &[wal::Row]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        // A record names its agents and series by id: ids given since
        // the last flush are made durable first, so that a replayed
        // record always finds its names.
        if inner.catalog.take_fresh_names() {
            self.db.flush()?;
        }
        inner.wal.append(ids)?;
        self.apply_rows(inner, ids)
    }

    pub(crate) fn replay_wal(&self) -> Result<usize> {
        let mut inner = self.lock();
        let mut batches = 0;
        for rows in inner.wal.batches()? {
            self.apply_rows(&mut inner, &rows?)?;
            batches += 1;
        }
        Ok(batches)
    }

    /// Applies logged rows to the heads; the late ones go into blocks
    /// together.
    fn apply_rows(&self, inner: &mut Inner, rows: &[wal::Row]) -> Result<()> {
        let mut late = Vec::new();
        for &(agent, series, ts, value) in rows {
            late.extend(self.apply(inner, agent, series, ts, value)?);
        }
        if !late.is_empty() {
            self.merge_into_blocks(inner, late)?;
        }
        Ok(())
    }

    /// Puts a sample in its head or its sealed chunk in sled; returns it
    /// when its place is in a block (written by the caller, grouped).
    pub(crate) fn apply(
        &self,
        inner: &mut Inner,
        agent: u32,
        series: u32,
        ts: Millis,
        value: f64,
    ) -> Result<Option<Late>> {
        // One lookup for the head (a second only when it is loaded).
        let head = match inner.heads.get_mut(&(agent, series)) {
            Some(head) => head,
            None => {
                let head = self.load_head(inner, agent, series)?;
                inner.catalog.note(agent, series);
                inner.heads.insert((agent, series), head)
            }
        };
        if ts < head.sealed_through {
            return Ok(Some((agent, series, ts, value)));
        }
        if head.sealed_end.is_some_and(|end| ts <= end) {
            self.merge_into_sealed(inner, agent, series, ts, value)?;
            return Ok(None);
        }
        // A sample after a gap starts a chunk of its own: a chunk spanning
        // the gap would be kept, or dropped, by retention as one piece.
        if head
            .start()
            .is_some_and(|start| ts >= start + MAX_CHUNK_SPAN_MS)
            && head.samples.last().is_some_and(|last| last.0 < ts)
        {
            self.close_head(agent, series, head)?;
        }
        head.insert(ts, value);
        if head.is_full() {
            self.close_head(agent, series, head)?;
        }
        Ok(None)
    }

    /// Writes a head out as a chunk and starts an empty one after it.
    fn close_head(&self, agent: u32, series: u32, head: &mut Head) -> Result<()> {
        self.write_head(agent, series, head)?;
        head.sealed_end = head.samples.last().map(|s| s.0);
        head.samples.clear();
        head.first = None;
        head.pending.clear();
        head.persisted_start = None;
        Ok(())
    }

    /// The newest chunk of a series becomes the head again if it is not
    /// full; otherwise a fresh head starts after it.
    fn load_head(&self, inner: &Inner, agent: u32, series: u32) -> Result<Head> {
        let latency = inner.catalog.is_latency(series);
        let sealed_through = self.sealed_mark(agent, series)?;
        let mut head = Head {
            latency,
            sealed_through,
            ..Head::default()
        };
        // Chunks before the sealed mark were moved by a seal that a crash
        // interrupted: not the head, never read.
        let open =
            keys::chunk(agent, series, sealed_through)..=keys::chunk(agent, series, u64::MAX);
        if let Some((key, bytes)) = self.chunks.range(open).next_back().transpose()? {
            let samples = self.decode(inner, agent, series, &bytes)?;
            let candidate = Head {
                first: samples.first().map(|s| s.0),
                samples,
                sealed_end: None,
                persisted_start: keys::chunk_start(&key),
                dirty: false,
                latency,
                sealed_through,
                sealed_horizon: 0,
                pending: self.contributions(&bytes)?,
            };
            if candidate.is_full() {
                head.sealed_end = candidate.samples.last().map(|s| s.0);
            } else {
                // The sealed chunk before it bounds the late-sample path.
                let before = self
                    .chunks
                    .range(keys::chunk(agent, series, sealed_through).to_vec()..key.to_vec())
                    .next_back()
                    .transpose()?;
                let mut candidate = candidate;
                if let Some((_, prev)) = before {
                    candidate.sealed_end = self
                        .decode(inner, agent, series, &prev)?
                        .last()
                        .map(|s| s.0);
                }
                head = candidate;
            }
        } else if sealed_through == 0 {
            inner.catalog.list(agent, series)?;
        }
        Ok(head)
    }

    /// Writes a head as a chunk with its rollup contributions. A head
    /// whose start moved (a late sample before its first) replaces its old
    /// key in one batch; otherwise it is one insert. Most checkpoints write
    /// every head: single inserts keep them off sled's batch lock, which
    /// a stream of batches holds against its own log flusher (seen as a
    /// hang under 10,000 hosts). A head stays dirty until its write
    /// succeeds: a checkpoint that failed writes it again before the log
    /// that holds it is trimmed.
    fn write_head(&self, agent: u32, series: u32, head: &mut Head) -> Result<()> {
        let Some(start) = head.start() else {
            head.dirty = false;
            return Ok(());
        };
        let key = keys::chunk(agent, series, start);
        let value = open_chunk::encode(&chunk::encode(&head.samples), &head.pending);
        match head.persisted_start.filter(|o| *o != start) {
            Some(old) => {
                let mut batch = sled::Batch::default();
                batch.remove(&keys::chunk(agent, series, old));
                batch.insert(&key, value);
                self.chunks.apply_batch(batch)?;
            }
            None => {
                self.chunks.insert(key, value)?;
            }
        }
        head.persisted_start = Some(start);
        head.dirty = false;
        Ok(())
    }

    /// Adds rollup contributions (one per bucket) to a batch as bucket
    /// entries: each read, merged and written back (the caller holds the
    /// store lock: one writer).
    pub(crate) fn add_rollups(
        &self,
        batch: &mut sled::Batch,
        agent: u32,
        series: u32,
        pending: &Contributions,
    ) -> Result<()> {
        for &((level, start), ref delta) in pending {
            let key = keys::bucket(agent, series, level, start);
            let mut bucket = match self.index.get(key)? {
                Some(bytes) => rollup::Bucket::decode(&bytes).ok_or(StoreError::Corrupt {
                    tree: "chunks",
                    reason: "undecodable rollup bucket".into(),
                })?,
                None => rollup::Bucket::empty(false),
            };
            bucket.merge(delta);
            batch.insert(&key, bucket.encode());
        }
        Ok(())
    }

    /// The rollup contributions of a chunk value in sled.
    pub(crate) fn contributions(&self, value: &[u8]) -> Result<Contributions> {
        open_chunk::contributions(value).ok_or_else(|| StoreError::Corrupt {
            tree: "chunks",
            reason: "undecodable rollup contributions".into(),
        })
    }

    pub(crate) fn decode(
        &self,
        inner: &Inner,
        agent: u32,
        series: u32,
        bytes: &[u8],
    ) -> Result<Vec<(Millis, f64)>> {
        let raw = open_chunk::chunk(bytes).ok_or(chunk::ChunkError::Truncated);
        raw.and_then(chunk::decode)
            .map_err(|source| StoreError::Chunk {
                agent: inner.catalog.agent_name(agent).to_owned(),
                series: inner.catalog.series_name(series).to_owned(),
                source,
            })
    }

    /// Writes every changed head as a chunk, trims the write-ahead log up to
    /// what the chunks now hold, and flushes to disk.
    pub fn checkpoint(&self) -> Result<()> {
        let mut inner = self.lock();
        // Batches from here on go to a fresh segment; what the older ones
        // hold is in the heads written below.
        let upto = inner.wal.rotate()?;
        for (&(agent, series), head) in inner.heads.iter_mut() {
            if head.dirty {
                self.write_head(agent, series, head)?;
            }
        }
        self.seal(&mut inner)?;
        drop(inner);
        // What the heads and late samples wrote is durable before the log
        // that holds it is trimmed.
        self.index_db.flush()?;
        self.db.flush()?;
        self.lock().wal.trim_before(upto)
    }
}
