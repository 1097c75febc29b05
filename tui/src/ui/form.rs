//! The new-test form, over the current view: one line per field, the
//! field's error under it, and a live count of the agents it would run on.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::theme;
use crate::app::{App, Field, TestForm};

const LABEL_WIDTH: usize = 10;

pub fn render(frame: &mut Frame, area: Rect, app: &App, form: &TestForm) {
    let mut lines = Vec::new();
    for field in form.fields() {
        let focused = field == form.focus;
        let value = if field == Field::Kind {
            format!("‹ {} ›", form.kind.as_str())
        } else {
            form.text(field).to_owned()
        };
        let mut spans = vec![Span::styled(
            format!(" {:<LABEL_WIDTH$}", field.label()),
            if focused {
                theme::title()
            } else {
                theme::dim()
            },
        )];
        if focused {
            spans.push(Span::styled(value.clone(), theme::selected()));
            spans.push(Span::raw("▏"));
        } else {
            spans.push(Span::raw(value.clone()));
        }
        if value.is_empty() || (focused && field == Field::Kind) {
            spans.push(Span::styled(format!("  {}", field.hint()), theme::dim()));
        }
        lines.push(Line::from(spans));
        if field == Field::Agents {
            let n = app.matching_online(&form.selectors());
            let style = if n == 0 { theme::warn() } else { theme::good() };
            lines.push(Line::styled(
                format!(
                    " {:<LABEL_WIDTH$}matches {n} online agent{}",
                    "",
                    if n == 1 { "" } else { "s" }
                ),
                style,
            ));
        }
        if let Some(error) = form.error_for(field) {
            lines.push(Line::styled(
                format!(" {:<LABEL_WIDTH$}{error}", ""),
                theme::bad(),
            ));
        }
    }
    lines.push(Line::raw(""));
    if let Some(error) = &form.error {
        lines.push(Line::styled(format!(" {error}"), theme::bad()));
    }
    lines.push(Line::styled(
        if form.submitting {
            " creating…"
        } else {
            " ⏎ create   tab/↑↓ move   esc cancel"
        },
        theme::dim(),
    ));

    // Wrapped here, to the box's inner width, so that the box is as tall
    // as its text: a long error (a hub refusal) gets rows of its own,
    // indented under its field, instead of pushing the last lines out.
    let inner = usize::from(area.width.min(72).saturating_sub(2));
    let lines: Vec<Line> = lines
        .iter()
        .flat_map(|l| super::wrap::wrap(l, inner, LABEL_WIDTH + 1))
        .collect();
    let popup = super::centered(area, 72, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(" new network test ")
                .title_style(theme::title()),
        ),
        popup,
    );
}
