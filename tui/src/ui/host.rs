//! One host: system information, latest numbers, CPU and memory charts.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline};
use swarm_common::AgentId;
use swarm_common::protocol::HostStatus;

use super::theme;
use crate::app::{App, DETAIL_SERIES, HostRow, SeriesChart};
use crate::format;

pub fn render(frame: &mut Frame, area: Rect, app: &App, agent: &AgentId) {
    let Some(row) = app.hosts.get(agent) else {
        frame.render_widget(Paragraph::new(format!("{agent}: unknown host")), area);
        return;
    };
    let [info_area, charts_area] =
        Layout::vertical([Constraint::Length(10), Constraint::Min(0)]).areas(area);
    let [system, numbers] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
            .areas(info_area);
    frame.render_widget(system_panel(row, app.now), system);
    frame.render_widget(numbers_panel(row), numbers);

    let chart_areas =
        Layout::vertical(DETAIL_SERIES.map(|_| Constraint::Ratio(1, 2))).split(charts_area);
    for (series, area) in DETAIL_SERIES.iter().zip(chart_areas.iter()) {
        let chart = app.charts.get(*series).cloned().unwrap_or_default();
        render_chart(frame, *area, series, &chart);
    }
}

fn field<'a>(name: &'a str, value: String) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{name:<9}"), theme::dim()),
        Span::raw(value),
    ])
}

fn system_panel(row: &HostRow, now: u64) -> Paragraph<'_> {
    let info = row.info.as_ref();
    let get = |f: fn(&swarm_common::protocol::HostInfo) -> Option<String>| {
        info.and_then(f).unwrap_or_else(|| "-".into())
    };
    let status = match row.status(now) {
        HostStatus::Online => Span::styled("online", theme::good()),
        HostStatus::Offline => Span::styled("offline", theme::warn()),
    };
    let lines = vec![
        Line::from(vec![
            Span::styled(format!("{:<9}", "status"), theme::dim()),
            status,
        ]),
        field("host", get(|i| i.hostname.clone())),
        field(
            "os",
            format!(
                "{} {}",
                get(|i| i.os.clone()),
                get(|i| i.os_version.clone())
            ),
        ),
        field(
            "kernel",
            format!("{} {}", get(|i| i.kernel.clone()), get(|i| i.arch.clone())),
        ),
        field(
            "cpu",
            format!(
                "{} × {}",
                get(|i| i.cpu_cores.map(|c| c.to_string())),
                get(|i| i.cpu_model.clone())
            ),
        ),
        field("memory", get(|i| i.mem_total.map(format::bytes))),
        field("agent", get(|i| i.agent_version.clone())),
    ];
    let tags = row.tags().join(" ");
    let mut lines = lines;
    lines.push(field(
        "tags",
        if tags.is_empty() { "-".into() } else { tags },
    ));
    Paragraph::new(lines).block(Block::bordered().title(format!(" {} ", row.agent)))
}

fn numbers_panel(row: &HostRow) -> Paragraph<'_> {
    let latest = row.latest.as_ref();
    let swap = latest.and_then(|s| s.swap_pct());
    let lines = vec![
        field("cpu", format::pct(row.cpu())),
        field("memory", format::pct(row.mem())),
        field("swap", format::pct(swap)),
        field(
            "load",
            latest.and_then(|s| s.load).map_or("-".into(), |l| {
                format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])
            }),
        ),
        field(
            "net",
            format!(
                "rx {}  tx {}",
                row.rx().map_or("-".into(), format::rate),
                row.tx().map_or("-".into(), format::rate)
            ),
        ),
        field("disk /", format::pct(row.root_disk())),
        field("uptime", row.uptime_s().map_or("-".into(), format::uptime)),
    ];
    Paragraph::new(lines).block(Block::bordered().title(" now "))
}

fn render_chart(frame: &mut Frame, area: Rect, series: &str, chart: &SeriesChart) {
    let title = match (&chart.error, chart.loading) {
        (Some(e), _) => format!(" {series} (last hour): {e} "),
        (None, true) => format!(" {series} (last hour): loading… "),
        (None, false) => {
            let last = chart.points.last().map(|p| p.1);
            let max = chart.points.iter().map(|p| p.1).fold(f64::NAN, f64::max);
            format!(
                " {series} (last hour)  now {}  max {} ",
                format::pct(last),
                format::pct((!max.is_nan()).then_some(max))
            )
        }
    };
    let block = Block::bordered().title(title);
    let inner_width = area.width.saturating_sub(2) as usize;
    let start = chart.points.len().saturating_sub(inner_width);
    let data: Vec<u64> = chart.points[start..]
        .iter()
        .map(|p| p.1.clamp(0.0, 100.0).round() as u64)
        .collect();
    frame.render_widget(
        Sparkline::default()
            .block(block)
            .data(&data)
            .max(100)
            .style(theme::good()),
        area,
    );
}
