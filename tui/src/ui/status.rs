use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use swarm_common::nats::LinkState;

use super::theme;
use crate::app::{App, HubLink, View};

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
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
    if let Some(line) = &app.command {
        frame.render_widget(Line::styled(format!(":{line}▏"), theme::warn()), area);
        return;
    }
    let hints = if app.form.is_some() {
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
    spans.push(Span::styled(hints, theme::dim()));
    frame.render_widget(Line::from(spans), area);
}
