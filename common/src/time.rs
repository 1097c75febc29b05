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

/// A point in time as the history API takes it (`from`, `to`): ms since
/// the epoch, or negative for that long before now. Read from a command
/// line as ms (`1700000000000`, `-86400000`), a duration back from now
/// (`-1d`, `-30m`) or an RFC 3339 time (`2026-11-22T04:49:22Z`); used as
/// a clap `value_parser`.
pub fn parse_point(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    if let Ok(ms) = raw.parse::<i64>() {
        return Ok(ms);
    }
    if let Some(back) = raw.strip_prefix('-') {
        let d = crate::duration::parse(back)?;
        return Ok(-i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    }
    rfc3339_ms(raw)
        .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX))
        .map_err(|e| {
            format!(
                "{raw:?} is not a time: give ms since the epoch, -1d (before now) or 2026-11-22T04:49:22Z ({e})"
            )
        })
}

/// An RFC 3339 time (`2026-11-22T04:49:22Z`, the `T` or zone optional)
/// in ms since the epoch; the error says why not.
pub fn rfc3339_ms(raw: &str) -> Result<Millis, String> {
    let t = humantime::parse_rfc3339_weak(raw.trim()).map_err(|e| e.to_string())?;
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .map_err(|_| "before 1970".to_owned())
}

/// `2026-11-22T04:49:22Z`: a ms timestamp for logs and messages (UTC).
pub fn rfc3339(ms: Millis) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_in_time_from_a_command_line() {
        assert_eq!(parse_point("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_point("-86400000"), Ok(-86_400_000));
        assert_eq!(parse_point("-1d"), Ok(-86_400_000));
        assert_eq!(parse_point("-30m"), Ok(-1_800_000));
        assert_eq!(parse_point("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert!(parse_point("yesterday").is_err_and(|e| e.contains("-1d")));
    }
}
