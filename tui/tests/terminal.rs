//! The console in a real terminal (tmux) against a real nats-server, hub
//! and agent: a host appears, its view and charts open, a ping test is
//! created from the form and its per-agent results fill in, it is
//! cancelled, and `q` quits with status 0 and the terminal given back.
#![expect(clippy::expect_used, reason = "test set-up fails loudly")]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use swarm_agent::{Agent, AgentConfig};
use swarm_common::AgentId;
use swarm_common::nats::NatsArgs;
use swarm_common::testkit::NatsServer;
use swarm_hub::testing::TestHub;

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("run tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn wait_for_screen(session: &str, what: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut screen = String::new();
    while Instant::now() < deadline {
        screen = tmux(&["capture-pane", "-p", "-t", session]);
        if what.iter().all(|w| screen.contains(w)) {
            return screen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("screen never showed {what:?}; last screen:\n{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_shows_a_live_host_and_quits_cleanly() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!(
            "SKIPPED: tmux is not installed (apt-get install tmux); the console was not tested in a real terminal"
        );
        return;
    }
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), &dir.path().join("hub")).await;
    let agent = Agent::new(AgentConfig {
        interval: Duration::from_millis(500),
        tags: vec!["e2e".into()],
        spool_max_bytes: 8 << 20,
        ..AgentConfig::new(
            AgentId::parse("box-e2e").expect("id"),
            NatsArgs::for_url(&server.url()),
            dir.path().join("spool"),
        )
    });
    let agent_task = tokio::spawn(agent.run(std::future::pending()));

    let session = format!("swarm-e2e-{}", std::process::id());
    let exit_file = dir.path().join("exit");
    start_console(&session, &server.url(), &exit_file);

    let screen = wait_for_screen(&session, &["box-e2e", "NATS ●", "hub ●", "1 online"]).await;
    assert!(screen.contains("StreamSwarm"), "{screen}");
    tmux(&["send-keys", "-t", &session, "Enter"]);
    wait_for_screen(&session, &["status   online", "tags     e2e", "cpu_pct"]).await;
    // Another window: the charts are asked for again and drawn.
    tmux(&["send-keys", "-t", &session, "1"]);
    wait_for_screen(&session, &["1:15m", "mem_pct", "net_rx_bps"]).await;
    tmux(&["send-keys", "-t", &session, "Escape"]);
    wait_for_screen(&session, &["HOST", "box-e2e"]).await;

    // A ping from the form: `p`, the target, Enter.
    tmux(&["send-keys", "-t", &session, "p"]);
    wait_for_screen(&session, &["new network test", "matches 1 online agent"]).await;
    tmux(&["send-keys", "-t", &session, "-l", "127.0.0.1"]);
    tmux(&["send-keys", "-t", &session, "Enter"]);
    let screen = wait_for_screen(&session, &["ping 127.0.0.1 running", "0.0%"]).await;
    assert!(screen.contains("box-e2e"), "{screen}");
    tmux(&["send-keys", "-t", &session, "x"]);
    wait_for_screen(&session, &["cancel test", "y: yes"]).await;
    tmux(&["send-keys", "-t", &session, "y"]);
    wait_for_screen(&session, &["cancelled"]).await;
    tmux(&["send-keys", "-t", &session, "Escape"]);
    wait_for_screen(&session, &["ID", "KIND", "127.0.0.1"]).await;
    tmux(&["send-keys", "-t", &session, "Escape"]);
    wait_for_screen(&session, &["HOST", "box-e2e"]).await;
    // An alert that fires at once: `!` lists it, `s` `1` silences the host.
    use swarm_common::protocol::alerts::{Op, Rule, Severity};
    let rule = Rule {
        severity: Severity::Critical,
        ..Rule::new("cpu-any", "cpu_pct", Op::Ge, 0.0)
    };
    let api = async_nats::connect(server.url()).await.expect("connect");
    let _: swarm_common::protocol::alerts::RuleReply = swarm_common::api::call(
        &api,
        swarm_common::subject::api::ALERTS_RULES_PUT,
        &rule,
        Duration::from_secs(5),
    )
    .await
    .expect("rule");
    wait_for_screen(&session, &["1 firing"]).await;
    tmux(&["send-keys", "-t", &session, "!"]);
    wait_for_screen(&session, &["firing   critical box-e2e", "cpu-any"]).await;
    tmux(&["send-keys", "-t", &session, "s"]);
    wait_for_screen(&session, &["silence box-e2e: 1=1h"]).await;
    tmux(&["send-keys", "-t", &session, "1"]);
    wait_for_screen(&session, &["silenced"]).await;
    tmux(&["send-keys", "-t", &session, "Escape"]);
    wait_for_screen(&session, &["HOST", "box-e2e"]).await;
    tmux(&["send-keys", "-t", &session, "?"]);
    wait_for_screen(&session, &["keys", "cycle the sort column"]).await;
    tmux(&["send-keys", "-t", &session, "Escape"]);
    tmux(&["send-keys", "-t", &session, "q"]);

    let status = wait_for_exit(&exit_file).await;
    let after = tmux(&["capture-pane", "-p", "-t", &session]);
    tmux(&["kill-session", "-t", &session]);
    assert_eq!(status.trim(), "0", "swarm-tui exit status");
    assert!(
        !after.contains("NATS ●"),
        "the console's screen must be gone after quitting:\n{after}"
    );

    agent_task.abort();
    hub.stop().await;
}

/// Starts the console in a detached 80x24 tmux session; its exit status
/// goes to `exit_file`.
fn start_console(session: &str, url: &str, exit_file: &Path) {
    let command = format!(
        "SWARM_NATS_URL={url} {}; echo $? > {}; sleep 30",
        env!("CARGO_BIN_EXE_swarm-tui"),
        exit_file.display()
    );
    tmux(&["kill-session", "-t", session]);
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "80",
            "-y",
            "24",
            &command,
        ])
        .status()
        .expect("tmux new-session");
    assert!(started.success());
}

/// The host on the row the console shows selected (drawn reversed).
fn selected_host(session: &str) -> Option<String> {
    let screen = tmux(&["capture-pane", "-e", "-p", "-t", session]);
    let line = screen.lines().find(|l| l.contains("\x1b[7m"))?;
    // The row without its escape sequences: "●   tie-b   50% ...".
    let mut plain = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
        .split_whitespace()
        .find(|w| w.starts_with("tie-") || *w == "mover")
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorted_by_cpu_with_ties_the_cursor_stays_on_its_host_and_enter_opens_it() {
    use swarm_common::protocol::{HostInfo, MetricsSample};
    use swarm_common::subject;
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), &dir.path().join("hub")).await;
    // Four hosts tied at 50 % CPU, and one that jumps between 90 % (above
    // them all) and 10 % (below) every 300 ms, moving every tied row.
    let names = ["tie-a", "tie-b", "tie-c", "tie-d", "mover"];
    let ids: Vec<AgentId> = names
        .iter()
        .map(|n| AgentId::parse(n).expect("id"))
        .collect();
    let publisher = async_nats::connect(server.url()).await.expect("connect");
    swarm_hub::testing::publish_acked(
        &publisher,
        ids.iter().map(|a| {
            // Announced slower than they publish, so that a loaded machine
            // never makes them look offline.
            let info = HostInfo {
                interval_ms: Some(2_000),
                ..HostInfo::new(a.clone())
            };
            (subject::hello(a), info)
        }),
    )
    .await;
    let samples = tokio::spawn(async move {
        for round in 0u64.. {
            let now = swarm_common::time::now_ms();
            let batch: Vec<(String, MetricsSample)> = ids
                .iter()
                .map(|a| {
                    let mut s = MetricsSample::new(a.clone(), now);
                    s.cpu_pct = Some(match a.as_str() {
                        "mover" if round % 2 == 0 => 90.0,
                        "mover" => 10.0,
                        _ => 50.0,
                    });
                    (subject::metrics(a), s)
                })
                .collect();
            swarm_hub::testing::publish_acked(&publisher, batch).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });

    let session = format!("swarm-sort-{}", std::process::id());
    let exit_file = dir.path().join("exit");
    start_console(&session, &server.url(), &exit_file);
    wait_for_screen(&session, &["5 online", "tie-d", "mover"]).await;
    // Name, status, cpu: two presses sort by CPU, busiest first.
    tmux(&["send-keys", "-t", &session, "s"]);
    tmux(&["send-keys", "-t", &session, "s"]);
    tmux(&["send-keys", "-t", &session, "j"]);
    tmux(&["send-keys", "-t", &session, "j"]);
    // Until the console has taken the keys (slow on a loaded machine):
    // the same tie row selected for half a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut last: Option<String> = None;
    let mut same = 0;
    let chosen = loop {
        let now = selected_host(&session);
        same = if now.is_some() && now == last {
            same + 1
        } else {
            0
        };
        last = now;
        match &last {
            Some(host) if host.starts_with("tie-") && same >= 5 => break host.clone(),
            other if std::time::Instant::now() > deadline => {
                panic!("no tie row selected after the keys: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    // Rows move under it for two seconds; the selection stays on its host.
    let mut seen_rows = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let screen = tmux(&["capture-pane", "-p", "-t", &session]);
        if let Some(row) = screen.lines().position(|l| l.contains(chosen.as_str())) {
            seen_rows.insert(row);
        }
        assert_eq!(selected_host(&session).as_deref(), Some(chosen.as_str()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen_rows.len() > 1, "the rows did re-sort: {seen_rows:?}");
    tmux(&["send-keys", "-t", &session, "Enter"]);
    let title = format!("┌ {chosen} ");
    wait_for_screen(&session, &[title.as_str(), "status   online"]).await;
    tmux(&["send-keys", "-t", &session, "q"]);
    let status = wait_for_exit(&exit_file).await;
    tmux(&["kill-session", "-t", &session]);
    assert_eq!(status.trim(), "0", "swarm-tui exit status");
    samples.abort();
    hub.stop().await;
}

async fn wait_for_exit(file: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(file)
            && !text.is_empty()
        {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("swarm-tui did not exit within 10 s of `q`");
}
