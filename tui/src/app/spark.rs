//! Recent values of one host series in time buckets, for the hosts
//! table's sparklines. A cell is a bucket of wall-clock time
//! ([`BUCKET_MS`]), not a sample: while its bucket is open a cell is
//! updated in place (to the bucket's max, so a peak stays visible), and
//! the whole line moves one cell only when a bucket closes, for every
//! host at the same moment. A line that scrolled one cell per sample
//! would rewrite every cell of every row on each sample, which over SSH
//! is most of what the console writes.

use std::collections::VecDeque;

use swarm_common::protocol::Millis;

/// Time per sparkline cell.
pub const BUCKET_MS: Millis = 5_000;
/// Buckets kept per series: the widest sparkline (10 minutes).
pub const BUCKETS: usize = 120;

/// The newest [`BUCKETS`] buckets of one series; `NaN` is a bucket
/// without a sample. `f32` halves what 10,000 hosts keep.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    values: VecDeque<f32>,
    /// Bucket number (`ts / BUCKET_MS`) of the newest value.
    newest: u64,
}

impl Buckets {
    /// Takes a sample: into its bucket (the max of what fell in it), or
    /// into a new newest bucket. One older than the kept span is dropped.
    pub fn push(&mut self, ts: Millis, value: f64) {
        let bucket = ts / BUCKET_MS;
        let value = value as f32;
        if self.values.is_empty() {
            self.values.push_back(value);
            self.newest = bucket;
            return;
        }
        if bucket > self.newest {
            let gap = (bucket - self.newest - 1).min(BUCKETS as u64) as usize;
            self.values.extend(std::iter::repeat_n(f32::NAN, gap));
            self.values.push_back(value);
            self.newest = bucket;
            while self.values.len() > BUCKETS {
                self.values.pop_front();
            }
            return;
        }
        let back = (self.newest - bucket) as usize;
        if back >= BUCKETS {
            return;
        }
        while self.values.len() <= back {
            self.values.push_front(f32::NAN);
        }
        let at = self.values.len() - 1 - back;
        let slot = &mut self.values[at];
        *slot = if slot.is_nan() {
            value
        } else {
            slot.max(value)
        };
    }

    /// The `width` buckets that end with the one `now` is in (or the one
    /// before while no sample fell in the current one yet, so a host
    /// reporting once a bucket never shows a blank cell it has not
    /// missed), oldest first; `None` for a bucket without a sample.
    pub fn cells(&self, now: Millis, width: usize) -> impl Iterator<Item = Option<f64>> + '_ {
        let current = now / BUCKET_MS;
        let last = if self.newest >= current {
            current
        } else {
            current.saturating_sub(1)
        };
        let first = last.saturating_sub(width.saturating_sub(1) as u64);
        let oldest = self
            .newest
            .saturating_sub(self.values.len().saturating_sub(1) as u64);
        (first..=last).take(width).map(move |b| {
            if self.values.is_empty() || b < oldest || b > self.newest {
                return None;
            }
            let v = self.values[(b - oldest) as usize];
            (!v.is_nan()).then_some(f64::from(v))
        })
    }

    /// How many buckets hold a sample.
    pub fn len(&self) -> usize {
        self.values.iter().filter(|v| !v.is_nan()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_changes_in_place_until_its_bucket_closes() {
        let mut b = Buckets::default();
        let t0 = 1_000 * BUCKET_MS;
        b.push(t0, 10.0);
        b.push(t0 + 1_000, 30.0);
        b.push(t0 + 2_000, 20.0);
        let cells: Vec<_> = b.cells(t0 + 2_000, 3).collect();
        assert_eq!(
            cells,
            [None, None, Some(30.0)],
            "the bucket's max, in place"
        );
        // The next bucket opens: the line moves one cell.
        b.push(t0 + BUCKET_MS, 5.0);
        let cells: Vec<_> = b.cells(t0 + BUCKET_MS, 3).collect();
        assert_eq!(cells, [None, Some(30.0), Some(5.0)]);
        // Nothing yet in the bucket just opened: the line ends with the
        // one before; silence brings empty cells in from the right.
        let cells: Vec<_> = b.cells(t0 + 2 * BUCKET_MS, 3).collect();
        assert_eq!(cells, [None, Some(30.0), Some(5.0)]);
        let cells: Vec<_> = b.cells(t0 + 3 * BUCKET_MS, 3).collect();
        assert_eq!(cells, [Some(30.0), Some(5.0), None]);
        // A late sample lands in its own bucket; a gap stays a gap.
        b.push(t0 + 3 * BUCKET_MS, 1.0);
        b.push(t0 - BUCKET_MS, 99.0);
        let cells: Vec<_> = b.cells(t0 + 3 * BUCKET_MS, 5).collect();
        assert_eq!(cells, [Some(99.0), Some(30.0), Some(5.0), None, Some(1.0)]);
        assert_eq!(b.len(), 4);
    }

    #[test]
    fn only_the_newest_buckets_are_kept() {
        let mut b = Buckets::default();
        for i in 0..(BUCKETS as u64 + 10) {
            b.push(i * BUCKET_MS, i as f64);
        }
        assert_eq!(b.len(), BUCKETS);
        // A jump far ahead keeps memory bounded too.
        b.push(10_000 * BUCKETS as u64 * BUCKET_MS, 1.0);
        assert_eq!(b.len(), 1);
        assert!(b.values.len() <= BUCKETS);
    }
}
