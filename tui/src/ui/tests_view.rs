//! Network tests: id, kind, target, status, runs, agents and their states.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use swarm_common::protocol::{AgentRunState, TestStatus};

use super::theme;
use crate::app::App;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if app.tests.is_empty() {
        let text =
            "No network tests yet: swarm-tui test create --kind ping --target HOST --agents '*'";
        frame.render_widget(Paragraph::new(Line::styled(text, theme::dim())), area);
        return;
    }
    let header =
        Row::new(["ID", "KIND", "TARGET", "STATUS", "RUNS", "AGENTS"]).style(theme::title());
    let rows = app
        .tests
        .iter()
        .take(area.height.saturating_sub(1) as usize)
        .map(|t| {
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
            let target = match t.port {
                Some(p) => format!("{}:{p}", t.target),
                None => t.target.clone(),
            };
            Row::new([
                Cell::from(t.id.clone()),
                Cell::from(t.kind.as_str()),
                Cell::from(target),
                Cell::from(t.status.as_str()).style(status_style),
                Cell::from(t.runs.to_string()),
                Cell::from(agents),
            ])
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
