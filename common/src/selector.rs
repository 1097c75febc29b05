//! Test selectors: an exact agent id, a glob (`web-*`, `db-?`), `tag:<tag>`,
//! or `*` for every agent.

use wildmatch::WildMatch;

use crate::protocol::HostSummary;

/// What a selector looks at: the agent id and its tags.
pub trait Selectable {
    fn agent_id(&self) -> &str;
    fn tag_list(&self) -> &[String];
}

impl Selectable for HostSummary {
    fn agent_id(&self) -> &str {
        self.agent.as_str()
    }
    fn tag_list(&self) -> &[String] {
        &self.tags
    }
}

/// Selectors in one request (a test's, a rule's, a silence's, a config's).
pub const MAX_SELECTORS: usize = 64;

/// Checks a list of selectors: 1..=[`MAX_SELECTORS`], each well formed;
/// the error starts with `field`.
pub fn validate_list(field: &str, selectors: &[String]) -> Result<(), String> {
    if selectors.is_empty() || selectors.len() > MAX_SELECTORS {
        return Err(format!(
            "{field}: 1-{MAX_SELECTORS} selectors (an agent id, a glob such as web-*, tag:<tag>, or *)"
        ));
    }
    for s in selectors {
        validate(s).map_err(|e| format!("{field}: {e}"))?;
    }
    Ok(())
}

/// Checks a selector's form; the error names what is wrong.
pub fn validate(selector: &str) -> Result<(), String> {
    if let Some(tag) = selector.strip_prefix("tag:") {
        return crate::limits::check_tag(tag)
            .map_err(|e| format!("selector {:?}: {e}", crate::text::printable(selector, 80)));
    }
    let ok = !selector.is_empty()
        && selector.len() <= 64
        && selector
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*?".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "selector {:?} must be an agent id, a glob of [a-z0-9_-*?], tag:<tag> or *",
            crate::text::printable(selector, 80)
        ))
    }
}

pub fn matches(selector: &str, host: &impl Selectable) -> bool {
    if selector == "*" {
        // The commonest selector, asked per sample by alert rules: no
        // pattern to build.
        return true;
    }
    match selector.strip_prefix("tag:") {
        Some(tag) => host.tag_list().iter().any(|t| t == tag),
        None => WildMatch::new(selector).matches(host.agent_id()),
    }
}

/// Whether any of the selectors matches the host.
pub fn matches_any(selectors: &[String], host: &impl Selectable) -> bool {
    selectors.iter().any(|s| matches(s, host))
}

/// Selectors made ready once, for what matches them per sample (alert
/// rules): globs are compiled once instead of at every match.
#[derive(Debug, Clone)]
pub struct Compiled(Vec<Matcher>);

#[derive(Debug, Clone)]
enum Matcher {
    Every,
    Tag(String),
    Glob(WildMatch),
}

impl Compiled {
    pub fn new(selectors: &[String]) -> Self {
        Self(
            selectors
                .iter()
                .map(|s| match s.strip_prefix("tag:") {
                    _ if s == "*" => Matcher::Every,
                    Some(tag) => Matcher::Tag(tag.to_owned()),
                    None => Matcher::Glob(WildMatch::new(s)),
                })
                .collect(),
        )
    }

    /// Whether any selector matches the host (as [`matches_any`]).
    pub fn matches(&self, host: &impl Selectable) -> bool {
        self.0.iter().any(|m| match m {
            Matcher::Every => true,
            Matcher::Tag(tag) => host.tag_list().iter().any(|t| t == tag),
            Matcher::Glob(glob) => glob.matches(host.agent_id()),
        })
    }
}

/// Hosts matched by any of the selectors, in the order given.
pub fn resolve<'a, T: Selectable>(selectors: &[String], hosts: &'a [T]) -> Vec<&'a T> {
    hosts
        .iter()
        .filter(|h| matches_any(selectors, *h))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AgentId;
    use crate::protocol::HostStatus;

    fn host(name: &str, tags: &[&str]) -> HostSummary {
        HostSummary {
            agent: AgentId::parse(name).expect("id"),
            hostname: None,
            status: HostStatus::Online,
            last_seen: None,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            agent_tags: Vec::new(),
            hub_tags: Vec::new(),
            info: None,
            latest: None,
        }
    }

    #[test]
    fn selector_table() {
        let hosts = [
            host("web-1", &["role=web"]),
            host("web-2", &[]),
            host("db-1", &["role=db", "dc1"]),
        ];
        let cases: &[(&[&str], &[&str])] = &[
            (&["web-1"], &["web-1"]),
            (&["web-*"], &["web-1", "web-2"]),
            (&["*"], &["web-1", "web-2", "db-1"]),
            (&["tag:role=db"], &["db-1"]),
            (&["tag:dc1", "web-2"], &["web-2", "db-1"]),
            (&["db-?"], &["db-1"]),
            (&["nobody"], &[]),
            (&["tag:role"], &[]),
        ];
        for (selectors, want) in cases {
            let selectors: Vec<String> = selectors.iter().map(|s| (*s).to_owned()).collect();
            let got: Vec<&str> = resolve(&selectors, &hosts)
                .iter()
                .map(|h| h.agent.as_str())
                .collect();
            assert_eq!(&got, want, "{selectors:?}");
        }
    }

    #[test]
    fn bad_selectors_are_named() {
        for bad in ["", "Web", "a.b", "a b", "tag:", "x>"] {
            let err = validate(bad).err().unwrap_or_default();
            assert!(err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
        }
        for good in ["web-1", "web-*", "*", "tag:role=web"] {
            assert_eq!(validate(good), Ok(()));
        }
    }
}
