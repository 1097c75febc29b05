//! History queries: resolve the request's window and fit it in
//! `max_points`, with buckets aligned to multiples of the step.

use swarm_common::protocol::{ApiError, ErrorCode, HistoryPoint, HistoryRequest, Millis};

/// Largest `max_points` a client may ask for.
pub const MAX_POINTS_LIMIT: u32 = 20_000;

/// Steps a reply may use: round numbers an operator reads at a glance.
const STEPS_MS: &[u64] = &[
    1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
    1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];
const DAY_MS: u64 = 86_400_000;

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
}
