//! History read benchmarks: one day of one series at full resolution, 30
//! days at 500 points, and `swarm.api.history` round trips over NATS (a
//! real nats-server on loopback) for 6 h at 500 points. Also the bytes on
//! disk once the write-ahead log's space is reclaimed.
//!
//! cargo run --release -p swarm-hub --features testkit --example history-bench

use std::sync::Arc;
use std::time::{Duration, Instant};

use swarm_common::api::call;
use swarm_common::protocol::{HistoryReply, HistoryRequest};
use swarm_common::subject;
use swarm_common::testkit::NatsServer;
use swarm_common::time::now_ms;
use swarm_hub::history;
use swarm_hub::store::{Cutoffs, HostRecord, SampleRow, Store};
use swarm_hub::testing::TestHub;

const DAY: u64 = 86_400_000;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = now_ms();
    let start = now - 30 * DAY;
    // Agent-like CPU first, for its footprint only: a walk in steps of
    // 0.01 % with a few ms of timestamp jitter.
    {
        let dir = tempfile::tempdir()?;
        let mut walk = 2_000i64;
        let n = fill(dir.path(), start, now, |state| {
            walk = (walk + (state % 101) as i64 - 50).clamp(0, 10_000);
            walk as f64 / 100.0
        })?;
        println!(
            "agent-like CPU %: data directory {:.1} bytes/sample",
            walkdir_size(dir.path()) as f64 / n as f64
        );
    }
    // The worst case for the rest: values uniform over 0.00..100.00.
    let dir = tempfile::tempdir()?;
    let t = Instant::now();
    let n = fill(dir.path(), start, now, |state| {
        (state % 10_000) as f64 / 100.0
    })?;
    println!(
        "uniform values: ingested {n} samples in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let store = Arc::new(Store::open(dir.path())?);
    println!(
        "uniform values: chunk payload {:.2} bytes/sample; data directory {:.1} bytes/sample",
        store.chunk_bytes()? as f64 / n as f64,
        walkdir_size(dir.path()) as f64 / n as f64
    );
    let keep_all = Cutoffs {
        raw: 0,
        minute: 0,
        hour: 0,
    };

    let mut day = Vec::new();
    for i in 0..50 {
        let from = start + (i % 25) * DAY;
        let t = Instant::now();
        let got = store.query_raw("bench", "cpu_pct", from, from + DAY)?;
        day.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(got.len() > 80_000);
    }
    day.sort_by(f64::total_cmp);
    println!(
        "one day at full resolution (~86k samples): median {:.2} ms, max {:.2} ms",
        percentile(&day, 0.5),
        day[day.len() - 1]
    );

    let mut month = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let found = history::query(&store, &keep_all, "bench", "cpu_pct", (start, now), 500)?;
        month.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(found.step_ms > 0 && found.points.len() <= 500);
    }
    month.sort_by(f64::total_cmp);
    println!(
        "30 days at 500 points: median {:.2} ms, max {:.2} ms",
        percentile(&month, 0.5),
        month[month.len() - 1]
    );
    drop(store);

    let server = NatsServer::start();
    let hub = TestHub::start(&server.url(), dir.path()).await;
    let client = async_nats::connect(server.url()).await?;
    let req = HistoryRequest {
        agent: "bench".into(),
        series: "cpu_pct".into(),
        from: -(6 * 3_600_000),
        to: None,
        max_points: Some(500),
    };
    let mut rtt = Vec::new();
    for _ in 0..1_000 {
        let t = Instant::now();
        let reply: HistoryReply =
            call(&client, subject::api::HISTORY, &req, Duration::from_secs(2)).await?;
        rtt.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!reply.points.is_empty());
    }
    rtt.sort_by(f64::total_cmp);
    println!(
        "swarm.api.history 6 h at 500 points over NATS: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&rtt, 0.5),
        percentile(&rtt, 0.99)
    );
    hub.stop().await;
    Ok(())
}

/// 30 days of one series at 1 s (2.6M samples) into a new store at
/// `dir`, checkpointed as the hub does; returns the sample count.
fn fill(
    dir: &std::path::Path,
    start: u64,
    now: u64,
    mut value: impl FnMut(u64) -> f64,
) -> Result<u64, Box<dyn std::error::Error>> {
    let store = Store::open(dir)?;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut ts = start;
    let mut batch = Vec::with_capacity(2_000);
    let mut n = 0u64;
    while ts < now {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        batch.push((ts, value(state)));
        ts += 1_000 + state % 3;
        if batch.len() == 2_000 {
            let rows: Vec<SampleRow<'_>> = batch
                .iter()
                .map(|&(ts, value)| SampleRow {
                    agent: "bench",
                    series: "cpu_pct",
                    ts,
                    value,
                })
                .collect();
            store.ingest(&rows)?;
            n += rows.len() as u64;
            batch.clear();
            if n.is_multiple_of(20_000) {
                store.checkpoint()?;
            }
        }
    }
    store.put_host("bench", &HostRecord::default())?;
    store.checkpoint()?;
    Ok(n)
}

fn walkdir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walkdir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
