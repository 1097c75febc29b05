use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use swarm_common::nats::LinkState;
use swarm_common::protocol::HistoryReply;

use super::draw;
use crate::app::App;
use crate::event::Event;
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
    for (series, base) in [("cpu_pct", 30.0), ("mem_pct", 88.0)] {
        let points = (0..120u64)
            .map(|i| {
                let v = base + ((i % 20) as f64 - 10.0).abs();
                (NOW - 3_600_000 + i * 30_000, v, v, v)
            })
            .collect();
        app.apply(Event::History {
            agent: id("db-1"),
            series: series.into(),
            result: Ok(HistoryReply {
                agent: id("db-1"),
                series: series.into(),
                step_ms: 30_000,
                points,
                percentiles: None,
                window: None,
            }),
        });
    }
    app
}

#[test]
fn hosts_view() {
    let app = connected();
    insta::assert_snapshot!("hosts_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("hosts_160x48", screen(&app, 160, 48));
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
    insta::assert_snapshot!("hosts_filter_80x24", screen(&app, 80, 24));
}

#[test]
fn host_view() {
    let app = with_history(connected());
    insta::assert_snapshot!("host_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("host_160x48", screen(&app, 160, 48));
}

#[test]
fn help_overlay() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!("help_80x24", screen(&app, 80, 24));
}

#[test]
fn disconnected_and_empty() {
    let mut app = App::new(NOW);
    app.apply(Event::Nats(LinkState::Down(
        "cannot reach NATS at nats://127.0.0.1:4222".into(),
    )));
    app.apply(Event::HubDown("no answer".into()));
    insta::assert_snapshot!("empty_disconnected_80x24", screen(&app, 80, 24));
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
    use swarm_common::protocol::{AgentRunState, Test, TestAgent, TestKind, TestStatus};
    let mut app = connected();
    let test = |id: &str, kind, target: &str, port, status, states: &[AgentRunState]| Test {
        id: id.into(),
        kind,
        target: target.into(),
        port,
        selectors: vec!["web-*".into()],
        interval_ms: 1_000,
        duration_ms: 30_000,
        start_at: NOW,
        repeat_every_ms: None,
        timeout_ms: 2_000,
        name: None,
        status,
        created: NOW,
        next_run: None,
        run_id: "r1".into(),
        runs: 1,
        until: None,
        agents: states
            .iter()
            .enumerate()
            .map(|(i, s)| TestAgent {
                agent: id_of(i),
                state: *s,
                error: None,
            })
            .collect(),
        error: None,
    };
    fn id_of(i: usize) -> swarm_common::AgentId {
        id(&format!("web-{i}"))
    }
    use AgentRunState::*;
    let tests = vec![
        test(
            "mwr1aaaa0001",
            TestKind::Ping,
            "10.0.0.5",
            None,
            TestStatus::Done,
            &[Done, Done],
        ),
        test(
            "mwr1aaaa0002",
            TestKind::Tcp,
            "db.internal",
            Some(5432),
            TestStatus::Running,
            &[Running, Failed, Unreachable],
        ),
    ];
    let mut commands = Vec::new();
    app.open_tests(&mut commands);
    app.apply(Event::Tests(tests));
    insta::assert_snapshot!("tests_80x24", screen(&app, 80, 24));
}
