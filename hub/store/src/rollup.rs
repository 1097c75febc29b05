//! Rollups: per bucket (min, max, sum, count), mergeable, so a bucket is
//! updated by adding what arrived, never by rescanning raw samples.
//! Latency series also keep a DDSketch per bucket (1 % relative error), so
//! percentiles over a day or a month come from merged sketches, not from
//! averaged percentiles.

use sketches_ddsketch::{Config, DDSketch};
/// A latency series (`test:<test id>`, named in `swarm_common::test_id`):
/// its rollups keep sketches.
pub fn is_latency(series: &str) -> bool {
    series.starts_with(swarm_common::test_id::LATENCY_PREFIX)
}

/// Relative error of the latency sketches' quantiles.
pub const SKETCH_RELATIVE_ERROR: f64 = 0.01;

/// The library's defaults: 1 % relative error, 2048 bins (a range of
/// 10^17 between the smallest and largest value before the lowest bins
/// collapse). The standard binary form carries only gamma, and a decoded
/// sketch gets these defaults back, so every sketch here can merge.
pub fn new_sketch() -> DDSketch {
    DDSketch::new(Config::defaults())
}

/// One rollup bucket: the aggregate, and for latency series the sketch.
#[derive(Clone)]
pub struct Bucket {
    pub agg: Agg,
    /// Boxed: most buckets have none, and they move around a lot.
    pub sketch: Option<Box<DDSketch>>,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("agg", &self.agg)
            .field("sketched", &self.sketch.as_ref().map(|s| s.count()))
            .finish()
    }
}

impl Bucket {
    pub fn empty(latency: bool) -> Self {
        Self {
            agg: Agg::EMPTY,
            sketch: latency.then(|| Box::new(new_sketch())),
        }
    }

    pub fn merge(&mut self, other: &Bucket) {
        self.agg.merge(&other.agg);
        if let Some(theirs) = &other.sketch {
            match &mut self.sketch {
                // `merge` fails only for other configurations: every sketch
                // here comes from `new_sketch` or from `decode`, which
                // refuses foreign ones.
                Some(ours) => {
                    let _ = ours.merge(theirs);
                }
                None => self.sketch = Some(theirs.clone()),
            }
        }
    }

    /// The aggregate's 32 bytes, then for a sketch a CRC-32 of it and the
    /// sketch in DDSketch's standard binary form (the one the Java and Go
    /// libraries read). The checksum keeps damaged bytes away from the
    /// sketch decoder, which is not made for hostile input.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.agg.encode().to_vec();
        if let Some(sketch) = &self.sketch {
            let bytes = sketch.to_java_bytes();
            out.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
            out.extend_from_slice(&bytes);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let agg = Agg::decode(bytes)?;
        let sketch = match bytes.get(32..) {
            Some(rest) if !rest.is_empty() => {
                let (crc, body) = rest.split_at_checked(4)?;
                if crc32fast::hash(body).to_le_bytes() != crc {
                    return None;
                }
                let decoded = DDSketch::from_java_bytes(body).ok()?;
                let mut sketch = new_sketch();
                sketch.merge(&decoded).ok()?;
                Some(Box::new(sketch))
            }
            _ => None,
        };
        Some(Self { agg, sketch })
    }
}

/// Adds a bucket into a map of buckets (merged with one at the same key).
pub fn merge_into<K: Ord>(map: &mut std::collections::BTreeMap<K, Bucket>, key: K, bucket: Bucket) {
    map.entry(key)
        .and_modify(|b| b.merge(&bucket))
        .or_insert(bucket);
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agg {
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: u64,
}

impl Agg {
    /// The identity of `merge`.
    pub const EMPTY: Agg = Agg {
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        sum: 0.0,
        count: 0,
    };

    pub fn one(v: f64) -> Self {
        Self {
            min: v,
            max: v,
            sum: v,
            count: 1,
        }
    }

    pub fn merge(&mut self, other: &Agg) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
    }

    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.sum / self.count as f64
        }
    }

    pub fn encode(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..8].copy_from_slice(&self.min.to_le_bytes());
        out[8..16].copy_from_slice(&self.max.to_le_bytes());
        out[16..24].copy_from_slice(&self.sum.to_le_bytes());
        out[24..].copy_from_slice(&self.count.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let f = |i: usize| -> Option<[u8; 8]> { bytes.get(i..i + 8)?.try_into().ok() };
        Some(Self {
            min: f64::from_le_bytes(f(0)?),
            max: f64::from_le_bytes(f(8)?),
            sum: f64::from_le_bytes(f(16)?),
            count: u64::from_le_bytes(f(24)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_round_trip() {
        let mut a = Agg::one(3.0);
        a.merge(&Agg::one(1.0));
        a.merge(&Agg::one(5.0));
        assert_eq!(
            a,
            Agg {
                min: 1.0,
                max: 5.0,
                sum: 9.0,
                count: 3
            }
        );
        assert_eq!(a.avg(), 3.0);
        assert_eq!(Agg::decode(&a.encode()), Some(a));
        assert_eq!(Agg::decode(&[0; 31]), None);
    }

    #[test]
    fn latency_buckets_carry_a_sketch_through_encoding_and_merges() {
        let mut a = Bucket::empty(true);
        let mut b = Bucket::empty(true);
        for i in 1..=100 {
            let target = if i % 2 == 0 { &mut a } else { &mut b };
            target.agg.merge(&Agg::one(f64::from(i)));
            if let Some(s) = &mut target.sketch {
                s.add(f64::from(i));
            }
        }
        let mut merged = Bucket::decode(&a.encode()).expect("decodes");
        merged.merge(&Bucket::decode(&b.encode()).expect("decodes"));
        assert_eq!(merged.agg.count, 100);
        let sketch = merged.sketch.expect("sketch");
        assert_eq!(sketch.count(), 100);
        let p50 = sketch.quantile(0.5).expect("q").expect("value");
        assert!((p50 - 50.0).abs() <= 50.0 * SKETCH_RELATIVE_ERROR, "{p50}");
        let plain = Bucket::empty(false);
        assert_eq!(plain.encode().len(), 32);
        assert!(
            Bucket::decode(&plain.encode())
                .expect("decodes")
                .sketch
                .is_none()
        );
        // A corrupt sketch is an error, never a silently wrong percentile.
        let mut bad = a.encode();
        bad.truncate(40);
        assert!(Bucket::decode(&bad).is_none());
        let mut flipped = a.encode();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        assert!(Bucket::decode(&flipped).is_none());
    }
}
