//! Write-ahead log records: the rows of one ingest batch, per row
//! `agent varint | series varint | ts varint | value f64 LE`, where ts is
//! the zigzag delta from the row before (the first row's from 0). About
//! 11 bytes a row instead of 24: the log is most of what ingest writes.

use swarm_common::protocol::Millis;

use crate::{Result, StoreError, keys};

/// (agent id, series id, ts, value)
pub type Row = (u32, u32, Millis, f64);

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

pub fn encode(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 12);
    let mut prev = 0u64;
    for &(agent, series, ts, value) in rows {
        put_varint(&mut out, u64::from(agent));
        put_varint(&mut out, u64::from(series));
        let delta = ts.wrapping_sub(prev) as i64;
        put_varint(&mut out, ((delta << 1) ^ (delta >> 63)) as u64);
        out.extend_from_slice(&value.to_le_bytes());
        prev = ts;
    }
    out
}

/// The rows of a record; `None` if it is damaged.
pub fn decode(mut bytes: &[u8]) -> Option<Vec<Row>> {
    let mut rows = Vec::with_capacity(bytes.len() / 11);
    let mut prev = 0u64;
    while !bytes.is_empty() {
        let agent = u32::try_from(take_varint(&mut bytes)?).ok()?;
        let series = u32::try_from(take_varint(&mut bytes)?).ok()?;
        let zigzag = take_varint(&mut bytes)?;
        let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        let ts = prev.wrapping_add(delta as u64);
        let (value, rest) = bytes.split_first_chunk::<8>()?;
        bytes = rest;
        rows.push((agent, series, ts, f64::from_le_bytes(*value)));
        prev = ts;
    }
    Some(rows)
}

/// The log: one record per ingest batch under increasing sequence
/// numbers, replayed at start-up and trimmed at each checkpoint.
pub(crate) struct Wal {
    tree: sled::Tree,
    next_seq: u64,
}

impl Wal {
    pub(crate) fn open(db: &sled::Db) -> Result<Self> {
        let tree = db.open_tree("wal")?;
        let next_seq = match tree.last()? {
            Some((key, _)) => seq_of(&key)? + 1,
            None => 0,
        };
        Ok(Self { tree, next_seq })
    }

    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Batches in the log.
    pub(crate) fn len(&self) -> usize {
        self.tree.len()
    }

    /// Where the next batch goes: a checkpoint trims what lies before.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub(crate) fn append(&mut self, rows: &[Row]) -> Result<()> {
        self.tree
            .insert(keys::u64_key(self.next_seq), encode(rows))?;
        self.next_seq += 1;
        Ok(())
    }

    /// Every batch, oldest first. sled checksums what it stores: a record
    /// that does not decode was written by something else; it is said and
    /// skipped, never fatal.
    pub(crate) fn batches(&self) -> impl Iterator<Item = Result<Vec<Row>>> + use<> {
        self.tree.iter().filter_map(|item| {
            let (key, value) = match item {
                Ok(kv) => kv,
                Err(e) => return Some(Err(e.into())),
            };
            let rows = decode(&value);
            if rows.is_none() {
                tracing::error!(
                    "skipping undecodable write-ahead log record {:?}",
                    keys::u64_from(&key)
                );
            }
            rows.map(Ok)
        })
    }
}

/// Removes the log's batches before `upto` (their rows are in chunks now).
pub(crate) fn trim_before(log: &sled::Tree, upto: u64) -> Result<()> {
    let mut trim = sled::Batch::default();
    for item in log.range(..keys::u64_key(upto)) {
        let (key, _) = item?;
        trim.remove(key);
    }
    log.apply_batch(trim)?;
    Ok(())
}

fn seq_of(key: &[u8]) -> Result<u64> {
    keys::u64_from(key).ok_or(StoreError::Corrupt {
        tree: "wal",
        reason: "key is not 8 bytes".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_compactly_and_damage_is_refused() {
        let rows: Vec<Row> = vec![
            (0, 0, 1_700_000_000_000, 1.5),
            (0, 1, 1_700_000_000_000, -0.0),
            (3, 200, 1_700_000_001_003, f64::NAN),
            (u32::MAX, u32::MAX, 0, f64::MAX),
            (1, 1, u64::MAX, 2.0),
            (1, 1, 5, 3.0),
        ];
        let bytes = encode(&rows);
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back.len(), rows.len());
        for (a, b) in rows.iter().zip(&back) {
            assert_eq!((a.0, a.1, a.2), (b.0, b.1, b.2));
            assert_eq!(a.3.to_bits(), b.3.to_bits());
        }
        let typical: Vec<Row> = (0..100u32)
            .map(|i| {
                (
                    7,
                    i % 20,
                    1_700_000_000_000 + u64::from(i / 20) * 1_000,
                    1.0,
                )
            })
            .collect();
        assert!(encode(&typical).len() < 100 * 12);
        for cut in 0..bytes.len() {
            if let Some(rows) = decode(&bytes[..cut]) {
                assert!(rows.len() < 6, "a cut record never decodes whole");
            }
        }
        assert_eq!(decode(&[0xff; 11]), None);
    }
}
