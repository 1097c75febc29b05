//! The agent-id rule of the wire contract, enforced in one place.
//!
//! An agent id is `[a-z0-9_-]{1,64}`: safe as a single NATS subject token
//! (no `.`, `*`, `>`, whitespace) and as a sled key component.

/// Longest agent id the contract allows.
pub const MAX_LEN: usize = 64;

/// Why a name cannot be an agent id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentIdError {
    #[error("agent id is empty (after normalising {original:?})")]
    Empty { original: String },
    #[error("agent id {id:?} is {len} characters long; at most {MAX_LEN} are allowed")]
    TooLong { id: String, len: usize },
    #[error("agent id {id:?} has a character outside [a-z0-9_-]")]
    BadChar { id: String },
}

/// A validated agent id. The only way to get one is [`AgentId::parse`] or
/// [`AgentId::normalise`], so a subject token built from it is always safe.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(String);

impl AgentId {
    /// Accepts an id exactly as the contract spells it; anything else is an error.
    pub fn parse(raw: &str) -> Result<Self, AgentIdError> {
        if raw.is_empty() {
            return Err(AgentIdError::Empty {
                original: raw.to_owned(),
            });
        }
        if !raw.chars().all(is_id_char) {
            return Err(AgentIdError::BadChar { id: raw.to_owned() });
        }
        let len = raw.chars().count();
        if len > MAX_LEN {
            return Err(AgentIdError::TooLong {
                id: raw.to_owned(),
                len,
            });
        }
        Ok(Self(raw.to_owned()))
    }

    /// Derives an id from a host name or `--name` value: lower-cased, every
    /// other character becomes `-`, runs of `-` collapse, leading and
    /// trailing `-` are trimmed.
    pub fn normalise(name: &str) -> Result<Self, AgentIdError> {
        let mut out = String::with_capacity(name.len());
        for c in name.chars().flat_map(char::to_lowercase) {
            let c = if is_id_char(c) { c } else { '-' };
            if c == '-' && out.ends_with('-') {
                continue;
            }
            out.push(c);
        }
        let trimmed = out.trim_matches('-');
        if trimmed.is_empty() {
            return Err(AgentIdError::Empty {
                original: name.to_owned(),
            });
        }
        Self::parse(trimmed)
    }
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
}

crate::token::token_traits!(AgentId, AgentIdError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_table() {
        let long65 = "a".repeat(65);
        let long64 = "b".repeat(64);
        let cases: &[(&str, Result<&str, ()>)] = &[
            ("web-1", Ok("web-1")),
            ("db.prod.example.com", Ok("db-prod-example-com")),
            ("Web_01.Example.COM", Ok("web_01-example-com")),
            ("*", Err(())),
            (">", Err(())),
            ("a*b>c", Ok("a-b-c")),
            ("my host  name", Ok("my-host-name")),
            ("  padded  ", Ok("padded")),
            ("--x--", Ok("x")),
            ("héllo wörld", Ok("h-llo-w-rld")),
            ("日本", Err(())),
            ("", Err(())),
            ("...", Err(())),
            (long65.as_str(), Err(())),
            (long64.as_str(), Ok(long64.as_str())),
            ("a\tb\nc", Ok("a-b-c")),
        ];
        for (input, want) in cases {
            let got = AgentId::normalise(input);
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(g.as_str(), *w, "input {input:?}"),
                (Err(()), Err(_)) => {}
                _ => panic!("input {input:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn parse_is_strict() {
        let long65 = "a".repeat(65);
        for bad in ["", "A", "a.b", "a b", "*", ">", "é", long65.as_str()] {
            assert!(AgentId::parse(bad).is_err(), "{bad:?} must be rejected");
        }
        for good in ["a", "web-01", "x_y", "0"] {
            assert_eq!(AgentId::parse(good).map(|i| i.0), Ok(good.to_owned()));
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let long = "a".repeat(65);
        let err = AgentId::normalise(&long).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                format!("agent id {long:?} is 65 characters long; at most 64 are allowed").as_str()
            )
        );
    }

    #[test]
    fn deserialize_rejects_unsafe_ids() {
        let ok: Result<AgentId, _> = serde_json::from_str("\"web-1\"");
        assert!(ok.is_ok());
        let bad: Result<AgentId, _> = serde_json::from_str("\"web.1\"");
        assert!(bad.is_err());
    }
}
