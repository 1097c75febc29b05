//! Compressed chunks of (ts, value) samples: delta-of-delta timestamps, and
//! values either as scaled integers or XOR-encoded floats (Facebook's
//! Gorilla, as in Prometheus' chunks).
//!
//! Layout: `format u8 | count u32 LE | [scale u8 | k_ts u8 | k_value u8] |
//! bitstream`. The bitstream holds the first timestamp (64 bits), then per
//! sample a delta-of-delta code; values are interleaved with the
//! timestamps.
//!
//! Most metrics are decimals with few digits (CPU % to 0.01, byte rates in
//! whole bytes): when every value of a chunk is exactly `n / 10^scale` for
//! a scale of at most 6, the integers' deltas are stored, else the XOR of
//! the float bits. Both are lossless. The scaled form sizes its codes to
//! the chunk (`k_ts`, `k_value`: the width of the first bucket), so a byte
//! rate that moves by thousands and a CPU % that moves by hundredths both
//! take about the bits their changes need.

/// XOR-encoded floats.
const GORILLA_V1: u8 = 1;
/// Scaled integers, delta-coded with codes sized per chunk.
const SCALED_V2: u8 = 3;
const MAX_SCALE: u8 = 6;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk is truncated")]
    Truncated,
    #[error("chunk is corrupt")]
    Corrupt,
    #[error("chunk has unknown format tag {0}")]
    UnknownFormat(u8),
}

/// The smallest decimal scale at which every value is an exact integer.
fn decimal_scale(samples: &[(u64, f64)]) -> Option<u8> {
    (0..=MAX_SCALE).find(|&scale| {
        let factor = 10f64.powi(i32::from(scale));
        samples.iter().all(|&(_, v)| {
            // -0.0 would come back as 0.0.
            if v == 0.0 && v.is_sign_negative() {
                return false;
            }
            let n = (v * factor).round();
            n.abs() < 9.0e15 && (n / factor).to_bits() == v.to_bits()
        })
    })
}

/// Encodes samples sorted by ts with no duplicate ts.
pub fn encode(samples: &[(u64, f64)]) -> Vec<u8> {
    match decimal_scale(samples) {
        Some(scale) if !samples.is_empty() => encode_scaled(samples, scale),
        _ => encode_gorilla(samples),
    }
}

fn encode_scaled(samples: &[(u64, f64)], scale: u8) -> Vec<u8> {
    let factor = 10f64.powi(i32::from(scale));
    // (delta-of-delta of ts, delta of the integer) per sample after the
    // first, computed once to size the codes and then to write them.
    let mut steps = Vec::with_capacity(samples.len());
    let (mut prev_t, mut prev_delta, mut prev_n) = (0u64, 0i64, 0i64);
    for (i, &(t, v)) in samples.iter().enumerate() {
        let n = (v * factor).round() as i64;
        if i > 0 {
            let delta = t.wrapping_sub(prev_t) as i64;
            steps.push((delta.wrapping_sub(prev_delta), n.wrapping_sub(prev_n)));
            prev_delta = delta;
        }
        prev_t = t;
        prev_n = n;
    }
    let k_ts = best_width(steps.iter().map(|s| s.0));
    let k_value = best_width(steps.iter().map(|s| s.1));
    let (ts_code, value_code) = (tuned(k_ts), tuned(k_value));
    let mut w = BitWriter::with_capacity(11 + samples.len() * 3);
    w.bytes.push(SCALED_V2);
    w.bytes
        .extend_from_slice(&(samples.len() as u32).to_le_bytes());
    w.bytes.extend_from_slice(&[scale, k_ts, k_value]);
    if let Some(&(t, v)) = samples.first() {
        w.write(t, 64);
        w.write((v * factor).round() as i64 as u64, 64);
    }
    for &(dod, dn) in &steps {
        write_code(&mut w, &ts_code, dod);
        write_code(&mut w, &value_code, dn);
    }
    w.finish()
}

/// Widest first bucket a tuned code may have (its widest bucket must stay
/// under 64 bits).
const MAX_K: u8 = 47;

/// The code for one stream of a scaled chunk: zero in one bit, then
/// buckets of `k`, `k + 4`, `k + 8` and `k + 16` bits.
fn tuned(k: u8) -> Buckets<4> {
    Buckets {
        table: [
            (0b10, 2, k),
            (0b110, 3, k + 4),
            (0b1110, 4, k + 8),
            (0b11110, 5, k + 16),
        ],
        escape: (0b11111, 5),
    }
}

/// Bits that hold `v` in two's complement (0 for zero).
fn signed_width(v: i64) -> u32 {
    if v == 0 {
        return 0;
    }
    let magnitude = if v < 0 { !v } else { v };
    64 - magnitude.leading_zeros() + 1
}

/// The first-bucket width that writes these values in the fewest bits:
/// a histogram of their widths, priced for every candidate.
fn best_width(values: impl Iterator<Item = i64>) -> u8 {
    let mut histogram = [0u64; 65];
    for v in values {
        histogram[signed_width(v) as usize] += 1;
    }
    let present: Vec<(u32, u64)> = (1..histogram.len())
        .filter(|&w| histogram[w] > 0)
        .map(|w| (w as u32, histogram[w]))
        .collect();
    let cost = |k: u8| -> u64 {
        let code = tuned(k);
        let mut bits = histogram[0];
        for &(width, n) in &present {
            let per = code
                .table
                .iter()
                .find(|b| u32::from(b.2) >= width)
                .map_or(u64::from(code.escape.1) + 64, |b| u64::from(b.1 + b.2));
            bits += n * per;
        }
        bits
    };
    (1..=MAX_K).min_by_key(|&k| cost(k)).unwrap_or(1)
}

fn decode_scaled(bytes: &[u8], count: usize) -> Result<Vec<(u64, f64)>, ChunkError> {
    let (&[scale, k_ts, k_value], body) = bytes.split_first_chunk().ok_or(ChunkError::Truncated)?;
    if scale > MAX_SCALE || !(1..=MAX_K).contains(&k_ts) || !(1..=MAX_K).contains(&k_value) {
        return Err(ChunkError::Corrupt);
    }
    let (ts_code, value_code) = (tuned(k_ts), tuned(k_value));
    let factor = 10f64.powi(i32::from(scale));
    let mut r = BitReader::new(body);
    let mut out = Vec::with_capacity(count.min(1 << 16));
    let mut t = r.read(64)?;
    let mut n = r.read(64)? as i64;
    out.push((t, n as f64 / factor));
    let mut delta = 0i64;
    for _ in 1..count {
        delta = delta.wrapping_add(read_code(&mut r, &ts_code)?);
        t = t.wrapping_add(delta as u64);
        n = n.wrapping_add(read_code(&mut r, &value_code)?);
        out.push((t, n as f64 / factor));
    }
    Ok(out)
}

fn encode_gorilla(samples: &[(u64, f64)]) -> Vec<u8> {
    let mut w = BitWriter::with_capacity(8 + samples.len() * 3);
    w.bytes.push(GORILLA_V1);
    w.bytes
        .extend_from_slice(&(samples.len() as u32).to_le_bytes());
    let Some(&(t0, v0)) = samples.first() else {
        return w.finish();
    };
    w.write(t0, 64);
    w.write(v0.to_bits(), 64);
    let (mut prev_t, mut prev_delta) = (t0, 0i64);
    let (mut prev_v, mut window) = (v0.to_bits(), None::<(u32, u32)>);
    for &(t, v) in &samples[1..] {
        let delta = t.wrapping_sub(prev_t) as i64;
        write_code(&mut w, &DOD, delta.wrapping_sub(prev_delta));
        prev_t = t;
        prev_delta = delta;
        let bits = v.to_bits();
        window = write_xor(&mut w, prev_v ^ bits, window);
        prev_v = bits;
    }
    w.finish()
}

pub fn decode(bytes: &[u8]) -> Result<Vec<(u64, f64)>, ChunkError> {
    let (&tag, rest) = bytes.split_first().ok_or(ChunkError::Truncated)?;
    if tag != GORILLA_V1 && tag != SCALED_V2 {
        return Err(ChunkError::UnknownFormat(tag));
    }
    let count_bytes: [u8; 4] = rest
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(ChunkError::Truncated)?;
    let count = u32::from_le_bytes(count_bytes) as usize;
    if tag == SCALED_V2 {
        return if count == 0 {
            Ok(Vec::new())
        } else {
            decode_scaled(&rest[4..], count)
        };
    }
    let mut r = BitReader::new(&rest[4..]);
    let mut out = Vec::with_capacity(count.min(1 << 16));
    if count == 0 {
        return Ok(out);
    }
    let t0 = r.read(64)?;
    let v0 = r.read(64)?;
    out.push((t0, f64::from_bits(v0)));
    let (mut prev_t, mut prev_delta) = (t0, 0i64);
    let (mut prev_v, mut window) = (v0, (0u32, 0u32));
    for _ in 1..count {
        let delta = prev_delta.wrapping_add(read_code(&mut r, &DOD)?);
        let t = prev_t.wrapping_add(delta as u64);
        if r.read_bit()? {
            if r.read_bit()? {
                let leading = r.read(5)? as u32;
                let len = r.read(6)? as u32 + 1;
                let trailing = 64u32
                    .checked_sub(leading + len)
                    .ok_or(ChunkError::Corrupt)?;
                window = (leading, trailing);
            }
            let (leading, trailing) = window;
            let len = 64 - leading - trailing;
            prev_v ^= r.read(len)? << trailing;
        }
        out.push((t, f64::from_bits(prev_v)));
        prev_t = t;
        prev_delta = delta;
    }
    Ok(out)
}

/// Number of samples in an encoded chunk, without decoding it.
pub fn count(bytes: &[u8]) -> usize {
    bytes
        .get(1..5)
        .and_then(|b| b.try_into().ok())
        .map_or(0, |b| u32::from_le_bytes(b) as usize)
}

/// A variable-length code for signed integers: `0` for zero, else the
/// first bucket (prefix, then that many bits) whose range holds the value,
/// else the escape prefix and 64 bits.
struct Buckets<const N: usize> {
    /// (prefix, prefix bits, value bits)
    table: [(u64, u8, u8); N],
    escape: (u64, u8),
}

/// Delta-of-delta of timestamps in the XOR form (Gorilla's buckets).
const DOD: Buckets<3> = Buckets {
    table: [(0b10, 2, 7), (0b110, 3, 9), (0b1110, 4, 12)],
    escape: (0b1111, 4),
};

fn write_code<const N: usize>(w: &mut BitWriter, code: &Buckets<N>, v: i64) {
    if v == 0 {
        w.write_bit(false);
        return;
    }
    for &(prefix, prefix_bits, bits) in &code.table {
        // What `bits` hold in two's complement: -half..=half-1 (the reader
        // sign-extends, so `half` itself would come back as -half).
        let half = 1i64 << (bits - 1);
        if (-half..half).contains(&v) {
            w.write(prefix, prefix_bits);
            w.write((v as u64) & ((1u64 << bits) - 1), bits);
            return;
        }
    }
    w.write(code.escape.0, code.escape.1);
    w.write(v as u64, 64);
}

fn read_code<const N: usize>(r: &mut BitReader, code: &Buckets<N>) -> Result<i64, ChunkError> {
    if !r.read_bit()? {
        return Ok(0);
    }
    for &(_, _, bits) in &code.table {
        if !r.read_bit()? {
            let raw = r.read(u32::from(bits))?;
            // Sign-extend from `bits`.
            let shift = 64 - u32::from(bits);
            return Ok(((raw << shift) as i64) >> shift);
        }
    }
    Ok(r.read(64)? as i64)
}

fn write_xor(w: &mut BitWriter, xor: u64, window: Option<(u32, u32)>) -> Option<(u32, u32)> {
    if xor == 0 {
        w.write_bit(false);
        return window;
    }
    w.write_bit(true);
    // Leading zeros are stored in 5 bits.
    let leading = xor.leading_zeros().min(31);
    let trailing = xor.trailing_zeros();
    if let Some((pl, pt)) = window
        && leading >= pl
        && trailing >= pt
    {
        w.write_bit(false);
        w.write(xor >> pt, (64 - pl - pt) as u8);
        return window;
    }
    let len = 64 - leading - trailing;
    w.write_bit(true);
    w.write(u64::from(leading), 5);
    w.write(u64::from(len - 1), 6);
    w.write(xor >> trailing, len as u8);
    Some((leading, trailing))
}

struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = byte boundary).
    used: u8,
}

impl BitWriter {
    fn with_capacity(n: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(n),
            used: 0,
        }
    }

    fn write_bit(&mut self, bit: bool) {
        self.write(u64::from(bit), 1);
    }

    /// Writes the low `n` bits of `value`, most significant first.
    fn write(&mut self, value: u64, n: u8) {
        let mut left = n;
        while left > 0 {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let free = 8 - self.used;
            let take = free.min(left);
            let chunk = ((value >> (left - take)) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= chunk << (free - take);
            }
            self.used = (self.used + take) % 8;
            left -= take;
        }
    }

    fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn read_bit(&mut self) -> Result<bool, ChunkError> {
        Ok(self.read(1)? == 1)
    }

    fn read(&mut self, n: u32) -> Result<u64, ChunkError> {
        if n == 0 {
            return Ok(0);
        }
        if self.pos + n as usize > self.bytes.len() * 8 {
            return Err(ChunkError::Truncated);
        }
        let mut value = 0u64;
        let mut left = n;
        while left > 0 {
            let byte = self.bytes[self.pos / 8];
            let offset = (self.pos % 8) as u32;
            let avail = 8 - offset;
            let take = avail.min(left);
            let bits = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            value = if take == 64 {
                bits
            } else {
                (value << take) | bits
            };
            self.pos += take as usize;
            left -= take;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(samples: &[(u64, f64)]) -> Vec<u8> {
        let bytes = encode(samples);
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back.len(), samples.len());
        for (a, b) in samples.iter().zip(&back) {
            assert_eq!(a.0, b.0);
            assert_eq!(a.1.to_bits(), b.1.to_bits());
        }
        assert_eq!(count(&bytes), samples.len());
        bytes
    }

    #[test]
    fn empty_and_single() {
        roundtrip(&[]);
        roundtrip(&[(1_700_000_000_000, 42.5)]);
    }

    #[test]
    fn regular_series_compress_well() {
        let samples: Vec<(u64, f64)> = (0..240)
            .map(|i| (1_700_000_000_000 + i * 1000, 1_000_000.0))
            .collect();
        let bytes = roundtrip(&samples);
        // Constant value and period: 2 bits per sample after the header.
        assert!(bytes.len() < 5 + 16 + 240 / 4 + 8, "{} bytes", bytes.len());
    }

    #[test]
    fn irregular_times_and_special_values() {
        let mut t = 1_700_000_000_000u64;
        let mut samples = Vec::new();
        let gaps = [1, 999, 1000, 1001, 5000, 64, 63, 65, 300_000, 86_400_000, 2];
        let values = [
            0.0,
            -0.0,
            1e300,
            -1e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            3.25,
            100.0,
        ];
        for i in 0..200 {
            t += gaps[i % gaps.len()];
            samples.push((t, values[i % values.len()] * (i as f64 + 1.0)));
        }
        roundtrip(&samples);
    }

    #[test]
    fn decimals_take_the_scaled_form_and_round_trip_exactly() {
        let mut t = 1_700_000_000_000u64;
        let cpu: Vec<(u64, f64)> = (0..240)
            .map(|i| {
                t += 1_000 + (i % 3);
                (t, ((i * 37) % 10_000) as f64 / 100.0)
            })
            .collect();
        let bytes = roundtrip(&cpu);
        assert_eq!(bytes[0], SCALED_V2);
        assert_eq!(bytes[5], 2, "two decimals");
        assert!(
            bytes.len() < 240 * 3,
            "{} bytes for 240 samples",
            bytes.len()
        );
        let rates: Vec<(u64, f64)> = (0..100)
            .map(|i| (i * 1_000, (i * 123_457 % 1_000_000) as f64))
            .collect();
        assert_eq!(roundtrip(&rates)[5], 0);
        let thirds: Vec<(u64, f64)> = (0..10).map(|i| (i, i as f64 / 3.0)).collect();
        assert_eq!(roundtrip(&thirds)[0], GORILLA_V1, "not decimal: XOR form");
        let huge = [(1, 1e300), (2, -0.0), (3, f64::NAN)];
        assert_eq!(encode(&huge)[0], GORILLA_V1);
    }

    #[test]
    fn every_bucket_edge_round_trips() {
        // Deltas (of timestamps and of scaled values) at each bucket's
        // edges: +-2^(bits-1) and one inside, for every bucket width.
        let mut edges = Vec::new();
        for bits in [1u32, 2, 3, 5, 7, 9, 10, 12, 14, 17, 22, 30, 47, 50] {
            let half = 1i64 << (bits - 1);
            edges.extend([half - 1, half, half + 1, -half, -half - 1, -half + 1]);
        }
        let mut samples = vec![(1_000_000u64, 0.0)];
        let mut delta = 1_000i64;
        let mut n = 0i64;
        for dod in &edges {
            delta = (delta + dod).max(1);
            n += dod;
            let (t, _) = samples[samples.len() - 1];
            samples.push((t + delta as u64, n as f64));
        }
        roundtrip(&samples);
        let hundredths: Vec<(u64, f64)> = samples.iter().map(|&(t, v)| (t, v / 100.0)).collect();
        roundtrip(&hundredths);
    }

    #[test]
    fn every_tuned_code_writes_its_bucket_edges_back() {
        for k in 1..=MAX_K {
            let code = tuned(k);
            let mut values = vec![0i64, i64::MAX, i64::MIN];
            for &(_, _, bits) in &code.table {
                let half = 1i64 << (bits - 1);
                values.extend([half - 1, half, half + 1, -half, -half - 1, -half + 1]);
            }
            let mut w = BitWriter::with_capacity(64);
            for &v in &values {
                write_code(&mut w, &code, v);
            }
            let bytes = w.finish();
            let mut r = BitReader::new(&bytes);
            for &v in &values {
                assert_eq!(read_code(&mut r, &code), Ok(v), "k {k}");
            }
        }
        // Sized to the data: rates moving by thousands take their bits,
        // not a fixed bucket's.
        let rates: Vec<(u64, f64)> = (0..240u64)
            .map(|i| (i * 1_000, (40_000 + (i * 7_919) % 20_000) as f64))
            .collect();
        assert!(roundtrip(&rates).len() < 240 * 5 / 2, "under 20 bits each");
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        for samples in [
            (0..50)
                .map(|i| (i * 10, i as f64 / 3.0))
                .collect::<Vec<_>>(),
            (0..50)
                .map(|i| (i * 10, i as f64 * 1.5))
                .collect::<Vec<_>>(),
        ] {
            let bytes = encode(&samples);
            for cut in 0..bytes.len() {
                let _ = decode(&bytes[..cut]);
            }
        }
        assert_eq!(decode(&[9, 0, 0, 0, 0]), Err(ChunkError::UnknownFormat(9)));
        assert_eq!(decode(&[]), Err(ChunkError::Truncated));
    }
}
