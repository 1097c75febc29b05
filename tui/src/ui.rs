//! Drawing: a pure function of [`App`]. The screen:
//!
//! ```text
//! ┌──────────────────────────────────────────────────────────────┐
//! │ header: product, host counts, sort, filter                   │
//! ├──────────────────────────────────────────────────────────────┤
//! │ body: hosts table | host view (info, charts, tests) | tests  │
//! │       | one test's results | alerts  form, help overlays on top│
//! ├──────────────────────────────────────────────────────────────┤
//! │ status: NATS and hub state, notices, key hints               │
//! └──────────────────────────────────────────────────────────────┘
//! ```

mod alerts_view;
mod chart;
mod degrade;
mod form;
mod header;
mod help;
mod host;
mod host_detail;
mod hosts;
mod results;
mod status;
mod tests_view;
mod wrap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};

use crate::app::{App, View};

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let status_rows = status::lines(app, area.width, area.height);
    let [header_area, body, status_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(status_rows.len() as u16),
    ])
    .areas(area);
    header::render(frame, header_area, app);
    match &app.view {
        View::Hosts => hosts::render(frame, body, app),
        View::Host(agent) => host::render(frame, body, app, agent),
        View::Tests => tests_view::render(frame, body, app),
        View::TestResults(_) => results::render(frame, body, app),
        View::Alerts => alerts_view::render(frame, body, app),
    }
    status::render(frame, status_area, status_rows);
    if let Some(form) = app.form() {
        form::render(frame, body, app, form);
    }
    if app.help_open() {
        help::render(frame, body);
    }
    degrade::apply(frame.buffer_mut(), app.look);
}

/// A `width` x `height` box in the middle of `area` (for overlays).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [popup] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(popup);
    popup
}

/// The few styles the console uses, in one place.
pub mod theme {
    use super::*;

    pub fn title() -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    pub fn dim() -> Style {
        Style::new().fg(Color::DarkGray)
    }
    pub fn good() -> Style {
        Style::new().fg(Color::Green)
    }
    pub fn warn() -> Style {
        Style::new().fg(Color::Yellow)
    }
    pub fn bad() -> Style {
        Style::new().fg(Color::Red)
    }
    pub fn selected() -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    /// Green, yellow, red as a percentage climbs.
    pub fn load_pct(v: Option<f64>) -> Style {
        match v {
            Some(v) if v >= 90.0 => bad(),
            Some(v) if v >= 70.0 => warn(),
            Some(_) => Style::new(),
            None => dim(),
        }
    }
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A one-line sparkline of the last `width` values, scaled 0..=`top`
/// (`None`: to the largest of them). A missing value is a space.
pub fn spark_text(
    values: impl Iterator<Item = Option<f64>>,
    width: usize,
    top: Option<f64>,
) -> String {
    let values: Vec<Option<f64>> = values.collect();
    let start = values.len().saturating_sub(width);
    let shown = &values[start..];
    let top = top.unwrap_or_else(|| shown.iter().flatten().copied().fold(0.0, f64::max));
    shown
        .iter()
        .map(|v| match v {
            Some(v) if top > 0.0 => BARS[((v.clamp(0.0, top) / top) * 7.0).round() as usize],
            Some(_) => BARS[0],
            None => ' ',
        })
        .collect()
}

#[cfg(test)]
mod tests;
