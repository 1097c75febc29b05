//! History read benchmarks: one day of one series at full resolution, 30
//! days at 500 points, and `swarm.api.history` round trips over NATS (a
//! real nats-server on loopback) for 6 h at 500 points. Also the bytes on
//! disk once the write-ahead log's space is reclaimed.
//!
//! cargo run --release -p swarm-hub --features testkit --example history-bench -- [DAYS]

use std::sync::Arc;
use std::time::{Duration, Instant};

use swarm_common::api::call;
use swarm_common::protocol::{HistoryReply, HistoryRequest};
use swarm_common::subject;
use swarm_common::testkit::NatsServer;
use swarm_common::time::DAY_MS;
use swarm_common::time::now_ms;
use swarm_hub::history;
use swarm_hub::store::{Cutoffs, HostRecord, SampleRow, Store};
use swarm_hub::testing::TestHub;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = now_ms();
    // Days of history (30 unless given): a longer run shows what grows
    // with time and what does not.
    let days: u64 = std::env::args()
        .nth(1)
        .map(|d| d.parse())
        .transpose()?
        .unwrap_or(30);
    let start = now - days * DAY_MS;
    // Ordinary metrics first, for their footprint only: CPU % as agents
    // send it (a walk in steps of 0.01 % with a few ms of timestamp
    // jitter) and a network rate in whole bytes/s (around 50 kB/s, +-20 %
    // from second to second); each alone, then a host's month of five.
    for (name, series) in [
        ("CPU % alone", vec![cpu_like("cpu_pct", 100.0)]),
        (
            "network bytes/s alone",
            vec![rate_like("net_rx_bps", 50_000)],
        ),
        (
            "a host (cpu, mem, load, rx, tx)",
            vec![
                cpu_like("cpu_pct", 100.0),
                cpu_like("mem_pct", 1_000.0),
                cpu_like("load1", 100.0),
                rate_like("net_rx_bps", 50_000),
                rate_like("net_tx_bps", 5_000),
            ],
        ),
    ] {
        let dir = tempfile::tempdir()?;
        let n = fill(dir.path(), start, now, series)?;
        println!(
            "{name}, {days} days at 1 s: data directory {:.2} bytes/sample ({})",
            walkdir_size(dir.path()) as f64 / n as f64,
            breakdown(dir.path(), n)
        );
    }
    // The worst case for the rest: values uniform over 0.00..100.00.
    let dir = tempfile::tempdir()?;
    let t = Instant::now();
    let uniform: Series = ("cpu_pct", Box::new(|state| (state % 10_000) as f64 / 100.0));
    let n = fill(dir.path(), start, now, vec![uniform])?;
    println!(
        "uniform values: ingested {n} samples in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let store = Arc::new(Store::open(dir.path())?);
    println!(
        "uniform values: chunk payload {:.2} bytes/sample; data directory {:.2} bytes/sample",
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
        let from = start + (i % 25) * DAY_MS;
        let t = Instant::now();
        let got = store.query_raw("bench", "cpu_pct", from, from + DAY_MS)?;
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
        "{days} days at 500 points: median {:.2} ms, max {:.2} ms",
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

/// A series name and its value for each tick (given a random number).
type Series = (&'static str, Box<dyn FnMut(u64) -> f64>);

/// A walk in steps of `1 / scale` (0.01 % for CPU), as slow-moving gauges
/// move.
fn cpu_like(name: &'static str, scale: f64) -> Series {
    let mut walk = (20.0 * scale) as i64;
    let top = (100.0 * scale) as i64;
    let step = (scale / 2.0) as u64;
    let value = move |state: u64| {
        walk = (walk + (state % (2 * step + 1)) as i64 - step as i64).clamp(0, top);
        walk as f64 / scale
    };
    (name, Box::new(value))
}

/// Whole bytes/s around `mean`, +-20 % from one second to the next.
fn rate_like(name: &'static str, mean: u64) -> Series {
    let spread = mean * 2 / 5;
    (
        name,
        Box::new(move |state: u64| (mean - spread / 2 + state % spread) as f64),
    )
}

/// Days of the given series of one host at 1 s into a new store at
/// `dir`, all series each tick, checkpointed as the hub does; returns the
/// sample count.
fn fill(
    dir: &std::path::Path,
    start: u64,
    now: u64,
    mut series: Vec<Series>,
) -> Result<u64, Box<dyn std::error::Error>> {
    let store = Store::open(dir)?;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut ts = start;
    let mut batch = Vec::with_capacity(2_000);
    let mut n = 0u64;
    let mut since_checkpoint = 0;
    while ts < now {
        for (name, value) in series.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            batch.push(SampleRow {
                agent: "bench",
                series: name,
                ts,
                value: value(state),
            });
        }
        ts += 1_000 + state % 3;
        if batch.len() >= 2_000 {
            store.ingest(&batch)?;
            n += batch.len() as u64;
            since_checkpoint += batch.len();
            batch.clear();
            if since_checkpoint >= 20_000 {
                store.checkpoint()?;
                since_checkpoint = 0;
            }
        }
    }
    store.ingest(&batch)?;
    n += batch.len() as u64;
    store.records().put_host("bench", &HostRecord::default())?;
    store.checkpoint()?;
    Ok(n)
}

/// Bytes per sample of each part of a data directory.
fn breakdown(dir: &std::path::Path, n: u64) -> String {
    let blocks = dir.join("blocks");
    let parts = [
        ("raw blocks", walkdir_size(&blocks.join("raw"))),
        ("1-min blocks", walkdir_size(&blocks.join("1m"))),
        ("1-hour blocks", walkdir_size(&blocks.join("1h"))),
        ("sled", walkdir_size(dir) - walkdir_size(&blocks)),
    ];
    let per_sample = parts
        .iter()
        .map(|(name, bytes)| format!("{name} {:.2}", *bytes as f64 / n as f64))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{per_sample}; sled {:.1} MB", parts[3].1 as f64 / 1e6)
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
