//! The form that creates a network test. It parses what is typed; the
//! hub's rules (ranges, defaults) stay the hub's, and its answer lands on
//! the field it names (`port: a tcp test needs a port`).

use crossterm::event::{KeyCode, KeyEvent};
use swarm_common::protocol::{Millis, TestKind, TestSpec};
use swarm_common::{duration, selector};

use crate::spec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Kind,
    Target,
    Port,
    Agents,
    Interval,
    Duration,
    Start,
    Repeat,
}

impl Field {
    pub const ALL: [Field; 8] = [
        Field::Kind,
        Field::Target,
        Field::Port,
        Field::Agents,
        Field::Interval,
        Field::Duration,
        Field::Start,
        Field::Repeat,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Field::Kind => "kind",
            Field::Target => "target",
            Field::Port => "port",
            Field::Agents => "agents",
            Field::Interval => "interval",
            Field::Duration => "duration",
            Field::Start => "start",
            Field::Repeat => "repeat",
        }
    }

    /// What an empty field means.
    pub fn hint(self) -> &'static str {
        match self {
            Field::Kind => "ping / tcp / traceroute (space or arrows)",
            Field::Target => "host name or IP",
            Field::Port => "1-65535",
            Field::Agents => "ids, globs (web-*), tag:<tag> or *",
            Field::Interval => "default 1s (traceroute 30s)",
            Field::Duration => "default 5m",
            Field::Start => "now; or 10m, or 2026-11-22T08:00:00Z",
            Field::Repeat => "empty: once; 1h: every hour",
        }
    }

    /// The field a hub error names (`interval_ms: ...`).
    fn from_error(message: &str) -> Option<Field> {
        let name = message.split(':').next()?.trim();
        Some(match name {
            "target" => Field::Target,
            "port" => Field::Port,
            "agents" => Field::Agents,
            "interval_ms" => Field::Interval,
            "duration_ms" => Field::Duration,
            "start_at" => Field::Start,
            "repeat_every_ms" => Field::Repeat,
            _ => return None,
        })
    }

    fn index(self) -> usize {
        Field::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
}

const MAX_TEXT: usize = 253;

#[derive(Debug, Clone, PartialEq)]
pub struct TestForm {
    pub kind: TestKind,
    texts: [String; 8],
    pub focus: Field,
    /// Per field, from local parsing or from the hub.
    pub errors: Vec<(Field, String)>,
    /// A hub error that names no field.
    pub error: Option<String>,
    /// Sent, waiting for the hub.
    pub submitting: bool,
}

/// What a key did to the form.
#[derive(Debug, Clone, PartialEq)]
pub enum FormOutcome {
    Changed(bool),
    Submit(TestSpec),
    Cancel,
}

impl TestForm {
    pub fn new(kind: TestKind, agents: &str) -> Self {
        let mut form = Self {
            kind,
            texts: Default::default(),
            focus: Field::Target,
            errors: Vec::new(),
            error: None,
            submitting: false,
        };
        // Start stays empty: `now` is its placeholder, not text to erase.
        form.texts[Field::Agents.index()] = agents.to_owned();
        form
    }

    pub fn text(&self, field: Field) -> &str {
        &self.texts[field.index()]
    }

    pub fn error_for(&self, field: Field) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, e)| e.as_str())
    }

    /// Fields shown for the kind: a port only for tcp.
    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        Field::ALL
            .into_iter()
            .filter(|f| *f != Field::Port || self.kind == TestKind::Tcp)
    }

    /// The selectors typed so far.
    pub fn selectors(&self) -> Vec<String> {
        spec::split_selectors(self.text(Field::Agents))
    }

    pub fn on_key(&mut self, key: KeyEvent, now: Millis) -> FormOutcome {
        if self.submitting {
            return match key.code {
                KeyCode::Esc => FormOutcome::Cancel,
                _ => FormOutcome::Changed(false),
            };
        }
        match key.code {
            KeyCode::Esc => return FormOutcome::Cancel,
            KeyCode::Enter => {
                return match self.build(now) {
                    Ok(spec) => {
                        self.submitting = true;
                        self.error = None;
                        FormOutcome::Submit(spec)
                    }
                    Err(()) => FormOutcome::Changed(true),
                };
            }
            KeyCode::Tab | KeyCode::Down => self.move_focus(1),
            KeyCode::BackTab | KeyCode::Up => self.move_focus(-1),
            KeyCode::Left | KeyCode::Right | KeyCode::Char(' ') if self.focus == Field::Kind => {
                self.kind = next_kind(self.kind, key.code == KeyCode::Left);
            }
            _ if self.focus != Field::Kind => {
                match super::line_edit::edit(&mut self.texts[self.focus.index()], key, MAX_TEXT) {
                    super::line_edit::Edit::Changed => {}
                    super::line_edit::Edit::Unchanged | super::line_edit::Edit::Other => {
                        return FormOutcome::Changed(false);
                    }
                }
            }
            _ => return FormOutcome::Changed(false),
        }
        // Editing a field clears what was said about it.
        let focus = self.focus;
        self.errors.retain(|(f, _)| *f != focus);
        FormOutcome::Changed(true)
    }

    fn move_focus(&mut self, delta: isize) {
        let fields: Vec<Field> = self.fields().collect();
        let at = fields.iter().position(|f| *f == self.focus).unwrap_or(0);
        let next = (at as isize + delta).rem_euclid(fields.len() as isize) as usize;
        self.focus = fields[next];
    }

    /// The hub refused the spec: put its message on the field it names.
    pub fn refused(&mut self, message: String) {
        self.submitting = false;
        match Field::from_error(&message) {
            Some(field) => {
                self.focus = field;
                self.errors.retain(|(f, _)| *f != field);
                self.errors.push((field, message));
            }
            None => self.error = Some(message),
        }
    }

    /// Parses every field; on errors, they are set and the focus goes to
    /// the first.
    fn build(&mut self, now: Millis) -> Result<TestSpec, ()> {
        self.errors.clear();
        self.error = None;
        let mut errors = Vec::new();
        let target = self.text(Field::Target).trim().to_owned();
        if target.is_empty() {
            errors.push((Field::Target, "target: type a host name or IP".to_owned()));
        }
        let port = if self.kind == TestKind::Tcp {
            match self.text(Field::Port).trim().parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => {
                    errors.push((
                        Field::Port,
                        "port: a tcp test needs a port (1-65535)".into(),
                    ));
                    None
                }
            }
        } else {
            None
        };
        let agents = self.selectors();
        if agents.is_empty() {
            errors.push((Field::Agents, "agents: give at least one selector".into()));
        }
        if let Some(e) = agents.iter().find_map(|s| selector::validate(s).err()) {
            errors.push((Field::Agents, format!("agents: {e}")));
        }
        let mut optional_ms = |field: Field| -> Option<u64> {
            let raw = self.texts[field.index()].trim();
            if raw.is_empty() {
                return None;
            }
            match duration::parse_positive(raw) {
                Ok(d) => Some(d.as_millis() as u64),
                Err(e) => {
                    errors.push((field, format!("{}: {e}", field.label())));
                    None
                }
            }
        };
        let interval_ms = optional_ms(Field::Interval);
        let duration_ms = optional_ms(Field::Duration);
        let repeat_every_ms = optional_ms(Field::Repeat);
        let start_at = match spec::parse_start(self.text(Field::Start), now) {
            Ok(at) if at > now => Some(at),
            Ok(_) => None,
            Err(e) => {
                errors.push((Field::Start, format!("start: {e}")));
                None
            }
        };
        if let Some((field, _)) = errors.first() {
            self.focus = *field;
            self.errors = errors;
            return Err(());
        }
        Ok(TestSpec {
            kind: self.kind,
            target,
            port,
            agents,
            interval_ms,
            duration_ms,
            start_at,
            repeat_every_ms,
            timeout_ms: None,
            name: None,
        })
    }
}

fn next_kind(kind: TestKind, back: bool) -> TestKind {
    const KINDS: [TestKind; 3] = [TestKind::Ping, TestKind::Tcp, TestKind::Traceroute];
    let at = KINDS.iter().position(|k| *k == kind).unwrap_or(0);
    let step = if back { KINDS.len() - 1 } else { 1 };
    KINDS[(at + step) % KINDS.len()]
}
