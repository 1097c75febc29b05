//! One series' chart in the host view: a column per slice of the window,
//! green up to the average of the points in it, yellow above up to their
//! max. Raw samples have min = avg = max, so a 15-minute chart is plain
//! bars; a 7-day chart of hourly rollups still shows the peak a spike
//! reached inside an hour, which an average alone would hide. The bottom
//! border carries the scale (`0-100%`, `0-2 KB/s`) between the window's
//! two ends.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Widget};
use swarm_common::protocol::{HistoryPoint, Millis};

use super::theme;
use crate::format;

/// The shade of the part of a column between its average and its max
/// when there are no colours.
pub const MAX_SHADE: &str = "░";
/// The colour of the part of a column between its average and its max
/// (the theme's warning yellow).
const MAX_COLOR: ratatui::style::Color = ratatui::style::Color::Yellow;
const EIGHTHS: [&str; 8] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];

/// What one column of the chart shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Column {
    /// The mean of the averages of the points in the column's time.
    pub avg: f64,
    /// The largest max among them.
    pub max: f64,
}

/// One column per slice of `[from, to]`. A point covers its bucket
/// (`step_ms`; 0 for a raw sample), so an hourly rollup fills every
/// column its hour spans rather than leaving gaps between hours. `None`
/// where no point falls.
pub fn columns(
    points: &[HistoryPoint],
    step_ms: u64,
    from: Millis,
    to: Millis,
    width: usize,
) -> Vec<Option<Column>> {
    let mut sums = vec![(0.0f64, 0u32, f64::NEG_INFINITY); width];
    if width == 0 || to <= from {
        return vec![None; width];
    }
    let span = (to - from) as f64;
    let col = |ts: Millis| (((ts.saturating_sub(from)) as f64 / span) * width as f64) as usize;
    for &(ts, _min, avg, max) in points {
        let end = ts.saturating_add(step_ms.saturating_sub(1));
        if end < from || ts > to {
            continue;
        }
        let first = col(ts.max(from)).min(width - 1);
        let last = col(end.min(to)).min(width - 1);
        for slot in &mut sums[first..=last] {
            slot.0 += avg;
            slot.1 += 1;
            slot.2 = slot.2.max(max);
        }
    }
    sums.into_iter()
        .map(|(sum, n, max)| {
            (n > 0).then(|| Column {
                avg: sum / f64::from(n),
                max: max.max(sum / f64::from(n)),
            })
        })
        .collect()
}

/// How a series' values read: percent, bytes/s, °C or a plain number.
pub fn value_text(name: &str, v: Option<f64>) -> String {
    let kind = series_kind(name);
    match v {
        None => "-".into(),
        Some(v) if kind.ends_with("_bps") => format::rate(v),
        Some(v) if kind.ends_with("_pct") => format::pct(Some(v)),
        Some(v) if kind == "temp_c" => format!("{v:.0}°C"),
        Some(v) => format!("{v:.2}"),
    }
}

/// The name of a series without its mount, device or interface.
fn series_kind(name: &str) -> &str {
    name.split_once(':').map_or(name, |(kind, _)| kind)
}

/// The top of the y scale: 100 for percentages; else the peak rounded up
/// to 1, 2, 2.5 or 5 times a power of ten, never under a floor (1 KB/s for
/// rates, 1 for the rest) so that a 1 B/s blip on an idle link stays a
/// blip instead of filling the chart.
pub fn scale_top(name: &str, peak: Option<f64>) -> f64 {
    let kind = series_kind(name);
    if kind.ends_with("_pct") {
        return 100.0;
    }
    let floor = if kind.ends_with("_bps") { 1_000.0 } else { 1.0 };
    let peak = peak.filter(|p| p.is_finite()).unwrap_or(0.0).max(floor);
    let power = 10f64.powf(peak.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|top| *top >= peak)
        .unwrap_or(peak)
}

/// The chart in a bordered box: `title` on top, the window's ends (`-1h`,
/// `now`) and the scale between them on the bottom border, when they fit.
pub struct Chart<'a> {
    pub title: String,
    pub name: &'a str,
    pub columns: &'a [Option<Column>],
    pub top: f64,
    /// `-1h`: the left end of the window.
    pub since: &'a str,
    /// Colours on: without them the max above the average is a shade
    /// (`░`), not yellow blocks that would read as more average.
    pub color: bool,
}

impl Widget for Chart<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let width = usize::from(area.width.saturating_sub(2));
        // A round top needs no decimals (`0-5`, not `0-5.00`).
        let top = match value_text(self.name, Some(self.top)) {
            plain if plain.ends_with(".00") => format!("{}", self.top),
            text => text,
        };
        let scale = format!(" 0-{top} ");
        let since = format!(" {} ", self.since);
        // The bottom border: `-1h ── 0-100% ── now`; the scale goes first
        // when the box is too narrow, the ends last. The top keeps the
        // title (name, value, max) whole.
        let mut block = Block::bordered().title(self.title.clone());
        let ends = since.chars().count() + " now ".len();
        if ends + scale.chars().count() + 2 <= width {
            block = block.title_bottom(Line::styled(scale, theme::dim()).centered());
        }
        if ends + 2 <= width {
            block = block
                .title_bottom(Line::styled(since, theme::dim()))
                .title_bottom(Line::styled(" now ", theme::dim()).right_aligned());
        }
        let inner = block.inner(area);
        block.render(area, buf);
        draw_columns(self.columns, self.top, inner, buf, self.color);
    }
}

/// Each column from the bottom: blocks up to the average (green), then
/// blocks up to the max (yellow); where the average ends inside a cell
/// and the max goes on above it, the cell's background carries the max.
/// A max that ends in the same cell as the average is within a cell of
/// it and is not drawn. Any sample, however small, shows at least the
/// lowest eighth: blank means no sample.
fn draw_columns(columns: &[Option<Column>], top: f64, area: Rect, buf: &mut Buffer, color: bool) {
    if area.is_empty() || top <= 0.0 {
        return;
    }
    let rows = u32::from(area.height);
    let levels = rows * 8;
    let level = |v: f64| ((v.clamp(0.0, top) / top) * f64::from(levels)).round() as u32;
    for (x, column) in columns.iter().take(usize::from(area.width)).enumerate() {
        let Some(c) = column else { continue };
        let avg = level(c.avg).max(1);
        let max = level(c.max).max(avg);
        for row in 0..rows {
            let (low, high) = (row * 8, row * 8 + 8);
            let eighths = |to: u32| EIGHTHS[(to.min(high) - low - 1) as usize];
            let (symbol, style) = if avg >= high {
                (EIGHTHS[7], theme::good())
            } else if avg > low && max >= high {
                (eighths(avg), theme::good().bg(MAX_COLOR))
            } else if avg > low {
                (eighths(avg), theme::good())
            } else if max > low {
                (if color { eighths(max) } else { MAX_SHADE }, theme::warn())
            } else {
                continue;
            };
            let y = area.bottom() - 1 - row as u16;
            buf[(area.x + x as u16, y)]
                .set_symbol(symbol)
                .set_style(style);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peak_inside_a_bucket_survives_and_buckets_fill_their_columns() {
        // Two hourly points over a 4-hour window of 8 columns: each fills
        // the two columns of its hour; the spike is the max, not the avg.
        let h = 3_600_000;
        let points = [(0, 1.0, 20.0, 99.0), (h, 2.0, 30.0, 40.0)];
        let cols = columns(&points, h, 0, 4 * h, 8);
        let spike = Some(Column {
            avg: 20.0,
            max: 99.0,
        });
        assert_eq!(&cols[..2], &[spike, spike]);
        assert_eq!(cols[2].map(|c| c.max), Some(40.0));
        assert_eq!(cols[4], None, "no point: a gap, never a zero");
        // Raw samples (step 0): one column each.
        let raw = columns(&[(10, 5.0, 5.0, 5.0)], 0, 0, 80, 8);
        assert_eq!(raw.iter().flatten().count(), 1);
    }

    #[test]
    fn scales_have_floors_and_round_numbers() {
        let cases = [
            ("cpu_pct", Some(3.0), 100.0),
            ("net_rx_bps", Some(1.0), 1_000.0),
            ("net_rx_bps", Some(1_700.0), 2_000.0),
            ("net_rx_bps", Some(2_100_000.0), 2_500_000.0),
            ("load1", None, 1.0),
            ("load1", Some(3.2), 5.0),
            ("temp_c:cpu", Some(61.0), 100.0),
        ];
        for (name, peak, want) in cases {
            assert_eq!(scale_top(name, peak), want, "{name} {peak:?}");
        }
    }

    #[test]
    fn the_average_is_green_and_the_max_yellow_above_it() {
        use ratatui::style::Color;
        let area = Rect::new(0, 0, 3, 2);
        let mut buf = Buffer::empty(area);
        let cols = [
            Some(Column {
                avg: 25.0,
                max: 100.0,
            }),
            None,
            // The average ends inside the top cell and the max goes past
            // it: that cell is yellow behind.
            Some(Column {
                avg: 60.0,
                max: 100.0,
            }),
        ];
        draw_columns(&cols, 100.0, area, &mut buf, true);
        let text: Vec<&str> = buf.content.iter().map(|c| c.symbol()).collect();
        assert_eq!(text, ["█", " ", "▂", "▄", " ", "█"]);
        assert_eq!(buf[(0, 0)].fg, Color::Yellow, "the max");
        assert_eq!(buf[(0, 1)].fg, Color::Green, "the average");
        assert_eq!(
            (buf[(2, 0)].fg, buf[(2, 0)].bg),
            (Color::Green, Color::Yellow)
        );
        // Without colours the max is a shade.
        let mut buf = Buffer::empty(area);
        draw_columns(&cols, 100.0, area, &mut buf, false);
        assert_eq!(buf[(0, 0)].symbol(), MAX_SHADE);
    }
}
