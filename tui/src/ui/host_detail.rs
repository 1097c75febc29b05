//! The host view's detail panels, as htop and glances show a host: CPU
//! time by kind and per core, each interface and block device, the
//! heaviest processes, and the host's plugins and pushed config.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use swarm_common::protocol::fleet::ConfigStatus;
use swarm_common::protocol::{HostInfo, MetricsSample};

use super::theme;
use crate::format;

/// Rows the panel row takes (borders included).
pub const HEIGHT: u16 = 12;

/// An agent that sends none of the detail (an older one) gets no panels.
pub fn has_detail(sample: &MetricsSample) -> bool {
    sample.cpu.is_some()
        || !sample.cores.is_empty()
        || !sample.interfaces.is_empty()
        || !sample.disk_io.is_empty()
        || sample.top.is_some()
}

pub fn render(
    frame: &mut Frame,
    area: Rect,
    sample: &MetricsSample,
    info: Option<&HostInfo>,
    config: Option<&Result<Option<ConfigStatus>, String>>,
) {
    let [cpu, io, procs] = Layout::horizontal([
        Constraint::Percentage(30),
        Constraint::Percentage(35),
        Constraint::Percentage(35),
    ])
    .areas(area);
    frame.render_widget(cpu_panel(sample, cpu.width.saturating_sub(2)), cpu);
    frame.render_widget(io_panel(sample, info, config), io);
    frame.render_widget(processes_panel(sample), procs);
}

/// A bar of `width` cells for a share in percent.
fn bar(pct: f64, width: usize) -> String {
    let filled = ((pct.clamp(0.0, 100.0) / 100.0) * width as f64).round() as usize;
    format!(
        "{}{}",
        "|".repeat(filled),
        " ".repeat(width - filled.min(width))
    )
}

fn cpu_panel(sample: &MetricsSample, inner_width: u16) -> Paragraph<'static> {
    let mut lines = Vec::new();
    // Name (7) + value (5) + spaces: the rest is the bar.
    let bar_width = (inner_width as usize).saturating_sub(15).max(4);
    if let Some(cpu) = &sample.cpu {
        for (kind, v) in cpu.kinds() {
            let Some(v) = v else { continue };
            if kind == "idle" || (v < 0.05 && !matches!(kind, "user" | "system" | "iowait")) {
                continue; // idle is the rest; quiet kinds take no line
            }
            let style = if kind == "iowait" || kind == "steal" {
                theme::load_pct(Some(v * 4.0))
            } else {
                theme::dim()
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{kind:<7}"), theme::dim()),
                Span::styled(format!("[{}]", bar(v, bar_width)), style),
                Span::raw(format!("{v:>5.1}")),
            ]));
        }
    }
    if !sample.cores.is_empty() {
        // Cores as a row of single-cell levels, eight to a line.
        let levels = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        let cells: String = sample
            .cores
            .iter()
            .map(|c| levels[((c.clamp(0.0, 100.0) / 100.0) * 8.0).round() as usize])
            .collect();
        let per_line = (inner_width as usize).saturating_sub(7).max(8);
        for (i, chunk) in cells
            .chars()
            .collect::<Vec<_>>()
            .chunks(per_line)
            .enumerate()
        {
            let label = if i == 0 {
                format!("{:<7}", format!("{}c", sample.cores.len()))
            } else {
                " ".repeat(7)
            };
            lines.push(Line::from(vec![
                Span::styled(label, theme::dim()),
                Span::styled(chunk.iter().collect::<String>(), theme::good()),
            ]));
        }
    }
    if let (Some(cached), Some(buffers)) = (sample.mem_cached, sample.mem_buffers) {
        lines.push(Line::from(vec![
            Span::styled(format!("{:<7}", "cache"), theme::dim()),
            Span::raw(format!(
                "{}  buf {}",
                format::bytes(cached),
                format::bytes(buffers)
            )),
        ]));
    }
    for t in sample.temps.iter().take(2) {
        lines.push(Line::from(vec![
            Span::styled(format!("{:<7}", "temp"), theme::dim()),
            Span::raw(format!("{:.0}°C {}", t.celsius, t.label)),
        ]));
    }
    if lines.is_empty() {
        lines.push(Line::styled("no CPU detail from this agent", theme::dim()));
    }
    Paragraph::new(lines).block(Block::bordered().title(" cpu "))
}

/// The pushed config as hub and agent see it: desired against applied.
fn config_line(
    info: Option<&HostInfo>,
    status: Option<&Result<Option<ConfigStatus>, String>>,
) -> Line<'static> {
    let applied = info.and_then(|i| i.config_rev).unwrap_or(0);
    let (text, style) = match status {
        Some(Ok(Some(s))) if s.error.is_some() => (
            format!(
                "rev {} refused: {}",
                s.desired_rev,
                s.error.as_deref().unwrap_or_default()
            ),
            theme::bad(),
        ),
        Some(Ok(Some(s))) if s.desired_rev > applied => (
            format!("rev {} wanted, {applied} in force", s.desired_rev),
            theme::warn(),
        ),
        _ if applied == 0 => ("own settings".to_owned(), theme::dim()),
        _ => (format!("hub rev {applied} in force"), theme::good()),
    };
    Line::from(vec![
        Span::styled(format!("{:<12}", "config"), theme::dim()),
        Span::styled(text, style),
    ])
}

fn io_panel(
    sample: &MetricsSample,
    info: Option<&HostInfo>,
    config: Option<&Result<Option<ConfigStatus>, String>>,
) -> Paragraph<'static> {
    let mut lines = Vec::new();
    for i in &sample.interfaces {
        let errors = i.rx_errors.unwrap_or(0) + i.tx_errors.unwrap_or(0);
        let drops = i.rx_drops.unwrap_or(0) + i.tx_drops.unwrap_or(0);
        let mut spans = vec![
            Span::styled(format!("{:<8.8} ", i.name), theme::dim()),
            Span::raw(format!(
                "↓{:>9} ↑{:>9}",
                i.rx_bps.map_or("-".into(), format::rate),
                i.tx_bps.map_or("-".into(), format::rate)
            )),
        ];
        if errors + drops > 0 {
            spans.push(Span::styled(
                format!(" err {errors} drop {drops}"),
                theme::warn(),
            ));
        }
        lines.push(Line::from(spans));
    }
    for d in &sample.disk_io {
        lines.push(Line::from(vec![
            Span::styled(format!("{:<8.8} ", d.device), theme::dim()),
            Span::raw(format!(
                "r{:>9} w{:>9} ",
                d.read_bps.map_or("-".into(), format::rate),
                d.write_bps.map_or("-".into(), format::rate)
            )),
            Span::styled(format::pct(d.busy_pct), theme::load_pct(d.busy_pct)),
        ]));
    }
    lines.push(config_line(info, config));
    if let Some(info) = info {
        for p in &info.plugins {
            let (mark, style) = if p.ok {
                ("ok", theme::good())
            } else {
                ("failing", theme::bad())
            };
            let mut spans = vec![
                Span::styled(format!("{:<11.11} ", p.name), theme::dim()),
                Span::styled(mark, style),
            ];
            if let Some(e) = &p.error {
                spans.push(Span::styled(format!(" {e}"), theme::dim()));
            }
            lines.push(Line::from(spans));
        }
    }
    if lines.is_empty() {
        lines.push(Line::styled(
            "no interfaces or devices reported",
            theme::dim(),
        ));
    }
    Paragraph::new(lines).block(Block::bordered().title(" network · disk i/o · plugins "))
}

fn processes_panel(sample: &MetricsSample) -> Paragraph<'static> {
    let Some(top) = &sample.top else {
        return Paragraph::new(Line::styled("processes not reported (yet)", theme::dim()))
            .block(Block::bordered().title(" processes "));
    };
    let mut lines = vec![Line::styled(
        format!("{:>7} {:<8} {:>6} {:>9} name", "pid", "user", "cpu%", "rss"),
        theme::dim(),
    )];
    for p in &top.by_cpu {
        lines.push(Line::raw(format!(
            "{:>7} {:<8.8} {:>6} {:>9} {}",
            p.pid,
            p.user.as_deref().unwrap_or("-"),
            p.cpu_pct.map_or("-".into(), |c| format!("{c:.1}")),
            p.rss.map_or("-".into(), format::bytes),
            p.name
        )));
    }
    Paragraph::new(lines).block(Block::bordered().title(" processes by cpu "))
}
