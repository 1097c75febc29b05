//! A raw chunk as sled holds it while its hour is open: the chunk, then
//! the rollup contributions of its samples,
//! `len u32 | chunk | (level u8 | bucket start u64 | len u32 | bucket)*`.
//!
//! The contributions are computed as samples arrive and written in the
//! same value as the samples they describe, so rollups and raw data agree
//! after any crash and log replay, and a sealed chunk costs sled one write
//! instead of one per bucket it touches. When the chunk's hour closes they
//! are merged into the rollups (`sealed`).

use swarm_common::protocol::Millis;

use crate::level::Level;
use crate::rollup::Bucket;

/// Rollup contributions per (level, bucket start). A handful of buckets
/// per chunk, nearly always touched at the newest: a short vector
/// searched from its end beats a map here.
pub type Contributions = Vec<((Level, Millis), Bucket)>;

pub fn encode(chunk: &[u8], contributions: &Contributions) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + chunk.len() + contributions.len() * 48);
    out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
    out.extend_from_slice(chunk);
    for ((level, start), bucket) in contributions {
        let bytes = bucket.encode();
        out.push(level.byte());
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}

/// The chunk's bytes; `None` if the value is damaged.
pub fn chunk(value: &[u8]) -> Option<&[u8]> {
    let (len, rest) = value.split_first_chunk::<4>()?;
    rest.get(..u32::from_le_bytes(*len) as usize)
}

/// The contributions; `None` if the value is damaged.
pub fn contributions(value: &[u8]) -> Option<Contributions> {
    let mut rest = value.get(4 + chunk(value)?.len()..)?;
    let mut out = Contributions::new();
    while let Some((&level, tail)) = rest.split_first() {
        let level = Level::from_byte(level)?;
        let (start, tail) = tail.split_first_chunk::<8>()?;
        let (len, tail) = tail.split_first_chunk::<4>()?;
        let (bytes, tail) = tail.split_at_checked(u32::from_le_bytes(*len) as usize)?;
        out.push(((level, u64::from_le_bytes(*start)), Bucket::decode(bytes)?));
        rest = tail;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::Agg;

    #[test]
    fn chunk_and_contributions_round_trip() {
        let raw = super::super::chunk::encode(&[(60_000, 1.0), (61_000, 2.0)]);
        let mut bucket = Bucket::empty(false);
        bucket.agg.merge(&Agg::one(1.0));
        bucket.agg.merge(&Agg::one(2.0));
        let written = vec![
            ((Level::Minute, 60_000), bucket.clone()),
            ((Level::Hour, 0), bucket),
        ];
        let value = encode(&raw, &written);
        assert_eq!(chunk(&value), Some(raw.as_slice()));
        let back = contributions(&value).expect("decodes");
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].0, (Level::Hour, 0));
        assert_eq!(back[1].1.agg.count, 2);
        for cut in 0..value.len() {
            if let Some(c) = contributions(&value[..cut]) {
                assert!(c.len() < 2, "a cut value never decodes whole");
            }
        }
        assert_eq!(chunk(&[9, 0, 0, 0, 1]), None);
    }
}
