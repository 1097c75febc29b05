//! What one message may carry (`PROTOCOL.md`, "Limits on what one sender
//! can make the hub hold"). A message over a per-message limit is refused
//! whole by its receiver.

/// Disks in one MetricsSample.
pub const MAX_DISKS: usize = 64;
/// Cores, interfaces, block devices and temperature sensors in one
/// MetricsSample (host detail).
pub const MAX_CORES: usize = 1024;
pub const MAX_INTERFACES: usize = 64;
pub const MAX_DISK_IO: usize = 64;
pub const MAX_TEMPS: usize = 64;
/// Processes in each list of a sample's `top`.
pub const MAX_TOP: usize = 16;
/// Custom metrics in one MetricsSample.
pub const MAX_CUSTOM: usize = 256;
/// Tags of one host (the agent's, and the hub's, each).
pub const MAX_TAGS: usize = 64;
/// Bytes of one tag.
pub const MAX_TAG_BYTES: usize = 128;
/// Encoded size of a HostInfo or a TestResult.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;
/// Encoded size of a MetricsSample (64 disks and 256 custom metrics with
/// long names fit).
pub const MAX_SAMPLE_BYTES: usize = 64 * 1024;
/// Hops of one traceroute result.
pub const MAX_HOPS: usize = 64;

/// A tag: 1..=128 bytes, no control characters.
pub fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() || tag.len() > MAX_TAG_BYTES || tag.chars().any(char::is_control) {
        return Err(format!(
            "tag {:?} must be 1-{MAX_TAG_BYTES} bytes without control characters",
            crate::text::printable(tag, 64)
        ));
    }
    Ok(())
}

/// A set of tags: each valid, at most [`MAX_TAGS`].
pub fn check_tags(tags: &[String]) -> Result<(), String> {
    if tags.len() > MAX_TAGS {
        return Err(format!("{} tags is more than {MAX_TAGS}", tags.len()));
    }
    tags.iter().try_for_each(|t| check_tag(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_bounded() {
        assert!(check_tag("role=web").is_ok());
        for bad in ["", "a\nb", &"x".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..65).map(|i| format!("t{i}")).collect();
        assert!(check_tags(&many).is_err());
        assert!(check_tags(&many[..64]).is_ok());
    }
}
