//! The test-id rule of the wire contract, enforced in one place.
//!
//! A test id is `[a-z0-9]{1,32}` (the hub makes them: base-36 time and
//! four random characters): safe as a single NATS subject token and as a
//! sled key component (no 0 byte). The latency and loss series of a test
//! are named from it here.

use crate::protocol::alerts::LOSS_PREFIX;

/// Longest test id the contract allows.
pub const MAX_LEN: usize = 32;

/// Series named `test:<test id>` hold the latency (ms) that an agent
/// measured in that test: ping RTT, TCP connect time, traceroute target
/// RTT.
pub const LATENCY_PREFIX: &str = "test:";

/// Why a string cannot be a test id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("test id {shown:?} is not [a-z0-9]{{1,32}}")]
pub struct TestIdError {
    /// The offending id, shortened and with control characters escaped
    /// (it may come from anyone).
    shown: String,
}

/// A validated test id: the only way to get one is [`TestId::parse`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TestId(String);

/// A time-sortable id: base-36 milliseconds and four random characters
/// (test ids, run ids, silence ids), always a valid test id.
pub fn time_sortable(now: crate::protocol::Millis) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut n = now;
    let mut time = Vec::new();
    while n > 0 {
        time.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    time.reverse();
    let mut id = String::from_utf8_lossy(&time).into_owned();
    for _ in 0..4 {
        id.push(DIGITS[rand::random_range(0..36)] as char);
    }
    id
}

impl TestId {
    /// A new id for a test created at `now`.
    pub fn new(now: crate::protocol::Millis) -> Self {
        Self(time_sortable(now))
    }

    pub fn parse(raw: &str) -> Result<Self, TestIdError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(TestIdError {
                shown: crate::text::printable(raw, MAX_LEN + 8),
            })
        }
    }

    /// The agent's latency series of this test, `test:<id>`.
    pub fn latency_series(&self) -> String {
        format!("{LATENCY_PREFIX}{}", self.0)
    }

    /// The loss series alert rules see for this test, `test_loss:<id>`.
    pub fn loss_series(&self) -> String {
        format!("{LOSS_PREFIX}{}", self.0)
    }
}

crate::token::token_traits!(TestId, TestIdError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_strict() {
        let long = "a".repeat(33);
        for bad in [
            "",
            "A",
            "a.b",
            "a b",
            "*",
            ">",
            "a-b",
            "é",
            "a\0",
            long.as_str(),
        ] {
            assert!(TestId::parse(bad).is_err(), "{bad:?} must be rejected");
        }
        for good in ["a", "0", "mq3k9x1abcd", &"z".repeat(32)] {
            assert_eq!(TestId::parse(good).map(|t| t.0), Ok(good.to_owned()));
        }
    }

    #[test]
    fn errors_never_echo_control_characters() {
        let err = TestId::parse("x\ny").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(r#"test id "x\\ny" is not [a-z0-9]{1,32}"#)
        );
    }

    #[test]
    fn ids_sort_by_time() {
        let a = time_sortable(1_700_000_000_000);
        let b = time_sortable(1_700_000_000_001);
        assert!(a[..a.len() - 4] < b[..b.len() - 4]);
        assert!(TestId::parse(&a).is_ok(), "always a valid test id");
    }

    #[test]
    fn names_its_series_and_decodes_only_valid_ids() {
        let id = TestId::parse("t1").expect("valid");
        assert_eq!(id.latency_series(), "test:t1");
        assert_eq!(id.loss_series(), "test_loss:t1");
        assert_eq!(format!("[{id:<4}]"), "[t1  ]", "pads in tables");
        let bad: Result<TestId, _> = serde_json::from_str("\"t.1\"");
        assert!(bad.is_err());
    }
}
