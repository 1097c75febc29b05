//! Wall-clock time in the contract's unit.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::protocol::Millis;

/// Milliseconds since the Unix epoch; 0 if the clock is before 1970.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}
