//! Rollups: per bucket (min, max, sum, count), mergeable, so a bucket is
//! updated by adding what arrived, never by rescanning raw samples.

/// Levels in the `chunks` tree: 0 holds raw chunks, the others rollups.
pub const RAW: u8 = 0;
/// (level, bucket width in ms)
pub const LEVELS: [(u8, u64); 2] = [(1, 60_000), (2, 3_600_000)];

pub fn width(level: u8) -> Option<u64> {
    LEVELS.iter().find(|(l, _)| *l == level).map(|(_, w)| *w)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agg {
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: u64,
}

impl Agg {
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
}
