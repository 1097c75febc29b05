//! Test specs from text, as typed on the command line or in the console's
//! form: one parser for each field, shared by both.

use swarm_common::protocol::{Millis, TestKind};

pub fn parse_kind(raw: &str) -> Result<TestKind, String> {
    match raw {
        "ping" => Ok(TestKind::Ping),
        "traceroute" => Ok(TestKind::Traceroute),
        "tcp" => Ok(TestKind::Tcp),
        _ => Err(format!("{raw:?} is not one of ping, traceroute, tcp")),
    }
}

/// A start time: `now`, a duration from `now` (`10m`, `+10m`), or an
/// RFC 3339 time.
pub fn parse_start(raw: &str, now: Millis) -> Result<Millis, String> {
    let raw = raw.trim();
    if raw.is_empty() || raw == "now" {
        return Ok(now);
    }
    if let Ok(d) = swarm_common::duration::parse(raw.trim_start_matches('+')) {
        return Ok(now + d.as_millis() as u64);
    }
    swarm_common::time::rfc3339_ms(raw).map_err(|e| {
        format!("{raw:?} is neither a duration (10m) nor a time (2026-11-22T08:00:00Z): {e}")
    })
}

/// Agent selectors separated by commas or spaces.
pub fn split_selectors(raw: &str) -> Vec<String> {
    raw.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_and_selectors() {
        assert_eq!(parse_start("now", 1_000), Ok(1_000));
        assert_eq!(parse_start("", 1_000), Ok(1_000));
        assert_eq!(parse_start("10s", 1_000), Ok(11_000));
        assert_eq!(parse_start("+1m", 0), Ok(60_000));
        assert_eq!(parse_start("1970-01-01T00:00:02Z", 0), Ok(2_000));
        assert!(parse_start("soon", 0).is_err());
        assert_eq!(
            split_selectors("web-1, tag:dc1  db-*"),
            ["web-1", "tag:dc1", "db-*"]
        );
        assert!(parse_kind("icmp").is_err());
    }
}
