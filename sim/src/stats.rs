//! What the simulator counts: messages published by kind, bytes, errors,
//! and how far behind its schedule it ran. Read while it runs (rate
//! reports) and at the end (the summary line).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters shared by every task of one simulator.
#[derive(Debug, Default)]
pub struct SimStats {
    pub hello: AtomicU64,
    pub metrics: AtomicU64,
    pub bye: AtomicU64,
    pub results: AtomicU64,
    /// Replies to run, cancel and info requests.
    pub replies: AtomicU64,
    /// Payload bytes of everything published.
    pub bytes: AtomicU64,
    /// Publishes or encodings that failed.
    pub errors: AtomicU64,
    pub runs_started: AtomicU64,
    /// Agents online now.
    pub online: AtomicU64,
    /// Worst delay behind schedule since the last rate report, in ms.
    pub max_lag_ms: AtomicU64,
}

/// A copy of the counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub hello: u64,
    pub metrics: u64,
    pub bye: u64,
    pub results: u64,
    pub replies: u64,
    pub bytes: u64,
    pub errors: u64,
    pub runs_started: u64,
    pub online: u64,
}

impl Snapshot {
    /// Every message published.
    pub fn published(&self) -> u64 {
        self.hello + self.metrics + self.bye + self.results + self.replies
    }
}

impl SimStats {
    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            hello: get(&self.hello),
            metrics: get(&self.metrics),
            bye: get(&self.bye),
            results: get(&self.results),
            replies: get(&self.replies),
            bytes: get(&self.bytes),
            errors: get(&self.errors),
            runs_started: get(&self.runs_started),
            online: get(&self.online),
        }
    }

    /// Counts one publish of `len` bytes under `kind`, or its error.
    pub fn count_publish(&self, kind: &AtomicU64, len: usize, sent: Result<(), String>) {
        match sent {
            Ok(()) => {
                kind.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(len as u64, Ordering::Relaxed);
            }
            Err(e) => self.count_error(&e),
        }
    }

    /// Counts an error; logs the first ten, then every thousandth.
    pub fn count_error(&self, error: &str) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= 10 || n.is_multiple_of(1_000) {
            tracing::warn!("error {n}: {error}");
        }
    }

    pub fn note_lag(&self, lag: Duration) {
        let ms = u64::try_from(lag.as_millis()).unwrap_or(u64::MAX);
        self.max_lag_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// The worst lag since the last call.
    pub fn take_max_lag(&self) -> Duration {
        Duration::from_millis(self.max_lag_ms.swap(0, Ordering::Relaxed))
    }
}

/// One line of `--rate-report`: rates between two snapshots `dt` apart.
pub fn rate_line(
    agents: u32,
    before: &Snapshot,
    now: &Snapshot,
    dt: Duration,
    lag: Duration,
) -> String {
    let secs = dt.as_secs_f64().max(1e-9);
    let rate = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / secs;
    format!(
        "swarm-sim: {}/{agents} online, {:.0} msg/s (metrics {:.0}, hello {:.0}, bye {:.0}, results {:.0}, replies {:.0}), {:.2} MB/s, lag {} ms, errors {}",
        now.online,
        rate(before.published(), now.published()),
        rate(before.metrics, now.metrics),
        rate(before.hello, now.hello),
        rate(before.bye, now.bye),
        rate(before.results, now.results),
        rate(before.replies, now.replies),
        rate(before.bytes, now.bytes) / 1e6,
        lag.as_millis(),
        now.errors,
    )
}

/// What a finished simulation did, printed as one line at exit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub agents: u32,
    pub elapsed: Duration,
    pub totals: Snapshot,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        let secs = self.elapsed.as_secs_f64();
        write!(
            f,
            "swarm-sim: {} agents for {:.1} s: published {} messages ({:.0}/s; hello {}, metrics {}, bye {}, results {}, replies {}), {:.1} MB, {} test runs, {} errors",
            self.agents,
            secs,
            t.published(),
            t.published() as f64 / secs.max(1e-9),
            t.hello,
            t.metrics,
            t.bye,
            t.results,
            t.replies,
            t.bytes as f64 / 1e6,
            t.runs_started,
            t.errors,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_and_errors_are_counted_apart() {
        let stats = SimStats::default();
        stats.count_publish(&stats.metrics, 100, Ok(()));
        stats.count_publish(&stats.hello, 50, Ok(()));
        stats.count_publish(&stats.metrics, 100, Err("closed".into()));
        let s = stats.snapshot();
        assert_eq!((s.metrics, s.hello, s.errors, s.bytes), (1, 1, 1, 150));
        assert_eq!(s.published(), 2);
    }

    #[test]
    fn lag_is_the_worst_since_last_read() {
        let stats = SimStats::default();
        stats.note_lag(Duration::from_millis(5));
        stats.note_lag(Duration::from_millis(20));
        stats.note_lag(Duration::from_millis(3));
        assert_eq!(stats.take_max_lag(), Duration::from_millis(20));
        assert_eq!(stats.take_max_lag(), Duration::ZERO);
    }

    #[test]
    fn rates_are_per_second() {
        let before = Snapshot::default();
        let now = Snapshot {
            metrics: 50_000,
            hello: 100,
            online: 10_000,
            bytes: 25_000_000,
            ..Snapshot::default()
        };
        let line = rate_line(
            10_000,
            &before,
            &now,
            Duration::from_secs(5),
            Duration::ZERO,
        );
        assert!(line.contains("10000/10000 online"), "{line}");
        assert!(line.contains("10020 msg/s"), "{line}");
        assert!(line.contains("5.00 MB/s"), "{line}");
    }
}
