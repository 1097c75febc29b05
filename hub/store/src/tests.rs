use std::collections::BTreeMap;

use super::*;

fn rows<'a>(agent: &'a str, series: &'a str, points: &[(u64, f64)]) -> Vec<SampleRow<'a>> {
    SampleRow::of_series(agent, series, points)
}

const T0: u64 = 1_700_000_000_000;

fn series(n: u64, step: u64) -> Vec<(u64, f64)> {
    (0..n)
        .map(|i| (T0 + i * step, (i % 17) as f64 * 1.5))
        .collect()
}

#[test]
fn ingest_then_query_across_sealed_chunks_and_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let points = series(1000, 1000);
    store
        .ingest(&rows("a", "cpu_pct", &points))
        .expect("ingest");
    let all = store.query_raw("a", "cpu_pct", 0, u64::MAX).expect("query");
    assert_eq!(all, points);
    let window = store
        .query_raw("a", "cpu_pct", T0 + 10_500, T0 + 20_000)
        .expect("query");
    assert_eq!(window, points[11..=20].to_vec());
    assert!(
        store
            .query_raw("a", "nope", 0, u64::MAX)
            .expect("query")
            .is_empty()
    );
    assert!(
        store
            .query_raw("nobody", "cpu_pct", 0, u64::MAX)
            .expect("query")
            .is_empty()
    );
    let stats = store.stats().expect("stats");
    assert_eq!(
        stats.chunks as u64 * CHUNK_CAP as u64,
        960,
        "four sealed chunks"
    );
    assert_eq!(stats.samples_in_chunks + stats.samples_in_heads, 1000);
}

#[test]
fn data_survives_restart_with_and_without_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let points = series(500, 1000);
    {
        let store = Store::open(dir.path()).expect("open");
        store
            .ingest(&rows("a", "cpu_pct", &points[..300]))
            .expect("ingest");
        store.checkpoint().expect("checkpoint");
        store
            .ingest(&rows("a", "cpu_pct", &points[300..]))
            .expect("ingest");
        // No checkpoint: the last batch lives only in the write-ahead log.
        store.db.flush().expect("flush");
    }
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(
        store.query_raw("a", "cpu_pct", 0, u64::MAX).expect("query"),
        points
    );
    assert_eq!(
        store.series_of("a").expect("series"),
        vec!["cpu_pct".to_owned()]
    );
    assert_eq!(
        store.stats().expect("stats").wal_batches,
        0,
        "replay checkpoints"
    );
    // Keeps appending where it left off.
    let more = [(T0 + 600_000, 1.0)];
    store.ingest(&rows("a", "cpu_pct", &more)).expect("ingest");
    assert_eq!(
        store
            .query_raw("a", "cpu_pct", 0, u64::MAX)
            .expect("query")
            .len(),
        501
    );
}

#[test]
fn duplicates_and_late_samples_are_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let points = series(600, 1000);
    store.ingest(&rows("a", "m", &points)).expect("ingest");
    // Replay everything (a spool replay or a redelivery), twice, shuffled.
    let mut again = points.clone();
    again.reverse();
    store.ingest(&rows("a", "m", &again)).expect("ingest");
    store
        .ingest(&rows("a", "m", &points[100..200]))
        .expect("ingest");
    assert_eq!(
        store.query_raw("a", "m", 0, u64::MAX).expect("query"),
        points
    );
    // A late sample between two existing ones lands in its sealed chunk.
    store
        .ingest(&rows("a", "m", &[(T0 + 5_500, 99.0)]))
        .expect("ingest");
    let got = store
        .query_raw("a", "m", T0 + 5_000, T0 + 6_000)
        .expect("query");
    assert_eq!(got, vec![points[5], (T0 + 5_500, 99.0), points[6]]);
    // A sample older than everything gets a chunk of its own.
    store
        .ingest(&rows("a", "m", &[(T0 - 1_000, 7.0)]))
        .expect("ingest");
    assert_eq!(
        store.query_raw("a", "m", 0, T0).expect("query"),
        vec![(T0 - 1_000, 7.0), points[0]]
    );
    store.checkpoint().expect("checkpoint");
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(
        store.query_raw("a", "m", 0, u64::MAX).expect("query").len(),
        602
    );
}

#[test]
fn a_second_open_of_the_same_directory_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = Store::open(dir.path()).expect("open");
    match Store::open(dir.path()) {
        Err(StoreError::Locked { .. }) => {}
        Err(other) => panic!("want Locked, got {other}"),
        Ok(_) => panic!("a second open must fail"),
    }
}

#[test]
fn hosts_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let record = HostRecord {
        first_seen: 1,
        last_seen: 2,
        said_bye: true,
        ..HostRecord::default()
    };
    store.records().put_host("web-1", &record).expect("put");
    assert_eq!(
        store.records().hosts().expect("hosts"),
        vec![("web-1".to_owned(), record)]
    );
}

/// Rollups computed from raw samples, to check the incremental ones.
fn expected_rollups(points: &[(u64, f64)], width: u64) -> Vec<(u64, rollup::Agg)> {
    let mut out: BTreeMap<u64, rollup::Agg> = BTreeMap::new();
    for &(ts, v) in points {
        out.entry(ts - ts % width)
            .and_modify(|a| a.merge(&rollup::Agg::one(v)))
            .or_insert(rollup::Agg::one(v));
    }
    out.into_iter().collect()
}

#[test]
fn rollups_follow_raw_across_buckets_duplicates_and_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 2.5 hours at 7 s, starting off a bucket boundary.
    let points: Vec<(u64, f64)> = (0..1_300u64)
        .map(|i| (T0 + 13_000 + i * 7_000, ((i * 37) % 101) as f64 / 3.0))
        .collect();
    {
        let store = Store::open(dir.path()).expect("open");
        store
            .ingest(&rows("a", "m", &points[..900]))
            .expect("ingest");
        store.checkpoint().expect("checkpoint");
        // Replays and duplicates change nothing.
        store
            .ingest(&rows("a", "m", &points[500..900]))
            .expect("ingest");
        store
            .ingest(&rows("a", "m", &points[900..]))
            .expect("ingest");
        store.db.flush().expect("flush"); // no checkpoint: the tail is in the log only
    }
    let store = Store::open(dir.path()).expect("reopen");
    store
        .ingest(&rows("a", "m", &points[1_000..1_100]))
        .expect("replay again");
    for level in Level::ROLLUPS {
        let width = level.width();
        let got = store
            .query_rollup("a", "m", level, 0, u64::MAX)
            .expect("query");
        let want = expected_rollups(&points, width);
        assert_eq!(got.len(), want.len(), "level {level:?}");
        for ((gt, g), (wt, w)) in got.iter().zip(&want) {
            let g = &g.agg;
            assert_eq!(gt, wt);
            assert_eq!(
                (g.min, g.max, g.count),
                (w.min, w.max, w.count),
                "bucket {gt}"
            );
            assert!((g.sum - w.sum).abs() < 1e-9, "bucket {gt}");
        }
    }
    // A window in the middle: from is rounded down to its bucket.
    let mid = store
        .query_rollup(
            "a",
            "m",
            Level::Minute,
            T0 + 3_600_000 + 30_000,
            T0 + 3_600_000 + 150_000,
        )
        .expect("query");
    assert_eq!(mid.first().map(|b| b.0 % 60_000), Some(0));
    assert_eq!(mid.len(), 3);
}

/// The value at a sketch's rank convention (`q * (n - 1)`, rounded down)
/// in sorted samples: what a sketch answer must be within 1 % of.
fn exact_at_sketch_rank(sorted: &[f64], q: f64) -> f64 {
    sorted[(q * (sorted.len() - 1) as f64) as usize]
}

#[test]
fn latency_sketches_give_percentiles_within_their_error_after_merges_and_replays() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 3 hours of ping RTTs every 2 s: mostly 10-30 ms, a slow tail to 400.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let points: Vec<(u64, f64)> = (0..5_400u64)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let base = 10.0 + (state % 2_000) as f64 / 100.0;
            let v = if state.is_multiple_of(50) {
                base * 13.0
            } else {
                base
            };
            (T0 + 1_000 + i * 2_000, v)
        })
        .collect();
    let series = "test:t-ping";
    {
        let store = Store::open(dir.path()).expect("open");
        store
            .ingest(&rows("a", series, &points[..3_000]))
            .expect("ingest");
        store.checkpoint().expect("checkpoint");
        // A replay of what is stored counts nothing twice.
        store
            .ingest(&rows("a", series, &points[1_000..3_000]))
            .expect("ingest");
        store
            .ingest(&rows("a", series, &points[3_000..]))
            .expect("ingest");
        store.db.flush().expect("flush");
    }
    let store = Store::open(dir.path()).expect("reopen");
    // Hourly buckets merged into one sketch for the whole 3 hours.
    let hours = store
        .query_rollup("a", series, Level::Hour, 0, u64::MAX)
        .expect("query");
    assert_eq!(hours.len(), 4, "3 h starting 1 s into an hour");
    let mut whole = rollup::new_sketch();
    for (_, bucket) in &hours {
        let sketch = bucket
            .sketch
            .as_ref()
            .expect("a latency bucket has a sketch");
        assert_eq!(sketch.count() as u64, bucket.agg.count);
        whole.merge(sketch).expect("same configuration");
    }
    assert_eq!(whole.count(), points.len());
    let mut sorted: Vec<f64> = points.iter().map(|p| p.1).collect();
    sorted.sort_by(f64::total_cmp);
    for q in [0.5, 0.95, 0.99] {
        let got = whole.quantile(q).expect("q").expect("value");
        let want = exact_at_sketch_rank(&sorted, q);
        assert!(
            (got - want).abs() <= want * rollup::SKETCH_RELATIVE_ERROR,
            "q{q}: sketch {got}, exact {want}"
        );
    }
    // Ordinary series keep no sketch.
    store
        .ingest(&rows("a", "cpu_pct", &points[..10]))
        .expect("ingest");
    let plain = store
        .query_rollup("a", "cpu_pct", Level::Minute, 0, u64::MAX)
        .expect("query");
    assert!(plain.iter().all(|(_, b)| b.sketch.is_none()));
}

#[test]
fn the_size_cap_removes_the_oldest_first_and_only_as_much_as_needed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    // 4 days of two series at 10 s.
    let now = T0 + 4 * 86_400_000;
    let points: Vec<(u64, f64)> = (0..(4 * 8_640u64))
        .map(|i| (T0 + i * 10_000, ((i * 37) % 1001) as f64 / 10.0))
        .collect();
    for series in ["cpu_pct", "mem_used"] {
        for chunk in points.chunks(4_000) {
            store.ingest(&rows("a", series, chunk)).expect("ingest");
        }
    }
    store.checkpoint().expect("checkpoint");
    let full = store.data_bytes().expect("bytes");
    assert_eq!(store.prune_to_size(full, now).expect("cap"), None);

    // Half the raw data must go (at 10 s, 1-minute buckets outweigh raw).
    let cap = full - store.chunk_bytes().expect("raw bytes") / 2;
    let report = store
        .prune_to_size(cap, now)
        .expect("cap")
        .expect("something removed");
    assert!(report.after <= cap, "{report}");
    assert_eq!(report.before, full);
    assert!(report.raw_samples > 0);
    assert_eq!(report.rollup_buckets, 0, "raw was enough: {report}");
    let cut = report.cutoffs[Level::Raw].expect("raw cutoff");
    for series in ["cpu_pct", "mem_used"] {
        let raw = store.query_raw("a", series, 0, u64::MAX).expect("raw");
        let want: Vec<(u64, f64)> = points.iter().copied().filter(|p| p.0 >= cut).collect();
        assert_eq!(raw, want, "the newest raw samples stay, all of them");
        let minutes = store
            .query_rollup("a", series, Level::Minute, 0, u64::MAX)
            .expect("1m");
        assert_eq!(
            minutes.len(),
            expected_rollups(&points, 60_000).len(),
            "rollups untouched"
        );
    }
    assert!(report.to_string().contains("raw data before"), "{report}");

    // A cap below what rollups alone take: raw goes entirely, then the
    // oldest minutes.
    let report = store
        .prune_to_size(full / 20, now)
        .expect("cap")
        .expect("removed");
    assert!(report.after <= full / 20, "{report}");
    assert!(
        store
            .query_raw("a", "cpu_pct", 0, u64::MAX)
            .expect("raw")
            .is_empty()
    );
    assert!(report.cutoffs[Level::Minute].is_some(), "{report}");

    // A cap nothing fits: every level is emptied up to now, never past it,
    // so the next samples are still taken.
    let report = store.prune_to_size(1, now).expect("cap").expect("removed");
    assert!(
        report.cutoffs.0.iter().flatten().all(|cut| *cut <= now),
        "{report:?}"
    );
    let next = SampleRow::of_series("a", "cpu_pct", &[(now + 1_000, 5.0)]);
    store.ingest(&next).expect("ingest");
    assert_eq!(
        store.query_raw("a", "cpu_pct", now, u64::MAX).expect("raw"),
        [(now + 1_000, 5.0)]
    );
}

fn assert_rollups_match(store: &Store, points: &[(u64, f64)]) {
    for level in Level::ROLLUPS {
        let width = level.width();
        let got = store
            .query_rollup("a", "m", level, 0, u64::MAX)
            .expect("query");
        let want = expected_rollups(points, width);
        assert_eq!(got.len(), want.len(), "level {level:?}");
        for ((gt, g), (wt, w)) in got.iter().zip(&want) {
            assert_eq!(gt, wt);
            let g = &g.agg;
            assert_eq!((g.min, g.max, g.count), (w.min, w.max, w.count), "{gt}");
            assert!((g.sum - w.sum).abs() < 1e-6, "bucket {gt}");
        }
    }
}

#[test]
fn closed_hours_move_to_day_files_and_late_samples_rewrite_them_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 30 hours at 5 s: closed hours and one closed day go to blocks.
    let points: Vec<(u64, f64)> = (0..21_600u64)
        .map(|i| (T0 + i * 5_000, ((i * 37) % 10_001) as f64 / 100.0))
        .collect();
    let store = Store::open(dir.path()).expect("open");
    for part in points.chunks(3_000) {
        store.ingest(&rows("a", "m", part)).expect("ingest");
    }
    store.checkpoint().expect("checkpoint");
    let stats = store.stats().expect("stats");
    assert!(stats.blocks[Level::Raw] >= 28, "{stats:?}");
    assert!(
        stats.blocks[Level::Minute] >= 28 && stats.blocks[Level::Hour] >= 1,
        "{stats:?}"
    );
    assert!(
        stats.chunks <= 15,
        "only the open hour stays in sled: {stats:?}"
    );
    assert_eq!(stats.samples_in_chunks + stats.samples_in_heads, 21_600);
    assert_eq!(store.query_raw("a", "m", 0, u64::MAX).expect("raw"), points);
    // Windows inside an hour, and one starting just after an hour
    // boundary, whose first samples are in a chunk that began in the hour
    // before (T0 is 20 minutes past an hour; chunks hold 20 minutes).
    let boundary = T0 + 2_800_000;
    for window in [
        (T0 + 3_600_000 + 2_000, T0 + 7_300_000),
        (boundary + 10_000, boundary + 30_000),
        (boundary - 3_600_000, boundary + 3_600_000),
    ] {
        let want: Vec<(u64, f64)> = points
            .iter()
            .copied()
            .filter(|p| (window.0..=window.1).contains(&p.0))
            .collect();
        assert_eq!(
            store.query_raw("a", "m", window.0, window.1).expect("raw"),
            want,
            "{window:?}"
        );
    }
    assert_rollups_match(&store, &points);

    // Late: new samples between sealed ones, redelivered ones, and one
    // older than everything, in one shuffled batch.
    let mut late: Vec<(u64, f64)> = (0..200u64)
        .map(|k| (T0 + 2_500 + k * 45_000, k as f64 / 4.0))
        .collect();
    late.push((T0 - 5 * 3_600_000, 1.5));
    late.extend_from_slice(&points[100..400]);
    late.reverse();
    let mut all = points.clone();
    all.extend(late.iter().filter(|l| l.0 % 5_000 != 0 || l.0 < T0));
    all.sort_by_key(|p| p.0);
    store.ingest(&rows("a", "m", &late)).expect("late");
    assert_eq!(store.query_raw("a", "m", 0, u64::MAX).expect("raw"), all);
    assert_rollups_match(&store, &all);

    // The same again changes nothing, not even the files.
    let bytes = store.data_bytes().expect("bytes");
    store.ingest(&rows("a", "m", &late)).expect("again");
    assert_eq!(store.data_bytes().expect("bytes"), bytes);

    // Unchecked: the log replays the late batch into the blocks again.
    store.db.flush().expect("flush");
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(store.query_raw("a", "m", 0, u64::MAX).expect("raw"), all);
    assert_rollups_match(&store, &all);
    store.checkpoint().expect("checkpoint");
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(store.query_raw("a", "m", 0, u64::MAX).expect("raw"), all);
    assert_rollups_match(&store, &all);
}

#[test]
fn a_damaged_block_is_an_error_not_wrong_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let points: Vec<(u64, f64)> = (0..3_000u64).map(|i| (T0 + i * 5_000, 1.0)).collect();
    let store = Store::open(dir.path()).expect("open");
    store.ingest(&rows("a", "m", &points)).expect("ingest");
    store.checkpoint().expect("checkpoint");
    drop(store);
    let day = dir
        .path()
        .join("blocks/raw")
        .join(format!("{}.blk", T0 / 86_400_000));
    let mut bytes = std::fs::read(&day).expect("day file");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&day, bytes).expect("write");
    let store = Store::open(dir.path()).expect("reopen");
    match store.query_raw("a", "m", 0, u64::MAX) {
        Err(StoreError::Corrupt { tree: "blocks", .. }) => {}
        other => panic!("want a corrupt block, got {other:?}"),
    }
}

#[test]
fn chunks_left_behind_by_an_interrupted_seal_are_ignored_then_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let points: Vec<(u64, f64)> = (0..3_000u64)
        .map(|i| (T0 + i * 5_000, ((i * 7) % 501) as f64 / 10.0))
        .collect();
    let store = Store::open(dir.path()).expect("open");
    store.ingest(&rows("a", "m", &points)).expect("ingest");
    let open_chunks = |store: &Store| -> Vec<(sled::IVec, sled::IVec)> {
        store
            .chunks
            .iter()
            .filter_map(|item| item.ok())
            .filter(|(k, _)| keys::kind_of(k) == Some(keys::Kind::Chunk))
            .collect()
    };
    let before = open_chunks(&store);
    store.checkpoint().expect("checkpoint");
    assert!(
        open_chunks(&store).len() < before.len(),
        "hours were sealed"
    );
    // A crash after the index moved them but before sled dropped them.
    for (key, value) in &before {
        store.chunks.insert(key, value).expect("put back");
    }
    let check = |store: &Store| {
        assert_eq!(store.query_raw("a", "m", 0, u64::MAX).expect("raw"), points);
        assert_rollups_match(store, &points);
    };
    check(&store);
    store.db.flush().expect("flush");
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    check(&store);
    // The next seal removes them.
    let more: Vec<(u64, f64)> = (3_000..4_000u64).map(|i| (T0 + i * 5_000, 1.0)).collect();
    store.ingest(&rows("a", "m", &more)).expect("ingest");
    store.checkpoint().expect("checkpoint");
    let sealed = store.sealed_mark(0, 0).expect("mark");
    assert!(
        open_chunks(&store)
            .iter()
            .all(|(k, _)| keys::chunk_start(k).is_some_and(|s| s >= sealed)),
        "nothing left before the sealed mark"
    );
    let mut all = points.clone();
    all.extend(&more);
    assert_eq!(store.query_raw("a", "m", 0, u64::MAX).expect("raw"), all);
    assert_rollups_match(&store, &all);
}

#[test]
fn a_seal_that_fails_part_way_leaves_every_series_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let hour = 3_600_000;
    // Nine series with a closed hour each: eight on one day, the ninth on
    // the next, whose day file cannot be written (a directory in its
    // place). Seal groups take them in any order, so most orders seal
    // some series before the one that fails.
    let day_one = T0 - T0 % blocks::DAY_MS + hour;
    let day_two = day_one + blocks::DAY_MS;
    let mut all = BTreeMap::new();
    for s in 0..9 {
        let base = if s == 8 { day_two } else { day_one };
        let mut points: Vec<(u64, f64)> = (0..300).map(|i| (base + i * 1_000, i as f64)).collect();
        points.extend((0..10).map(|i| (base + 3 * hour + i * 1_000, 1.0)));
        let name = format!("s{s}");
        store.ingest(&rows("a", &name, &points)).expect("ingest");
        all.insert(name, points);
    }
    let blocked = dir
        .path()
        .join("blocks/raw")
        .join(format!("{}.blk", day_two / blocks::DAY_MS));
    std::fs::create_dir_all(&blocked).expect("a directory where the day file goes");
    assert!(store.checkpoint().is_err(), "the seal cannot write day two");
    for (name, points) in &all {
        let got = store.query_raw("a", name, 0, u64::MAX).expect("query");
        assert_eq!(&got, points, "{name} after the failed seal");
    }
    std::fs::remove_dir(&blocked).expect("the disk has room again");
    store.checkpoint().expect("the next seal goes through");
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    for (name, points) in &all {
        let got = store.query_raw("a", name, 0, u64::MAX).expect("query");
        assert_eq!(&got, points, "{name} after the seal and a restart");
    }
    assert!(
        store.stats().expect("stats").blocks[Level::Raw] >= 9,
        "every hour went into blocks"
    );
}

#[test]
fn results_older_than_retention_go_of_every_test() {
    use swarm_common::protocol::{Test, TestKind, TestRun, TestStatus};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let mut results = Vec::new();
    let mut last_run = None;
    for test_id in ["t1", "t2"] {
        let test = Test {
            id: swarm_common::TestId::parse(test_id).expect("valid"),
            kind: TestKind::Ping,
            target: "127.0.0.1".into(),
            port: None,
            selectors: vec!["*".into()],
            interval_ms: 1_000,
            duration_ms: 10_000,
            start_at: T0,
            repeat_every_ms: None,
            timeout_ms: 2_000,
            name: None,
            status: TestStatus::Running,
            created: T0,
            next_run: None,
            run_id: "r1".into(),
            runs: 1,
            until: None,
            agents: Vec::new(),
            error: None,
        };
        store.records().put_test(&test).expect("test");
        let run = TestRun::of(&test, T0 + 1_000_000);
        for i in 0..25_000u64 {
            let mut r = swarm_common::protocol::TestResult::new(
                &run,
                swarm_common::AgentId::parse("a").expect("id"),
                T0 + i,
            );
            r.seq = Some(i as u32);
            results.push(r);
        }
        last_run = Some(run);
    }
    store.records().put_results(&results).expect("results");
    assert_eq!(
        store.records().prune_results(T0 + 20_000).expect("prune").0,
        40_000
    );
    for test_id in ["t1", "t2"] {
        let left = store
            .records()
            .results(test_id, None, 0, usize::MAX)
            .expect("results");
        assert_eq!(left.len(), 5_000, "{test_id}");
        assert_eq!(left[0].ts, T0 + 20_000);
    }
    assert_eq!(
        store.records().prune_results(T0 + 20_000).expect("again").0,
        0
    );

    // The size cap counts results and removes the oldest, up to now: an
    // hour of them, one a second.
    let run = last_run.expect("a run");
    let hour: Vec<_> = (0..3_600u64)
        .map(|i| {
            let mut r = swarm_common::protocol::TestResult::new(
                &run,
                swarm_common::AgentId::parse("a").expect("id"),
                T0 + 100_000 + i * 1_000,
            );
            r.seq = Some(0);
            r
        })
        .collect();
    store.records().put_results(&hour).expect("results");
    let bytes = store.records().results_bytes().expect("bytes");
    assert!(store.data_bytes().expect("data") >= bytes);
    let now = T0 + 100_000 + 3_600_000;
    let cap = store.data_bytes().expect("data") - bytes / 2;
    let report = store
        .prune_to_size(cap, now)
        .expect("cap")
        .expect("something removed");
    assert!(report.after <= cap && report.results > 0, "{report}");
    let cut = report.results_cutoff.expect("results cutoff");
    assert!(cut <= now, "{report}");
    let left = store
        .records()
        .results("t2", None, 0, usize::MAX)
        .expect("results");
    assert!(!left.is_empty() && left.iter().all(|r| r.ts >= cut));
    assert_eq!(
        left.last().map(|r| r.ts),
        Some(T0 + 100_000 + 3_599_000),
        "the newest stay"
    );
    assert!(
        report.to_string().contains("test results before"),
        "{report}"
    );
}

#[test]
fn a_damaged_block_is_quarantined_and_never_stops_a_seal_or_a_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hour = 3_600_000;
    let base = T0 - T0 % blocks::DAY_MS + hour;
    let first: Vec<(u64, f64)> = (0..300).map(|i| (base + i * 1_000, i as f64)).collect();
    let later: Vec<(u64, f64)> = (0..10)
        .map(|i| (base + 3 * hour + i * 1_000, 1.0))
        .collect();
    {
        let store = Store::open(dir.path()).expect("open");
        store.ingest(&rows("a", "s", &first)).expect("ingest");
        store.ingest(&rows("a", "s", &later)).expect("ingest");
        store
            .checkpoint()
            .expect("the first hour goes into a block");
    }
    // Flip bytes inside the day file: the block's checksum no longer holds.
    let day = dir
        .path()
        .join("blocks/raw")
        .join(format!("{}.blk", base / blocks::DAY_MS));
    let mut bytes = std::fs::read(&day).expect("day file");
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 8] {
        *b ^= 0xff;
    }
    std::fs::write(&day, bytes).expect("damage it");
    // A late sample into the damaged hour is logged in the WAL; opening
    // replays it and seals: the damaged block is set aside, not fatal.
    let store = Store::open(dir.path()).expect("open");
    store
        .ingest(&rows("a", "s", &[(base + 500, 7.0)]))
        .expect("a late sample into the damaged hour");
    assert_eq!(store.quarantined(), 1, "set aside, and counted");
    store.checkpoint().expect("checkpoints go on");
    drop(store);
    let store = Store::open(dir.path()).expect("the hub starts");
    store.checkpoint().expect("and checkpoints");
    let got = store.query_raw("a", "s", 0, u64::MAX).expect("query");
    assert!(got.contains(&(base + 500, 7.0)), "the late sample is kept");
    // The damaged block held the first hour only (the samples after the
    // gap began a chunk of their own): what it held is gone, nothing else.
    assert_eq!(got[0], (base + 500, 7.0));
    assert_eq!(&got[1..], &later[..]);
}

#[test]
fn a_host_back_after_a_gap_starts_a_new_chunk_so_retention_cuts_at_the_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    // Ten minutes at 10 s, three days of silence, then ten minutes more.
    let before: Vec<(u64, f64)> = (0..60u64).map(|i| (T0 + i * 10_000, 1.0)).collect();
    let back = T0 + 3 * 86_400_000;
    let after: Vec<(u64, f64)> = (0..60u64).map(|i| (back + i * 10_000, 2.0)).collect();
    store.ingest(&rows("a", "m", &before)).expect("ingest");
    store.ingest(&rows("a", "m", &after)).expect("ingest");
    store.checkpoint().expect("checkpoint");
    let all: Vec<(u64, f64)> = before.iter().chain(&after).copied().collect();
    assert_eq!(store.query_raw("a", "m", 0, u64::MAX).expect("raw"), all);
    // No sample after the gap joined the chunk before it: all of them are
    // in the new head, the part before sealed on its own.
    let stats = store.stats().expect("stats");
    assert_eq!(stats.samples_in_heads, 60, "{stats:?}");
    // Raw retention a day after the first part: exactly that part goes.
    let removed = store
        .prune(&Cutoffs {
            raw: T0 + 86_400_000,
            minute: 0,
            hour: 0,
        })
        .expect("prune");
    assert_eq!(removed.raw_samples, 60, "{removed:?}");
    assert_eq!(store.query_raw("a", "m", 0, u64::MAX).expect("raw"), after);
}
