//! History queries: resolve the request's window and fit it in
//! `max_points`, with buckets aligned to multiples of the step.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use sketches_ddsketch::DDSketch;
use swarm_common::protocol::{
    ApiError, ErrorCode, HistoryPoint, HistoryRequest, Millis, PercentilePoint, WindowPercentiles,
};

use crate::store::rollup::{self, Bucket};
use crate::store::{Cutoffs, Level, Store, StoreError};
use crate::summary;
use swarm_common::time::{DAY_MS, HOUR_MS, MINUTE_MS};

/// Largest `max_points` a client may ask for.
pub const MAX_POINTS_LIMIT: u32 = 20_000;

/// Steps a reply may use: round numbers an operator reads at a glance.
const STEPS_MS: &[u64] = &[
    1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
    1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];

/// `from` and `to` as absolute ms: negative means that long before now, and
/// an absent `to` is now.
pub fn window(req: &HistoryRequest, now: Millis) -> Result<(Millis, Millis), ApiError> {
    let abs = |v: i64| -> Millis {
        if v < 0 {
            now.saturating_sub(v.unsigned_abs())
        } else {
            v as Millis
        }
    };
    let from = abs(req.from);
    let to = req.to.map_or(now, abs);
    if from > to {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("from ({from}) is after to ({to})"),
        ));
    }
    Ok((from, to))
}

/// The requested cap, validated.
pub fn max_points(req: &HistoryRequest) -> Result<u32, ApiError> {
    match req.max_points {
        None => Ok(swarm_common::protocol::DEFAULT_MAX_POINTS),
        Some(0) => Err(ApiError::new(
            ErrorCode::BadRequest,
            "max_points must be at least 1",
        )),
        Some(n) if n > MAX_POINTS_LIMIT => Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("max_points {n} is over the limit of {MAX_POINTS_LIMIT}"),
        )),
        Some(n) => Ok(n),
    }
}

/// The smallest round step whose aligned buckets over `[from, to]` number
/// at most `max_points`.
pub fn step_for(from: Millis, to: Millis, max_points: u32) -> u64 {
    let fits = |step: u64| to / step - from / step < u64::from(max_points);
    STEPS_MS
        .iter()
        .copied()
        .find(|s| fits(*s))
        .unwrap_or_else(|| {
            let days = (to - from) / DAY_MS / u64::from(max_points) + 1;
            (days..)
                .map(|d| d * DAY_MS)
                .find(|s| fits(*s))
                .unwrap_or(u64::MAX)
        })
}

/// Raw samples (time-ordered, inside the window) to the reply's step and
/// points: one point per sample when they fit (step 0), else one
/// `[start, min, avg, max]` per non-empty bucket.
pub fn fit(
    samples: &[(Millis, f64)],
    from: Millis,
    to: Millis,
    max_points: u32,
) -> (u64, Vec<HistoryPoint>) {
    if samples.len() <= max_points as usize {
        return (0, samples.iter().map(|&(t, v)| (t, v, v, v)).collect());
    }
    let step = step_for(from, to, max_points);
    let mut points: Vec<HistoryPoint> = Vec::new();
    let mut current: Option<(Millis, f64, f64, f64, u32)> = None;
    for &(ts, v) in samples {
        let bucket = ts - ts % step;
        match &mut current {
            Some((start, min, sum, max, n)) if *start == bucket => {
                *min = min.min(v);
                *max = max.max(v);
                *sum += v;
                *n += 1;
            }
            _ => {
                if let Some((start, min, sum, max, n)) = current.take() {
                    points.push((start, min, sum / f64::from(n), max));
                }
                current = Some((bucket, v, v, v, 1));
            }
        }
    }
    if let Some((start, min, sum, max, n)) = current {
        points.push((start, min, sum / f64::from(n), max));
    }
    (step, points)
}

/// A history answer: the step, the points, and for latency series their
/// percentiles.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub step_ms: u64,
    pub points: Vec<HistoryPoint>,
    pub percentiles: Option<(Vec<PercentilePoint>, WindowPercentiles)>,
}

impl History {
    #[cfg(test)]
    fn parts(self) -> (u64, Vec<HistoryPoint>) {
        (self.step_ms, self.points)
    }
}

/// Answers a window from the finest resolution that still holds it and
/// fits `max_points`: raw samples (step 0) when they fit, raw buckets for
/// steps under a minute, else 1-minute rollups, and 1-hour rollups for
/// steps of an hour or more and for the part of a window older than the
/// 1-minute retention. Time ranges never overlap between resolutions, so
/// nothing is counted twice. Latency series also get percentiles: exact
/// from raw samples, from merged sketches for rollups.
pub fn query(
    store: &Store,
    cutoffs: &Cutoffs,
    agent: &str,
    series: &str,
    (from, to): (Millis, Millis),
    max_points: u32,
) -> Result<History, StoreError> {
    let latency = rollup::is_latency(series);
    let step = step_for(from, to, max_points);
    let raw_covers = from >= cutoffs.raw;
    if raw_covers
        && (step < MINUTE_MS
            || store.raw_count_estimate(agent, series, from, to)? <= max_points as usize)
    {
        let samples = store.query_raw(agent, series, from, to)?;
        if samples.len() <= max_points as usize || step < MINUTE_MS {
            let (step_ms, points) = fit(&samples, from, to, max_points);
            let percentiles = latency.then(|| exact_percentiles(&samples, step_ms));
            return Ok(History {
                step_ms,
                points,
                percentiles,
            });
        }
    }
    let step = step.max(MINUTE_MS);
    let mut buckets: BTreeMap<Millis, Bucket> = BTreeMap::new();
    let mut add = |level: Level, lo: Millis, hi: Millis| -> Result<(), StoreError> {
        if lo > hi {
            return Ok(());
        }
        for (start, bucket) in store.query_rollup(agent, series, level, lo, hi)? {
            match buckets.entry(start - start % step) {
                Entry::Occupied(mut e) => e.get_mut().merge(&bucket),
                Entry::Vacant(e) => {
                    e.insert(bucket);
                }
            }
        }
        Ok(())
    };
    if step >= HOUR_MS {
        add(Level::Hour, from, to)?;
    } else {
        // Hours before the 1-minute retention come from hourly buckets.
        let boundary = cutoffs.minute.div_ceil(HOUR_MS) * HOUR_MS;
        if from < boundary {
            add(Level::Hour, from, boundary.min(to + 1) - 1)?;
        }
        add(Level::Minute, from.max(boundary), to)?;
    }
    let points = buckets
        .iter()
        .map(|(&ts, b)| (ts, b.agg.min, b.agg.avg(), b.agg.max))
        .collect();
    let percentiles = latency.then(|| sketch_percentiles(&buckets));
    Ok(History {
        step_ms: step,
        points,
        percentiles,
    })
}

/// Nearest-rank percentiles per point and over the window, from raw
/// samples in time order.
fn exact_percentiles(
    samples: &[(Millis, f64)],
    step: u64,
) -> (Vec<PercentilePoint>, WindowPercentiles) {
    let of = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let p = |q| summary::percentile(values, q).unwrap_or(f64::NAN);
        (p(50.0), p(95.0), p(99.0))
    };
    let mut points = Vec::new();
    let mut i = 0;
    while i < samples.len() {
        let bucket = |ts: Millis| if step == 0 { ts } else { ts - ts % step };
        let start = bucket(samples[i].0);
        let mut values = Vec::new();
        while i < samples.len() && bucket(samples[i].0) == start {
            values.push(samples[i].1);
            i += 1;
        }
        let (p50, p95, p99) = of(&mut values);
        points.push((start, p50, p95, p99));
    }
    let mut all: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let window = window_of(samples.len(), of(&mut all), 0.0);
    (points, window)
}

/// Percentiles per point and over the window from the buckets' sketches.
fn sketch_percentiles(
    buckets: &BTreeMap<Millis, Bucket>,
) -> (Vec<PercentilePoint>, WindowPercentiles) {
    let quantiles = |sketch: &DDSketch| {
        let q = |q| sketch.quantile(q).ok().flatten().unwrap_or(f64::NAN);
        (q(0.5), q(0.95), q(0.99))
    };
    let mut whole = rollup::new_sketch();
    let mut points = Vec::with_capacity(buckets.len());
    for (&ts, bucket) in buckets {
        if let Some(sketch) = &bucket.sketch {
            let (p50, p95, p99) = quantiles(sketch);
            points.push((ts, p50, p95, p99));
            // Both come from `new_sketch`'s configuration: merge succeeds.
            let _ = whole.merge(sketch);
        }
    }
    let window = window_of(
        whole.count(),
        quantiles(&whole),
        rollup::SKETCH_RELATIVE_ERROR,
    );
    (points, window)
}

/// Window percentiles; exact when their relative error is 0.
fn window_of(
    count: usize,
    (p50, p95, p99): (f64, f64, f64),
    relative_error: f64,
) -> WindowPercentiles {
    WindowPercentiles {
        count: count as u64,
        p50,
        p95,
        p99,
        exact: relative_error == 0.0,
        relative_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(from: i64, to: Option<i64>) -> HistoryRequest {
        HistoryRequest {
            agent: "a".into(),
            series: "cpu_pct".into(),
            from,
            to,
            max_points: None,
        }
    }

    #[test]
    fn relative_and_absolute_windows() {
        assert_eq!(window(&req(-60_000, None), 100_000), Ok((40_000, 100_000)));
        assert_eq!(window(&req(10, Some(20)), 100_000), Ok((10, 20)));
        assert_eq!(
            window(&req(-60_000, Some(-30_000)), 100_000),
            Ok((40_000, 70_000))
        );
        assert!(window(&req(30, Some(20)), 100_000).is_err());
        assert_eq!(window(&req(-1_000_000, None), 10), Ok((0, 10)));
    }

    #[test]
    fn steps_fit_and_are_round() {
        // 6 h at 500 points: 43.2 s would fit, the next round step is 60 s.
        assert_eq!(step_for(0, 6 * 3_600_000, 500), 60_000);
        assert_eq!(step_for(0, 499_000, 500), 1_000);
        // An unaligned window needs one more bucket.
        assert_eq!(step_for(500, 499_500, 500), 1_000);
        assert_eq!(step_for(500, 500_500, 500), 2_000);
        let year = 365 * DAY_MS;
        let step = step_for(0, year, 100);
        assert!(year / step < 100 && step.is_multiple_of(DAY_MS), "{step}");
    }

    #[test]
    fn buckets_hold_min_avg_max_and_are_aligned() {
        let samples: Vec<(Millis, f64)> = (0..10).map(|i| (10_500 + i * 1_000, i as f64)).collect();
        let (step, points) = fit(&samples, 10_000, 20_000, 5);
        assert_eq!(step, 5_000);
        assert_eq!(
            points,
            vec![(10_000, 0.0, 2.0, 4.0), (15_000, 5.0, 7.0, 9.0),]
        );
        let (step, points) = fit(&samples, 10_000, 20_000, 10);
        assert_eq!(step, 0);
        assert_eq!(points[3], (13_500, 3.0, 3.0, 3.0));
    }

    mod stored {
        use super::super::*;
        use crate::store::SampleRow;
        use crate::store::rollup::Agg;

        const H: u64 = 3_600_000;
        // An hour-aligned origin, 10 days of 10 s samples before NOW.
        const NOW: u64 = 1_800_000_000_000 - 1_800_000_000_000 % H;
        const START: u64 = NOW - 10 * 24 * H;

        fn store() -> (tempfile::TempDir, Store, Vec<(u64, f64)>) {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = Store::open(dir.path()).expect("open");
            let points: Vec<(u64, f64)> = (0..(10 * 24 * 360u64))
                .map(|i| (START + i * 10_000, (i % 360) as f64))
                .collect();
            for chunk in points.chunks(5_000) {
                store
                    .ingest(&SampleRow::of_series("a", "m", chunk))
                    .expect("ingest");
            }
            // Closed hours and days move into day files, as in a hub.
            store.checkpoint().expect("checkpoint");
            (dir, store, points)
        }

        fn everything_kept() -> Cutoffs {
            Cutoffs {
                raw: 0,
                minute: 0,
                hour: 0,
            }
        }

        fn expected(points: &[(u64, f64)], from: u64, to: u64, step: u64) -> Vec<HistoryPoint> {
            let mut b: BTreeMap<u64, Agg> = BTreeMap::new();
            for &(ts, v) in points.iter().filter(|(ts, _)| (from..=to).contains(ts)) {
                b.entry(ts - ts % step)
                    .and_modify(|a| a.merge(&Agg::one(v)))
                    .or_insert(Agg::one(v));
            }
            b.into_iter()
                .map(|(ts, a)| (ts, a.min, a.avg(), a.max))
                .collect()
        }

        #[test]
        fn raw_when_it_fits_rollups_when_it_does_not() {
            let (_dir, store, points) = store();
            let c = everything_kept();
            let (step, got) = query(&store, &c, "a", "m", (NOW - 3_000_000, NOW), 500)
                .expect("query")
                .parts();
            assert_eq!((step, got.len()), (0, 300));
            // 6 h at 500 points: 1-minute buckets from the rollups, aligned.
            let (from, to) = (NOW - 6 * H + 5_000, NOW - 1);
            let (step, got) = query(&store, &c, "a", "m", (from, to), 500)
                .expect("query")
                .parts();
            assert_eq!(step, 60_000);
            // The first bucket holds samples before `from` too (rollups are
            // whole buckets); the rest match raw exactly.
            assert_eq!(
                got[1..],
                expected(&points, from - from % step, to, step)[1..]
            );
            // 30 s buckets come from raw.
            let (step, got) = query(&store, &c, "a", "m", (NOW - 4 * H, NOW), 500)
                .expect("query")
                .parts();
            assert_eq!(step, 30_000);
            assert_eq!(got, expected(&points, NOW - 4 * H, NOW, step));
            // 10 days: 30-minute steps from the 1-minute rollups.
            let (step, got) = query(&store, &c, "a", "m", (START, NOW), 500)
                .expect("query")
                .parts();
            assert_eq!(step, H / 2);
            assert_eq!(got, expected(&points, START, NOW, step));
            // 30 days at 100 points: 1-hour rollups into 12 h steps.
            let (step, got) = query(&store, &c, "a", "m", (NOW - 30 * 24 * H, NOW), 100)
                .expect("query")
                .parts();
            assert_eq!(step, 12 * H);
            assert_eq!(got, expected(&points, START, NOW, step));
        }

        #[test]
        fn latency_series_get_percentiles_exact_from_raw_and_sketched_from_rollups() {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = Store::open(dir.path()).expect("open");
            let from = NOW - 48 * H;
            let points: Vec<(u64, f64)> = (0..(48 * 360u64))
                .map(|i| (from + i * 10_000, 5.0 + ((i * 7919) % 1000) as f64 / 10.0))
                .collect();
            store
                .ingest(&SampleRow::of_series("a", "test:t1", &points))
                .expect("ingest");
            let mut sorted: Vec<f64> = points.iter().map(|p| p.1).collect();
            sorted.sort_by(f64::total_cmp);
            let c = everything_kept();
            // Two days at 100 points: 30-minute buckets from the rollups.
            let found = query(&store, &c, "a", "test:t1", (from, NOW), 100).expect("query");
            assert_eq!(found.step_ms, H / 2);
            let (per_point, window) = found.percentiles.expect("latency percentiles");
            assert_eq!(per_point.len(), found.points.len());
            assert_eq!(window.count, points.len() as u64);
            assert!(!window.exact);
            for (q, got) in [(0.5, window.p50), (0.95, window.p95), (0.99, window.p99)] {
                let want = sorted[(q * (sorted.len() - 1) as f64) as usize];
                assert!((got - want).abs() <= want * 0.01, "q{q}: {got} vs {want}");
            }
            // Ten minutes fit raw: exact nearest-rank.
            let found =
                query(&store, &c, "a", "test:t1", (NOW - 600_000, NOW), 100).expect("query");
            let (_, window) = found.percentiles.expect("latency percentiles");
            assert!(window.exact);
            let mut recent: Vec<f64> = points
                .iter()
                .filter(|p| p.0 >= NOW - 600_000)
                .map(|p| p.1)
                .collect();
            recent.sort_by(f64::total_cmp);
            assert_eq!(Some(window.p95), summary::percentile(&recent, 95.0));
            // Other series carry none.
            let found = query(&store, &c, "a", "nothing", (from, NOW), 100).expect("query");
            assert!(found.percentiles.is_none());
        }

        #[test]
        fn windows_spanning_resolutions_are_stitched_once() {
            let (_dir, store, points) = store();
            // Raw gone past 1 day, minutes past 2 days.
            let c = Cutoffs {
                raw: NOW - 24 * H,
                minute: NOW - 48 * H,
                hour: 0,
            };
            let (from, to) = (NOW - 72 * H, NOW - 36 * H);
            let (step, got) = query(&store, &c, "a", "m", (from, to), 500)
                .expect("query")
                .parts();
            assert_eq!(step, 300_000);
            let boundary = NOW - 48 * H;
            let (old, new): (Vec<&HistoryPoint>, Vec<&HistoryPoint>) =
                got.iter().partition(|p| p.0 < boundary);
            assert_eq!(old.len(), 24, "one point per hour before the boundary");
            assert!(old.iter().all(|p| p.0 % H == 0));
            assert_eq!(
                new.len(),
                12 * 12 + 1,
                "5-minute points after it, `to` inclusive"
            );
            let want_old = expected(&points, from, boundary - 1, H);
            assert_eq!(old.into_iter().copied().collect::<Vec<_>>(), want_old);
            // Rollups are read whole: the last point holds the samples of
            // the 1-minute bucket that `to` falls in.
            let want_new = expected(&points, boundary, to - to % 60_000 + 59_999, step);
            assert_eq!(new.into_iter().copied().collect::<Vec<_>>(), want_new);
        }

        #[test]
        fn retention_removes_exactly_what_is_older() {
            let (_dir, store, points) = store();
            let cut = Cutoffs {
                raw: NOW - 24 * H + 5_000,
                minute: NOW - 48 * H,
                hour: NOW - 72 * H,
            };
            let removed = store.prune(&cut).expect("prune");
            let raw = store.query_raw("a", "m", 0, u64::MAX).expect("raw");
            let want: Vec<(u64, f64)> = points
                .iter()
                .copied()
                .filter(|(ts, _)| *ts >= cut.raw)
                .collect();
            assert_eq!(raw, want);
            assert_eq!(removed.raw_samples as usize, points.len() - want.len());
            let minutes = store
                .query_rollup("a", "m", Level::Minute, 0, u64::MAX)
                .expect("1m");
            assert_eq!(minutes.first().map(|b| b.0), Some(cut.minute));
            assert_eq!(minutes.len(), 48 * 60);
            let hours = store
                .query_rollup("a", "m", Level::Hour, 0, u64::MAX)
                .expect("1h");
            assert_eq!(hours.first().map(|b| b.0), Some(cut.hour));
            assert_eq!(hours.len(), 72);
            // Nothing newer was touched, and a second prune finds nothing.
            assert_eq!(
                store.prune(&cut).expect("prune"),
                crate::store::PruneStats::default()
            );
        }
    }
}
