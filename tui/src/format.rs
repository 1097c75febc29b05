//! How numbers read on the console: rates, sizes, percentages, ages.

/// A byte rate in B/s, KB/s, MB/s or GB/s (powers of 1000, as link speeds).
pub fn rate(bytes_per_s: f64) -> String {
    let units = ["B/s", "KB/s", "MB/s", "GB/s", "TB/s"];
    let mut v = bytes_per_s.max(0.0);
    let mut unit = 0;
    while v >= 1000.0 && unit < units.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} {}", units[0])
    } else if v < 10.0 {
        format!("{v:.1} {}", units[unit])
    } else {
        format!("{v:.0} {}", units[unit])
    }
}

/// A size in bytes, binary units.
pub fn bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < units.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[unit])
    }
}

pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}%"))
}

/// Seconds as a short age or uptime: `42s`, `5m`, `3h`, `12d`.
pub fn age_s(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3_599 => format!("{}m", secs / 60),
        3_600..=86_399 => format!("{}h", secs / 3_600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// Milliseconds as a short age: `42s`, `5m`, `3h`, `12d`.
pub fn age_ms(ms: u64) -> String {
    age_s(ms / 1_000)
}

/// A time as RFC 3339 UTC, to the second.
pub fn timestamp_ms(ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Uptime with two units: `3d 4h`, `5h 12m`, `7m 3s`.
pub fn uptime(secs: u64) -> String {
    swarm_common::duration::short(std::time::Duration::from_secs(secs))
}

/// A latency in ms: three significant-ish digits, `-` when absent.
pub fn latency(ms: Option<f64>) -> String {
    match ms {
        None => "-".into(),
        Some(v) if v < 1.0 => format!("{v:.3}"),
        Some(v) if v < 100.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.0}"),
    }
}

/// A test's target, with its port for tcp.
pub fn target(test: &swarm_common::protocol::Test) -> String {
    match test.port {
        Some(p) => format!("{}:{p}", test.target),
        None => test.target.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_pick_their_unit() {
        let cases = [
            (0.0, "0 B/s"),
            (999.0, "999 B/s"),
            (1_000.0, "1.0 KB/s"),
            (12_345.0, "12 KB/s"),
            (2_500_000.0, "2.5 MB/s"),
            (3e9, "3.0 GB/s"),
            (-5.0, "0 B/s"),
        ];
        for (v, want) in cases {
            assert_eq!(rate(v), want);
        }
    }

    #[test]
    fn sizes_ages_and_uptimes() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(16 * 1024 * 1024 * 1024), "16.0 GiB");
        assert_eq!(age_s(59), "59s");
        assert_eq!(age_s(3_600), "1h");
        assert_eq!(uptime(90_000), "1d 1h");
        assert_eq!(uptime(3_660), "1h 1m");
        assert_eq!(uptime(61), "1m 1s");
        assert_eq!(pct(None), "-");
        assert_eq!(pct(Some(12.6)), "13%");
    }
}
