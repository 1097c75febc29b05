//! Free space on the data directory's disk. sled does not recover from a
//! write the disk refused (every later write fails until the store is
//! reopened), so the hub never lets it get there: below the floor it stops
//! taking and acknowledging messages (JetStream keeps them), says so, and
//! goes on by itself once there is room again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub struct DiskGuard {
    dir: PathBuf,
    min_free: u64,
    low: AtomicBool,
    /// Times the hub paused for lack of space.
    pub pauses: AtomicU64,
}

impl DiskGuard {
    pub fn new(dir: &Path, min_free: u64) -> Self {
        Self {
            dir: dir.to_path_buf(),
            min_free,
            low: AtomicBool::new(false),
            pauses: AtomicU64::new(0),
        }
    }

    /// Whether there is room to write; logs each change of state. A disk
    /// whose free space cannot be read counts as having room (the store's
    /// own errors then say what is wrong).
    pub fn has_room(&self) -> bool {
        let free = match fs2::available_space(&self.dir) {
            Ok(free) => free,
            Err(e) => {
                tracing::debug!("cannot read free space of {}: {e}", self.dir.display());
                return true;
            }
        };
        let room = free >= self.min_free;
        let was_low = self.low.swap(!room, Ordering::Relaxed);
        match (was_low, room) {
            (false, false) => {
                self.pauses.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    "disk nearly full: {} MiB free for {} (the floor is {} MiB): not storing or acknowledging anything until there is room; JetStream keeps the messages",
                    free >> 20,
                    self.dir.display(),
                    self.min_free >> 20
                );
            }
            (true, true) => tracing::info!(
                "disk has room again ({} MiB free): storing and acknowledging",
                free >> 20
            ),
            _ => {}
        }
        room
    }

    pub fn is_low(&self) -> bool {
        self.low.load(Ordering::Relaxed)
    }
}
