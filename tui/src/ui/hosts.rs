//! The live hosts table. Only the rows that fit on screen are built.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use swarm_common::protocol::{HostStatus, series};

use super::{spark_text, theme};
use crate::app::{App, Buckets, HostRow, SortColumn};
use crate::format;

/// The host column's width bounds: agent ids are at most 64 characters,
/// but past 32 the sparklines make better use of the room.
const NAME_MIN: u16 = 10;
const NAME_MAX: u16 = 32;
/// Narrowest sparkline worth drawing.
const SPARK_MIN: u16 = 8;

/// Columns in display order; optional ones are dropped on narrow screens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Status,
    Mark,
    Name,
    Cpu,
    Spark,
    Mem,
    Disk,
    Rx,
    RxSpark,
    Tx,
    TxSpark,
    Load,
    Uptime,
    Seen,
}

impl Col {
    /// Fixed width; `None` for the host and sparkline columns, which
    /// share what is left.
    fn fixed_width(self) -> Option<u16> {
        match self {
            Col::Status | Col::Mark => Some(1),
            Col::Name | Col::Spark | Col::RxSpark | Col::TxSpark => None,
            Col::Cpu | Col::Mem | Col::Disk | Col::Load | Col::Seen => Some(5),
            Col::Rx | Col::Tx => Some(9),
            Col::Uptime => Some(8),
        }
    }

    fn is_spark(self) -> bool {
        matches!(self, Col::Spark | Col::RxSpark | Col::TxSpark)
    }

    fn title(self) -> &'static str {
        match self {
            Col::Status | Col::Mark => "",
            Col::Name => "HOST",
            Col::Cpu => "CPU",
            Col::Spark => "CPU RECENT",
            Col::RxSpark => "RX RECENT",
            Col::TxSpark => "TX RECENT",
            Col::Mem => "MEM",
            Col::Disk => "DISK/",
            Col::Rx => "RX",
            Col::Tx => "TX",
            Col::Load => "LOAD",
            Col::Uptime => "UPTIME",
            Col::Seen => "SEEN",
        }
    }

    fn sorted_by(self) -> Option<SortColumn> {
        Some(match self {
            Col::Status => SortColumn::Status,
            Col::Name => SortColumn::Name,
            Col::Cpu => SortColumn::Cpu,
            Col::Mem => SortColumn::Mem,
            Col::Disk => SortColumn::Disk,
            Col::Rx => SortColumn::Rx,
            Col::Tx => SortColumn::Tx,
            Col::Load => SortColumn::Load,
            Col::Uptime => SortColumn::Uptime,
            Col::Spark | Col::RxSpark | Col::TxSpark | Col::Mark | Col::Seen => return None,
        })
    }
}

fn columns(width: u16) -> Vec<Col> {
    use Col::*;
    match width {
        0..=59 => vec![Status, Mark, Name, Cpu, Mem, Seen],
        60..=79 => vec![Status, Mark, Name, Cpu, Mem, Disk, Rx, Tx],
        80..=99 => vec![
            Status, Mark, Name, Cpu, Spark, Mem, Disk, Rx, Tx, Load, Seen,
        ],
        100..=139 => vec![
            Status, Mark, Name, Cpu, Spark, Mem, Disk, Rx, Tx, Load, Uptime, Seen,
        ],
        _ => vec![
            Status, Mark, Name, Cpu, Spark, Mem, Disk, Rx, RxSpark, Tx, TxSpark, Load, Uptime, Seen,
        ],
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let rows = app.visible();
    if rows.is_empty() {
        let text = if app.hosts.is_empty() {
            "No hosts yet: waiting for agents to publish on swarm.metrics.*"
        } else {
            "No host matches the filter (Esc clears it)"
        };
        frame.render_widget(Paragraph::new(Line::styled(text, theme::dim())), area);
        return;
    }
    let cols = columns(area.width);
    let (name_width, spark_width) = widths(&cols, area.width, &rows);
    let body_height = area.height.saturating_sub(1) as usize;
    // Scroll so that the selection is always on screen.
    let selected = app.table.selected.min(rows.len() - 1);
    let offset = selected.saturating_sub(body_height.saturating_sub(1));
    let window = rows.iter().skip(offset).take(body_height);

    let header = Row::new(cols.iter().map(|c| {
        let style = if c.sorted_by() == Some(app.table.sort) && app.table.sort != SortColumn::Name {
            theme::title().patch(theme::warn())
        } else {
            theme::title()
        };
        Cell::from(c.title()).style(style)
    }));
    let table_rows: Vec<Row> = window
        .enumerate()
        .map(|(i, row)| {
            let marks = Marks {
                marked: app.table.marked.contains(&row.agent),
                firing: app.alerts.is_firing(row.agent.as_str()),
            };
            let r = build_row(row, &cols, app.now, marks, spark_width);
            if offset + i == selected {
                r.style(theme::selected())
            } else {
                r
            }
        })
        .collect();
    let widths = cols.iter().map(|c| match c.fixed_width() {
        Some(w) => Constraint::Length(w),
        None if c.is_spark() => Constraint::Length(spark_width),
        None => Constraint::Length(name_width),
    });
    let table = Table::new(table_rows, widths)
        .header(header)
        .column_spacing(1);
    frame.render_widget(table, area);
}

/// The host column as wide as the longest id shown (within bounds), the
/// rest to the sparklines: on a wide terminal the room goes to data, not
/// to blank space after short names.
fn widths(cols: &[Col], width: u16, rows: &[&HostRow]) -> (u16, u16) {
    let fixed: u16 = cols.iter().filter_map(|c| c.fixed_width()).sum::<u16>()
        + cols.len().saturating_sub(1) as u16;
    let rest = width.saturating_sub(fixed);
    let longest = rows
        .iter()
        .map(|r| r.agent.as_str().len())
        .max()
        .unwrap_or(0)
        .clamp(usize::from(NAME_MIN), usize::from(NAME_MAX)) as u16;
    let sparks = cols.iter().filter(|c| c.is_spark()).count() as u16;
    if sparks == 0 {
        return (rest, 0);
    }
    let spark =
        (rest.saturating_sub(longest) / sparks).clamp(SPARK_MIN, crate::app::spark::BUCKETS as u16);
    (rest.saturating_sub(spark * sparks).max(NAME_MIN), spark)
}

/// What the row shows beside the host's numbers.
struct Marks {
    /// Marked with space (the next test's agents).
    marked: bool,
    /// A firing alert: the status column says `!`.
    firing: bool,
}

fn build_row<'a>(
    row: &'a HostRow,
    cols: &[Col],
    now: u64,
    marks: Marks,
    spark_width: u16,
) -> Row<'a> {
    let width = usize::from(spark_width);
    // CPU on 0-100; rates up to a round number over their peak, never
    // under 1 KB/s, so an idle link's few bytes stay at the bottom.
    let spark = |values: &Buckets, rate: Option<&str>| {
        let cells: Vec<Option<f64>> = values.cells(now, width).collect();
        let top = match rate {
            None => 100.0,
            Some(series) => {
                let peak = cells
                    .iter()
                    .flatten()
                    .copied()
                    .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
                super::chart::scale_top(series, peak)
            }
        };
        Cell::from(spark_text(cells.into_iter(), width, Some(top))).style(theme::good())
    };
    let online = row.status(now) == HostStatus::Online;
    let cells = cols.iter().map(|c| match c {
        Col::Status => {
            if marks.firing {
                Cell::from(Span::styled("!", theme::bad()))
            } else if online {
                Cell::from(Span::styled("●", theme::good()))
            } else {
                Cell::from(Span::styled("○", theme::dim()))
            }
        }
        Col::Mark => Cell::from(if marks.marked { "+" } else { "" }).style(theme::warn()),
        Col::Name => Cell::from(row.agent.as_str()),
        Col::Cpu => Cell::from(format::pct(row.cpu())).style(theme::load_pct(row.cpu())),
        Col::Spark => spark(&row.cpu_recent, None),
        Col::RxSpark => spark(&row.rx_recent, Some(series::NET_RX_BPS)),
        Col::TxSpark => spark(&row.tx_recent, Some(series::NET_TX_BPS)),
        Col::Mem => Cell::from(format::pct(row.mem())).style(theme::load_pct(row.mem())),
        Col::Disk => {
            Cell::from(format::pct(row.root_disk())).style(theme::load_pct(row.root_disk()))
        }
        Col::Rx => Cell::from(row.rx().map_or("-".into(), format::rate)),
        Col::Tx => Cell::from(row.tx().map_or("-".into(), format::rate)),
        Col::Load => Cell::from(row.load1().map_or("-".into(), |l| format!("{l:.2}"))),
        Col::Uptime => Cell::from(row.uptime_s().map_or("-".into(), format::uptime)),
        // Blank while samples arrive on time: a column of ages ticking
        // every second would rewrite every row every second over SSH.
        Col::Seen => Cell::from(match now.saturating_sub(row.last_seen) {
            _ if row.last_seen == 0 => "-".to_owned(),
            age if online && age <= row.interval_ms() + 1_000 => String::new(),
            age => format::age_s(age / 1000),
        }),
    });
    let style = if online { Style::new() } else { theme::dim() };
    Row::new(cells.collect::<Vec<_>>()).style(style)
}
