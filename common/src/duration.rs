//! Human durations (`500ms`, `5s`, `2m`, `48h`, `30d`) for flags and config.

use std::time::Duration;

/// Parses a human duration; used as a clap `value_parser`.
pub fn parse(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw.trim())
        .map_err(|e| format!("{raw:?} is not a duration like 500ms, 5s, 2m, 48h or 30d ({e})"))
}

/// Parses a human duration that must be strictly positive.
pub fn parse_positive(raw: &str) -> Result<Duration, String> {
    let d = parse(raw)?;
    if d.is_zero() {
        return Err(format!("{raw:?} must be longer than zero"));
    }
    Ok(d)
}

/// Whole milliseconds, as the protocol counts them (saturating).
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A whole number of milliseconds in the largest unit that divides it
/// (`100ms`, `90s`, `1h`, `7d`): for limits and values in messages.
pub fn of_ms(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    UNITS
        .iter()
        .find(|(size, _)| ms >= *size && ms.is_multiple_of(*size))
        .map_or_else(
            || format!("{ms}ms"),
            |(size, unit)| format!("{}{unit}", ms / size),
        )
}

/// Formats a duration compactly for display (`1d 2h`, `5m 3s`, `250ms`).
pub fn short(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{}ms", d.as_millis()),
        1..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h {}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d {}h", secs / 86_400, (secs % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_in_their_largest_whole_unit() {
        let got: Vec<String> = [100, 1_000, 90_000, 3_600_000, 604_800_000, 1_500, 0]
            .into_iter()
            .map(of_ms)
            .collect();
        assert_eq!(got, ["100ms", "1s", "90s", "1h", "7d", "1500ms", "0ms"]);
    }

    #[test]
    fn parses_the_contract_forms() {
        let cases = [
            ("500ms", 500),
            ("5s", 5_000),
            ("2m", 120_000),
            ("48h", 172_800_000),
            ("30d", 2_592_000_000),
        ];
        for (raw, ms) in cases {
            assert_eq!(parse(raw).map(|d| d.as_millis()), Ok(ms), "{raw}");
        }
        assert!(parse("5 parsecs").is_err());
        assert!(parse("").is_err());
        assert!(parse_positive("0s").is_err());
    }

    #[test]
    fn short_forms() {
        assert_eq!(short(Duration::from_millis(250)), "250ms");
        assert_eq!(short(Duration::from_secs(59)), "59s");
        assert_eq!(short(Duration::from_secs(3 * 60 + 4)), "3m 4s");
        assert_eq!(short(Duration::from_secs(2 * 3600 + 60)), "2h 1m");
        assert_eq!(short(Duration::from_secs(86_400 + 7200)), "1d 2h");
    }
}
