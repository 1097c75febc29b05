//! Sealed history in append-only day files, indexed in sled.
//!
//! sled keeps values at two to three times their size (its log keeps old
//! versions of pages until it cleans a segment), and a small entry costs
//! hundreds of bytes: right for what changes (open chunks, open rollup
//! buckets, the index), wrong for years of history that never changes.
//! Closed hours of raw chunks and of 1-minute buckets, and closed days of
//! 1-hour buckets, are therefore written once as blocks into
//! `blocks/<level>/<day>.blk`, one file per level and UTC day of the data;
//! retention deletes whole files.
//!
//! A record is `magic "SWB1" | len u32 | crc32 u32 | key [17] | payload`
//! (little-endian), the CRC over key and payload, so a torn or damaged
//! record is an error, never wrong data. A record is only ever appended;
//! rewriting a block appends a new record and moves the index to it, and
//! the old one is left as garbage until its day file goes.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::level::Level;
use crate::{Result, StoreError};

const MAGIC: [u8; 4] = *b"SWB1";
const HEADER: usize = 4 + 4 + 4;
pub const KEY_LEN: usize = 17;
/// Day files kept open at once; older handles are dropped.
const MAX_OPEN: usize = 64;
pub use swarm_common::time::DAY_MS;

/// Where a block lives in its day file, and how many samples (raw) or
/// buckets (rollups) it holds: the index entry's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub offset: u64,
    pub len: u32,
    pub count: u32,
}

impl Location {
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.offset.to_le_bytes());
        out[8..12].copy_from_slice(&self.len.to_le_bytes());
        out[12..].copy_from_slice(&self.count.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Self {
            offset: u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?),
            len: u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?),
            count: u32::from_le_bytes(bytes.get(12..16)?.try_into().ok()?),
        })
    }
}

/// The day files of one data directory.
pub struct BlockFiles {
    root: PathBuf,
    open: Mutex<OpenFiles>,
}

#[derive(Default)]
struct OpenFiles {
    handles: HashMap<(Level, u64), Arc<File>>,
    /// Appended to since the last `sync`.
    unsynced: HashSet<(Level, u64)>,
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt {
        tree: "blocks",
        reason,
    }
}

impl BlockFiles {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("blocks"),
            open: Mutex::new(OpenFiles::default()),
        }
    }

    fn level_dir(&self, level: Level) -> PathBuf {
        self.root.join(level.dir_name())
    }

    fn path(&self, level: Level, day: u64) -> PathBuf {
        self.level_dir(level).join(format!("{day}.blk"))
    }

    fn files(&self) -> MutexGuard<'_, OpenFiles> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The handle of a day file, created (with its directory, made durable)
    /// when `create` and missing. `None`: no such file.
    fn handle(&self, level: Level, day: u64, create: bool) -> Result<Option<Arc<File>>> {
        let mut files = self.files();
        if let Some(file) = files.handles.get(&(level, day)) {
            return Ok(Some(file.clone()));
        }
        let path = self.path(level, day);
        let file = match OpenOptions::new().read(true).append(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let dir = self.level_dir(level);
                std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
                let file = OpenOptions::new()
                    .read(true)
                    .append(true)
                    .create(true)
                    .open(&path)
                    .map_err(io_error(&path))?;
                // The new name must survive a power loss with the data.
                File::open(&dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io_error(&dir))?;
                file
            }
            Err(e) => return Err(io_error(&path)(e)),
        };
        if files.handles.len() >= MAX_OPEN {
            let OpenFiles { handles, unsynced } = &mut *files;
            handles.retain(|k, _| unsynced.contains(k));
        }
        let file = Arc::new(file);
        files.handles.insert((level, day), file.clone());
        Ok(Some(file))
    }

    /// Appends a block to the day file that its start falls in.
    pub fn append(
        &self,
        level: Level,
        key: &[u8; KEY_LEN],
        start: u64,
        payload: &[u8],
        count: u32,
    ) -> Result<Location> {
        let day = start / DAY_MS;
        let path = self.path(level, day);
        let file = self
            .handle(level, day, true)?
            .ok_or_else(|| corrupt(format!("{} vanished", path.display())))?;
        let len = u32::try_from(payload.len())
            .map_err(|_| corrupt(format!("block of {} bytes", payload.len())))?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(key);
        crc.update(payload);
        let mut record = Vec::with_capacity(HEADER + KEY_LEN + payload.len());
        record.extend_from_slice(&MAGIC);
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&crc.finalize().to_le_bytes());
        record.extend_from_slice(key);
        record.extend_from_slice(payload);
        // One writer (the store's lock), so the length is where this lands.
        let offset = file.metadata().map_err(io_error(&path))?.len();
        (&*file).write_all(&record).map_err(io_error(&path))?;
        self.files().unsynced.insert((level, day));
        Ok(Location { offset, len, count })
    }

    /// Reads a block back, checking that it is whole and is the one the
    /// index meant.
    pub fn read(
        &self,
        level: Level,
        key: &[u8; KEY_LEN],
        start: u64,
        at: Location,
    ) -> Result<Vec<u8>> {
        let day = start / DAY_MS;
        let path = self.path(level, day);
        let file = self
            .handle(level, day, false)?
            .ok_or_else(|| corrupt(format!("{} is missing", path.display())))?;
        let mut record = vec![0u8; HEADER + KEY_LEN + at.len as usize];
        file.read_exact_at(&mut record, at.offset)
            .map_err(io_error(&path))?;
        let bad = |what: &str| corrupt(format!("{what} at {}:{}", path.display(), at.offset));
        if record[..4] != MAGIC || record[4..8] != at.len.to_le_bytes() {
            return Err(bad("no block header"));
        }
        let body = &record[HEADER..];
        if crc32fast::hash(body).to_le_bytes() != record[8..12] {
            return Err(bad("checksum mismatch"));
        }
        if body[..KEY_LEN] != key[..] {
            return Err(bad("another block"));
        }
        record.drain(..HEADER + KEY_LEN);
        Ok(record)
    }

    /// Makes every append so far durable (before the index points at it).
    pub fn sync(&self) -> Result<()> {
        let pending: Vec<(Level, u64)> = self.files().unsynced.drain().collect();
        for (level, day) in pending {
            if let Some(file) = self.handle(level, day, false)? {
                file.sync_data().map_err(io_error(&self.path(level, day)))?;
            }
        }
        Ok(())
    }

    /// Day files of a level: (day, bytes), oldest first.
    pub fn days(&self, level: Level) -> Result<Vec<(u64, u64)>> {
        let dir = self.level_dir(level);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error(&dir))?;
            let name = entry.file_name();
            let Some(day) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".blk"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let len = entry.metadata().map_err(io_error(&entry.path()))?.len();
            out.push((day, len));
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Bytes of every day file of a level.
    pub fn bytes(&self, level: Level) -> Result<u64> {
        Ok(self.days(level)?.iter().map(|d| d.1).sum())
    }

    /// Deletes the day files of a level before `day`; returns the bytes
    /// freed.
    pub fn remove_before(&self, level: Level, day: u64) -> Result<u64> {
        let mut freed = 0;
        for (d, len) in self.days(level)? {
            if d >= day {
                break;
            }
            let mut files = self.files();
            files.handles.remove(&(level, d));
            files.unsynced.remove(&(level, d));
            drop(files);
            let path = self.path(level, d);
            std::fs::remove_file(&path).map_err(io_error(&path))?;
            freed += len;
        }
        Ok(freed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_and_damage_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = BlockFiles::new(dir.path());
        let key = [7u8; KEY_LEN];
        let start = 3 * DAY_MS + 5;
        let a = files
            .append(Level::Raw, &key, start, b"first", 1)
            .expect("append");
        let b = files
            .append(Level::Raw, &key, start, b"second!", 2)
            .expect("append");
        files.sync().expect("sync");
        assert_eq!(
            files.read(Level::Raw, &key, start, a).expect("read"),
            b"first"
        );
        assert_eq!(
            files.read(Level::Raw, &key, start, b).expect("read"),
            b"second!"
        );
        assert_eq!(Location::decode(&b.encode()), Some(b));
        assert!(
            files.read(Level::Raw, &[8u8; KEY_LEN], start, a).is_err(),
            "key"
        );
        assert!(
            files.read(Level::Minute, &key, start, a).is_err(),
            "no such file"
        );

        let path = dir.path().join("blocks/raw/3.blk");
        let mut bytes = std::fs::read(&path).expect("file");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).expect("write");
        let fresh = BlockFiles::new(dir.path());
        assert!(fresh.read(Level::Raw, &key, start, b).is_err(), "checksum");
        assert_eq!(
            fresh.read(Level::Raw, &key, start, a).expect("read"),
            b"first"
        );

        assert_eq!(fresh.days(Level::Raw).expect("days").len(), 1);
        assert_eq!(fresh.remove_before(Level::Raw, 3).expect("rm"), 0);
        assert!(fresh.remove_before(Level::Raw, 4).expect("rm") > 0);
        assert_eq!(fresh.bytes(Level::Raw).expect("bytes"), 0);
    }
}
