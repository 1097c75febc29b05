//! Ingest benchmark of the hub's store: samples/s into the store and the
//! chunks' bytes per sample, for series shaped like real metrics (bytes on
//! disk over a month: `history-bench`).
//!
//! cargo run --release -p swarm-hub --example ingest-bench -- [SAMPLES]

use std::time::Instant;

use swarm_hub::store::{SampleRow, Store};

const RUNS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let series_names = ["cpu_pct", "mem_pct", "load1", "net_rx_bps", "net_tx_bps"];
    let agents: Vec<String> = (0..20).map(|i| format!("host-{i:02}")).collect();
    let per_series = total / (agents.len() * series_names.len());
    let t0: u64 = 1_700_000_000_000;

    // Values as the agent sends them: CPU % to 0.01, memory % to 0.001,
    // load with two decimals, byte rates in whole bytes/s; timestamps a
    // second apart with a few ms of scheduling jitter.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut rows_by_tick: Vec<Vec<(usize, usize, u64, f64)>> = Vec::with_capacity(per_series);
    for i in 0..per_series {
        let ts = t0 + i as u64 * 1000 + (next() * 4.0) as u64;
        let mut tick = Vec::with_capacity(agents.len() * series_names.len());
        for a in 0..agents.len() {
            let cpu = ((next() * 30.0 + 5.0) * 100.0).round() / 100.0;
            let mem = ((8_000_000_000.0 + next() * 1e8).round() * 100.0 / 16_000_000_000.0
                * 1000.0)
                .round()
                / 1000.0;
            let load = (next() * 200.0).round() / 100.0;
            let rx = (next() * 1e6).round();
            let tx = (next() * 1e5).round();
            for (s, v) in [cpu, mem, load, rx, tx].into_iter().enumerate() {
                tick.push((a, s, ts, v));
            }
        }
        rows_by_tick.push(tick);
    }

    // The machine's noise swamps one half-second run: five runs, each on a
    // new store, and their median and best.
    let mut runs = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let start = Instant::now();
        let mut batch: Vec<SampleRow<'_>> = Vec::with_capacity(2_000);
        let mut n = 0usize;
        for tick in &rows_by_tick {
            for &(a, s, ts, value) in tick {
                batch.push(SampleRow {
                    agent: &agents[a],
                    series: series_names[s],
                    ts,
                    value,
                });
                if batch.len() == 2_000 {
                    store.ingest(&batch)?;
                    n += batch.len();
                    batch.clear();
                }
            }
        }
        store.ingest(&batch)?;
        n += batch.len();
        let ingest = start.elapsed().as_secs_f64();
        store.checkpoint()?;
        let total = start.elapsed().as_secs_f64();
        runs.push((n as f64 / ingest, n as f64 / total));
        last = Some((dir, store, n));
    }
    let Some((_dir, store, n)) = last else {
        return Ok(());
    };
    let rate = |pick: fn(&(f64, f64)) -> f64| {
        let mut r: Vec<f64> = runs.iter().map(pick).collect();
        r.sort_by(f64::total_cmp);
        (r[r.len() / 2], r[r.len() - 1])
    };
    let stats = store.stats()?;
    let chunk_bytes = store.chunk_bytes()?;
    println!("samples:            {n} per run, {RUNS} runs");
    let (median, best) = rate(|r| r.0);
    println!("ingest:             median {median:.0} samples/s, best {best:.0}");
    let (median, best) = rate(|r| r.1);
    println!("ingest+checkpoint:  median {median:.0} samples/s, best {best:.0}");
    println!(
        "chunk payload:      {:.2} bytes/sample ({} chunks in sled, {} raw blocks)",
        chunk_bytes as f64 / n as f64,
        stats.chunks,
        stats.blocks[swarm_hub::store::Level::Raw]
    );
    let q = Instant::now();
    let day = store.query_raw(&agents[0], "cpu_pct", 0, u64::MAX)?;
    println!(
        "scan one series:    {} samples in {:.2} ms",
        day.len(),
        q.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
