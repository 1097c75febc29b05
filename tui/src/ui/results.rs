//! One test's live results: the test, then one row per agent (state,
//! sent, received, loss, percentiles, jitter, a latency sparkline), and for
//! traceroute each agent's latest hop table.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use swarm_common::protocol::{AgentRunState, AgentSummary, TestKind, TestStatus};

use super::{spark_text, theme};
use crate::app::{App, TestDetail};
use crate::format;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(detail) = &app.detail else {
        return;
    };
    // The test's line wraps rather than losing its end (the timing, a
    // failed test's error) on a narrow terminal.
    let head_lines: Vec<Line> = header(detail, app.now)
        .iter()
        .flat_map(|l| super::wrap::wrap(l, usize::from(area.width), 2))
        .collect();
    let head_height = (head_lines.len() as u16).min((area.height / 3).max(2));
    let [head, body] =
        Layout::vertical([Constraint::Length(head_height), Constraint::Min(0)]).areas(area);
    frame.render_widget(Paragraph::new(head_lines), head);
    let Some(test) = &detail.test else {
        let text = detail.error.as_deref().unwrap_or("loading…");
        frame.render_widget(Paragraph::new(Line::styled(text, theme::dim())), body);
        return;
    };
    // The agent column as wide as the longest id; the sparkline takes
    // what is left.
    let agent_width = test
        .agents
        .iter()
        .map(|a| a.agent.as_str().len())
        .max()
        .unwrap_or(5)
        .clamp(5, 32) as u16;
    let fixed: [u16; 8] = [12, 5, 5, 6, 7, 7, 7, 7];
    let keep = kept_columns(agent_width, &fixed, body.width);
    let used: u16 = agent_width
        + fixed
            .iter()
            .zip(&keep[1..])
            .filter(|(_, k)| **k)
            .map(|(w, _)| w + 1)
            .sum::<u16>()
        + 1;
    let spark_width = body.width.saturating_sub(used).clamp(4, 60);
    let rows = agent_rows(detail, spark_width as usize, &keep);
    let traceroute = test.kind == TestKind::Traceroute && !detail.hops.is_empty();
    // Why agents failed, whole, under the table: a reason cut to the
    // state column (`failed: can`) says nothing.
    let reasons: Vec<Line> = reasons(test)
        .iter()
        .flat_map(|l| super::wrap::wrap(l, usize::from(body.width), 4))
        .collect();
    let reasons_height = (reasons.len() as u16).min(body.height / 2);
    let table_height = (rows.len() as u16 + 1).min(body.height.saturating_sub(reasons_height));
    let table_height = if traceroute {
        table_height.min(body.height / 2)
    } else {
        table_height
    };
    let [table_area, reasons_area, hops_area] = Layout::vertical([
        Constraint::Length(table_height),
        Constraint::Length(reasons_height),
        Constraint::Min(0),
    ])
    .areas(body);
    frame.render_widget(Paragraph::new(reasons), reasons_area);
    let titles = [
        "AGENT", "STATE", "SENT", "RECV", "LOSS", "P50", "P95", "P99", "JITTER", "LATENCY",
    ];
    let header = Row::new(only(titles, &keep)).style(theme::title());
    let mut widths = vec![Constraint::Length(agent_width)];
    widths.extend(fixed.map(Constraint::Length));
    widths.push(Constraint::Length(spark_width));
    let widths = only(widths, &keep);
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        table_area,
    );
    if traceroute {
        frame.render_widget(hop_tables(detail, hops_area.height as usize), hops_area);
    }
}

fn header(detail: &TestDetail, now: u64) -> Vec<Line<'static>> {
    let Some(test) = &detail.test else {
        return vec![Line::styled(format!(" test {}", detail.id), theme::title())];
    };
    let status_style = match test.status {
        TestStatus::Running => theme::good(),
        TestStatus::Failed => theme::bad(),
        TestStatus::Scheduled => theme::warn(),
        TestStatus::Done | TestStatus::Cancelled => theme::dim(),
    };
    let timing = match (test.status, test.until, test.next_run) {
        (TestStatus::Running, Some(until), _) => {
            format!(
                "ends in {}",
                format::age_s(until.saturating_sub(now) / 1000)
            )
        }
        (_, _, Some(next)) => format!(
            "next run in {}",
            format::age_s(next.saturating_sub(now) / 1000)
        ),
        _ => String::new(),
    };
    let mut first = vec![
        Span::styled(format!(" {} ", test.id), theme::title()),
        Span::raw(format!("{} {} ", test.kind.as_str(), format::target(test))),
        Span::styled(test.status.as_str(), status_style),
        Span::styled(
            format!(
                "  every {} ms  run {}  {timing}",
                test.interval_ms, test.runs
            ),
            theme::dim(),
        ),
    ];
    if let Some(error) = test.error.as_ref().or(detail.error.as_ref()) {
        first.push(Span::styled(format!("  {error}"), theme::bad()));
    }
    vec![
        Line::from(first),
        Line::styled(
            format!(" agents: {}", test.selectors.join(" ")),
            theme::dim(),
        ),
    ]
}

/// Which of the ten columns fit in `width`, taken in order of worth: the
/// agent and its state whole (an id cut short cannot be pasted), then
/// loss and p50, sent and received, the tail percentiles, jitter, and the
/// sparkline last.
fn kept_columns(agent_width: u16, fixed: &[u16; 8], width: u16) -> [bool; 10] {
    const WORTH: [usize; 10] = [0, 1, 4, 5, 2, 3, 6, 7, 8, 9];
    let widths: Vec<u16> = std::iter::once(agent_width)
        .chain(fixed.iter().copied())
        .chain(std::iter::once(4))
        .collect();
    let mut keep = [false; 10];
    let mut used = 0u16;
    for i in WORTH {
        let w = widths[i] + u16::from(used > 0);
        if i < 2 || used + w <= width {
            keep[i] = true;
            used += w;
        }
    }
    keep
}

fn only<T>(items: impl IntoIterator<Item = T>, keep: &[bool]) -> Vec<T> {
    items
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(item, _)| item)
        .collect()
}

fn agent_rows(detail: &TestDetail, spark_width: usize, keep: &[bool]) -> Vec<Row<'static>> {
    let Some(test) = &detail.test else {
        return Vec::new();
    };
    test.agents
        .iter()
        .map(|a| {
            let summary: Option<&AgentSummary> = detail.summary.iter().find(|s| s.agent == a.agent);
            let state_style = match a.state {
                AgentRunState::Running => theme::good(),
                AgentRunState::Failed | AgentRunState::Unreachable => theme::bad(),
                AgentRunState::Pending => theme::warn(),
                AgentRunState::Done => theme::dim(),
            };
            let loss = summary.map(|s| s.loss_pct);
            let loss_style = match loss {
                Some(l) if l >= 10.0 => theme::bad(),
                Some(l) if l > 0.0 => theme::warn(),
                _ => theme::dim(),
            };
            let recent = detail.recent.get(&a.agent);
            let spark = recent
                .map(|r| spark_text(r.iter().copied(), spark_width, None))
                .unwrap_or_default();
            // `*`: the reason is under the table.
            let state = match &a.error {
                Some(_) if a.state != AgentRunState::Running => format!("{}*", a.state.as_str()),
                _ => a.state.as_str().to_owned(),
            };
            Row::new(only(
                [
                    Cell::from(a.agent.to_string()),
                    Cell::from(state).style(state_style),
                    Cell::from(summary.map_or("-".into(), |s| s.sent.to_string())),
                    Cell::from(summary.map_or("-".into(), |s| s.received.to_string())),
                    Cell::from(loss.map_or("-".into(), |l| format!("{l:.1}%"))).style(loss_style),
                    Cell::from(format::latency(summary.and_then(|s| s.rtt_p50))),
                    Cell::from(format::latency(summary.and_then(|s| s.rtt_p95))),
                    Cell::from(format::latency(summary.and_then(|s| s.rtt_p99))),
                    Cell::from(format::latency(summary.and_then(|s| s.jitter_ms))),
                    Cell::from(spark).style(theme::good()),
                ],
                keep,
            ))
        })
        .collect()
}

/// `* web-2 failed: cannot resolve "db.internal"`: one line per agent
/// that stopped with a reason, for wrapping.
fn reasons(test: &swarm_common::protocol::Test) -> Vec<Line<'static>> {
    test.agents
        .iter()
        .filter(|a| a.state != AgentRunState::Running)
        .filter_map(|a| {
            let error = a.error.as_ref()?;
            Some(Line::from(vec![
                Span::styled(
                    format!(" * {} {}: ", a.agent, a.state.as_str()),
                    theme::bad(),
                ),
                Span::raw(error.clone()),
            ]))
        })
        .collect()
}

/// Each agent's latest route: hop, address, RTTs, loss.
fn hop_tables(detail: &TestDetail, height: usize) -> Paragraph<'static> {
    let mut lines = Vec::new();
    for (agent, hops) in &detail.hops {
        lines.push(Line::styled(format!(" {agent}"), theme::title()));
        for hop in hops {
            let rtts: Vec<String> = hop
                .rtt_ms
                .iter()
                .map(|v| format::latency(Some(*v)))
                .collect();
            let addr = hop.host.as_deref().or(hop.addr.as_deref()).unwrap_or("*");
            let style = if hop.loss_pct >= 100.0 {
                theme::dim()
            } else {
                ratatui::style::Style::new()
            };
            lines.push(Line::styled(
                format!(
                    "  {:>2}  {addr:<28} {:<24} loss {:.0}%",
                    hop.ttl,
                    rtts.join(" "),
                    hop.loss_pct
                ),
                style,
            ));
        }
        if lines.len() >= height {
            break;
        }
    }
    Paragraph::new(lines)
}
