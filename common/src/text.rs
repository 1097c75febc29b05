//! Text that came from outside, made safe to show: in a log line, an error
//! message or a NATS header. Raw input never reaches any of them as is: a
//! CR/LF in a header value makes the client library panic, and in a log it
//! forges lines.

/// Longest error message the hub puts in a reply.
pub const MAX_MESSAGE_BYTES: usize = 512;
/// Longest `Nats-Service-Error` header value.
pub const MAX_HEADER_BYTES: usize = 256;

/// `s` with control characters escaped (`\n`, `\u{1b}`) and cut to at most
/// `max_bytes` (at a character boundary, marked with `…`).
pub fn printable(s: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_bytes));
    for c in s.chars() {
        let piece: String = if c.is_control() {
            c.escape_default().collect()
        } else {
            c.to_string()
        };
        if out.len() + piece.len() > max_bytes {
            while out.len() + '…'.len_utf8() > max_bytes {
                if out.pop().is_none() {
                    break;
                }
            }
            out.push('…');
            return out;
        }
        out.push_str(&piece);
    }
    out
}

/// A header value: printable ASCII only (anything else becomes `?`), at
/// most [`MAX_HEADER_BYTES`].
pub fn header_value(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .take(MAX_HEADER_BYTES)
        .collect();
    if s.chars().count() > MAX_HEADER_BYTES {
        out.truncate(MAX_HEADER_BYTES - 3);
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_length_capped() {
        assert_eq!(printable("a\nb\r\u{1b}", 100), "a\\nb\\r\\u{1b}");
        let long = "é".repeat(1000);
        let cut = printable(&long, 64);
        assert!(cut.len() <= 64, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(printable("plain", 5), "plain");
    }

    #[test]
    fn header_values_are_printable_ascii() {
        assert_eq!(header_value("bad\r\nX-Evil: 1"), "bad??X-Evil: 1");
        assert_eq!(header_value("café"), "caf?");
        let long = header_value(&"x".repeat(10_000));
        assert_eq!(long.len(), MAX_HEADER_BYTES);
        assert!(long.ends_with("..."));
    }
}
