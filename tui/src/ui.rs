//! Drawing: a pure function of [`App`]. The screen:
//!
//! ```text
//! ┌──────────────────────────────────────────────────────────────┐
//! │ header: product, host counts, sort, filter                   │
//! ├──────────────────────────────────────────────────────────────┤
//! │ body: hosts table  |  host view (info, charts)               │
//! │                                    help overlay on top       │
//! ├──────────────────────────────────────────────────────────────┤
//! │ status: NATS and hub state, notices, key hints               │
//! └──────────────────────────────────────────────────────────────┘
//! ```

mod header;
mod help;
mod host;
mod hosts;
mod status;
mod tests_view;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};

use crate::app::{App, View};

pub fn draw(frame: &mut Frame, app: &App) {
    let [header_area, body, status_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    header::render(frame, header_area, app);
    match &app.view {
        View::Hosts => hosts::render(frame, body, app),
        View::Host(agent) => host::render(frame, body, app, agent),
        View::Tests => tests_view::render(frame, body, app),
    }
    status::render(frame, status_area, app);
    if app.help {
        help::render(frame, body);
    }
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

/// A one-line sparkline of block characters, scaled 0..=100.
pub fn spark_text(values: impl Iterator<Item = f64>, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let values: Vec<f64> = values.collect();
    let start = values.len().saturating_sub(width);
    values[start..]
        .iter()
        .map(|v| BARS[((v.clamp(0.0, 100.0) / 100.0) * 7.0).round() as usize])
        .collect()
}

#[cfg(test)]
mod tests;
