use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::theme;
use crate::app::{App, SortColumn, View};

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let (online, offline) = app.counts();
    let mut spans = vec![
        Span::styled(" StreamSwarm ", theme::title()),
        Span::styled(format!("{online} online"), theme::good()),
        Span::raw(" · "),
        Span::styled(
            format!("{offline} offline"),
            if offline > 0 {
                theme::warn()
            } else {
                theme::dim()
            },
        ),
        Span::raw(format!(" · {} hosts", app.hosts.len())),
    ];
    if app.view == View::Hosts {
        if !app.table.marked.is_empty() {
            spans.push(Span::styled(
                format!("  {} marked", app.table.marked.len()),
                theme::warn(),
            ));
        }
        if app.table.sort != SortColumn::Name {
            spans.push(Span::styled(
                format!("  sort:{}", app.table.sort.label()),
                theme::dim(),
            ));
        }
        if app.filter_editing() {
            spans.push(Span::styled(
                format!("  /{}▏ {} shown", app.table.filter, app.shown_count()),
                theme::warn(),
            ));
        } else if !app.table.filter.is_empty() {
            spans.push(Span::styled(
                format!(
                    "  filter:{} ({} shown)",
                    app.table.filter,
                    app.shown_count()
                ),
                theme::warn(),
            ));
        }
    }
    frame.render_widget(Line::from(spans), area);
}
