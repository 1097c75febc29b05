use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use swarm_common::nats::LinkState;
use swarm_common::protocol::fleet::{ConfigStatus, PluginStatus};
use swarm_common::protocol::{
    AgentRunState, ApiError, ErrorCode, HistoryReply, Test, TestKind, TestStatus,
};

use super::draw;
use crate::app::App;
use crate::event::{Event, HubFailure};
use crate::fixtures::{self, NOW, id};

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal.draw(|f| draw(f, app)).expect("draws");
    terminal.backend().to_string()
}

fn connected() -> App {
    let mut app = fixtures::app();
    app.apply(Event::Nats(LinkState::Connected));
    app.apply(Event::HubHosts(vec![]));
    app
}

fn press(app: &mut App, code: KeyCode) {
    app.apply(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn with_history(mut app: App) -> App {
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    let series = crate::app::detail_series(app.hosts.get(&id("db-1")));
    for (k, name) in series.iter().enumerate() {
        let base = 10.0 + k as f64 * 12.0;
        let points = (0..120u64)
            .map(|i| {
                let v = base + ((i % 20) as f64 - 10.0).abs();
                (NOW - 3_600_000 + i * 30_000, v, v, v)
            })
            .collect();
        app.apply(Event::History {
            agent: id("db-1"),
            series: name.clone(),
            from: -3_600_000,
            result: Ok(HistoryReply {
                agent: id("db-1"),
                series: name.clone(),
                step_ms: 30_000,
                points,
                percentiles: None,
                window: None,
            }),
        });
    }
    app.apply(Event::Tests(fixture_tests()));
    app
}

fn fixture_tests() -> Vec<Test> {
    use AgentRunState::*;
    // The hub lists oldest first; the console shows newest first.
    vec![
        fixtures::test(
            "mwr1aaaa0001",
            TestKind::Ping,
            "10.0.0.5",
            None,
            TestStatus::Done,
            &[("web-1", Done), ("db-1", Done)],
        ),
        fixtures::test(
            "mwr1aaaa0002",
            TestKind::Tcp,
            "db.internal",
            Some(5432),
            TestStatus::Running,
            &[
                ("web-1", Running),
                ("web-2", Failed),
                ("cache-1", Unreachable),
            ],
        ),
    ]
}

/// The sizes the console is checked at: the classic terminal, a wide
/// one, and a narrow one (a split pane).
fn snapshots(name: &str, app: &App) {
    insta::assert_snapshot!(format!("{name}_80x24"), screen(app, 80, 24));
    insta::assert_snapshot!(format!("{name}_160x48"), screen(app, 160, 48));
    insta::assert_snapshot!(format!("{name}_60x20"), screen(app, 60, 20));
}

#[test]
fn hosts_view() {
    snapshots("hosts", &connected());
}

#[test]
fn hosts_sorted_and_filtered() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('s'));
    press(&mut app, KeyCode::Char('s'));
    press(&mut app, KeyCode::Char('/'));
    for c in "tag:dc".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    snapshots("hosts_filter", &app);
}

#[test]
fn host_view() {
    snapshots("host", &with_history(connected()));
}

#[test]
fn host_detail_panels_and_the_key_that_hides_them() {
    let mut app = with_history(connected());
    let mut info = fixtures::info("db-1", &["role=db", "dc1"]);
    info.config_rev = Some(3);
    info.plugins = vec![
        PluginStatus {
            name: "pg_queue".into(),
            ok: true,
            error: None,
            last_run: Some(NOW),
            duration_ms: Some(40),
            metrics: Some(2),
        },
        PluginStatus {
            name: "raid".into(),
            ok: false,
            error: Some("exit status 3: mdadm not found".into()),
            last_run: Some(NOW),
            duration_ms: Some(5),
            metrics: Some(0),
        },
    ];
    app.apply(Event::Hello(Box::new(info)));
    app.apply(Event::ConfigStatus {
        agent: id("db-1"),
        status: Ok(Some(ConfigStatus {
            agent: id("db-1"),
            desired_rev: 4,
            applied_rev: 3,
            error: None,
            config: None,
        })),
    });
    let (_, commands) = app.apply(Event::Metrics(Box::new(fixtures::detail_sample(
        "db-1", NOW,
    ))));
    // The first full sample names the device and the interface: their
    // charts are asked for.
    assert!(commands.iter().any(|c| matches!(c, crate::event::Command::FetchHistory { series, .. } if series == "disk_io_busy_pct:nvme0n1")));
    // A sample without processes keeps the last ones on screen.
    let mut later = fixtures::detail_sample("db-1", NOW + 1_000);
    later.top = None;
    app.apply(Event::Metrics(Box::new(later)));
    insta::assert_snapshot!("host_detail_160x48", screen(&app, 160, 48));
    let shown = screen(&app, 160, 48);
    assert!(
        shown.contains("postgres")
            && shown.contains("nvme0n1")
            && shown.contains("rev 4 wanted, 3 in force")
    );
    press(&mut app, KeyCode::Char('d'));
    assert!(!screen(&app, 160, 48).contains("processes by cpu"));
}

#[test]
fn help_overlay() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('?'));
    snapshots("help", &app);
}

#[test]
fn disconnected_and_empty() {
    let mut app = App::new(NOW);
    app.apply(Event::Nats(LinkState::Down(
        "cannot reach NATS at nats://127.0.0.1:4222".into(),
    )));
    app.apply(Event::HubDown("no answer".into()));
    snapshots("empty_disconnected", &app);
}

#[test]
fn tiny_terminals_do_not_panic() {
    let app = with_history(connected());
    for (w, h) in [(1, 1), (20, 5), (40, 10), (79, 23), (300, 3)] {
        let _ = screen(&app, w, h);
    }
    let mut hosts = connected();
    press(&mut hosts, KeyCode::Char('?'));
    for (w, h) in [(1, 1), (20, 5), (40, 10)] {
        let _ = screen(&hosts, w, h);
    }
}

#[test]
fn tests_view() {
    let mut app = connected();
    let mut commands = Vec::new();
    app.open_tests(&mut commands);
    app.apply(Event::Tests(fixture_tests()));
    press(&mut app, KeyCode::Down);
    snapshots("tests", &app);
}

#[test]
fn cancel_asks_naming_the_test() {
    let mut app = connected();
    let mut commands = Vec::new();
    app.open_tests(&mut commands);
    app.apply(Event::Tests(fixture_tests()));
    press(&mut app, KeyCode::Char('x'));
    snapshots("tests_confirm_cancel", &app);
}

#[test]
fn ping_results_view() {
    let mut app = connected();
    let test = fixtures::test(
        "mwr1aaaa0003",
        TestKind::Ping,
        "10.0.0.5",
        None,
        TestStatus::Running,
        &[
            ("web-1", AgentRunState::Running),
            ("web-2", AgentRunState::Running),
            ("cache-1", AgentRunState::Unreachable),
        ],
    );
    let mut commands = Vec::new();
    app.open_test_results(test.id.to_string(), &mut commands);
    let mut results = fixtures::ping_results(&test, "web-1", 30, 0.4, false);
    results.extend(fixtures::ping_results(&test, "web-2", 30, 12.0, true));
    app.apply(Event::TestUpdate {
        id: test.id.to_string(),
        test: Ok(test),
        summary: Some(vec![
            fixtures::summary("web-1", 30, 30, 0.52),
            fixtures::summary("web-2", 30, 24, 14.1),
        ]),
        results,
    });
    snapshots("results_ping", &app);
}

#[test]
fn traceroute_results_view() {
    let mut app = connected();
    let test = fixtures::test(
        "mwr1aaaa0004",
        TestKind::Traceroute,
        "10.77.2.2",
        None,
        TestStatus::Running,
        &[("web-1", AgentRunState::Running)],
    );
    let mut commands = Vec::new();
    app.open_test_results(test.id.to_string(), &mut commands);
    let results = vec![fixtures::trace_result(&test, "web-1")];
    app.apply(Event::TestUpdate {
        id: test.id.to_string(),
        test: Ok(test),
        summary: Some(vec![fixtures::summary("web-1", 1, 1, 0.072)]),
        results,
    });
    snapshots("results_traceroute", &app);
}

#[test]
fn test_form_with_marked_hosts_and_a_field_error() {
    let mut app = connected();
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Char('p'));
    snapshots("form_new", &app);
    // tcp without a port: the error sits on the port field.
    if let Some(form) = app.form_mut() {
        form.focus = crate::app::Field::Kind;
    }
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Tab);
    for c in "10.0.0.5".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    snapshots("form_error", &app);
}

#[test]
fn ascii_and_no_colour() {
    let mut app = connected();
    app.look = crate::app::Look {
        color: false,
        unicode: false,
    };
    snapshots("hosts_ascii", &app);
    let mut host = with_history(connected());
    host.look = app.look;
    insta::assert_snapshot!("host_ascii_80x24", screen(&host, 80, 24));
}

fn alert(
    agent: &str,
    rule: &str,
    state: swarm_common::protocol::alerts::AlertState,
) -> swarm_common::protocol::alerts::Alert {
    use swarm_common::protocol::alerts::{Alert, Severity};
    Alert {
        rule: rule.into(),
        agent: agent.into(),
        state,
        severity: Severity::Critical,
        value: 97.5,
        threshold: 90.0,
        since: NOW - 300_000,
        ts: NOW - 5_000,
        silenced: false,
        acked: None,
        summary: None,
        fired_at: None,
        recovering_since: None,
    }
}

#[test]
fn alerts_view_silences_and_acks_the_selected_alert_in_few_keys() {
    use crate::event::Command;
    use swarm_common::protocol::alerts::{Ack, AlertState::*};
    let mut app = connected();
    let mut commands = Vec::new();
    app.open_alerts(&mut commands);
    assert_eq!(commands, [Command::RefreshAlerts]);
    let mut acked = alert("web-2", "disk-full", Pending);
    acked.acked = Some(Ack {
        by: "ana".into(),
        ts: NOW,
        comment: Some("on it".into()),
    });
    acked.silenced = true;
    app.apply(Event::Alerts(Ok(vec![
        alert("db-1", "cpu-high", Firing),
        acked.clone(),
    ])));
    press(&mut app, KeyCode::Down);
    snapshots("alerts", &app);
    // A new alert listed first keeps the selection on the same alert.
    app.apply(Event::Alerts(Ok(vec![
        alert("web-1", "cpu-high", Firing),
        alert("db-1", "cpu-high", Firing),
        acked,
    ])));
    assert_eq!(
        app.alerts.selected().map(|a| a.agent.as_str()),
        Some("web-2")
    );
    assert_eq!(app.alerts.firing(), 2);
    // s, then 4: silence web-2 for four hours. The choice is shown
    // before the second key.
    press(&mut app, KeyCode::Char('s'));
    snapshots("alerts_silence_dialog", &app);
    let (_, commands) = app.apply(Event::Key(KeyEvent::new(
        KeyCode::Char('4'),
        KeyModifiers::NONE,
    )));
    assert_eq!(
        commands,
        [Command::SilenceHost {
            agent: "web-2".into(),
            for_ms: 4 * 3_600_000
        }]
    );
    // c, a comment, Enter: acknowledged.
    press(&mut app, KeyCode::Char('c'));
    for ch in "disk swap".chars() {
        press(&mut app, KeyCode::Char(ch));
    }
    let (_, commands) = app.apply(Event::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    assert_eq!(
        commands,
        [Command::AckAlert {
            agent: "web-2".into(),
            rule: "disk-full".into(),
            comment: Some("disk swap".into())
        }]
    );
    // Enter opens the host; the host view lists its alerts.
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, crate::app::View::Host(id("web-2")));
    assert!(screen(&app, 160, 48).contains("pending disk-full"));
}

#[test]
fn a_week_chart_shows_each_hours_peak_not_only_its_average() {
    let mut app = connected();
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('5'));
    let hour = 3_600_000;
    for name in crate::app::detail_series(app.hosts.get(&id("db-1"))) {
        // Hourly rollups averaging about 24 %, one hour with a spike to 99 %.
        let points = (0..168u64)
            .map(|i| {
                let avg = 20.0 + (i % 9) as f64;
                let max = if i == 100 { 99.0 } else { avg + 6.0 };
                (NOW - 604_800_000 + i * hour, avg - 10.0, avg, max)
            })
            .collect();
        app.apply(Event::History {
            agent: id("db-1"),
            series: name.clone(),
            from: -604_800_000,
            result: Ok(HistoryReply {
                agent: id("db-1"),
                series: name,
                step_ms: hour,
                points,
                percentiles: None,
                window: None,
            }),
        });
    }
    let shown = screen(&app, 80, 24);
    assert!(shown.contains("cpu_pct 25% max 99%"), "{shown}");
    assert!(shown.contains("per 1h: █ avg █ max"), "{shown}");
    snapshots("host_7d", &app);
}

#[test]
fn a_failed_agents_reason_is_shown_whole() {
    let mut app = connected();
    let mut test = fixture_tests().remove(1);
    if let Some(agent) = test.agents.get_mut(1) {
        agent.error = Some(
            "connect to db.internal:5432 (10.9.8.7): Connection refused (os error 111)".into(),
        );
    }
    let mut commands = Vec::new();
    app.open_test_results(test.id.to_string(), &mut commands);
    app.apply(Event::TestUpdate {
        id: test.id.to_string(),
        test: Ok(test),
        summary: Some(vec![fixtures::summary("web-1", 10, 10, 0.52)]),
        results: Vec::new(),
    });
    let shown = screen(&app, 80, 24);
    assert!(
        shown.contains("Connection refused (os") && shown.contains("error 111)"),
        "{shown}"
    );
    snapshots("results_failed", &app);
}

#[test]
fn a_long_status_message_wraps_instead_of_being_cut() {
    let mut app = connected();
    app.notice = Some(
        "cannot create the test: agents: no online agent matches tag:role=web-frontend, \
         tag:dc=fra1, db-primary-* (3 selectors)"
            .into(),
    );
    let shown = screen(&app, 80, 24);
    assert!(shown.contains("(3 selectors)"), "{shown}");
    snapshots("status_long", &app);
}

#[test]
fn a_long_refusal_stays_inside_the_form() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('p'));
    for c in "10.0.0.5".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    app.apply(Event::TestCreated(Err(HubFailure::Refused(ApiError::new(
        ErrorCode::BadRequest,
        "interval_ms: must be 100..=3600000 (an interval from 100ms to 1h); \
         the hub refused 50ms for a ping test",
    )))));
    let shown = screen(&app, 80, 24);
    assert!(shown.contains("ping test"), "{shown}");
    snapshots("form_refused", &app);
}
