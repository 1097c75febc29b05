//! A store job that never ends takes the hub down, so a supervisor starts
//! it again. sled 0.34 can deadlock inside its own I/O thread pool under
//! heavy writing (spacejam/sled#1412: a file truncation queued behind the
//! workers that wait for it); then ingest stops for good and SIGTERM can
//! no longer finish. Nothing is lost by exiting: the write-ahead log holds
//! every batch written, and JetStream everything not acknowledged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Exit status when a store job is stuck (EX_TEMPFAIL: try again).
pub const EXIT_STORE_STUCK: i32 = 75;

/// How long each kind of store job may take before the hub gives up.
pub const COMMIT_LIMIT: Duration = Duration::from_secs(120);
pub const CHECKPOINT_LIMIT: Duration = Duration::from_secs(300);
pub const PRUNE_LIMIT: Duration = Duration::from_secs(1_800);

#[derive(Debug, Default)]
pub struct Watchdog {
    jobs: Mutex<HashMap<u64, Job>>,
    next_id: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Job {
    what: &'static str,
    started: Instant,
    limit: Duration,
}

/// A job in progress; dropping it says the job ended.
pub struct Running<'a> {
    dog: &'a Watchdog,
    id: u64,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.dog.lock().remove(&self.id);
    }
}

impl Watchdog {
    /// A watchdog whose thread checks its jobs every second, for as long
    /// as the watchdog lives.
    pub fn start() -> Arc<Self> {
        let dog = Arc::new(Self::default());
        let weak = Arc::downgrade(&dog);
        let spawned = std::thread::Builder::new()
            .name("store-watchdog".into())
            .spawn(move || watch(&weak));
        if let Err(e) = spawned {
            tracing::error!("cannot start the store watchdog: {e}");
        }
        dog
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Job>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks a job as running until the returned guard drops.
    pub fn running(&self, what: &'static str, limit: Duration) -> Running<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            what,
            started: Instant::now(),
            limit,
        };
        self.lock().insert(id, job);
        Running { dog: self, id }
    }

    /// The first job past its limit, if any.
    fn overdue(&self, now: Instant) -> Option<(&'static str, Duration)> {
        self.lock()
            .values()
            .find(|j| now.duration_since(j.started) > j.limit)
            .map(|j| (j.what, now.duration_since(j.started)))
    }
}

fn watch(dog: &Weak<Watchdog>) {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let Some(dog) = dog.upgrade() else { return };
        if let Some((what, for_how_long)) = dog.overdue(Instant::now()) {
            tracing::error!(
                "the store has been stuck in {what} for {for_how_long:?}; exiting with status \
                 {EXIT_STORE_STUCK} so a supervisor restarts the hub (the write-ahead log and \
                 JetStream hold what is not acknowledged)"
            );
            eprintln!("swarm-hub: the store is stuck in {what}; exiting to be restarted");
            std::process::exit(EXIT_STORE_STUCK);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_past_its_limit_is_overdue_until_it_ends() {
        let dog = Watchdog::default();
        let now = Instant::now();
        assert_eq!(dog.overdue(now), None);
        let job = dog.running("checkpoint", Duration::from_millis(10));
        assert_eq!(dog.overdue(now), None);
        let later = now + Duration::from_secs(1);
        assert_eq!(dog.overdue(later).map(|(w, _)| w), Some("checkpoint"));
        drop(job);
        assert_eq!(dog.overdue(later), None);
    }
}
