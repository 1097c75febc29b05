//! One host: system information, latest numbers, the tests it takes part
//! in, and charts of every series over the chosen window (history from the
//! hub, extended live from the bus).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use swarm_common::AgentId;
use swarm_common::protocol::HostStatus;
use swarm_common::protocol::alerts::AlertState;

use super::chart::{self, Chart, value_text};
use super::{host_detail, theme};
use crate::app::{App, HostRow, SeriesChart, WINDOWS, detail_series};
use crate::format;

/// Rows a chart needs: its border and at least one line of bars.
const CHART_MIN_HEIGHT: u16 = 3;
/// Columns a chart needs for its name and value (`disk_pct:/ 69%`).
const CHART_MIN_WIDTH: u16 = 24;

pub fn render(frame: &mut Frame, area: Rect, app: &App, agent: &AgentId) {
    let Some(row) = app.hosts.get(agent) else {
        frame.render_widget(Paragraph::new(format!("{agent}: unknown host")), area);
        return;
    };
    let info_height = if area.height >= 30 { 10 } else { 9 };
    // The detail panels when asked for and the charts keep two rows.
    let detail = row.latest.as_ref().filter(|s| {
        app.host.show_detail
            && host_detail::has_detail(s)
            && area.height >= info_height + host_detail::HEIGHT + 1 + 2 * CHART_MIN_HEIGHT
    });
    let detail_height = if detail.is_some() {
        host_detail::HEIGHT
    } else {
        0
    };
    let [info_area, detail_area, window_line, charts_area] = Layout::vertical([
        Constraint::Length(info_height),
        Constraint::Length(detail_height),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(area);
    if let Some(sample) = detail {
        host_detail::render(
            frame,
            detail_area,
            sample,
            row.info.as_ref(),
            app.host.config.as_ref(),
        );
    }
    let [system, numbers, tests] = Layout::horizontal([
        Constraint::Percentage(40),
        Constraint::Percentage(30),
        Constraint::Percentage(30),
    ])
    .areas(info_area);
    frame.render_widget(system_panel(row, app.now), system);
    frame.render_widget(numbers_panel(row), numbers);
    frame.render_widget(tests_panel(app, agent), tests);

    let names = detail_series(Some(row));
    // As many charts as fit at a readable size; the window line says how
    // many did not.
    let rows_fit = (charts_area.height / CHART_MIN_HEIGHT).max(1) as usize;
    let cols_fit = (charts_area.width / CHART_MIN_WIDTH).max(1) as usize;
    let per_row = names.len().div_ceil(rows_fit).max(2).min(cols_fit);
    let shown = names.len().min(rows_fit * per_row);
    frame.render_widget(
        window_bar(app, names.len() - shown, window_line.width),
        window_line,
    );
    let names = &names[..shown];
    let row_count = names.len().div_ceil(per_row).max(1);
    let chart_rows = Layout::vertical(vec![Constraint::Ratio(1, row_count as u32); row_count])
        .split(charts_area);
    for (names, row_area) in names.chunks(per_row).zip(chart_rows.iter()) {
        let cells = Layout::horizontal(vec![Constraint::Ratio(1, per_row as u32); per_row])
            .split(*row_area);
        for (name, cell) in names.iter().zip(cells.iter()) {
            // No copy of the points per frame: a missing chart draws empty.
            let empty = SeriesChart::default();
            let chart = app.host.charts.get(name).unwrap_or(&empty);
            render_chart(frame, *cell, name, chart, app);
        }
    }
}

/// `window: 15m [1h] 6h 24h 7d 30d`: the chosen one stands out; then
/// how many charts did not fit, and what a column shows (raw samples, or
/// each bucket's average and max). On a narrow line the word `window`
/// goes first, then the legend, never the count.
fn window_bar(app: &App, hidden: usize, width: u16) -> Line<'static> {
    let windows = |numbered: bool| -> Vec<Span<'static>> {
        let mut spans = Vec::new();
        for (i, (label, _)) in WINDOWS.iter().enumerate() {
            let text = if numbered {
                format!(" {}:{label} ", i + 1)
            } else {
                format!(" {label}")
            };
            let style = if i == app.host.window {
                theme::selected()
            } else {
                theme::dim()
            };
            spans.push(Span::styled(text, style));
        }
        spans
    };
    let mut extra = Vec::new();
    if hidden > 0 {
        extra.push(Span::styled(format!(" +{hidden} charts"), theme::warn()));
    }
    let step = app
        .host
        .charts
        .values()
        .map(|c| c.step_ms)
        .max()
        .unwrap_or(0);
    let legend = if step > 0 {
        vec![
            Span::styled(
                format!(" per {}: ", crate::format::age_ms(step)),
                theme::dim(),
            ),
            Span::styled("█ avg", theme::good()),
            Span::styled(
                if app.look.color {
                    " █ max"
                } else {
                    " ░ max"
                },
                theme::warn(),
            ),
        ]
    } else if !app.host.charts.is_empty() {
        vec![Span::styled(" raw samples", theme::dim())]
    } else {
        Vec::new()
    };
    let fits = |spans: &[Span]| spans.iter().map(Span::width).sum::<usize>() <= usize::from(width);
    let label = Span::styled(" window ", theme::dim());
    let candidates = [
        [vec![label], windows(true), extra.clone(), legend.clone()].concat(),
        [windows(true), extra.clone(), legend.clone()].concat(),
        [windows(false), extra.clone(), legend].concat(),
    ];
    for spans in candidates {
        if fits(&spans) {
            return Line::from(spans);
        }
    }
    Line::from([windows(false), extra].concat())
}

/// Tests whose agents include this host, newest first.
/// The host's alerts (firing and pending), then the tests it takes part in.
fn tests_panel<'a>(app: &'a App, agent: &AgentId) -> Paragraph<'a> {
    let alerts = app.alerts.of_host(agent.as_str()).map(|a| {
        let style = match a.state {
            AlertState::Firing => theme::bad(),
            _ => theme::warn(),
        };
        Line::from(vec![
            Span::styled(format!("{} ", a.state.as_str()), style),
            Span::raw(format!("{} {:.2} ", a.rule, a.value)),
            Span::styled(super::alerts_view::marks(a), theme::dim()),
        ])
    });
    let tests = app
        .tests
        .list
        .iter()
        .filter(|t| t.agents.iter().any(|a| &a.agent == agent))
        .map(|t| {
            Line::from(vec![
                Span::raw(format!("{} ", t.kind.as_str())),
                Span::raw(format!("{} ", crate::format::target(t))),
                Span::styled(t.status.as_str(), theme::dim()),
            ])
        });
    let lines: Vec<Line> = alerts.chain(tests).collect();
    let lines = if lines.is_empty() {
        vec![Line::styled("no alerts, no tests", theme::dim())]
    } else {
        lines
    };
    Paragraph::new(lines).block(Block::bordered().title(" alerts · tests "))
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
            Span::raw(format!("  {}", get(|i| i.hostname.clone()))),
        ]),
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

/// One series' chart: the title keeps the name and the latest value
/// first (a narrow terminal drops the max, then the scale), the columns
/// show each slice's average and max.
fn render_chart(frame: &mut Frame, area: Rect, name: &str, chart: &SeriesChart, app: &App) {
    let last = chart.last();
    let to = app.now;
    let from = to.saturating_sub(app.window_ms().unsigned_abs());
    let peak = chart.peak(from);
    let width = usize::from(area.width.saturating_sub(2));
    let title = match (&chart.error, chart.loading) {
        (Some(e), _) => format!(" {name}: {e} "),
        (None, true) => format!(" {name}: loading… "),
        (None, false) if chart.points.is_empty() => format!(" {name}: no data "),
        (None, false) => {
            let short = format!(" {name} {} ", value_text(name, last));
            let long = format!("{short}max {} ", value_text(name, peak));
            if long.chars().count() <= width {
                long
            } else {
                short
            }
        }
    };
    let cols = chart::columns(&chart.points, chart.step_ms, from, to, width);
    let since = format!("-{}", app.window_label());
    frame.render_widget(
        Chart {
            title,
            name,
            columns: &cols,
            top: chart::scale_top(name, peak),
            since: &since,
            color: app.look.color,
        },
        area,
    );
}
