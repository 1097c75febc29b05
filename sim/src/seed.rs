//! Deterministic numbers from the seed: every choice about agent `n` is a
//! hash of (seed, n, stream), so hosts and walks do not depend on the order
//! in which agents are created or on how many there are.

/// SplitMix64 of `seed`, `n` and a stream number that tells uses apart.
pub fn mix(seed: u64, n: u64, stream: u64) -> u64 {
    let mut z =
        seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ stream.wrapping_mul(0xd6e8_feb8_6659_fd93);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_agents_differ() {
        assert_eq!(mix(1, 2, 3), mix(1, 2, 3));
        assert_ne!(mix(1, 2, 3), mix(1, 2, 4));
        assert_ne!(mix(1, 2, 3), mix(1, 3, 3));
        assert_ne!(mix(1, 2, 3), mix(2, 2, 3));
        // Small inputs spread over the whole range.
        let buckets = (0..1_000u64).fold([0u32; 4], |mut b, n| {
            b[(mix(0, n, 0) >> 62) as usize] += 1;
            b
        });
        assert!(buckets.iter().all(|&c| c > 200), "{buckets:?}");
    }
}
