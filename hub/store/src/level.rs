//! The resolutions the store keeps: raw samples, 1-minute and 1-hour
//! rollup buckets. Everything that differs between them (bucket width,
//! block period, cap step, key byte, directory) is said here once.

use std::ops::{Index, IndexMut};

use swarm_common::protocol::Millis;
use swarm_common::time::{DAY_MS, HOUR_MS, MINUTE_MS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Raw,
    Minute,
    Hour,
}

/// In the index tree, beside a series' open rollup buckets (so that moving
/// buckets into a block is one atomic batch): key byte `BLOCKS + l` indexes
/// the blocks of level `l`.
const BLOCKS: u8 = 0x10;

impl Level {
    pub const ALL: [Self; 3] = [Self::Raw, Self::Minute, Self::Hour];
    /// The levels kept as rollup buckets.
    pub const ROLLUPS: [Self; 2] = [Self::Minute, Self::Hour];

    /// Width of one bucket (a raw sample is a point of its own).
    pub const fn width(self) -> Millis {
        match self {
            Self::Raw => 1,
            Self::Minute => MINUTE_MS,
            Self::Hour => HOUR_MS,
        }
    }

    /// The span one block covers: raw chunks by the hour they start in,
    /// 1-minute buckets of an hour, 1-hour buckets of a day.
    pub const fn period(self) -> Millis {
        match self {
            Self::Raw | Self::Minute => HOUR_MS,
            Self::Hour => DAY_MS,
        }
    }

    /// The smallest step the size cap moves this level's cut-off by: about
    /// one chunk or bucket.
    pub const fn cap_step(self) -> Millis {
        match self {
            Self::Raw => MINUTE_MS,
            Self::Minute => HOUR_MS,
            Self::Hour => DAY_MS,
        }
    }

    /// Start of the bucket holding `ts`.
    pub const fn bucket_start(self, ts: Millis) -> Millis {
        ts - ts % self.width()
    }

    /// Start of the block period holding `ts`.
    pub const fn period_start(self, ts: Millis) -> Millis {
        ts - ts % self.period()
    }

    /// Position in a [`PerLevel`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The level byte of store keys and open chunks: part of the on-disk
    /// layout, never renumbered.
    pub const fn byte(self) -> u8 {
        self as u8
    }

    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Self::Raw),
            1 => Some(Self::Minute),
            2 => Some(Self::Hour),
            _ => None,
        }
    }

    /// The key byte of this level's block index entries.
    pub const fn block_byte(self) -> u8 {
        BLOCKS + self.byte()
    }

    pub const fn from_block_byte(byte: u8) -> Option<Self> {
        match byte.checked_sub(BLOCKS) {
            Some(level) => Self::from_byte(level),
            None => None,
        }
    }

    /// For operators' messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Minute => "1-minute",
            Self::Hour => "1-hour",
        }
    }

    /// The directory of its day files under `blocks/`.
    pub const fn dir_name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Minute => "1m",
            Self::Hour => "1h",
        }
    }
}

/// One value per level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerLevel<T>(pub [T; 3]);

impl<T> Index<Level> for PerLevel<T> {
    type Output = T;
    fn index(&self, level: Level) -> &T {
        &self.0[level.index()]
    }
}

impl<T> IndexMut<Level> for PerLevel<T> {
    fn index_mut(&mut self, level: Level) -> &mut T {
        &mut self.0[level.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_never_clash() {
        for level in Level::ALL {
            assert_eq!(Level::from_byte(level.byte()), Some(level));
            assert_eq!(Level::from_block_byte(level.block_byte()), Some(level));
            assert_eq!(Level::from_byte(level.block_byte()), None);
            assert_eq!(Level::ALL[level.index()], level);
        }
        // The on-disk layout.
        assert_eq!(
            Level::ALL.map(Level::block_byte),
            [0x10, 0x11, 0x12],
            "block key bytes are part of the layout"
        );
    }

    #[test]
    fn buckets_and_periods_line_up() {
        let ts = 3 * DAY_MS + 5 * HOUR_MS + 7 * MINUTE_MS + 11;
        assert_eq!(Level::Minute.bucket_start(ts), ts - 11);
        assert_eq!(Level::Hour.bucket_start(ts), ts - 11 - 7 * MINUTE_MS);
        assert_eq!(Level::Hour.period_start(ts), 3 * DAY_MS);
        assert_eq!(Level::Raw.bucket_start(ts), ts);
    }
}
