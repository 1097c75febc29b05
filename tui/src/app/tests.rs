use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use swarm_common::protocol::{HistoryReply, HostStatus};

use super::*;
use crate::fixtures::{self, NOW, id};

fn key(app: &mut App, code: KeyCode) -> (bool, Vec<Command>) {
    app.apply(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn names(app: &App) -> Vec<&str> {
    app.visible().iter().map(|r| r.agent.as_str()).collect()
}

#[test]
fn hosts_appear_and_go_offline() {
    let app = fixtures::app();
    assert_eq!(names(&app), vec!["cache-1", "db-1", "web-1", "web-2"]);
    assert_eq!(app.counts(), (3, 1));
    let row = &app.hosts[&id("web-1")];
    assert_eq!(row.cpu_recent.len(), 12);
    assert_eq!(row.status(NOW), HostStatus::Online);
    assert_eq!(
        row.status(NOW + 15_001),
        HostStatus::Offline,
        "3 intervals of silence"
    );
}

#[test]
fn selection_moves_and_stays_in_bounds() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Up);
    assert_eq!(app.selected, 0);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Down);
    assert_eq!(app.selected_agent(), Some(id("web-1")));
    for _ in 0..10 {
        key(&mut app, KeyCode::Char('j'));
    }
    assert_eq!(app.selected_agent(), Some(id("web-2")));
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(app.selected, 0);
    key(&mut app, KeyCode::End);
    assert_eq!(app.selected, 3);
}

#[test]
fn filter_by_text_and_tag() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Char('/'));
    assert!(app.filter_editing);
    for c in "web".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    assert_eq!(names(&app), vec!["web-1", "web-2"]);
    key(&mut app, KeyCode::Enter);
    assert!(!app.filter_editing);
    // `q` typed in the filter is text, not quit.
    key(&mut app, KeyCode::Char('/'));
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Backspace);
    for c in "tag:dc1".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    assert_eq!(names(&app), vec!["db-1", "web-1"]);
    key(&mut app, KeyCode::Char('q'));
    assert!(!app.quit);
    assert_eq!(names(&app), Vec::<&str>::new());
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.filter, "");
    assert_eq!(names(&app).len(), 4);
}

#[test]
fn sort_cycles_through_columns_biggest_first() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(app.sort, SortColumn::Status);
    assert_eq!(names(&app).last(), Some(&"cache-1"), "offline last");
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(app.sort, SortColumn::Cpu);
    assert_eq!(names(&app), vec!["web-2", "db-1", "web-1", "cache-1"]);
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(names(&app)[0], "db-1", "memory");
    for _ in 0..SortColumn::ALL.len() - 3 {
        key(&mut app, KeyCode::Char('s'));
    }
    assert_eq!(app.sort, SortColumn::Name);
}

#[test]
fn enter_opens_host_and_asks_for_history_esc_returns() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Down);
    let (changed, commands) = key(&mut app, KeyCode::Enter);
    assert!(changed);
    assert_eq!(app.view, View::Host(id("db-1")));
    assert_eq!(
        commands,
        vec![
            Command::FetchHistory {
                agent: id("db-1"),
                series: "cpu_pct".into(),
                from: -DETAIL_WINDOW_MS
            },
            Command::FetchHistory {
                agent: id("db-1"),
                series: "mem_pct".into(),
                from: -DETAIL_WINDOW_MS
            },
        ]
    );
    let reply = HistoryReply {
        agent: id("db-1"),
        series: "cpu_pct".into(),
        step_ms: 0,
        points: vec![(NOW - 10_000, 1.0, 1.0, 1.0), (NOW - 5_000, 2.0, 2.0, 2.0)],
        percentiles: None,
        window: None,
    };
    app.apply(Event::History {
        agent: id("db-1"),
        series: "cpu_pct".into(),
        result: Ok(reply),
    });
    assert_eq!(app.charts["cpu_pct"].points.len(), 2);
    assert!(!app.charts["cpu_pct"].loading);
    // A live sample extends the chart.
    app.apply(Event::Metrics(Box::new(fixtures::sample(
        "db-1",
        NOW + 1,
        50.0,
        90.0,
        0.0,
    ))));
    assert_eq!(app.charts["cpu_pct"].points.last(), Some(&(NOW + 1, 50.0)));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Hosts);
}

#[test]
fn help_opens_and_any_key_closes_it_quit_quits() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    key(&mut app, KeyCode::Char('x'));
    assert!(!app.help);
    assert!(!app.quit);
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn connection_states_and_hub_inventory() {
    let mut app = App::new(NOW);
    let (_, commands) = app.apply(Event::Nats(LinkState::Connected));
    assert_eq!(commands, vec![Command::RefreshHosts]);
    app.apply(Event::HubDown("timeout".into()));
    assert_eq!(app.hub, HubLink::Down("timeout".into()));
    let summary = HostSummary {
        agent: id("old-1"),
        hostname: None,
        status: HostStatus::Offline,
        last_seen: Some(NOW - 100_000),
        tags: vec![],
        info: Some(fixtures::info("old-1", &[])),
        latest: Some(fixtures::sample("old-1", NOW - 100_000, 5.0, 5.0, 5.0)),
    };
    app.apply(Event::HubHosts(vec![summary]));
    assert_eq!(app.hub, HubLink::Ok);
    assert_eq!(app.hosts[&id("old-1")].status(NOW), HostStatus::Offline);
    assert_eq!(app.hosts[&id("old-1")].cpu(), Some(5.0));
}

#[test]
fn a_late_replayed_sample_does_not_replace_the_latest() {
    let mut app = fixtures::app();
    let before = app.hosts[&id("web-1")].latest.clone();
    app.apply(Event::Metrics(Box::new(fixtures::sample(
        "web-1", 1, 99.0, 1.0, 1.0,
    ))));
    assert_eq!(app.hosts[&id("web-1")].latest, before);
}

#[test]
fn t_opens_the_tests_view_and_the_clock_refreshes_it() {
    let mut app = fixtures::app();
    let (_, commands) = key(&mut app, KeyCode::Char('t'));
    assert_eq!(app.view, View::Tests);
    assert_eq!(commands, vec![Command::RefreshTests]);
    let (_, commands) = app.apply(Event::Tick(NOW + 1_000));
    assert_eq!(commands, vec![Command::RefreshTests]);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Hosts);
    let (_, commands) = app.apply(Event::Tick(NOW + 2_000));
    assert!(commands.is_empty(), "no polling outside the view");
}
