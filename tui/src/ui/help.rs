use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};

use super::theme;

const KEYS: &[(&str, &str)] = &[
    ("↑ ↓  k j", "select a host"),
    ("PgUp PgDn", "move ten rows"),
    ("g G", "first / last host"),
    ("Enter", "open the host view"),
    ("Esc", "back / clear the filter"),
    ("/", "filter by name or tag:<tag>"),
    ("s", "cycle the sort column"),
    ("t", "network tests"),
    ("?", "this help (any key closes)"),
    ("q  Ctrl-C", "quit"),
];

pub fn render(frame: &mut Frame, area: Rect) {
    let width = 46.min(area.width);
    let height = (KEYS.len() as u16 + 2).min(area.height);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(popup);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| Line::from(format!(" {k:<11} {what}")))
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(" keys ")
                .title_style(theme::title()),
        ),
        popup,
    );
}
