//! Store-level ingest throughput (samples/s), batches as the hub commits them.
#![expect(clippy::expect_used, reason = "benchmark set-up")]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use swarm_hub::store::{SampleRow, Store};

fn ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    const BATCH: usize = 2_000;
    group.throughput(Throughput::Elements(BATCH as u64));
    let series = ["cpu_pct", "mem_pct", "load1", "net_rx_bps"];
    let agents: Vec<String> = (0..50).map(|i| format!("host-{i}")).collect();
    group.bench_function("ingest_batch_2000", |b| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let mut ts = 1_700_000_000_000u64;
        b.iter(|| {
            let mut rows = Vec::with_capacity(BATCH);
            for i in 0..BATCH {
                rows.push(SampleRow {
                    agent: &agents[i % agents.len()],
                    series: series[(i / agents.len()) % series.len()],
                    ts,
                    value: (i % 97) as f64 * 0.5,
                });
            }
            ts += 1000;
            store.ingest(&rows).expect("ingest");
        });
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
