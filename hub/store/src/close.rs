//! Closing the sled databases without hanging the hub.
//!
//! sled 0.34 flushes each tree when its last handle drops, and that flush
//! can wait forever for an I/O buffer nobody writes any more (the same
//! family of bugs as spacejam/sled#1412; seen about once in forty test
//! runs under load, with every sled thread idle). Everything the hub
//! acknowledged was flushed before its acknowledgement, so the closing
//! flush only tidies up: it runs on a thread of its own and is waited for
//! a bounded time, after which the hub goes on stopping.

use std::time::Duration;

/// How long a close may take before the hub stops waiting for it.
pub const CLOSE_LIMIT: Duration = Duration::from_secs(20);

/// Holds a handle to every database and tree of a store. Declared as the
/// store's last field, it is dropped last, so its handles are the last
/// ones and the closing flushes happen on its thread.
pub(super) struct Closer {
    dbs: Vec<sled::Db>,
    trees: Vec<sled::Tree>,
}

impl Closer {
    pub(super) fn new(dbs: &[&sled::Db], trees: &[&sled::Tree]) -> Self {
        Self {
            dbs: dbs.iter().map(|d| (*d).clone()).collect(),
            trees: trees.iter().map(|t| (*t).clone()).collect(),
        }
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        let dbs = std::mem::take(&mut self.dbs);
        let trees = std::mem::take(&mut self.trees);
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("store-close".into())
            .spawn(move || {
                for db in &dbs {
                    if let Err(e) = db.flush() {
                        tracing::warn!("closing the store: {e}");
                    }
                }
                drop(trees);
                drop(dbs);
                let _ = done.send(());
            });
        if let Err(e) = spawned {
            // No thread: the handles were moved into the closure that
            // failed to start and are closed here, as sled would.
            tracing::warn!("closing the store on the calling thread: {e}");
            return;
        }
        if finished.recv_timeout(CLOSE_LIMIT).is_err() {
            tracing::error!(
                "the store did not close within {CLOSE_LIMIT:?} (a sled flush that never \
                 returns); what was acknowledged is on disk, the write-ahead log and JetStream \
                 hold the rest"
            );
        }
    }
}
