//! Wall-clock time in the contract's unit.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::protocol::Millis;

pub const MINUTE_MS: Millis = 60_000;
pub const HOUR_MS: Millis = 60 * MINUTE_MS;
pub const DAY_MS: Millis = 24 * HOUR_MS;

/// Milliseconds since the Unix epoch; 0 if the clock is before 1970.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// `2026-11-22T04:49:22Z`: a ms timestamp for logs and messages (UTC).
pub fn rfc3339(ms: Millis) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(t).to_string()
}
