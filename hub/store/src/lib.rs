//! The time-series store (layout in `DESIGN.md`, Storage). sled in `DIR`:
//!
//! - `chunks`: `agent u32 | series u32 | 0 | start u64` -> an open chunk
//!   with its samples' rollup contributions ([`open_chunk`]);
//! - `dict`: agent and series names <-> u32 ids; `agent_series`: which
//!   series an agent has;
//! - `hosts`: agent id -> [`HostRecord`];
//! - `tests`: test id -> Test; `results`: `test_id | 0 | ts | agent | 0 |
//!   seq` -> TestResult (time order within a test).
//!
//! The write-ahead log is in segment files under `DIR/wal/` ([`wal`]),
//! replayed at start-up and trimmed at each checkpoint.
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
//!
//! Where each job lives: [`Store`] here is the facade; `write` (log,
//! heads, checkpoint), `late` (samples older than their head), `seal`
//! (moving closed hours into blocks), `sealed` (blocks through the index,
//! quarantine), `read` (queries), `retention` (cut-offs, floors, prune,
//! size cap), `catalog` (names, ids, series per agent), `stats`; formats
//! in [`chunk`], [`block_format`], [`open_chunk`], [`wal`]; the
//! resolutions in [`level`]; records beside the series in [`records`],
//! [`alert_records`], [`config_records`].

pub mod alert_records;
pub mod block_format;
mod blocks;
mod catalog;
pub mod chunk;
mod close;
pub mod config_records;
mod error;
mod head;
mod heads;
mod keys;
mod late;
mod layout;
pub mod level;
pub mod open_chunk;
mod read;
pub mod records;
mod retention;
pub mod rollup;
mod seal;
mod sealed;
mod stats;
pub mod wal;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use swarm_common::protocol::Millis;

pub use catalog::DEFAULT_MAX_SERIES_PER_AGENT;
pub use error::{Result, StoreError};
pub use head::CHUNK_CAP;
pub use level::Level;
pub use records::{HostRecord, PastRun, Records};
pub use retention::{CapReport, Cutoffs, PruneStats};
pub use stats::StoreStats;

use catalog::Catalog;
use heads::Heads;
use retention::Floors;
use sealed::Quarantine;
use wal::Wal;

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

/// What the store's lock guards: everything ingest, reads, seals and
/// retention change together.
struct Inner {
    catalog: Catalog,
    /// The open head of each series, by (agent, series) id.
    heads: Heads,
    wal: Wal,
    floors: Floors,
    /// The rows of the batch being ingested, kept between batches.
    scratch: Vec<wal::Row>,
}

/// The store: one facade; each job lives in its own module (write path,
/// late samples, seal, reads, retention, stats), each owning its state.
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    /// Open chunks (raw), the head of each series among them.
    chunks: sled::Tree,
    /// A second sled database (`DIR/index`) for what lives long or must
    /// change with it: block index entries, sealed marks, rollup buckets of
    /// open periods, retention floors. Kept apart from the log and the
    /// open chunks, whose churn otherwise keeps sled from reclaiming the
    /// space of a long-lived page among them (measured: sled's file grew
    /// with every month of history, about 1 byte per sample).
    index_db: sled::Db,
    index: sled::Tree,
    /// Syncs the write-ahead log without the store's lock.
    wal_sync: wal::SyncHandle,
    records: records::Records,
    alerts: alert_records::AlertRecords,
    configs: config_records::ConfigRecords,
    blocks: blocks::BlockFiles,
    quarantine: Quarantine,
    inner: Mutex<Inner>,
    /// Samples of new series dropped because their agent had its most.
    series_limited: AtomicU64,
    /// Next to last, so that it drops after every other handle: closes
    /// the databases (see [`close`]).
    _closer: close::Closer,
    /// Held until the databases are closed.
    _lock: layout::DirLock,
}

impl Store {
    /// Opens (or creates) the store in `dir` and replays its write-ahead log.
    pub fn open(dir: &Path) -> Result<Self> {
        let lock = layout::DirLock::take(dir)?;
        let db = layout::open_db(dir, layout::MAIN_CACHE_BYTES)?;
        layout::check(&db, dir)?;
        let index_db = layout::open_db(&dir.join("index"), layout::INDEX_CACHE_BYTES)?;
        let chunks = db.open_tree("chunks")?;
        let catalog = Catalog::open(&db)?;
        let wal = Wal::open(dir, &db)?;
        let wal_sync = wal.sync_handle();
        let records = records::Records::open(&db)?;
        let alerts = alert_records::AlertRecords::open(&db)?;
        let configs = config_records::ConfigRecords::open(&db)?;
        let index = index_db.open_tree("index")?;
        let floors = Floors::open(&index_db)?;
        let quarantine = Quarantine::open(&index_db)?;
        let mut trees = vec![
            &chunks,
            wal.legacy_tree(),
            &index,
            floors.tree(),
            quarantine.tree(),
        ];
        trees.extend(catalog.trees());
        trees.extend(records.trees());
        trees.extend(alerts.trees());
        trees.extend(configs.trees());
        let closer = close::Closer::new(&[&db, &index_db], &trees);
        let store = Self {
            dir: dir.to_path_buf(),
            chunks,
            records,
            alerts,
            configs,
            blocks: blocks::BlockFiles::new(dir),
            index,
            quarantine,
            index_db,
            db,
            wal_sync,
            inner: Mutex::new(Inner {
                catalog,
                heads: Heads::default(),
                wal,
                floors,
                scratch: Vec::new(),
            }),
            series_limited: AtomicU64::new(0),
            _closer: closer,
            _lock: lock,
        };
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

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent-enough state
        // (every mutation is a single push or replace): keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Caps the series each agent may have; those it has stay.
    pub fn set_max_series_per_agent(&self, max: usize) {
        self.lock().catalog.set_max_series_per_agent(max);
    }

    /// Damaged blocks set aside since the store opened.
    pub fn quarantined(&self) -> u64 {
        self.quarantine.count()
    }

    /// Samples dropped because their agent had its most series.
    pub fn series_limited(&self) -> u64 {
        self.series_limited.load(Ordering::Relaxed)
    }

    /// Makes the samples ingested so far durable: they are in the
    /// write-ahead log until a checkpoint has them in durable chunks
    /// (blocking: call it from a blocking thread).
    pub fn flush_log(&self) -> Result<()> {
        self.wal_sync.sync()
    }

    /// Makes everything written so far durable (blocking: call it from a
    /// blocking thread).
    pub fn flush_sync(&self) -> Result<()> {
        self.db.flush()?;
        self.index_db.flush()?;
        self.wal_sync.sync()
    }

    /// Deletes an agent's history: its heads, open chunks, block index
    /// entries, sealed marks, open rollup buckets and series list. Blocks
    /// in day files that nothing points into any more go when retention
    /// removes their day.
    pub fn purge_agent(&self, agent: &str) -> Result<u64> {
        let mut inner = self.lock();
        let Some(a) = inner.catalog.agent(agent) else {
            return Ok(0);
        };
        inner.heads.retain(|(agent, _)| *agent != a);
        let prefix = a.to_be_bytes();
        let mut removed = 0;
        for tree in [&self.chunks, &self.index] {
            let mut batch = sled::Batch::default();
            for key in tree.scan_prefix(prefix).keys() {
                batch.remove(key?);
                removed += 1;
            }
            tree.apply_batch(batch)?;
        }
        // Unlisted last: a crash before this leaves the series listed, so
        // retention and the next purge still find what is left of them.
        removed += inner.catalog.forget_agent(a)?;
        drop(inner);
        self.index_db.flush()?;
        self.db.flush()?;
        Ok(removed)
    }
}

#[cfg(test)]
pub(crate) mod tests;
