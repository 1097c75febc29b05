//! The alerts view's state: pending and firing alerts as the hub lists
//! them (most severe, then oldest, first), the selection kept on the
//! alert's (rule, agent) rather than on a row, and the two short key
//! sequences: `s` then a duration key silences the selected alert's host,
//! `c` acknowledges with a comment typed on the command line.

use crossterm::event::{KeyCode, KeyEvent};
use swarm_common::AgentId;
use swarm_common::protocol::Millis;
use swarm_common::protocol::alerts::{Alert, AlertState};

use super::{Action, App, View};
use crate::event::Command;

/// Durations `s` offers, by the key that picks them.
pub const SILENCE_KEYS: [(char, &str, Millis); 4] = [
    ('1', "1h", 3_600_000),
    ('4', "4h", 4 * 3_600_000),
    ('d', "1d", 86_400_000),
    ('w', "1w", 7 * 86_400_000),
];

#[derive(Debug, Clone, Default)]
pub struct AlertsPane {
    pub alerts: Vec<Alert>,
    /// (rule, agent) of the selected alert.
    selected: Option<(String, String)>,
    /// `s` was pressed: the next key picks the silence's length.
    pub picking_silence: bool,
    pub error: Option<String>,
    /// The hub has answered at least once.
    pub loaded: bool,
}

impl AlertsPane {
    pub fn selected_index(&self) -> usize {
        self.selected
            .as_ref()
            .and_then(|(rule, agent)| {
                self.alerts
                    .iter()
                    .position(|a| &a.rule == rule && &a.agent == agent)
            })
            .unwrap_or(0)
    }

    pub fn selected(&self) -> Option<&Alert> {
        self.alerts.get(self.selected_index())
    }

    fn select(&mut self, index: usize) {
        self.selected = self
            .alerts
            .get(index)
            .map(|a| (a.rule.clone(), a.agent.clone()));
    }

    /// The hub's list; the selection stays on its alert while it is
    /// listed, else on the row where it was.
    pub fn set(&mut self, alerts: Vec<Alert>) -> bool {
        let changed = self.alerts != alerts || !self.loaded;
        let old_index = self.selected_index();
        self.alerts = alerts;
        self.loaded = true;
        self.error = None;
        let still_listed = self.selected.as_ref().is_some_and(|(rule, agent)| {
            self.alerts
                .iter()
                .any(|a| &a.rule == rule && &a.agent == agent)
        });
        if !still_listed {
            self.select(old_index.min(self.alerts.len().saturating_sub(1)));
        }
        changed
    }

    pub fn firing(&self) -> usize {
        self.alerts
            .iter()
            .filter(|a| a.state == AlertState::Firing)
            .count()
    }

    /// Whether the host has a firing alert.
    pub fn is_firing(&self, agent: &str) -> bool {
        self.alerts
            .iter()
            .any(|a| a.state == AlertState::Firing && a.agent == agent)
    }

    /// The alerts of one host.
    pub fn of_host<'a>(&'a self, agent: &'a str) -> impl Iterator<Item = &'a Alert> + 'a {
        self.alerts.iter().filter(move |a| a.agent == agent)
    }
}

impl App {
    pub fn open_alerts(&mut self, commands: &mut Vec<Command>) {
        self.view = View::Alerts;
        commands.push(Command::RefreshAlerts);
    }

    pub(super) fn on_alerts_key(&mut self, key: KeyEvent, commands: &mut Vec<Command>) -> bool {
        if self.alerts.picking_silence {
            self.alerts.picking_silence = false;
            let picked = SILENCE_KEYS
                .iter()
                .find(|(k, _, _)| KeyCode::Char(*k) == key.code);
            let (Some((_, label, ms)), Some(alert)) = (picked, self.alerts.selected()) else {
                self.notice = Some("silence: cancelled".into());
                return true;
            };
            commands.push(Command::SilenceHost {
                agent: alert.agent.clone(),
                for_ms: *ms,
            });
            self.notice = Some(format!("silencing {} for {label}…", alert.agent));
            return true;
        }
        let index = self.alerts.selected_index();
        let last = self.alerts.alerts.len().saturating_sub(1);
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => self.alerts.select((index + 1).min(last)),
            KeyCode::Up | KeyCode::Char('k') => self.alerts.select(index.saturating_sub(1)),
            KeyCode::Home | KeyCode::Char('g') => self.alerts.select(0),
            KeyCode::End | KeyCode::Char('G') => self.alerts.select(last),
            KeyCode::Enter => {
                let Some(agent) = self
                    .alerts
                    .selected()
                    .and_then(|a| AgentId::parse(&a.agent).ok())
                else {
                    return false;
                };
                self.act(Action::OpenHost(agent), commands);
            }
            KeyCode::Char('s') => {
                let Some(alert) = self.alerts.selected() else {
                    return false;
                };
                let choices: Vec<String> = SILENCE_KEYS
                    .iter()
                    .map(|(k, label, _)| format!("{k}={label}"))
                    .collect();
                self.notice = Some(format!(
                    // Fits 80 columns beside the status line's marks.
                    "silence {}: {}, other key: no",
                    alert.agent,
                    choices.join(" ")
                ));
                self.alerts.picking_silence = true;
            }
            KeyCode::Char('c') => {
                if self.alerts.selected().is_none() {
                    return false;
                }
                self.act(Action::CommandLine("ack ".into()), commands);
            }
            _ => return false,
        }
        true
    }

    /// `:ack COMMENT`: acknowledges the selected alert.
    pub(super) fn ack_selected(
        &mut self,
        comment: &str,
        commands: &mut Vec<Command>,
    ) -> Result<(), String> {
        if self.view != View::Alerts {
            return Err(":ack works on the selected alert of the alerts view (!)".into());
        }
        let alert = self.alerts.selected().ok_or("no alert selected")?;
        commands.push(Command::AckAlert {
            agent: alert.agent.clone(),
            rule: alert.rule.clone(),
            comment: (!comment.is_empty()).then(|| comment.to_owned()),
        });
        self.notice = Some(format!("acknowledging {} on {}…", alert.rule, alert.agent));
        Ok(())
    }
}
