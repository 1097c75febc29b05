//! The online rule, one for hub and console: when a host counts as online.

use super::{HostStatus, Millis};

/// The interval a host is taken to publish at when its HostInfo says none.
pub const DEFAULT_INTERVAL_MS: Millis = 5_000;
/// Intervals a host may miss before it is offline.
pub const MISSED_INTERVALS: u64 = 3;

/// How long a host announcing `interval_ms` may stay silent and still be
/// online: [`MISSED_INTERVALS`] of its intervals.
pub fn silence_allowed(interval_ms: Option<Millis>) -> Millis {
    interval_or_default(interval_ms).saturating_mul(MISSED_INTERVALS)
}

/// The interval a HostInfo announces, or [`DEFAULT_INTERVAL_MS`] when it
/// gives none (or 0).
pub fn interval_or_default(interval_ms: Option<Millis>) -> Millis {
    interval_ms
        .filter(|i| *i > 0)
        .unwrap_or(DEFAULT_INTERVAL_MS)
}

/// The online rule, one for hub and console: offline at once after a
/// `bye`, or once silent for longer than [`silence_allowed`].
pub fn host_status(
    last_seen: Millis,
    said_bye: bool,
    interval_ms: Option<Millis>,
    now: Millis,
) -> HostStatus {
    if said_bye || now.saturating_sub(last_seen) > silence_allowed(interval_ms) {
        HostStatus::Offline
    } else {
        HostStatus::Online
    }
}
