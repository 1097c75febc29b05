use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};

use super::theme;

const KEYS: &[(&str, &str)] = &[
    ("↑ ↓  k j", "select a host or test"),
    ("PgUp PgDn", "move ten rows"),
    ("g G", "first / last host"),
    ("Enter", "open the host / the test's results"),
    ("Esc", "back / clear the filter and marks"),
    ("/", "filter by name or tag:<tag>"),
    ("s", "cycle the sort column"),
    ("space", "mark a host (a marks all shown)"),
    ("T", "hub tags of marked hosts (+a -b)"),
    ("p  n", "new test on the marked or shown hosts"),
    ("1-6  [ ]", "chart window 15m 1h 6h 24h 7d 30d"),
    ("d", "host detail panels on or off"),
    ("t", "network tests"),
    ("x", "cancel the selected test"),
    ("!", "alerts: s silence the host, c ack"),
    ("Tab ⏎", "form: next field / create"),
    (":", "commands: ping T, tcp T P, host ID …"),
    ("?", "this help (any key closes)"),
    ("q  Ctrl-C", "quit"),
];

pub fn render(frame: &mut Frame, area: Rect) {
    let popup = super::centered(area, 52, KEYS.len() as u16 + 2);
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
