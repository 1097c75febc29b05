//! Alert rules, alerts, silences and their API messages (`PROTOCOL.md`,
//! "Alerts").

use serde::{Deserialize, Serialize};

use super::Millis;

/// The rule series that fires on a host gone silent (not on a `bye`).
pub const HOST_DOWN: &str = "host_down";

/// Rules one hub holds.
pub const MAX_RULES: usize = 256;
/// Silences one hub holds (active and future; expired ones are dropped).
pub const MAX_SILENCES: usize = 1_024;
/// Selectors of one rule or silence, and rule names of one silence.
pub use crate::selector::MAX_SELECTORS;
/// Bytes of a summary or a comment.
pub const MAX_TEXT_BYTES: usize = 1_024;
/// Longest `for_ms` and `keep_firing_for_ms`: 30 days.
pub const MAX_HOLD_MS: Millis = 30 * 86_400_000;
/// Longest silence: a year.
pub const MAX_SILENCE_MS: Millis = 366 * 86_400_000;
/// Events one history reply holds at most (and by default).
pub const MAX_EVENTS_PAGE: u32 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
}

impl Op {
    /// Whether `value op threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Gt => value > threshold,
            Self::Ge => value >= threshold,
            Self::Lt => value < threshold,
            Self::Le => value <= threshold,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

/// An alert rule, evaluated per (rule, agent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    /// A series name (`cpu_pct`, `disk_pct:/`, `custom:<name>`,
    /// `test:<id>`) or [`HOST_DOWN`].
    pub series: String,
    #[serde(default = "every_agent")]
    pub agents: Vec<String>,
    /// Unused by `host_down`.
    #[serde(default = "greater")]
    pub op: Op,
    #[serde(default)]
    pub threshold: f64,
    #[serde(default)]
    pub for_ms: Millis,
    /// The value that must be crossed back to resolve; `threshold` when
    /// absent.
    #[serde(default)]
    pub recover: Option<f64>,
    #[serde(default)]
    pub keep_firing_for_ms: Millis,
    #[serde(default)]
    pub severity: Severity,
    #[serde(default)]
    pub summary: Option<String>,
    /// Compare an aggregate of the samples in the last `window_ms` (sample
    /// time) instead of each sample: p95 latency over a minute, loss %.
    #[serde(default)]
    pub window_ms: Option<Millis>,
    /// What is taken over the window (default `avg`).
    #[serde(default)]
    pub aggregate: Option<Aggregate>,
}

/// An aggregate over a rule's window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    #[default]
    Avg,
    Min,
    Max,
    P50,
    P95,
    P99,
}

impl Aggregate {
    /// The aggregate of `values` (none: `None`).
    pub fn of(self, values: impl Iterator<Item = f64>) -> Option<f64> {
        let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        let quantile = |v: &mut Vec<f64>, q: f64| {
            v.sort_by(f64::total_cmp);
            let rank = (q * v.len() as f64).ceil() as usize;
            v[rank.clamp(1, v.len()) - 1]
        };
        Some(match self {
            Self::Avg => v.iter().sum::<f64>() / v.len() as f64,
            Self::Min => v.iter().copied().fold(f64::INFINITY, f64::min),
            Self::Max => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Self::P50 => quantile(&mut v, 0.50),
            Self::P95 => quantile(&mut v, 0.95),
            Self::P99 => quantile(&mut v, 0.99),
        })
    }
}

/// Longest rule window: an hour.
pub const MAX_WINDOW_MS: Millis = 3_600_000;
/// Samples one rule window keeps (the oldest go first past it).
pub const MAX_WINDOW_SAMPLES: usize = 3_600;

/// The series a rule names to see a test's lost probes: each result of
/// test `<id>` counts 100 when its probe was lost and 0 when it was not,
/// so `avg` over a window is the loss in percent. Only rules see it; it is
/// not stored.
pub const LOSS_PREFIX: &str = "test_loss:";

fn every_agent() -> Vec<String> {
    vec!["*".to_owned()]
}

fn greater() -> Op {
    Op::Gt
}

impl Rule {
    /// A rule with every optional field at its default.
    pub fn new(name: &str, series: &str, op: Op, threshold: f64) -> Self {
        Self {
            name: name.to_owned(),
            series: series.to_owned(),
            agents: every_agent(),
            op,
            threshold,
            for_ms: 0,
            recover: None,
            keep_firing_for_ms: 0,
            severity: Severity::default(),
            summary: None,
            window_ms: None,
            aggregate: None,
        }
    }

    /// The recovery threshold.
    pub fn recover_at(&self) -> f64 {
        self.recover.unwrap_or(self.threshold)
    }

    /// Whether the rule is the host-down rule kind.
    pub fn is_host_down(&self) -> bool {
        self.series == HOST_DOWN
    }

    /// Checks every field; the error names the field.
    pub fn check(&self) -> Result<(), String> {
        check_name(&self.name).map_err(|e| format!("name: {e}"))?;
        let series_ok = !self.series.is_empty()
            && self.series.len() <= 256
            && !self.series.chars().any(char::is_control);
        if !series_ok {
            return Err("series: 1-256 bytes without control characters".into());
        }
        crate::selector::validate_list("agents", &self.agents)?;
        if !self.threshold.is_finite() || self.recover.is_some_and(|r| !r.is_finite()) {
            return Err("threshold and recover must be finite numbers".into());
        }
        if self.for_ms > MAX_HOLD_MS || self.keep_firing_for_ms > MAX_HOLD_MS {
            return Err("for_ms and keep_firing_for_ms: at most 30 days".into());
        }
        check_text("summary", self.summary.as_deref())?;
        match (self.window_ms, self.aggregate) {
            (Some(w), _) if w == 0 || w > MAX_WINDOW_MS => {
                return Err("window_ms: 1 ms to an hour".into());
            }
            (None, Some(_)) => return Err("aggregate: needs window_ms".into()),
            _ if self.window_ms.is_some() && self.is_host_down() => {
                return Err("window_ms: not for host_down".into());
            }
            _ => {}
        }
        Ok(())
    }
}

/// A rule name: `[a-z0-9_-]{1,64}` (it is a subject token).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        // `printable` escapes already: quoted as is, not escaped twice.
        Err(format!(
            "\"{}\" must be 1-64 characters of [a-z0-9_-]",
            crate::text::printable(name, 80)
        ))
    }
}

/// Free text an operator writes (who, why, a summary): bounded, and on one
/// line without control characters, since consoles and notifications show
/// it as it is.
pub fn check_text(field: &str, text: Option<&str>) -> Result<(), String> {
    match text {
        Some(t) if t.len() > MAX_TEXT_BYTES => {
            Err(format!("{field}: at most {MAX_TEXT_BYTES} bytes"))
        }
        Some(t) if t.chars().any(|c| c.is_control() && c != '\t') => {
            Err(format!("{field}: no control characters (one line of text)"))
        }
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Pending,
    Firing,
    Resolved,
}

impl AlertState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }
}

impl Severity {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// Who acknowledged an alert, when, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub by: String,
    pub ts: Millis,
    #[serde(default)]
    pub comment: Option<String>,
}

/// One (rule, agent)'s state, as listed and as published on
/// `swarm.alerts.<agent>.<rule>` at every change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub rule: String,
    pub agent: String,
    pub state: AlertState,
    pub severity: Severity,
    pub value: f64,
    pub threshold: f64,
    /// When this state began (sample time; hub time for `host_down`).
    pub since: Millis,
    /// The sample that caused this state.
    pub ts: Millis,
    #[serde(default)]
    pub silenced: bool,
    #[serde(default)]
    pub acked: Option<Ack>,
    #[serde(default)]
    pub summary: Option<String>,
    /// When it started firing (absent if it never did): a resolved alert
    /// that never fired was a pending one that cleared.
    #[serde(default)]
    pub fired_at: Option<Millis>,
    /// Firing, with the value back past `recover` since then (it resolves
    /// once that has lasted `keep_firing_for_ms`).
    #[serde(default)]
    pub recovering_since: Option<Millis>,
}

/// A time window in which matching alerts notify nobody.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Hub-assigned; ignored on create.
    #[serde(default)]
    pub id: String,
    pub agents: Vec<String>,
    /// Rule names; empty means every rule.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Default: now.
    #[serde(default)]
    pub starts_at: Option<Millis>,
    pub ends_at: Millis,
    /// A recurring window of `duration_ms` every `every_ms` from
    /// `starts_at` (both or neither).
    #[serde(default)]
    pub every_ms: Option<Millis>,
    #[serde(default)]
    pub duration_ms: Option<Millis>,
    pub comment: String,
    pub by: String,
}

impl Silence {
    /// Checks a new silence at `now` (with `starts_at` filled in).
    pub fn check(&self, now: Millis) -> Result<(), String> {
        crate::selector::validate_list("agents", &self.agents)?;
        if self.rules.len() > MAX_SELECTORS {
            return Err(format!("rules: at most {MAX_SELECTORS}"));
        }
        for rule in &self.rules {
            check_name(rule).map_err(|e| format!("rules: {e}"))?;
        }
        let starts = self.starts_at.unwrap_or(now);
        if self.ends_at <= starts || self.ends_at <= now {
            return Err("ends_at: must be after starts_at and in the future".into());
        }
        if self.ends_at - starts > MAX_SILENCE_MS {
            return Err("ends_at: a silence lasts at most a year".into());
        }
        match (self.every_ms, self.duration_ms) {
            (None, None) => {}
            (Some(every), Some(duration)) if every > 0 && duration > 0 && duration <= every => {}
            _ => {
                return Err(
                    "every_ms and duration_ms: both or neither, 0 < duration_ms <= every_ms".into(),
                );
            }
        }
        if self.comment.trim().is_empty() || self.by.trim().is_empty() {
            return Err("comment and by are required".into());
        }
        check_text("comment", Some(&self.comment))?;
        check_text("by", Some(&self.by))?;
        Ok(())
    }

    /// Whether the silence's window is open at `now`.
    pub fn is_active(&self, now: Millis) -> bool {
        let starts = self.starts_at.unwrap_or(0);
        if now < starts || now >= self.ends_at {
            return false;
        }
        match (self.every_ms, self.duration_ms) {
            (Some(every), Some(duration)) if every > 0 => (now - starts) % every < duration,
            _ => true,
        }
    }

    /// Whether it covers this rule (agents are matched by the caller,
    /// who knows the host's tags).
    pub fn covers_rule(&self, rule: &str) -> bool {
        self.rules.is_empty() || self.rules.iter().any(|r| r == rule)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleReply {
    pub rule: Rule,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RulesListRequest {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesListReply {
    pub rules: Vec<Rule>,
    /// More rules than fit one reply.
    #[serde(default)]
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameRequest {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertsListRequest {
    #[serde(default)]
    pub state: Option<AlertState>,
    #[serde(default)]
    pub agent: Option<String>,
    /// The `next` of the previous page.
    #[serde(default)]
    pub after: Option<String>,
    /// Alerts per page: 1..=1000, default 1000.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Alerts one list page holds at most (and by default).
pub const MAX_ALERTS_PAGE: u32 = 1_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertsListReply {
    pub alerts: Vec<Alert>,
    /// More alerts follow: ask again with `after` set to `next`.
    #[serde(default)]
    pub more: bool,
    #[serde(default)]
    pub next: Option<String>,
}

impl Alert {
    /// Where the alert stands in a list (most severe, then oldest, then
    /// by agent and rule), as a string that sorts the same way: the list's
    /// page cursor.
    pub fn list_key(&self) -> String {
        let rank = match self.severity {
            Severity::Critical => 0,
            Severity::Warning => 1,
            Severity::Info => 2,
        };
        format!("{rank}.{:020}.{}.{}", self.since, self.agent, self.rule)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertsHistoryRequest {
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub rule: Option<String>,
    #[serde(default)]
    pub from: Option<Millis>,
    #[serde(default)]
    pub to: Option<Millis>,
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertsHistoryReply {
    /// Oldest first.
    pub events: Vec<Alert>,
    /// More events matched: ask again `from` the last one's `ts`.
    #[serde(default)]
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckRequest {
    pub agent: String,
    pub rule: String,
    #[serde(default)]
    pub comment: Option<String>,
    /// Who acknowledges (default `operator`).
    #[serde(default)]
    pub by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertReply {
    pub alert: Alert,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceReply {
    pub silence: Silence,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SilencesListRequest {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilencesListReply {
    pub silences: Vec<Silence>,
    /// More silences than fit one reply.
    #[serde(default)]
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceIdRequest {
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recurring_silences_open_and_close() {
        let s = Silence {
            id: String::new(),
            agents: vec!["*".into()],
            rules: vec![],
            starts_at: Some(1_000),
            ends_at: 100_000,
            every_ms: Some(10_000),
            duration_ms: Some(2_000),
            comment: "nightly backup".into(),
            by: "ops".into(),
        };
        assert!(s.check(500).is_ok());
        for bad in ["a\nb", "a\rb", "\u{1b}[2J"] {
            let mut spoiled = s.clone();
            spoiled.by = bad.into();
            assert!(spoiled.check(500).is_err(), "by {bad:?}");
            spoiled.by = "ops".into();
            spoiled.comment = bad.into();
            assert!(spoiled.check(500).is_err(), "comment {bad:?}");
        }
        assert!(!s.is_active(999));
        assert!(s.is_active(1_000) && s.is_active(2_999));
        assert!(!s.is_active(3_000));
        assert!(s.is_active(11_500));
        assert!(!s.is_active(100_000));
    }

    #[test]
    fn aggregates_over_a_window() {
        let v = [10.0, 20.0, 30.0, 40.0, 1000.0];
        assert_eq!(Aggregate::Avg.of(v.into_iter()), Some(220.0));
        assert_eq!(Aggregate::Max.of(v.into_iter()), Some(1000.0));
        assert_eq!(Aggregate::Min.of(v.into_iter()), Some(10.0));
        assert_eq!(Aggregate::P50.of(v.into_iter()), Some(30.0));
        assert_eq!(Aggregate::P95.of(v.into_iter()), Some(1000.0));
        assert_eq!(Aggregate::P95.of(std::iter::empty()), None);
        let lost = [100.0, 0.0, 0.0, 0.0];
        assert_eq!(Aggregate::Avg.of(lost.into_iter()), Some(25.0), "loss %");
    }

    #[test]
    fn rules_are_checked_field_by_field() {
        let rule: Rule =
            serde_json::from_str(r#"{"name":"cpu","series":"cpu_pct","threshold":90}"#)
                .expect("minimal rule");
        assert_eq!(rule.agents, ["*"]);
        assert_eq!(rule.op, Op::Gt);
        assert_eq!(rule.recover_at(), 90.0);
        assert!(rule.check().is_ok());
        for (bad, field) in [
            (
                Rule {
                    name: "CPU high".into(),
                    ..rule.clone()
                },
                "name",
            ),
            (
                Rule {
                    agents: vec![],
                    ..rule.clone()
                },
                "agents",
            ),
            (
                Rule {
                    series: "a\nb".into(),
                    ..rule.clone()
                },
                "series",
            ),
            (
                Rule {
                    threshold: f64::NAN,
                    ..rule.clone()
                },
                "finite",
            ),
            (
                Rule {
                    window_ms: Some(MAX_WINDOW_MS + 1),
                    ..rule.clone()
                },
                "window_ms",
            ),
            (
                Rule {
                    aggregate: Some(Aggregate::P95),
                    ..rule.clone()
                },
                "aggregate",
            ),
            (
                Rule {
                    for_ms: MAX_HOLD_MS + 1,
                    ..rule.clone()
                },
                "for_ms",
            ),
        ] {
            let e = bad.check().expect_err("refused");
            assert!(e.contains(field), "{e}");
        }
    }
}
