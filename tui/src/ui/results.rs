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
    let [head, body] = Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(area);
    frame.render_widget(Paragraph::new(header(detail, app.now)), head);
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
    let fixed: [u16; 8] = [11, 5, 5, 6, 7, 7, 7, 7];
    let used = agent_width + fixed.iter().sum::<u16>() + fixed.len() as u16 + 1;
    let spark_width = body.width.saturating_sub(used).clamp(4, 60);
    let rows = agent_rows(detail, spark_width as usize);
    let traceroute = test.kind == TestKind::Traceroute && !detail.hops.is_empty();
    let table_height = if traceroute {
        (rows.len() as u16 + 1).min(body.height / 2)
    } else {
        body.height
    };
    let [table_area, hops_area] =
        Layout::vertical([Constraint::Length(table_height), Constraint::Min(0)]).areas(body);
    let header = Row::new([
        "AGENT", "STATE", "SENT", "RECV", "LOSS", "P50", "P95", "P99", "JITTER", "LATENCY",
    ])
    .style(theme::title());
    let mut widths = vec![Constraint::Length(agent_width)];
    widths.extend(fixed.map(Constraint::Length));
    widths.push(Constraint::Length(spark_width));
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

fn agent_rows(detail: &TestDetail, spark_width: usize) -> Vec<Row<'static>> {
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
            let state = match &a.error {
                Some(e) if a.state != AgentRunState::Running => {
                    format!("{}: {e}", a.state.as_str())
                }
                _ => a.state.as_str().to_owned(),
            };
            Row::new([
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
            ])
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
