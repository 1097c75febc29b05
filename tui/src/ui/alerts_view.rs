//! Pending and firing alerts: state, severity, host, rule, value, since,
//! and marks (silenced, acknowledged by whom).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use swarm_common::protocol::alerts::{Alert, AlertState, Severity};

use super::theme;
use crate::app::App;
use crate::format;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let pane = &app.alerts;
    let empty = match (&pane.error, pane.loaded, pane.alerts.is_empty()) {
        (Some(e), _, true) => Some(format!("cannot list alerts: {e}")),
        (None, false, _) => Some("asking the hub for alerts…".to_owned()),
        (None, true, true) => {
            Some("No pending or firing alerts (rules: swarm-tui alerts apply FILE)".to_owned())
        }
        _ => None,
    };
    if let Some(text) = empty {
        frame.render_widget(Paragraph::new(Line::styled(text, theme::dim())), area);
        return;
    }
    let header =
        Row::new(["STATE", "SEV", "HOST", "RULE", "VALUE", "SINCE", "MARKS"]).style(theme::title());
    let height = area.height.saturating_sub(1) as usize;
    let selected = pane.selected_index();
    let offset = selected.saturating_sub(height.saturating_sub(1));
    let rows = pane
        .alerts
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, a)| {
            let row = Row::new([
                Cell::from(a.state.as_str()).style(state_style(a)),
                Cell::from(a.severity.as_str()).style(severity_style(a.severity)),
                Cell::from(a.agent.clone()),
                Cell::from(a.rule.clone()),
                Cell::from(format!("{:.2}", a.value)),
                Cell::from(format::age_ms(app.now.saturating_sub(a.since))),
                Cell::from(marks(a)),
            ]);
            if i == selected {
                row.style(theme::selected())
            } else {
                row
            }
        });
    // Host and rule columns as wide as their longest entry (at most 32),
    // the rest to the marks, so a comment is not cut first.
    let widest = |f: fn(&Alert) -> usize| {
        let w = pane.alerts.iter().map(f).max().unwrap_or(0).clamp(4, 32);
        Constraint::Length(u16::try_from(w).unwrap_or(32))
    };
    let widths = [
        Constraint::Length(8),
        Constraint::Length(8),
        widest(|a| a.agent.len()),
        widest(|a| a.rule.len()),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Fill(1),
    ];
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        area,
    );
}

fn state_style(a: &Alert) -> ratatui::style::Style {
    match a.state {
        AlertState::Firing => theme::bad(),
        AlertState::Pending => theme::warn(),
        AlertState::Resolved => theme::dim(),
    }
}

fn severity_style(s: Severity) -> ratatui::style::Style {
    match s {
        Severity::Critical => theme::bad(),
        Severity::Warning => theme::warn(),
        Severity::Info => theme::dim(),
    }
}

/// `silenced`, `acked ana: looking`.
pub fn marks(a: &Alert) -> String {
    let mut marks = Vec::new();
    if a.silenced {
        marks.push("silenced".to_owned());
    }
    if let Some(ack) = &a.acked {
        match &ack.comment {
            Some(c) => marks.push(format!("acked {}: {c}", ack.by)),
            None => marks.push(format!("acked {}", ack.by)),
        }
    }
    marks.join(", ")
}
