//! The store's decoders on hostile input: stored chunks,
//! rollup buckets, blocks and log records (a damaged disk), and the validation of decoded agent
//! messages with any field values. No panic; chunks round-trip exactly.
//!
//! `PROPTEST_CASES=N` sets the cases per property (default 1000 here).

use proptest::prelude::*;
use swarm_store::{block_format, chunk, open_chunk, rollup, wal};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

/// Encodes and decodes a chunk: every timestamp and value must come back
/// bit for bit.
fn round_trip(samples: &[(u64, f64)]) -> Result<Vec<u8>, TestCaseError> {
    let bytes = chunk::encode(samples);
    let back = chunk::decode(&bytes);
    prop_assert!(back.is_ok(), "a fresh chunk decodes: {:?}", back);
    let back = back.unwrap_or_default();
    prop_assert_eq!(back.len(), samples.len());
    for (a, b) in back.iter().zip(samples) {
        prop_assert_eq!(a.0, b.0);
        prop_assert_eq!(a.1.to_bits(), b.1.to_bits(), "values are kept bit for bit");
    }
    Ok(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn damaged_chunks_and_buckets_are_errors_not_panics(
        random in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let _ = chunk::decode(&random);
        let _ = chunk::count(&random);
        let _ = rollup::Bucket::decode(&random);
        let _ = rollup::Agg::decode(&random);
        let _ = block_format::decode_chunks(&random);
        let _ = block_format::decode_buckets(&random);
        let _ = open_chunk::chunk(&random);
        let _ = open_chunk::contributions(&random);
        let _ = wal::decode(&random);
    }

    #[test]
    fn log_records_round_trip_any_rows(
        rows in proptest::collection::vec((any::<u32>(), any::<u32>(), any::<u64>(), any::<f64>()), 0..200),
        cut in any::<usize>(),
    ) {
        let bytes = wal::encode(&rows);
        let back = wal::decode(&bytes);
        prop_assert!(back.is_some(), "a fresh record decodes");
        let back = back.unwrap_or_default();
        prop_assert_eq!(back.len(), rows.len());
        for (a, b) in back.iter().zip(&rows) {
            prop_assert_eq!((a.0, a.1, a.2, a.3.to_bits()), (b.0, b.1, b.2, b.3.to_bits()));
        }
        if !bytes.is_empty() {
            // A cut record never decodes to all its rows.
            let short = wal::decode(&bytes[..cut % bytes.len()]);
            prop_assert!(short.is_none_or(|r| r.len() < rows.len()));
        }
    }

    #[test]
    fn decimal_chunks_round_trip_with_steps_of_any_size(
        start in 0u64..4_000_000_000_000,
        scale in 0u32..=6,
        steps in proptest::collection::vec((1u64..100_000, any::<i32>(), 0u32..24), 1..300),
    ) {
        // Integer walks whose steps span from a unit to millions of units,
        // so that every width the chunk may size its codes to is used.
        let factor = 10f64.powi(scale as i32);
        let (mut ts, mut n) = (start, 0i64);
        let samples: Vec<(u64, f64)> = steps
            .iter()
            .map(|&(dt, step, shift)| {
                ts += dt;
                n = (n + (i64::from(step) >> shift)).clamp(-(1 << 50), 1 << 50);
                (ts, n as f64 / factor)
            })
            .collect();
        round_trip(&samples)?;
    }

    #[test]
    fn rollup_blocks_round_trip_and_survive_damage(
        aggs in proptest::collection::vec((any::<f64>(), any::<f64>(), any::<f64>(), 0u64..1 << 40), 1..60),
        flip in any::<(usize, u8)>(),
    ) {
        let buckets: Vec<(u64, rollup::Bucket)> = aggs
            .iter()
            .enumerate()
            .map(|(i, &(min, max, sum, count))| {
                let mut b = rollup::Bucket::empty(false);
                b.agg = rollup::Agg { min, max, sum, count };
                (i as u64 * 60_000, b)
            })
            .collect();
        let bytes = block_format::encode_buckets(&buckets);
        let back = block_format::decode_buckets(&bytes).expect("a fresh block decodes");
        prop_assert_eq!(back.len(), buckets.len());
        for ((s1, b1), (s2, b2)) in back.iter().zip(&buckets) {
            prop_assert_eq!(s1, s2);
            prop_assert_eq!(b1.agg.encode(), b2.agg.encode(), "kept bit for bit");
        }
        let mut damaged = bytes.clone();
        let at = flip.0 % damaged.len();
        damaged[at] ^= flip.1 | 1;
        let _ = block_format::decode_buckets(&damaged);
        let _ = block_format::decode_buckets(&bytes[..at]);
    }

    #[test]
    fn chunks_round_trip_any_values_and_survive_damage(
        start in 0u64..4_000_000_000_000,
        steps in proptest::collection::vec(1u64..100_000, 1..300),
        values in proptest::collection::vec(any::<f64>(), 300),
        flip in any::<(usize, u8)>(),
    ) {
        let mut ts = start;
        let samples: Vec<(u64, f64)> = steps
            .iter()
            .zip(&values)
            .map(|(step, v)| {
                ts += step;
                (ts, *v)
            })
            .collect();
        let bytes = round_trip(&samples)?;
        let mut damaged = bytes.clone();
        let at = flip.0 % damaged.len();
        damaged[at] ^= flip.1 | 1;
        let _ = chunk::decode(&damaged);
        let _ = chunk::decode(&bytes[..at]);
    }
}
