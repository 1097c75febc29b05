use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use swarm_common::protocol::{ApiError, ErrorCode, HistoryReply, HostStatus, TestKind};

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
    assert_eq!(app.table.selected, 0);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Down);
    assert_eq!(app.selected_agent(), Some(id("web-1")));
    for _ in 0..10 {
        key(&mut app, KeyCode::Char('j'));
    }
    assert_eq!(app.selected_agent(), Some(id("web-2")));
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(app.table.selected, 0);
    key(&mut app, KeyCode::End);
    assert_eq!(app.table.selected, 3);
}

#[test]
fn filter_by_text_and_tag() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Char('/'));
    assert!(app.filter_editing());
    for c in "web".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    assert_eq!(names(&app), vec!["web-1", "web-2"]);
    key(&mut app, KeyCode::Enter);
    assert!(!app.filter_editing());
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
    assert_eq!(app.table.filter, "");
    assert_eq!(names(&app).len(), 4);
}

#[test]
fn sort_cycles_through_columns_biggest_first() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(app.table.sort, SortColumn::Status);
    assert_eq!(names(&app).last(), Some(&"cache-1"), "offline last");
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(app.table.sort, SortColumn::Cpu);
    assert_eq!(names(&app), vec!["web-2", "db-1", "web-1", "cache-1"]);
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(names(&app)[0], "db-1", "memory");
    for _ in 0..SortColumn::ALL.len() - 3 {
        key(&mut app, KeyCode::Char('s'));
    }
    assert_eq!(app.table.sort, SortColumn::Name);
}

#[test]
fn enter_opens_host_and_asks_for_history_esc_returns() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Down);
    let (changed, commands) = key(&mut app, KeyCode::Enter);
    assert!(changed);
    assert_eq!(app.view, View::Host(id("db-1")));
    let asked: Vec<&str> = commands
        .iter()
        .filter_map(|c| match c {
            Command::FetchHistory {
                agent,
                series,
                from: -3_600_000,
            } if agent == &id("db-1") => Some(series.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        asked,
        [
            "cpu_pct",
            "mem_pct",
            "swap_pct",
            "load1",
            "net_rx_bps",
            "net_tx_bps",
            "disk_pct:/"
        ]
    );
    assert!(commands.contains(&Command::RefreshTests), "{commands:?}");
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
        from: -3_600_000,
        result: Ok(reply.clone()),
    });
    assert_eq!(app.host.charts["cpu_pct"].points.len(), 2);
    assert!(!app.host.charts["cpu_pct"].loading);
    // A live sample extends the chart.
    app.apply(Event::Metrics(Box::new(fixtures::sample(
        "db-1",
        NOW + 1,
        50.0,
        90.0,
        0.0,
    ))));
    assert_eq!(
        app.host.charts["cpu_pct"].points.last(),
        Some(&(NOW + 1, 50.0, 50.0, 50.0))
    );
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Hosts);
}

#[test]
fn help_opens_and_any_key_closes_it_quit_quits() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Char('?'));
    assert!(app.help_open());
    key(&mut app, KeyCode::Char('x'));
    assert!(!app.help_open());
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
        agent_tags: vec![],
        hub_tags: vec![],
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

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

#[test]
fn a_ping_from_a_tag_is_a_few_keystrokes() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "tag:role=web");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('p'));
    let form = app.form().expect("form open");
    assert_eq!(form.text(Field::Agents), "tag:role=web");
    assert_eq!(form.focus, Field::Target);
    assert_eq!(app.matching_online(&form.selectors()), 2);
    type_text(&mut app, "10.0.0.5");
    let (_, commands) = key(&mut app, KeyCode::Enter);
    let [Command::CreateTest(spec)] = commands.as_slice() else {
        panic!("one create: {commands:?}");
    };
    assert_eq!(spec.kind, TestKind::Ping);
    assert_eq!(spec.target, "10.0.0.5");
    assert_eq!(spec.agents, ["tag:role=web"]);
    assert_eq!((spec.interval_ms, spec.start_at), (None, None));
    assert!(app.form().is_some_and(|f| f.submitting));

    // The hub's answer opens the live results and polls them each second.
    let test = fixtures::test(
        "t1",
        TestKind::Ping,
        "10.0.0.5",
        None,
        swarm_common::protocol::TestStatus::Running,
        &[("web-1", swarm_common::protocol::AgentRunState::Running)],
    );
    let (_, commands) = app.apply(Event::TestCreated(Ok(test.clone())));
    assert!(app.form().is_none());
    assert_eq!(app.view, View::TestResults("t1".into()));
    assert_eq!(
        commands,
        [Command::FetchTestDetail {
            id: "t1".into(),
            since: 0
        }]
    );
    // No second poll while one is under way; the next after its answer.
    let (_, commands) = app.apply(Event::Tick(NOW + 1_000));
    assert!(commands.is_empty());
    let results = fixtures::ping_results(&test, "web-1", 3, 1.0, false);
    let last_ts = results.last().map(|r| r.ts).unwrap_or_default();
    app.apply(Event::TestUpdate {
        id: "t1".into(),
        test: Ok(test.clone()),
        summary: None,
        results: results.clone(),
    });
    let (_, commands) = app.apply(Event::Tick(NOW + 2_000));
    assert_eq!(
        commands,
        [Command::FetchTestDetail {
            id: "t1".into(),
            since: last_ts
        }]
    );
    // Asking again from `since` counts nothing twice.
    app.apply(Event::TestUpdate {
        id: "t1".into(),
        test: Ok(test),
        summary: None,
        results,
    });
    let detail = app.detail.as_ref().expect("detail");
    assert_eq!(detail.recent[&id("web-1")].len(), 3);
    // x names the test and waits for y; another key keeps it.
    let (_, commands) = key(&mut app, KeyCode::Char('x'));
    assert!(commands.is_empty());
    assert!(
        app.notice
            .as_deref()
            .is_some_and(|n| n.contains("cancel test t1 (ping")),
        "{:?}",
        app.notice
    );
    let (_, commands) = key(&mut app, KeyCode::Char('n'));
    assert!(commands.is_empty(), "not cancelled");
    key(&mut app, KeyCode::Char('x'));
    let (_, commands) = key(&mut app, KeyCode::Char('y'));
    assert_eq!(commands, [Command::CancelTest("t1".into())]);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Tests);
}

#[test]
fn form_validation_lands_on_the_field() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Char('n'));
    // Nothing typed: the target is missing.
    let (_, commands) = key(&mut app, KeyCode::Enter);
    assert!(commands.is_empty());
    let form = app.form().expect("form");
    assert_eq!(form.focus, Field::Target);
    assert!(form.error_for(Field::Target).is_some());
    // tcp needs a port; a bad interval is named.
    key(&mut app, KeyCode::BackTab);
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "db.internal");
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "99999");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    type_text(&mut app, "soon");
    key(&mut app, KeyCode::Enter);
    let form = app.form().expect("form");
    assert_eq!(form.kind, TestKind::Tcp);
    assert_eq!(form.focus, Field::Port, "the first error gets the focus");
    assert!(form.error_for(Field::Interval).is_some());
    // Fixing the port clears its error; the hub's refusal lands on the
    // field it names.
    for _ in 0..5 {
        key(&mut app, KeyCode::Backspace);
    }
    type_text(&mut app, "5432");
    assert!(app.form().expect("form").error_for(Field::Port).is_none());
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    for _ in 0..4 {
        key(&mut app, KeyCode::Backspace);
    }
    type_text(&mut app, "50ms");
    let (_, commands) = key(&mut app, KeyCode::Enter);
    assert!(matches!(commands.as_slice(), [Command::CreateTest(_)]));
    app.apply(Event::TestCreated(Err(HubFailure::Refused(ApiError::new(
        ErrorCode::BadRequest,
        "interval_ms: must be 100..=3600000",
    )))));
    let form = app.form().expect("form stays open");
    assert!(!form.submitting);
    assert_eq!(form.focus, Field::Interval);
    assert_eq!(
        form.error_for(Field::Interval),
        Some("interval_ms: must be 100..=3600000")
    );
    key(&mut app, KeyCode::Esc);
    assert!(app.form().is_none());
}

#[test]
fn marks_and_chart_windows() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(app.table.marked.len(), 2);
    assert_eq!(app.table.selected, 2, "space marks and moves down");
    key(&mut app, KeyCode::Char('p'));
    assert_eq!(
        app.form().map(|f| f.text(Field::Agents).to_owned()),
        Some("cache-1 db-1".into())
    );
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Esc);
    assert!(app.table.marked.is_empty(), "Esc clears the marks");

    key(&mut app, KeyCode::Enter);
    let (_, commands) = key(&mut app, KeyCode::Char('4'));
    assert_eq!(app.window_label(), "24h");
    assert!(commands.iter().all(|c| match c {
        Command::FetchHistory { from, .. } => *from == -86_400_000,
        _ => true,
    }));
    // An answer for the window left behind is dropped.
    let stale = HistoryReply {
        agent: id("web-1"),
        series: "cpu_pct".into(),
        step_ms: 0,
        points: vec![(NOW, 1.0, 1.0, 1.0)],
        percentiles: None,
        window: None,
    };
    let agent = app.selected_agent().expect("selected");
    let (changed, _) = app.apply(Event::History {
        agent,
        series: "cpu_pct".into(),
        from: -3_600_000,
        result: Ok(stale),
    });
    assert!(!changed);
    let (changed, _) = key(&mut app, KeyCode::Char('4'));
    assert!(!changed, "same window: nothing to fetch");
}

#[test]
fn a_silent_hub_is_asked_again_soon() {
    let mut app = fixtures::app();
    app.apply(Event::HubDown("no responders".into()));
    let asked = (0..4u64)
        .filter(|s| {
            let (_, commands) = app.apply(Event::Tick(NOW + s * 1_000));
            commands.contains(&Command::RefreshHosts)
        })
        .count();
    assert_eq!(asked, 2, "every 2 s while it is down");
    app.apply(Event::HubHosts(Vec::new()));
    let (_, commands) = app.apply(Event::Tick(NOW + 10_000));
    assert!(!commands.contains(&Command::RefreshHosts));
}

#[test]
fn the_command_line_runs_the_same_actions() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "ping 10.0.0.5 tag:role=web web-1");
    assert_eq!(app.command_line(), Some("ping 10.0.0.5 tag:role=web web-1"));
    let (_, commands) = key(&mut app, KeyCode::Enter);
    assert!(app.command_line().is_none());
    let [Command::CreateTest(spec)] = commands.as_slice() else {
        panic!("{commands:?}");
    };
    assert_eq!(spec.kind, TestKind::Ping);
    assert_eq!(spec.agents, ["tag:role=web", "web-1"]);

    key(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "tcp db.internal 5432");
    let (_, commands) = key(&mut app, KeyCode::Enter);
    let [Command::CreateTest(spec)] = commands.as_slice() else {
        panic!("{commands:?}");
    };
    assert_eq!((spec.kind, spec.port), (TestKind::Tcp, Some(5432)));
    assert_eq!(spec.agents, ["cache-1"], "the host under the cursor");

    key(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "host db-1");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Host(id("db-1")));
    key(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "window 7d");
    let (_, commands) = key(&mut app, KeyCode::Enter);
    assert_eq!(app.window_label(), "7d");
    assert!(commands.contains(&Command::FetchHistory {
        agent: id("db-1"),
        series: "cpu_pct".into(),
        from: -604_800_000
    }));

    // Mistakes are said, nothing runs.
    for bad in ["tcp db.internal", "host nobody", "window 2w", "frobnicate"] {
        key(&mut app, KeyCode::Char(':'));
        type_text(&mut app, bad);
        let (_, commands) = key(&mut app, KeyCode::Enter);
        assert!(commands.is_empty(), "{bad}");
        assert!(app.notice.is_some(), "{bad}");
    }
    key(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "q");
    key(&mut app, KeyCode::Enter);
    assert!(app.quit);
}

#[test]
fn the_selection_follows_its_host_when_a_sort_by_cpu_reorders_rows() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(app.table.sort, SortColumn::Cpu);
    key(&mut app, KeyCode::Down);
    let chosen = app.selected_agent().expect("a host");
    // Every other host becomes busier: the chosen one sinks to the bottom.
    for name in ["cache-1", "db-1", "web-1", "web-2"] {
        if name != chosen.as_str() {
            app.apply(Event::Metrics(Box::new(fixtures::sample(
                name,
                NOW + 1_000,
                99.0,
                10.0,
                1.0,
            ))));
        }
    }
    app.apply(Event::Metrics(Box::new(fixtures::sample(
        chosen.as_str(),
        NOW + 1_000,
        0.5,
        10.0,
        1.0,
    ))));
    assert_eq!(names(&app).last().copied(), Some(chosen.as_str()));
    // No frame drawn since the rows moved (updates are drawn at most 5
    // times a second, a key at once): Enter still acts on the chosen host.
    let (_, commands) = key(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Host(chosen));
    assert!(!commands.is_empty());
}

#[test]
fn hub_tags_go_to_the_marked_hosts_or_the_chosen_one() {
    let mut app = fixtures::app();
    // The cursor's host when nothing is marked.
    key(&mut app, KeyCode::Char('T'));
    for c in "+rack=3".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    let (_, commands) = key(&mut app, KeyCode::Enter);
    assert_eq!(
        commands,
        vec![Command::EditTags {
            agents: vec![id("cache-1")],
            add: vec!["rack=3".into()],
            remove: vec![],
        }]
    );
    // Marked hosts otherwise; a bare tag adds, -tag removes.
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char('T'));
    for c in "dc2 -dc1".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    let (_, commands) = key(&mut app, KeyCode::Enter);
    let Some(Command::EditTags {
        agents,
        add,
        remove,
    }) = commands.first()
    else {
        panic!("{commands:?}");
    };
    assert_eq!(agents.len(), 2);
    assert_eq!(
        (add.as_slice(), remove.as_slice()),
        (&["dc2".to_owned()][..], &["dc1".to_owned()][..])
    );
    // A tag over 128 bytes is refused on the spot.
    key(&mut app, KeyCode::Char(':'));
    for c in format!("tag {}", "x".repeat(129)).chars() {
        key(&mut app, KeyCode::Char(c));
    }
    let (_, commands) = key(&mut app, KeyCode::Enter);
    assert!(commands.is_empty());
    assert!(app.notice.as_deref().is_some_and(|n| n.contains("tag")));
}

#[test]
fn forgotten_hosts_leave_the_console() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Char(':'));
    for c in "forget".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    let (_, commands) = key(&mut app, KeyCode::Enter);
    assert_eq!(
        commands,
        vec![Command::ForgetHosts {
            agents: vec![id("cache-1")],
            purge: false
        }]
    );
    app.apply(Event::HostsForgotten {
        forgotten: vec![id("cache-1")],
        failed: Some("1 not forgotten; web-1: conflict".into()),
    });
    assert_eq!(names(&app), vec!["db-1", "web-1", "web-2"]);
    assert!(
        app.notice
            .as_deref()
            .is_some_and(|n| n.contains("conflict"))
    );
}

#[test]
fn a_new_test_says_how_many_agents_it_starts_on() {
    let mut app = fixtures::app();
    // The hub lists a new test's agents only once its run starts.
    let mut test = fixtures::test(
        "t2",
        TestKind::Ping,
        "10.0.0.5",
        None,
        swarm_common::protocol::TestStatus::Scheduled,
        &[],
    );
    test.selectors = vec!["tag:role=web".into()];
    app.apply(Event::TestCreated(Ok(test)));
    assert_eq!(
        app.notice.as_deref(),
        Some("test t2 created: starting on 2 online agents")
    );
}

#[test]
fn a_live_sample_the_hub_would_refuse_is_not_shown() {
    let mut app = fixtures::app();
    let before = app.hosts[&id("web-1")].cpu();
    let (changed, _) = app.apply(Event::Metrics(Box::new(fixtures::sample(
        "web-1", NOW, -5.0, 40.0, 1.0,
    ))));
    assert!(!changed);
    assert_eq!(app.hosts[&id("web-1")].cpu(), before);
    let (changed, _) = app.apply(Event::Metrics(Box::new(fixtures::sample(
        "web-1", NOW, 55.0, 40.0, 1.0,
    ))));
    assert!(changed);
    assert_eq!(app.hosts[&id("web-1")].cpu(), Some(55.0));
}

fn history_asked(commands: &[Command]) -> Vec<&str> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::FetchHistory { series, .. } => Some(series.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn opened_on_a_host_not_seen_yet_every_chart_is_asked_for_when_it_is_known() {
    // `swarm-tui --host db-9`: nothing known of db-9 at start.
    let mut app = App::new(NOW);
    let mut commands = Vec::new();
    app.open_host(id("db-9"), &mut commands);
    assert!(!history_asked(&commands).contains(&"disk_pct:/"));
    // The hub's inventory names its disks: their charts are asked for at
    // once, not at the host's next sample.
    let summary = HostSummary {
        agent: id("db-9"),
        hostname: None,
        status: HostStatus::Online,
        last_seen: Some(NOW),
        tags: vec![],
        agent_tags: vec![],
        hub_tags: vec![],
        info: Some(fixtures::info("db-9", &[])),
        latest: Some(fixtures::sample("db-9", NOW, 5.0, 5.0, 5.0)),
    };
    let (_, commands) = app.apply(Event::HubHosts(vec![summary]));
    assert_eq!(history_asked(&commands), ["disk_pct:/"]);
}

#[test]
fn charts_and_lists_in_error_are_asked_again_when_the_link_is_back() {
    let mut app = fixtures::app();
    app.apply(Event::Nats(LinkState::Connected));
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    for (series, result) in [
        (
            "cpu_pct",
            Err(HubFailure::Unreachable("no responders".into())),
        ),
        (
            "mem_pct",
            Ok(HistoryReply {
                agent: id("db-1"),
                series: "mem_pct".into(),
                step_ms: 0,
                points: vec![(NOW, 1.0, 1.0, 1.0)],
                percentiles: None,
                window: None,
            }),
        ),
    ] {
        app.apply(Event::History {
            agent: id("db-1"),
            series: series.into(),
            from: -3_600_000,
            result,
        });
    }
    app.apply(Event::Nats(LinkState::Down("connection lost".into())));
    let (_, commands) = app.apply(Event::Nats(LinkState::Connected));
    assert_eq!(history_asked(&commands), ["cpu_pct"], "only the failed one");
    assert!(app.host.charts["cpu_pct"].loading);
    assert!(commands.contains(&Command::RefreshHosts));
    // The hub coming back (it answers again) does the same.
    app.apply(Event::History {
        agent: id("db-1"),
        series: "cpu_pct".into(),
        from: -3_600_000,
        result: Err(HubFailure::Unreachable("timeout".into())),
    });
    app.apply(Event::HubDown("timeout".into()));
    let (_, commands) = app.apply(Event::HubHosts(vec![]));
    assert_eq!(history_asked(&commands), ["cpu_pct"]);
}

#[test]
fn a_test_from_the_table_without_marks_or_filter_is_on_the_host_under_the_cursor() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char('p'));
    let form = app.form().expect("form open");
    assert_eq!(form.text(Field::Agents), "db-1");
    // `now` is the start field's placeholder, not text to erase first.
    assert_eq!(form.text(Field::Start), "");
}

#[test]
fn a_key_and_a_command_that_mean_the_same_are_one_action() {
    // `x` then `y` in the tests view, and `:cancel ID`: the same command
    // and the same word on the status line.
    let mut by_key = fixtures::app();
    let mut commands = Vec::new();
    by_key.open_tests(&mut commands);
    by_key.apply(Event::Tests(vec![fixtures::test(
        "t9",
        TestKind::Ping,
        "10.0.0.5",
        None,
        swarm_common::protocol::TestStatus::Running,
        &[],
    )]));
    key(&mut by_key, KeyCode::Char('x'));
    assert_eq!(by_key.overlay, Some(Overlay::ConfirmCancel("t9".into())));
    let (_, from_key) = key(&mut by_key, KeyCode::Char('y'));
    assert_eq!(by_key.overlay, None);
    let mut by_line = fixtures::app();
    key(&mut by_line, KeyCode::Char(':'));
    type_text(&mut by_line, "cancel t9");
    let (_, from_line) = key(&mut by_line, KeyCode::Enter);
    assert_eq!(from_key, from_line);
    assert_eq!(from_key, [Command::CancelTest("t9".into())]);
    assert_eq!(by_key.notice, by_line.notice);
    // One overlay at a time: the help replaces nothing else and any key
    // closes it.
    key(&mut by_line, KeyCode::Char('?'));
    assert_eq!(by_line.overlay, Some(Overlay::Help));
    key(&mut by_line, KeyCode::Char('x'));
    assert_eq!(by_line.overlay, None);
}

#[test]
fn a_charts_max_is_the_highest_max_inside_its_window() {
    let chart = SeriesChart {
        // A spike scrolled out of the window, then a rollup hour whose
        // average is low and whose max is not.
        points: vec![(0, 1.0, 1.0, 99.0), (3_600_000, 2.0, 10.0, 40.0)],
        step_ms: 3_600_000,
        ..SeriesChart::default()
    };
    assert_eq!(chart.peak(3_700_000), Some(40.0));
    assert_eq!(chart.peak(0), Some(99.0));
    assert_eq!(chart.last(), Some(10.0));
}

#[test]
fn live_samples_push_old_points_out_of_an_open_chart() {
    let mut app = fixtures::app();
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    app.apply(Event::History {
        agent: id("db-1"),
        series: "cpu_pct".into(),
        from: -3_600_000,
        result: Ok(HistoryReply {
            agent: id("db-1"),
            series: "cpu_pct".into(),
            step_ms: 0,
            points: vec![
                (NOW - 3_700_000, 9.0, 9.0, 9.0),
                (NOW - 60_000, 5.0, 5.0, 5.0),
            ],
            percentiles: None,
            window: None,
        }),
    });
    app.apply(Event::Metrics(Box::new(fixtures::sample(
        "db-1", NOW, 50.0, 90.0, 0.0,
    ))));
    let ts: Vec<u64> = app.host.charts["cpu_pct"]
        .points
        .iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(
        ts,
        [NOW - 60_000, NOW],
        "the point from before the hour went"
    );
}
