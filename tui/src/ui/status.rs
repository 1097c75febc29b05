//! The status line: link states, firing alerts, the last notice, key
//! hints. A long message (a hub refusal, why NATS is down) wraps onto
//! more rows instead of being cut at the edge; past a quarter of the
//! screen the last row ends with `…`, so a cut is never silent.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use swarm_common::nats::LinkState;

use super::{theme, wrap};
use crate::app::{App, HubLink, View};

/// The status rows for a terminal `width` columns wide and `height` high.
pub fn lines(app: &App, width: u16, height: u16) -> Vec<Line<'static>> {
    let (mut line, hints) = line(app);
    // The key hints only when all fits on one row: a message comes first
    // (the hints are in `?` too).
    if let Some(hints) = hints
        && line.width() + hints.width() <= usize::from(width)
    {
        line.spans.push(hints);
    }
    let mut rows = wrap::wrap(&line, usize::from(width), 1);
    let max = usize::from((height / 4).max(1));
    if rows.len() > max {
        rows.truncate(max);
        if let Some(last) = rows.last_mut() {
            let mut text: String = last.to_string();
            let keep = usize::from(width).saturating_sub(1);
            text = text.chars().take(keep).collect();
            text.push('…');
            *last = Line::styled(text, theme::warn());
        }
    }
    rows
}

pub fn render(frame: &mut Frame, area: Rect, rows: Vec<Line<'static>>) {
    frame.render_widget(Paragraph::new(rows), area);
}

fn line(app: &App) -> (Line<'static>, Option<Span<'static>>) {
    let mut spans = Vec::new();
    match &app.nats {
        LinkState::Connected => spans.push(Span::styled(" NATS ●", theme::good())),
        LinkState::Down(why) => {
            spans.push(Span::styled(
                format!(" NATS ○ {why} (retrying)"),
                theme::bad(),
            ));
        }
    }
    match &app.hub {
        HubLink::Ok => spans.push(Span::styled("  hub ●", theme::good())),
        HubLink::Unknown => spans.push(Span::styled("  hub …", theme::dim())),
        HubLink::Down(why) => {
            spans.push(Span::styled(
                format!("  hub ○ {why} (live data only)"),
                theme::warn(),
            ));
        }
    }
    let firing = app.alerts.firing();
    if firing > 0 {
        spans.push(Span::styled(format!("  ! {firing} firing"), theme::bad()));
    }
    if app.dropped > 0 {
        spans.push(Span::styled(
            format!("  {} updates dropped", app.dropped),
            theme::warn(),
        ));
    }
    if let Some(notice) = &app.notice {
        spans.push(Span::styled(format!("  {notice}"), theme::warn()));
    }
    if let Some(line) = app.command_line() {
        return (Line::styled(format!(":{line}▏"), theme::warn()), None);
    }
    let hints = if app.form().is_some() {
        "  tab next  ⏎ create  esc cancel"
    } else {
        match app.view {
            // At most 66 columns: with the link states, 80 in all.
            View::Hosts => "  ⏎ open  space mark  / filter  s sort  t tests  ! alerts  ? help",
            View::Host(_) => "  1-6 window  d detail  p ping  ! alerts  esc back  ? help",
            View::Tests => "  ⏎ results  n new  x cancel  ! alerts  esc back  ? help",
            View::TestResults(_) => "  x cancel  esc back  ? help",
            View::Alerts => "  ⏎ host  s silence host  c ack  esc back  ? help",
        }
    };
    (Line::from(spans), Some(Span::styled(hints, theme::dim())))
}
