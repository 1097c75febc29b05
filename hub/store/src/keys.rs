//! Big-endian sled keys, so that a range scan is a time range.

use crate::level::Level;

/// `agent u32 | series u32 | kind u8 | start u64`: the kind byte says what
/// the key holds ([`Kind`]).
fn at(agent: u32, series: u32, kind: u8, start: u64) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[..9].copy_from_slice(&prefix(agent, series, kind));
    key[9..].copy_from_slice(&start.to_be_bytes());
    key
}

/// Key of a raw chunk starting at `start` (chunks tree).
pub fn chunk(agent: u32, series: u32, start: u64) -> [u8; 17] {
    at(agent, series, Level::Raw.byte(), start)
}

/// Key of an open rollup bucket of `level` starting at `start` (index
/// tree).
pub fn bucket(agent: u32, series: u32, level: Level, start: u64) -> [u8; 17] {
    at(agent, series, level.byte(), start)
}

/// Index key of a block of `level` starting at `start`.
pub fn block(agent: u32, series: u32, level: Level, start: u64) -> [u8; 17] {
    at(agent, series, level.block_byte(), start)
}

/// Level byte of a series' sealed mark: samples before it are in blocks.
const SEALED: u8 = 0xFF;

/// Key of a series' sealed mark.
pub fn sealed(agent: u32, series: u32) -> [u8; 9] {
    prefix(agent, series, SEALED)
}

/// Every open chunk (raw) or open bucket key of one series at one level.
pub fn level_prefix(agent: u32, series: u32, level: Level) -> [u8; 9] {
    prefix(agent, series, level.byte())
}

/// Every block index key of one series at one level.
pub fn block_prefix(agent: u32, series: u32, level: Level) -> [u8; 9] {
    prefix(agent, series, level.block_byte())
}

fn prefix(agent: u32, series: u32, kind: u8) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[..8].copy_from_slice(&series_prefix(agent, series));
    key[8] = kind;
    key
}

/// What a key of the chunks or index tree holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A raw chunk (chunks tree).
    Chunk,
    /// An open rollup bucket (index tree).
    Bucket(Level),
    /// A block index entry.
    Block(Level),
    /// A series' sealed mark.
    Sealed,
}

pub fn kind_of(key: &[u8]) -> Option<Kind> {
    let byte = *key.get(8)?;
    match (Level::from_byte(byte), Level::from_block_byte(byte)) {
        (Some(Level::Raw), _) => Some(Kind::Chunk),
        (Some(level), _) => Some(Kind::Bucket(level)),
        (None, Some(level)) => Some(Kind::Block(level)),
        (None, None) if byte == SEALED => Some(Kind::Sealed),
        (None, None) => None,
    }
}

/// `agent u32 | series u32`: every chunk of one series.
pub fn series_prefix(agent: u32, series: u32) -> [u8; 8] {
    let mut key = [0u8; 8];
    key[..4].copy_from_slice(&agent.to_be_bytes());
    key[4..].copy_from_slice(&series.to_be_bytes());
    key
}

/// The chunk start of a chunk key.
pub fn chunk_start(key: &[u8]) -> Option<u64> {
    u64_from(key.get(9..)?)
}

/// Series id of an `agent | series` key.
pub fn series_of(key: &[u8]) -> Option<u32> {
    key.get(4..8)?.try_into().ok().map(u32::from_be_bytes)
}

/// `test_id | 0 | ts u64 | agent | 0 | seq u32`: a test's results in time
/// order. Ids never hold a 0 byte.
/// What every result key of a test starts with.
pub fn result_prefix(test_id: &str) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(test_id.len() + 1);
    prefix.extend_from_slice(test_id.as_bytes());
    prefix.push(0);
    prefix
}

pub fn result(test_id: &str, ts: u64, agent: &str, seq: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(test_id.len() + agent.len() + 14);
    key.extend_from_slice(test_id.as_bytes());
    key.push(0);
    key.extend_from_slice(&ts.to_be_bytes());
    key.extend_from_slice(agent.as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The agent id of an `agent | ...` key.
pub fn u32_from(key: &[u8]) -> Option<u32> {
    key.get(..4)?.try_into().ok().map(u32::from_be_bytes)
}

pub fn u64_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

pub fn u64_from(key: &[u8]) -> Option<u64> {
    key.get(..8)?.try_into().ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_agent_series_time() {
        let a = chunk(1, 2, 100);
        let b = chunk(1, 2, 1_000);
        let rollup = bucket(1, 2, Level::Minute, 0);
        let c = chunk(1, 3, 0);
        let d = chunk(2, 0, 0);
        assert!(a < b && b < rollup && rollup < c && c < d);
        assert_eq!(kind_of(&rollup), Some(Kind::Bucket(Level::Minute)));
        assert_eq!(
            kind_of(&block(1, 2, Level::Hour, 0)),
            Some(Kind::Block(Level::Hour))
        );
        assert_eq!(kind_of(&sealed(1, 2)), Some(Kind::Sealed));
        assert_eq!(kind_of(&a), Some(Kind::Chunk));
        assert_eq!(chunk_start(&b), Some(1_000));
        assert_eq!(series_of(&c), Some(3));
    }
}
