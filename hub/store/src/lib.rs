//! The time-series store (layout in `DESIGN.md`, Storage). sled in `DIR`:
//!
//! - `chunks`: `agent u32 | series u32 | 0 | start u64` -> an open chunk
//!   with its samples' rollup contributions ([`open_chunk`]);
//! - `wal`: `seq u64` -> one ingest batch ([`wal`]), replayed at start-up
//!   and trimmed at each checkpoint;
//! - `dict`: agent and series names <-> u32 ids; `agent_series`: which
//!   series an agent has;
//! - `hosts`: agent id -> [`HostRecord`];
//! - `tests`: test id -> Test; `results`: `test_id | 0 | ts | agent | 0 |
//!   seq` -> TestResult (time order within a test).
//!
//! A second sled database in `DIR/index` holds, per series, the index of
//! its blocks, its sealed mark and its open rollup buckets (same key
//! shape, a level byte of their own), and the retention floors. Closed
//! hours and days are blocks in day files under `DIR/blocks/` (modules
//! `sealed` and `blocks`).
//!
//! Each series has an open head chunk in memory. Writes are idempotent: a
//! sample's place is a function of (agent, series, ts), so a replayed or
//! redelivered sample replaces itself.

pub mod alert_records;
pub mod block_format;
mod blocks;
mod cap;
pub mod chunk;
mod close;
pub mod config_records;
mod head;
mod keys;
mod layout;
pub mod open_chunk;
pub mod records;
pub mod rollup;
mod sealed;
pub mod wal;

use std::collections::BTreeMap;

// Ingest looks up every sample's agent, series and head: a fast hash, as
// the keys are the store's own (names from validated messages, ids).
use foldhash::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub use cap::CapReport;
use swarm_common::protocol::Millis;

pub use head::CHUNK_CAP;
use head::{Effect, Head, MAX_CHUNK_SPAN_MS, add_pending, insert_sorted};
use open_chunk::Contributions;
pub use records::{HostRecord, Records};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "data directory {path} is in use by another process (a running swarm-hub holds its lock)"
    )]
    Locked { path: PathBuf },
    #[error("cannot open data directory {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error(
        "data directory {path} was written in another storage layout than this swarm-hub's (v{layout}); use a new --data directory",
        layout = layout::LAYOUT
    )]
    Layout { path: PathBuf },
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("cannot use {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt chunk for agent {agent} series {series}: {source}")]
    Chunk {
        agent: String,
        series: String,
        source: chunk::ChunkError,
    },
    #[error("corrupt record in {tree}: {reason}")]
    Corrupt { tree: &'static str, reason: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One sample of one series, as ingest hands it to the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleRow<'a> {
    pub agent: &'a str,
    pub series: &'a str,
    pub ts: Millis,
    pub value: f64,
}

impl<'a> SampleRow<'a> {
    /// One series' points as rows (tests, benchmarks, imports).
    pub fn of_series(agent: &'a str, series: &'a str, points: &[(Millis, f64)]) -> Vec<Self> {
        points
            .iter()
            .map(|&(ts, value)| Self {
                agent,
                series,
                ts,
                value,
            })
            .collect()
    }
}

/// Counts for `stats` and benchmarks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    pub agents: usize,
    pub series: usize,
    /// Raw chunks in sled (the newest hours).
    pub chunks: usize,
    /// Raw samples in sled chunks and in blocks.
    pub samples_in_chunks: u64,
    /// Blocks per level (raw, 1 min, 1 h) in day files.
    pub blocks: [usize; 3],
    /// Rollup buckets per level (1 min, 1 h).
    pub rollup_buckets: [usize; 2],
    pub samples_in_heads: u64,
    pub wal_batches: usize,
    /// Keys and values of samples and rollups in sled, and day files.
    pub data_bytes: u64,
    pub bytes_on_disk: u64,
}

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

#[derive(Debug, Default)]
struct Dictionary {
    ids: HashMap<String, u32>,
    names: HashMap<u32, String>,
}

impl Dictionary {
    fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }
}

#[derive(Debug, Default)]
struct Inner {
    agents: Dictionary,
    series: Dictionary,
    heads: HashMap<(u32, u32), Head>,
    /// Which series each agent has: what the per-agent cap counts.
    agent_series: HashMap<u32, foldhash::HashSet<u32>>,
    next_wal_seq: u64,
    /// Per level (raw, 1 min, 1 h): retention removed what is older.
    floors: [Millis; 3],
}

pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    /// Open chunks (raw, level 0), the head of each series among them.
    chunks: sled::Tree,
    /// A second sled database (`DIR/index`) for what lives long or must
    /// change with it: block index entries, sealed marks, rollup buckets of
    /// open periods, retention floors. Kept apart from the log and the
    /// open chunks, whose churn otherwise keeps sled from reclaiming the
    /// space of a long-lived page among them (measured: sled's file grew
    /// with every month of history, about 1 byte per sample).
    index_db: sled::Db,
    index: sled::Tree,
    /// Per level: retention removed what is older (in `index_db`).
    floors: sled::Tree,
    wal: sled::Tree,
    dict: sled::Tree,
    agent_series: sled::Tree,
    records: records::Records,
    alerts: alert_records::AlertRecords,
    configs: config_records::ConfigRecords,
    blocks: blocks::BlockFiles,
    inner: Mutex<Inner>,
    /// Series one agent may have (`--max-series-per-agent`).
    max_series_per_agent: AtomicUsize,
    /// Samples of new series dropped because their agent had its most.
    series_limited: AtomicU64,
    /// Index entries of damaged blocks, set aside (in `index_db`): the
    /// day file keeps their bytes; the series goes on without them.
    quarantine: sled::Tree,
    quarantined: AtomicU64,
    /// Next to last, so that it drops after every other handle: closes
    /// the databases (see [`close`]).
    _closer: close::Closer,
    /// Held until the databases are closed.
    _lock: layout::DirLock,
}

/// Series one agent may have by default.
pub const DEFAULT_MAX_SERIES_PER_AGENT: usize = 1_024;

const AGENT_PREFIX: u8 = b'a';
const SERIES_PREFIX: u8 = b's';

impl Store {
    /// Opens (or creates) the store in `dir` and replays its write-ahead log.
    pub fn open(dir: &Path) -> Result<Self> {
        let lock = layout::DirLock::take(dir)?;
        let db = layout::open_db(dir, layout::MAIN_CACHE_BYTES)?;
        layout::check(&db, dir)?;
        let index_db = layout::open_db(&dir.join("index"), layout::INDEX_CACHE_BYTES)?;
        let chunks = db.open_tree("chunks")?;
        let wal = db.open_tree("wal")?;
        let dict = db.open_tree("dict")?;
        let agent_series = db.open_tree("agent_series")?;
        let records = records::Records::open(&db)?;
        let alerts = alert_records::AlertRecords::open(&db)?;
        let configs = config_records::ConfigRecords::open(&db)?;
        let index = index_db.open_tree("index")?;
        let floors = index_db.open_tree("floors")?;
        let quarantine = index_db.open_tree("quarantine")?;
        let mut trees = vec![
            &chunks,
            &wal,
            &dict,
            &agent_series,
            &index,
            &floors,
            &quarantine,
        ];
        trees.extend(records.trees());
        trees.extend(alerts.trees());
        trees.extend(configs.trees());
        let closer = close::Closer::new(&[&db, &index_db], &trees);
        let store = Self {
            dir: dir.to_path_buf(),
            chunks,
            wal,
            dict,
            agent_series,
            records,
            alerts,
            configs,
            blocks: blocks::BlockFiles::new(dir),
            index,
            floors,
            quarantine,
            index_db,
            db,
            inner: Mutex::new(Inner::default()),
            max_series_per_agent: AtomicUsize::new(DEFAULT_MAX_SERIES_PER_AGENT),
            series_limited: AtomicU64::new(0),
            quarantined: AtomicU64::new(0),
            _closer: closer,
            _lock: lock,
        };
        store.load_dictionaries()?;
        store.load_floors(&mut store.lock())?;
        let replayed = store.replay_wal()?;
        if replayed > 0 {
            tracing::info!("replayed {replayed} ingest batches from the write-ahead log");
            store.checkpoint()?;
        }
        Ok(store)
    }

    /// Host records, tests and results.
    pub fn records(&self) -> &records::Records {
        &self.records
    }

    /// Alert rules, states, events and silences.
    pub fn alerts(&self) -> &alert_records::AlertRecords {
        &self.alerts
    }

    /// Configuration pushed to agents.
    pub fn configs(&self) -> &config_records::ConfigRecords {
        &self.configs
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent-enough state
        // (every mutation is a single push or replace): keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn load_dictionaries(&self) -> Result<()> {
        let mut inner = self.lock();
        for item in self.dict.iter() {
            let (key, value) = item?;
            let id: [u8; 4] = value.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                tree: "dict",
                reason: "id is not 4 bytes".into(),
            })?;
            let id = u32::from_be_bytes(id);
            let name = String::from_utf8_lossy(&key[1..]).into_owned();
            let dict = match key.first() {
                Some(&AGENT_PREFIX) => &mut inner.agents,
                Some(&SERIES_PREFIX) => &mut inner.series,
                _ => continue,
            };
            dict.ids.insert(name.clone(), id);
            dict.names.insert(id, name);
        }
        for key in self.agent_series.iter().keys() {
            let key = key?;
            if let (Some(agent), Some(series)) = (keys::u32_from(&key), keys::series_of(&key)) {
                inner.agent_series.entry(agent).or_default().insert(series);
            }
        }
        inner.next_wal_seq = match self.wal.last()? {
            Some((key, _)) => keys::u64_from(&key).unwrap_or(0) + 1,
            None => 0,
        };
        Ok(())
    }

    fn intern(&self, inner: &mut Inner, kind: u8, name: &str) -> Result<u32> {
        let dict = if kind == AGENT_PREFIX {
            &mut inner.agents
        } else {
            &mut inner.series
        };
        if let Some(id) = dict.get(name) {
            return Ok(id);
        }
        let id = dict.ids.len() as u32;
        let mut key = Vec::with_capacity(name.len() + 1);
        key.push(kind);
        key.extend_from_slice(name.as_bytes());
        // The id is written before any WAL record uses it; sled keeps write
        // order across a crash, so a replayed record always finds its name.
        self.dict.insert(key, &id.to_be_bytes())?;
        dict.ids.insert(name.to_owned(), id);
        dict.names.insert(id, name.to_owned());
        Ok(id)
    }

    /// Caps the series each agent may have; those it has stay.
    pub fn set_max_series_per_agent(&self, max: usize) {
        self.max_series_per_agent.store(max, Ordering::Relaxed);
    }

    /// Damaged blocks set aside since the store opened.
    pub fn quarantined(&self) -> u64 {
        self.quarantined.load(Ordering::Relaxed)
    }

    /// Samples dropped because their agent had its most series.
    pub fn series_limited(&self) -> u64 {
        self.series_limited.load(Ordering::Relaxed)
    }

    /// The series id of a row, or `None` when it would be a new series of
    /// an agent at its cap (the name is then not even interned, so a flood
    /// of fresh names grows nothing).
    fn admit_series(&self, inner: &mut Inner, agent: u32, name: &str) -> Result<Option<u32>> {
        let has = inner.agent_series.get(&agent);
        let known = inner
            .series
            .get(name)
            .is_some_and(|s| has.is_some_and(|set| set.contains(&s)));
        if !known
            && has.map_or(0, |set| set.len()) >= self.max_series_per_agent.load(Ordering::Relaxed)
        {
            return Ok(None);
        }
        let series = self.intern(inner, SERIES_PREFIX, name)?;
        inner.agent_series.entry(agent).or_default().insert(series);
        Ok(Some(series))
    }

    /// Logs a batch in the write-ahead log, then applies it to the heads.
    pub fn ingest(&self, rows: &[SampleRow<'_>]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut inner = self.lock();
        let mut ids = Vec::with_capacity(rows.len());
        // Rows come grouped by message, so by agent.
        let mut last_agent: Option<(&str, u32)> = None;
        for row in rows {
            let agent = match last_agent {
                Some((name, id)) if name == row.agent => id,
                _ => {
                    let id = self.intern(&mut inner, AGENT_PREFIX, row.agent)?;
                    last_agent = Some((row.agent, id));
                    id
                }
            };
            let Some(series) = self.admit_series(&mut inner, agent, row.series)? else {
                self.series_limited.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            ids.push((agent, series, row.ts, row.value));
        }
        if ids.is_empty() {
            return Ok(());
        }
        let seq = inner.next_wal_seq;
        self.wal.insert(keys::u64_key(seq), wal::encode(&ids))?;
        inner.next_wal_seq += 1;
        let mut late = Vec::new();
        for (agent, series, ts, value) in ids {
            late.extend(self.apply(&mut inner, agent, series, ts, value)?);
        }
        if !late.is_empty() {
            self.merge_into_blocks(&inner, late)?;
        }
        Ok(())
    }

    fn replay_wal(&self) -> Result<usize> {
        let mut inner = self.lock();
        let mut batches = 0;
        for item in self.wal.iter() {
            let (key, value) = item?;
            // sled checksums what it stores: a record that does not decode
            // was written by something else. Said, skipped, not fatal.
            let Some(rows) = wal::decode(&value) else {
                tracing::error!(
                    "skipping undecodable write-ahead log record {}",
                    keys::u64_from(&key).unwrap_or(0)
                );
                continue;
            };
            let mut late = Vec::new();
            for (agent, series, ts, value) in rows {
                late.extend(self.apply(&mut inner, agent, series, ts, value)?);
            }
            if !late.is_empty() {
                self.merge_into_blocks(&inner, late)?;
            }
            batches += 1;
        }
        Ok(batches)
    }

    /// Puts a sample in its head or its sealed chunk in sled; returns it
    /// when its place is in a block (written by the caller, grouped).
    fn apply(
        &self,
        inner: &mut Inner,
        agent: u32,
        series: u32,
        ts: Millis,
        value: f64,
    ) -> Result<Option<sealed::Late>> {
        if !inner.heads.contains_key(&(agent, series)) {
            let head = self.load_head(inner, agent, series)?;
            inner.heads.insert((agent, series), head);
            // Replayed rows count against the cap as live ones do.
            inner.agent_series.entry(agent).or_default().insert(series);
        }
        let Some(head) = inner.heads.get_mut(&(agent, series)) else {
            return Ok(None);
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
        head.pending.clear();
        head.persisted_start = None;
        Ok(())
    }

    /// The newest chunk of a series becomes the head again if it is not
    /// full; otherwise a fresh head starts after it.
    fn load_head(&self, inner: &Inner, agent: u32, series: u32) -> Result<Head> {
        let latency = inner
            .series
            .names
            .get(&series)
            .is_some_and(|name| rollup::is_latency(name));
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
            self.agent_series
                .insert(keys::series_prefix(agent, series), &[])?;
        }
        Ok(head)
    }

    /// A late sample (older than the head): rewrite the sealed chunk that
    /// covers its time.
    fn merge_into_sealed(
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
        let latency = inner
            .series
            .names
            .get(&series)
            .is_some_and(|name| rollup::is_latency(name));
        add_pending(&mut contributions, ts, value, effect, latency);
        // The chunk and its rollup contributions in one value.
        self.chunks.insert(
            key,
            open_chunk::encode(&chunk::encode(&samples), &contributions),
        )?;
        Ok(())
    }

    /// Adds rollup contributions (one per bucket) to a batch as bucket
    /// entries: each read, merged and written back (the caller holds the
    /// store lock: one writer).
    fn add_rollups(
        &self,
        batch: &mut sled::Batch,
        agent: u32,
        series: u32,
        pending: &Contributions,
    ) -> Result<()> {
        for &((level, start), ref delta) in pending {
            let key = keys::level(agent, series, level, start);
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

    /// The batch that writes a head as a chunk with its rollup
    /// contributions (moving its key if its first sample changed).
    /// Writes a head chunk with its rollup contributions. A head whose
    /// start moved (a late sample before its first) replaces its old key
    /// in one batch; otherwise it is one insert. Most checkpoints write
    /// every head: single inserts keep them off sled's batch lock, which
    /// a stream of batches holds against its own log flusher (seen as a
    /// hang under 10,000 hosts).
    fn write_head(&self, agent: u32, series: u32, head: &mut Head) -> Result<()> {
        head.dirty = false;
        let Some(start) = head.start() else {
            return Ok(());
        };
        let key = keys::chunk(agent, series, start);
        let value = open_chunk::encode(&chunk::encode(&head.samples), &head.pending);
        match head.persisted_start.replace(start).filter(|o| *o != start) {
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
        Ok(())
    }

    /// The rollup contributions of a chunk value in sled.
    fn contributions(&self, value: &[u8]) -> Result<Contributions> {
        open_chunk::contributions(value).ok_or_else(|| StoreError::Corrupt {
            tree: "chunks",
            reason: "undecodable rollup contributions".into(),
        })
    }

    fn decode(
        &self,
        inner: &Inner,
        agent: u32,
        series: u32,
        bytes: &[u8],
    ) -> Result<Vec<(Millis, f64)>> {
        let raw = open_chunk::chunk(bytes).ok_or(chunk::ChunkError::Truncated);
        raw.and_then(chunk::decode)
            .map_err(|source| StoreError::Chunk {
                agent: inner.agents.names.get(&agent).cloned().unwrap_or_default(),
                series: inner.series.names.get(&series).cloned().unwrap_or_default(),
                source,
            })
    }

    /// Writes every changed head as a chunk, trims the write-ahead log up to
    /// what the chunks now hold, and flushes to disk.
    pub fn checkpoint(&self) -> Result<()> {
        let mut inner = self.lock();
        let upto = inner.next_wal_seq;
        for (&(agent, series), head) in inner.heads.iter_mut() {
            if head.dirty {
                self.write_head(agent, series, head)?;
            }
        }
        self.seal(&mut inner)?;
        drop(inner);
        // What late samples wrote into blocks is durable before the log
        // that holds them is trimmed.
        self.index_db.flush()?;
        let mut trim = sled::Batch::default();
        for item in self.wal.range(..keys::u64_key(upto)) {
            let (key, _) = item?;
            trim.remove(key);
        }
        self.wal.apply_batch(trim)?;
        self.db.flush()?;
        Ok(())
    }

    /// [`Store::flush`] for a blocking thread.
    pub fn flush_sync(&self) -> Result<()> {
        self.db.flush()?;
        self.index_db.flush()?;
        Ok(())
    }

    /// Makes everything written so far durable.
    pub async fn flush(&self) -> Result<()> {
        self.db.flush_async().await?;
        self.index_db.flush_async().await?;
        Ok(())
    }

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
        level: u8,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<(Millis, rollup::Bucket)>> {
        let width = rollup::width(level).unwrap_or(1);
        let from = from - from % width;
        let inner = self.lock();
        let (Some(a), Some(s)) = (inner.agents.get(agent), inner.series.get(series)) else {
            return Ok(Vec::new());
        };
        let mut buckets: BTreeMap<Millis, rollup::Bucket> = BTreeMap::new();
        self.sealed_buckets(&inner, (a, s, level), (from, to), &mut buckets)?;
        for item in self
            .index
            .range(keys::level(a, s, level, from)..=keys::level(a, s, level, to))
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
        let floor = inner.floors[usize::from(level.min(2))];
        Ok(buckets
            .into_iter()
            .filter(|(start, b)| b.agg.count > 0 && *start >= floor)
            .collect())
    }

    /// A series' sealed mark: its head's, or the stored one.
    fn sealed_of(&self, inner: &Inner, a: u32, s: u32) -> Result<Millis> {
        match inner.heads.get(&(a, s)) {
            Some(head) => Ok(head.sealed_through),
            None => self.sealed_mark(a, s),
        }
    }

    /// Open chunks that may hold samples in `[from, to]`: the one starting
    /// at or before `from`, and every one starting inside the window; none
    /// before the sealed mark, and not the head's stored copy (the head in
    /// memory is newer).
    fn raw_chunks(
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
        let (Some(a), Some(s)) = (inner.agents.get(agent), inner.series.get(series)) else {
            return Ok(Ok(()));
        };
        // A late sample older than retention may sit in sled until the
        // next prune: never shown.
        let from = from.max(inner.floors[0]);
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
        let (Some(a), Some(s)) = (inner.agents.get(agent), inner.series.get(series)) else {
            return Ok(0);
        };
        let mut n = self.sealed_count(a, s, rollup::RAW, (from, to))? as usize;
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

    /// Removes what retention no longer keeps: raw samples older than
    /// `cutoffs.raw`, rollup buckets that start before their level's
    /// cutoff. Exactly those, nothing else: from then on no read returns
    /// them, and their space goes with whole day files (open chunks, an
    /// hour or so per series, go when sealed).
    pub fn prune(&self, cutoffs: &Cutoffs) -> Result<PruneStats> {
        let mut inner = self.lock();
        let mut stats = PruneStats::default();
        let series: Vec<(u32, u32)> = self
            .agent_series
            .iter()
            .keys()
            .filter_map(|k| {
                let k = k.ok()?;
                Some((keys::u32_from(&k)?, keys::series_of(&k)?))
            })
            .collect();
        let old_floor = inner.floors[0];
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
            for (level, cutoff) in [(1u8, cutoffs.minute), (2, cutoffs.hour)] {
                for item in self
                    .index
                    .range(keys::level(a, s, level, 0)..keys::level(a, s, level, cutoff))
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

    /// Series names an agent has data for, sorted.
    pub fn series_of(&self, agent: &str) -> Result<Vec<String>> {
        let inner = self.lock();
        let Some(a) = inner.agents.get(agent) else {
            return Ok(Vec::new());
        };
        let mut names = Vec::new();
        for item in self.agent_series.scan_prefix(a.to_be_bytes()) {
            let (key, _) = item?;
            if let Some(name) = keys::series_of(&key).and_then(|s| inner.series.names.get(&s)) {
                names.push(name.clone());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Deletes an agent's history: its heads, open chunks, block index
    /// entries, sealed marks, open rollup buckets and series list. Blocks
    /// in day files that nothing points into any more go when retention
    /// removes their day.
    pub fn purge_agent(&self, agent: &str) -> Result<u64> {
        let mut inner = self.lock();
        let Some(a) = inner.agents.get(agent) else {
            return Ok(0);
        };
        inner.heads.retain(|(agent, _), _| *agent != a);
        inner.agent_series.remove(&a);
        let prefix = a.to_be_bytes();
        let mut removed = 0;
        for tree in [&self.chunks, &self.index, &self.agent_series] {
            let mut batch = sled::Batch::default();
            for key in tree.scan_prefix(prefix).keys() {
                batch.remove(key?);
                removed += 1;
            }
            tree.apply_batch(batch)?;
        }
        drop(inner);
        self.index_db.flush()?;
        self.db.flush()?;
        Ok(removed)
    }

    /// Total size of the raw data: encoded open chunks in sled (without
    /// their rollup contributions, before sled's own overhead) and raw day
    /// files.
    pub fn chunk_bytes(&self) -> Result<u64> {
        let mut total = self.block_bytes(Some(rollup::RAW))?;
        for item in self.chunks.iter() {
            let (key, value) = item?;
            if keys::level_of(&key) == Some(rollup::RAW) {
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

    pub fn stats(&self) -> Result<StoreStats> {
        let bytes_on_disk = self.disk_bytes()?;
        let inner = self.lock();
        let block_bytes = self.block_bytes(None)?;
        let mut stats = StoreStats {
            agents: inner.agents.ids.len(),
            series: self.agent_series.len(),
            wal_batches: self.wal.len(),
            bytes_on_disk,
            data_bytes: block_bytes,
            samples_in_heads: inner.heads.values().map(|h| h.samples.len() as u64).sum(),
            ..StoreStats::default()
        };
        for item in self.chunks.iter().chain(self.index.iter()) {
            let (key, bytes) = item?;
            stats.data_bytes += (key.len() + bytes.len()) as u64;
            let count = || blocks::Location::decode(&bytes).map_or(0, |l| l.count);
            match keys::level_of(&key) {
                Some(rollup::RAW) => {
                    stats.chunks += 1;
                    stats.samples_in_chunks +=
                        open_chunk::chunk(&bytes).map_or(0, chunk::count) as u64;
                }
                Some(level @ (1 | 2)) => stats.rollup_buckets[usize::from(level) - 1] += 1,
                Some(keys::BLOCKS) => {
                    stats.blocks[0] += 1;
                    stats.samples_in_chunks += u64::from(count());
                }
                Some(level @ (0x11 | 0x12)) => {
                    let level = usize::from(level - keys::BLOCKS);
                    stats.blocks[level] += 1;
                    stats.rollup_buckets[level - 1] += count() as usize;
                }
                _ => {}
            }
        }
        Ok(stats)
    }
}

#[cfg(test)]
pub(crate) mod tests;
