//! Network tests: id, kind, target, status, runs, agents and their states.
//! Under 80 columns runs and agent counts give way (the results view has
//! them), so that an id stays whole (12 characters, to paste into `test
//! show`) and a target keeps its port.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use swarm_common::protocol::{AgentRunState, TestStatus};

use super::theme;
use crate::app::App;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if app.tests.list.is_empty() {
        let text = "No network tests yet: press n to create one";
        frame.render_widget(Paragraph::new(Line::styled(text, theme::dim())), area);
        return;
    }
    let wide = area.width >= 80;
    let titles: &[&str] = if wide {
        &["ID", "KIND", "TARGET", "STATUS", "RUNS", "AGENTS"]
    } else {
        &["ID", "KIND", "TARGET", "STATUS"]
    };
    let header = Row::new(titles.iter().copied()).style(theme::title());
    let fixed: u16 = if wide {
        12 + 10 + 9 + 4 + 24 + 5
    } else {
        12 + 10 + 9 + 3
    };
    let target_width = usize::from(area.width.saturating_sub(fixed).max(12));
    let height = area.height.saturating_sub(1) as usize;
    let selected = app.tests.selected.min(app.tests.list.len() - 1);
    let offset = selected.saturating_sub(height.saturating_sub(1));
    let rows = app
        .tests
        .list
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
            let target = fit_target(&t.target, t.port, target_width);
            let mut cells = vec![
                Cell::from(t.id.to_string()),
                Cell::from(t.kind.as_str()),
                Cell::from(target),
                Cell::from(t.status.as_str()).style(status_style),
            ];
            if wide {
                cells.push(Cell::from(t.runs.to_string()));
                cells.push(Cell::from(agents));
            }
            let row = Row::new(cells);
            if i == selected {
                row.style(theme::selected())
            } else {
                row
            }
        });
    let mut widths = vec![
        Constraint::Length(12),
        Constraint::Length(10),
        Constraint::Min(12),
        Constraint::Length(9),
    ];
    if wide {
        widths.extend([Constraint::Length(4), Constraint::Length(24)]);
    }
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        area,
    );
}

/// `host:port` in `width` columns: a long host name loses its start
/// (`…ternal.example.net:5432`), never the port.
fn fit_target(target: &str, port: Option<u16>, width: usize) -> String {
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    let room = width.saturating_sub(port.len());
    let len = target.chars().count();
    if len <= room {
        return format!("{target}{port}");
    }
    let tail: String = target.chars().skip(len + 1 - room.max(1)).collect();
    format!("…{tail}{port}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cut_target_keeps_its_port() {
        assert_eq!(
            super::fit_target("db.internal", Some(5432), 20),
            "db.internal:5432"
        );
        assert_eq!(
            super::fit_target("db.internal.example.net", Some(5432), 16),
            "…xample.net:5432"
        );
        assert_eq!(super::fit_target("10.0.0.5", None, 12), "10.0.0.5");
    }
}
