//! The hub's own decoders and checks on hostile input: stored chunks and
//! rollup buckets (a damaged disk), and the validation of decoded agent
//! messages with any field values. No panic; chunks round-trip exactly.
//!
//! `PROPTEST_CASES=N` sets the cases per property (default 1000 here).

use proptest::prelude::*;
use swarm_hub::store::{chunk, rollup};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
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
        let bytes = chunk::encode(&samples);
        let back = chunk::decode(&bytes).expect("a fresh chunk decodes");
        prop_assert_eq!(back.len(), samples.len());
        for (a, b) in back.iter().zip(&samples) {
            prop_assert_eq!(a.0, b.0);
            prop_assert_eq!(a.1.to_bits(), b.1.to_bits(), "values are kept bit for bit");
        }
        let mut damaged = bytes.clone();
        let at = flip.0 % damaged.len();
        damaged[at] ^= flip.1 | 1;
        let _ = chunk::decode(&damaged);
        let _ = chunk::decode(&bytes[..at]);
    }
}
