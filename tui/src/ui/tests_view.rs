//! Network tests: id, kind, target, status, runs, agents and their states.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use swarm_common::protocol::{AgentRunState, TestStatus};

use super::theme;
use crate::app::App;
use crate::format;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if app.tests.is_empty() {
        let text = "No network tests yet: press n to create one";
        frame.render_widget(Paragraph::new(Line::styled(text, theme::dim())), area);
        return;
    }
    let header =
        Row::new(["ID", "KIND", "TARGET", "STATUS", "RUNS", "AGENTS"]).style(theme::title());
    let height = area.height.saturating_sub(1) as usize;
    let selected = app.tests_selected.min(app.tests.len() - 1);
    let offset = selected.saturating_sub(height.saturating_sub(1));
    let rows = app
        .tests
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, t)| {
            let status_style = match t.status {
                TestStatus::Running => theme::good(),
                TestStatus::Failed => theme::bad(),
                TestStatus::Scheduled => theme::warn(),
                TestStatus::Done | TestStatus::Cancelled => theme::dim(),
            };
            let count = |s: AgentRunState| t.agents.iter().filter(|a| a.state == s).count();
            let agents = format!(
                "{} run {} ok {} fail {} away",
                count(AgentRunState::Running),
                count(AgentRunState::Done),
                count(AgentRunState::Failed),
                count(AgentRunState::Unreachable)
            );
            let target = format::target(t);
            let row = Row::new([
                Cell::from(t.id.clone()),
                Cell::from(t.kind.as_str()),
                Cell::from(target),
                Cell::from(t.status.as_str()).style(status_style),
                Cell::from(t.runs.to_string()),
                Cell::from(agents),
            ]);
            if i == selected {
                row.style(theme::selected())
            } else {
                row
            }
        });
    let widths = [
        Constraint::Length(12),
        Constraint::Length(10),
        Constraint::Min(12),
        Constraint::Length(9),
        Constraint::Length(4),
        Constraint::Length(24),
    ];
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        area,
    );
}
