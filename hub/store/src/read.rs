//! The read path: a series' samples and rollup buckets over a window,
//! from blocks, open chunks in sled and the head in memory, never below
//! the retention floors.

use std::collections::BTreeMap;

use swarm_common::protocol::Millis;

use crate::blocks::Location;
use crate::level::Level;
use crate::open_chunk::{self, Contributions};
use crate::{Inner, Result, Store, StoreError, chunk, keys, rollup};

impl Store {
    /// Raw samples of one series with `from <= ts <= to`, in time order.
    pub fn query_raw(
        &self,
        agent: &str,
        series: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<(Millis, f64)>> {
        let mut out = Vec::new();
        let pushed: Result<(), std::convert::Infallible> =
            self.for_each_raw(agent, series, (from, to), |ts, v| {
                out.push((ts, v));
                Ok(())
            })?;
        let Ok(()) = pushed;
        Ok(out)
    }

    /// Rollup buckets of one series at one level whose start lies in
    /// `[from, to]` (from is rounded down to a bucket), in time order,
    /// including contributions not yet written.
    pub fn query_rollup(
        &self,
        agent: &str,
        series: &str,
        level: Level,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<(Millis, rollup::Bucket)>> {
        let from = level.bucket_start(from);
        let inner = self.lock();
        let Some((a, s)) = inner.catalog.ids(agent, series) else {
            return Ok(Vec::new());
        };
        let mut buckets: BTreeMap<Millis, rollup::Bucket> = BTreeMap::new();
        self.sealed_buckets(&inner, (a, s, level), (from, to), &mut buckets)?;
        for item in self
            .index
            .range(keys::bucket(a, s, level, from)..=keys::bucket(a, s, level, to))
        {
            let (key, bytes) = item?;
            if let (Some(start), Some(bucket)) =
                (keys::chunk_start(&key), rollup::Bucket::decode(&bytes))
            {
                rollup::merge_into(&mut buckets, start, bucket);
            }
        }
        // Open chunks carry their samples' contributions; the head's are
        // read from memory, which is newer than its last checkpoint.
        let wanted = (level, from)..=(level, to);
        let mut add = |contributions: &Contributions| {
            for &((_, start), ref delta) in contributions.iter().filter(|(k, _)| wanted.contains(k))
            {
                buckets
                    .entry(start)
                    .and_modify(|b| b.merge(delta))
                    .or_insert_with(|| delta.clone());
            }
        };
        for item in self.raw_chunks(&inner, a, s, from, to)? {
            add(&self.contributions(&item?.1)?);
        }
        if let Some(head) = inner.heads.get(&(a, s)) {
            add(&head.pending);
        }
        let floor = inner.floors.get(level);
        Ok(buckets
            .into_iter()
            .filter(|(start, b)| b.agg.count > 0 && *start >= floor)
            .collect())
    }

    /// A series' sealed mark: its head's, or the stored one.
    pub(crate) fn sealed_of(&self, inner: &Inner, a: u32, s: u32) -> Result<Millis> {
        match inner.heads.get(&(a, s)) {
            Some(head) => Ok(head.sealed_through),
            None => self.sealed_mark(a, s),
        }
    }

    /// Open chunks that may hold samples in `[from, to]`: the one starting
    /// at or before `from`, and every one starting inside the window; none
    /// before the sealed mark, and not the head's stored copy (the head in
    /// memory is newer).
    pub(crate) fn raw_chunks(
        &self,
        inner: &Inner,
        a: u32,
        s: u32,
        from: Millis,
        to: Millis,
    ) -> Result<impl Iterator<Item = Result<(sled::IVec, sled::IVec)>> + use<>> {
        let sealed = self.sealed_of(inner, a, s)?;
        let head_key = inner
            .heads
            .get(&(a, s))
            .map(|h| h.persisted_start.map(|start| keys::chunk(a, s, start)));
        let range = if to < sealed {
            let none = keys::chunk(a, s, sealed);
            self.chunks.range(none..none)
        } else {
            let first = self
                .chunks
                .range(keys::chunk(a, s, sealed)..=keys::chunk(a, s, from.max(sealed)))
                .next_back()
                .transpose()?
                .map(|(k, _)| k.to_vec())
                .unwrap_or_else(|| keys::chunk(a, s, from.max(sealed)).to_vec());
            self.chunks.range(first..=keys::chunk(a, s, to).to_vec())
        };
        Ok(range
            .filter(move |item| match (item, &head_key) {
                (Ok((key, _)), Some(Some(head))) => key.as_ref() != head.as_slice(),
                _ => true,
            })
            .map(|item| item.map_err(StoreError::from)))
    }

    /// Calls `f` with each raw sample in `[from, to]`, in time order, one
    /// chunk in memory at a time (for exports of any length).
    pub fn for_each_raw<E>(
        &self,
        agent: &str,
        series: &str,
        (from, to): (Millis, Millis),
        mut f: impl FnMut(Millis, f64) -> Result<(), E>,
    ) -> Result<Result<(), E>> {
        let inner = self.lock();
        let Some((a, s)) = inner.catalog.ids(agent, series) else {
            return Ok(Ok(()));
        };
        // A late sample older than retention may sit in sled until the
        // next prune: never shown.
        let from = from.max(inner.floors.get(Level::Raw));
        if let Err(e) = self.for_each_sealed((a, s), (from, to), &mut f)? {
            return Ok(Err(e));
        }
        for item in self.raw_chunks(&inner, a, s, from, to)? {
            for (ts, v) in self.decode(&inner, a, s, &item?.1)? {
                if (from..=to).contains(&ts)
                    && let Err(e) = f(ts, v)
                {
                    return Ok(Err(e));
                }
            }
        }
        let head = inner.heads.get(&(a, s));
        for &(ts, v) in head.map_or(&[][..], |h| h.samples.as_slice()) {
            if (from..=to).contains(&ts)
                && let Err(e) = f(ts, v)
            {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }

    /// Number of stored tests and results.
    /// About how many raw samples lie in `[from, to]`: whole chunks that
    /// touch the window are counted without decoding them.
    pub fn raw_count_estimate(
        &self,
        agent: &str,
        series: &str,
        from: Millis,
        to: Millis,
    ) -> Result<usize> {
        let inner = self.lock();
        let Some((a, s)) = inner.catalog.ids(agent, series) else {
            return Ok(0);
        };
        let mut n = self.sealed_count(a, s, Level::Raw, (from, to))? as usize;
        for item in self.raw_chunks(&inner, a, s, from, to)? {
            n += open_chunk::chunk(&item?.1).map_or(0, chunk::count);
        }
        if let Some(head) = inner.heads.get(&(a, s)) {
            n += head
                .samples
                .iter()
                .filter(|(ts, _)| (from..=to).contains(ts))
                .count();
        }
        Ok(n)
    }

    /// Series names an agent has data for, sorted.
    pub fn series_of(&self, agent: &str) -> Result<Vec<String>> {
        let inner = self.lock();
        inner.catalog.series_names_of(agent)
    }

    /// Calls `f` with each sealed raw sample in `[from, to]` (the caller
    /// has raised `from` to the retention floor), in time order, one block
    /// in memory at a time.
    fn for_each_sealed<E>(
        &self,
        (agent, series): (u32, u32),
        (from, to): (Millis, Millis),
        f: &mut impl FnMut(Millis, f64) -> Result<(), E>,
    ) -> Result<Result<(), E>> {
        for item in self.block_range(agent, series, Level::Raw, (from, to))? {
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
    fn sealed_buckets(
        &self,
        inner: &Inner,
        (agent, series, level): (u32, u32, Level),
        (from, to): (Millis, Millis),
        into: &mut BTreeMap<Millis, rollup::Bucket>,
    ) -> Result<()> {
        let floor = inner.floors.get(level);
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
    fn sealed_count(
        &self,
        agent: u32,
        series: u32,
        level: Level,
        window: (Millis, Millis),
    ) -> Result<u64> {
        let mut n = 0;
        for item in self.block_range(agent, series, level, window)? {
            let (_, value) = item?;
            n += Location::decode(&value).map_or(0, |l| u64::from(l.count));
        }
        Ok(n)
    }
}
