//! Opening a data directory: one hub at a time, in the layout this build
//! writes.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use fs2::FileExt;

use crate::{Result, StoreError};

/// Version of the key and value layout; bumped on incompatible changes.
pub const LAYOUT: u32 = 4;
/// The layout before the write-ahead log left sled: opened as this one
/// (its log is replayed once from the sled tree).
const LAYOUT_SLED_WAL: u32 = 3;
const LAYOUT_KEY: &[u8] = b"layout";
const LOCK_FILE: &str = "swarm-hub.lock";

/// How long a closing store of this same process is waited for: sled
/// releases its own lock only when its flusher thread has stopped, a
/// moment after the store is dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The directory's own lock, taken before sled opens anything, so that a
/// directory in use is told apart by the lock's error kind (sled's own
/// lock error only says so in its text).
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn take(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(LOCK_FILE);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        let deadline = Instant::now() + CLOSE_WAIT;
        loop {
            match file.try_lock_exclusive() {
                Ok(()) => return Ok(Self { _file: file }),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(StoreError::Locked {
                            path: dir.to_owned(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(io(e)),
            }
        }
    }
}

/// Page cache of the main database (chunks, write-ahead log, records)
/// and of the block index. sled's own default is 1 GiB each, which a hub
/// of 10,000 hosts fills within minutes; these bound the hub's memory.
pub(crate) const MAIN_CACHE_BYTES: u64 = 192 << 20;
pub(crate) const INDEX_CACHE_BYTES: u64 = 64 << 20;

/// Opens one sled database with a page cache of `cache_bytes`. With the
/// directory's lock held, a failure within [`CLOSE_WAIT`] is a store of
/// this process still closing, and is tried again.
pub(crate) fn open_db(dir: &Path, cache_bytes: u64) -> Result<sled::Db> {
    let deadline = Instant::now() + CLOSE_WAIT;
    loop {
        match sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .flush_every_ms(Some(500))
            .open()
        {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(source) => {
                return Err(StoreError::Open {
                    path: dir.to_owned(),
                    source,
                });
            }
        }
    }
}

/// Marks a new store with the layout it is written in, and refuses a store
/// written in another (before anything else is created beside it).
pub(crate) fn check(db: &sled::Db, dir: &Path) -> Result<()> {
    let meta = db.open_tree("meta")?;
    match meta.get(LAYOUT_KEY)? {
        Some(v) if v.as_ref() == LAYOUT.to_be_bytes() => Ok(()),
        Some(v) if v.as_ref() == LAYOUT_SLED_WAL.to_be_bytes() => {
            meta.insert(LAYOUT_KEY, &LAYOUT.to_be_bytes())?;
            Ok(())
        }
        None if db.open_tree("chunks")?.is_empty() && db.open_tree("dict")?.is_empty() => {
            meta.insert(LAYOUT_KEY, &LAYOUT.to_be_bytes())?;
            Ok(())
        }
        _ => Err(StoreError::Layout {
            path: dir.to_owned(),
        }),
    }
}
