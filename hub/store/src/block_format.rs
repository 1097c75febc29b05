//! What a block holds.
//!
//! - Raw: the hour's chunks as they were sealed, each `len u32 | chunk`,
//!   in time order: moving them out of sled costs no re-encoding.
//! - Rollups without sketches: `1 | min | max | sum | count`, each a
//!   length-prefixed chunk (the raw encoding) of `(bucket start, value)`:
//!   minima and maxima of decimal metrics take a few bits, counts nearly
//!   none, where 32 bytes per bucket would cost more than the raw data.
//! - Rollups with sketches (latency series): `2 | n u32 | (start u64 |
//!   len u32 | bucket)*`, each bucket in its own encoding.

use swarm_common::protocol::Millis;

use super::chunk;
use super::rollup::{Agg, Bucket};

const PLAIN: u8 = 1;
const SKETCHED: u8 = 2;

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn take<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, tail) = rest.split_at_checked(4)?;
    let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
    let (bytes, tail) = tail.split_at_checked(len)?;
    *rest = tail;
    Some(bytes)
}

pub fn encode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        put(&mut out, c);
    }
    out
}

/// The encoded chunks of a raw block; `None` if it is damaged.
pub fn decode_chunks(mut payload: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !payload.is_empty() {
        out.push(take(&mut payload)?);
    }
    Some(out)
}

pub fn encode_buckets(buckets: &[(Millis, Bucket)]) -> Vec<u8> {
    if buckets.iter().any(|(_, b)| b.sketch.is_some()) {
        let mut out = vec![SKETCHED];
        out.extend_from_slice(&(buckets.len() as u32).to_le_bytes());
        for (start, b) in buckets {
            out.extend_from_slice(&start.to_le_bytes());
            put(&mut out, &b.encode());
        }
        return out;
    }
    let column = |f: fn(&Agg) -> f64| -> Vec<(u64, f64)> {
        buckets.iter().map(|(s, b)| (*s, f(&b.agg))).collect()
    };
    let mut out = vec![PLAIN];
    put(&mut out, &chunk::encode(&column(|a| a.min)));
    put(&mut out, &chunk::encode(&column(|a| a.max)));
    put(&mut out, &chunk::encode(&column(|a| a.sum)));
    put(&mut out, &chunk::encode(&column(|a| a.count as f64)));
    out
}

/// The buckets of a rollup block in time order; `None` if it is damaged.
pub fn decode_buckets(payload: &[u8]) -> Option<Vec<(Millis, Bucket)>> {
    let (&tag, mut rest) = payload.split_first()?;
    match tag {
        PLAIN => {
            let mut column = || chunk::decode(take(&mut rest)?).ok();
            let (min, max, sum, count) = (column()?, column()?, column()?, column()?);
            let n = min.len();
            if max.len() != n || sum.len() != n || count.len() != n {
                return None;
            }
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let start = min[i].0;
                if max[i].0 != start || sum[i].0 != start || count[i].0 != start {
                    return None;
                }
                let agg = Agg {
                    min: min[i].1,
                    max: max[i].1,
                    sum: sum[i].1,
                    count: count[i].1 as u64,
                };
                out.push((start, Bucket { agg, sketch: None }));
            }
            Some(out)
        }
        SKETCHED => {
            let (n, tail) = rest.split_at_checked(4)?;
            rest = tail;
            let n = u32::from_le_bytes(n.try_into().ok()?) as usize;
            let mut out = Vec::with_capacity(n.min(4096));
            for _ in 0..n {
                let (start, tail) = rest.split_at_checked(8)?;
                rest = tail;
                let start = u64::from_le_bytes(start.try_into().ok()?);
                out.push((start, Bucket::decode(take(&mut rest)?)?));
            }
            rest.is_empty().then_some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_and_buckets_round_trip() {
        let a = chunk::encode(&[(1, 1.0), (2, 2.0)]);
        let b = chunk::encode(&[(3, 3.5)]);
        let payload = encode_chunks([a.as_slice(), b.as_slice()]);
        assert_eq!(
            decode_chunks(&payload),
            Some(vec![a.as_slice(), b.as_slice()])
        );
        assert_eq!(decode_chunks(&payload[..payload.len() - 1]), None);

        let plain: Vec<(u64, Bucket)> = (0..60u64)
            .map(|i| {
                let mut b = Bucket::empty(false);
                b.agg.merge(&Agg::one(i as f64 / 100.0));
                b.agg.merge(&Agg::one(0.1 + i as f64));
                (i * 60_000, b)
            })
            .collect();
        let bytes = encode_buckets(&plain);
        assert!(bytes.len() < 60 * 16, "{} bytes", bytes.len());
        let back = decode_buckets(&bytes).expect("decodes");
        assert_eq!(back.len(), 60);
        for ((s1, b1), (s2, b2)) in plain.iter().zip(&back) {
            assert_eq!((s1, b1.agg), (s2, b2.agg));
        }

        let mut sketched = Bucket::empty(true);
        sketched.agg.merge(&Agg::one(4.0));
        if let Some(s) = &mut sketched.sketch {
            s.add(4.0);
        }
        let bytes = encode_buckets(&[(60_000, sketched)]);
        let back = decode_buckets(&bytes).expect("decodes");
        assert_eq!(back[0].0, 60_000);
        assert_eq!(back[0].1.sketch.as_ref().map(|s| s.count()), Some(1));
        assert!(decode_buckets(&bytes[..bytes.len() - 2]).is_none());
        assert!(decode_buckets(&[9]).is_none());
    }
}
