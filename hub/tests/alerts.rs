//! Alerts end to end against a real nats-server: rules evaluated in sample
//! time, events on `swarm.alerts.<agent>.<rule>` once per change (also
//! across a restart), silences, acknowledgements, `host_down`, and
//! notifications to a command and to a webhook on loopback.
#![expect(clippy::expect_used, reason = "test helpers fail loudly")]

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use futures::{FutureExt, StreamExt};
use swarm_common::api::call;
use swarm_common::protocol::alerts::*;
use swarm_common::protocol::{HostInfo, MetricsSample};
use swarm_common::testkit::NatsServer;
use swarm_common::time::now_ms;
use swarm_common::{AgentId, codec, subject};
use swarm_hub::alerts::notify::NotifyConfig;
use swarm_hub::store::Store;
use swarm_hub::testing::{TestHub, publish_acked, wait_for};
use swarm_hub::{Hub, Retention};

const TIMEOUT: Duration = Duration::from_secs(5);

fn rule(name: &str, series: &str) -> Rule {
    Rule {
        for_ms: 20_000,
        recover: Some(80.0),
        severity: Severity::Critical,
        summary: Some("CPU high".into()),
        ..Rule::new(name, series, Op::Gt, 90.0)
    }
}

async fn put_rule(client: &Client, rule: &Rule) {
    let _: RuleReply = call(client, subject::api::ALERTS_RULES_PUT, rule, TIMEOUT)
        .await
        .expect("rule accepted");
}

async fn cpu_samples(client: &Client, agent: &AgentId, t0: u64, values: &[f64]) {
    let samples = values.iter().enumerate().map(|(i, v)| {
        let mut s = MetricsSample::new(agent.clone(), t0 + i as u64 * 10_000);
        s.cpu_pct = Some(*v);
        (subject::metrics(agent), s)
    });
    publish_acked(client, samples).await;
}

async fn hello(client: &Client, agent: &AgentId, interval_ms: u64) {
    let info = HostInfo {
        interval_ms: Some(interval_ms),
        ..HostInfo::new(agent.clone())
    };
    publish_acked(client, [(subject::hello(agent), info)]).await;
}

async fn next_event(events: &mut async_nats::Subscriber) -> Alert {
    let msg = tokio::time::timeout(TIMEOUT, events.next())
        .await
        .expect("an alert event in time")
        .expect("subscription open");
    codec::decode_reply::<Alert>(msg.headers.as_ref(), &msg.payload)
        .expect("decodes")
        .expect("an alert")
}

async fn no_event_within(events: &mut async_nats::Subscriber, wait: Duration) {
    if let Ok(Some(msg)) = tokio::time::timeout(wait, events.next()).await {
        panic!("unexpected event on {}", msg.subject);
    }
}

async fn current(client: &Client) -> Vec<Alert> {
    let reply: AlertsListReply = call(
        client,
        subject::api::ALERTS_LIST,
        &AlertsListRequest::default(),
        TIMEOUT,
    )
    .await
    .expect("list");
    reply.alerts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_fire_in_sample_time_once_per_change_across_a_restart() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), dir.path()).await;
    let client = async_nats::connect(server.url()).await.expect("connect");
    let mut events = client.subscribe(subject::ALERTS_ALL).await.expect("sub");
    client.flush().await.expect("flush");

    put_rule(&client, &rule("cpu-high", "cpu_pct")).await;
    let a = AgentId::parse("web-1").expect("id");
    hello(&client, &a, 10_000).await;
    // Sample time, not arrival time: these all arrive within a second.
    let t0 = now_ms() - 600_000;
    cpu_samples(&client, &a, t0, &[95.0, 95.0, 95.0, 85.0, 70.0]).await;
    let pending = next_event(&mut events).await;
    assert_eq!((pending.state, pending.ts), (AlertState::Pending, t0));
    assert_eq!(pending.severity, Severity::Critical);
    let firing = next_event(&mut events).await;
    assert_eq!((firing.state, firing.ts), (AlertState::Firing, t0 + 20_000));
    // 85 is under 90 but not under 80: still firing; 70 resolves.
    let resolved = next_event(&mut events).await;
    assert_eq!(
        (resolved.state, resolved.ts, resolved.fired_at),
        (AlertState::Resolved, t0 + 40_000, Some(t0 + 20_000))
    );
    no_event_within(&mut events, Duration::from_millis(500)).await;
    assert!(current(&client).await.is_empty());

    // Firing again, then the hub restarts: still firing, not announced again.
    cpu_samples(&client, &a, t0 + 100_000, &[99.0, 99.0, 99.0]).await;
    assert_eq!(next_event(&mut events).await.state, AlertState::Pending);
    assert_eq!(next_event(&mut events).await.state, AlertState::Firing);
    let ack = AckRequest {
        agent: "web-1".into(),
        rule: "cpu-high".into(),
        comment: Some("looking".into()),
        by: Some("ana".into()),
    };
    let acked: AlertReply = call(&client, subject::api::ALERTS_ACK, &ack, TIMEOUT)
        .await
        .expect("ack");
    assert_eq!(
        acked.alert.acked.as_ref().map(|a| a.by.as_str()),
        Some("ana")
    );
    hub.stop().await;
    let hub = TestHub::start(&server.url(), dir.path()).await;
    let listed = current(&client).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, AlertState::Firing);
    assert!(listed[0].acked.is_some(), "the ack survives the restart");
    no_event_within(&mut events, Duration::from_secs(1)).await;

    // The history holds every change, oldest first.
    let history: AlertsHistoryReply = call(
        &client,
        subject::api::ALERTS_HISTORY,
        &AlertsHistoryRequest {
            agent: Some("web-1".into()),
            ..Default::default()
        },
        TIMEOUT,
    )
    .await
    .expect("history");
    let states: Vec<AlertState> = history.events.iter().map(|e| e.state).collect();
    use AlertState::*;
    assert_eq!(states, [Pending, Firing, Resolved, Pending, Firing]);

    // Silenced: still evaluated and announced, marked, notifying nobody.
    let silence = Silence {
        id: String::new(),
        agents: vec!["web-*".into()],
        rules: vec![],
        starts_at: None,
        ends_at: now_ms() + 3_600_000,
        every_ms: None,
        duration_ms: None,
        comment: "maintenance".into(),
        by: "ana".into(),
    };
    let made: SilenceReply = call(&client, subject::api::SILENCES_CREATE, &silence, TIMEOUT)
        .await
        .expect("silence");
    assert!(!made.silence.id.is_empty());
    cpu_samples(&client, &a, t0 + 200_000, &[10.0]).await;
    let resolved = next_event(&mut events).await;
    assert_eq!(resolved.state, Resolved);
    assert!(resolved.silenced);
    let expired: SilenceReply = call(
        &client,
        subject::api::SILENCES_EXPIRE,
        &SilenceIdRequest {
            id: made.silence.id.clone(),
        },
        TIMEOUT,
    )
    .await
    .expect("expire");
    assert!(expired.silence.ends_at <= now_ms());

    // Bad rules and requests are refused with reasons.
    let bad = Rule {
        name: "Bad Name\n".into(),
        ..rule("x", "cpu_pct")
    };
    let refused = call::<_, RuleReply>(&client, subject::api::ALERTS_RULES_PUT, &bad, TIMEOUT)
        .await
        .expect_err("refused");
    assert!(refused.to_string().contains("name"), "{refused}");
    let unknown = call::<_, AlertReply>(
        &client,
        subject::api::ALERTS_ACK,
        &AckRequest {
            agent: "nobody".into(),
            rule: "cpu-high".into(),
            comment: None,
            by: None,
        },
        TIMEOUT,
    )
    .await
    .expect_err("no such alert");
    assert!(unknown.to_string().contains("no alert"), "{unknown}");
    hub.stop().await;
}

/// A listener on loopback that answers each HTTP request 200 and hands
/// over its body.
fn webhook_listener() -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (url, rx)
}

/// A hub that notifies a script (each notification saved as a file in the
/// directory returned: deliveries may run at the same time) and a webhook
/// on loopback (its bodies on the receiver).
async fn notifying_hub(
    server: &NatsServer,
    dir: &std::path::Path,
) -> (
    TestHub,
    std::path::PathBuf,
    std::sync::mpsc::Receiver<String>,
) {
    let out = dir.join("notified");
    std::fs::create_dir(&out).expect("notified dir");
    let script = dir.join("notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ncat > {}/$$.json\n", out.display()),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let (url, hooked) = webhook_listener();
    let store = Arc::new(Store::open(&dir.join("data")).expect("store"));
    let hub = Hub::with_retention(store, Retention::default())
        .expect("hub")
        .with_notify(NotifyConfig {
            exec: Some(vec![script.display().to_string()]),
            webhook: Some(url),
        });
    (TestHub::start_hub(&server.url(), hub).await, out, hooked)
}

/// What the notify script was given so far, one body per run.
fn executed(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter(|body| body.ends_with('}'))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_host_is_down_and_notifies_once_for_the_group() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, out, hooked) = notifying_hub(&server, dir.path()).await;
    let client = async_nats::connect(server.url()).await.expect("connect");
    let mut events = client.subscribe("swarm.alerts.*.down").await.expect("sub");
    client.flush().await.expect("flush");
    put_rule(
        &client,
        &Rule {
            for_ms: 0,
            ..rule("down", "host_down")
        },
    )
    .await;

    // Three hosts at a 100 ms interval go silent together; a fourth says bye.
    let hosts: Vec<AgentId> = (0..3)
        .map(|i| AgentId::parse(&format!("site-{i}")).expect("id"))
        .collect();
    for h in &hosts {
        hello(&client, h, 100).await;
    }
    let quiet = AgentId::parse("leaver").expect("id");
    hello(&client, &quiet, 100).await;
    publish_acked(
        &client,
        [(
            subject::bye(&quiet),
            swarm_common::protocol::Bye {
                agent: quiet.clone(),
                ts: now_ms(),
            },
        )],
    )
    .await;
    let mut down = Vec::new();
    for _ in 0..3 {
        let e = next_event(&mut events).await;
        assert_eq!(e.state, AlertState::Firing);
        down.push(e.agent);
    }
    down.sort();
    assert_eq!(
        down,
        ["site-0", "site-1", "site-2"],
        "not the host that said bye"
    );

    // One notification for the three, to each channel.
    let body = hooked
        .recv_timeout(Duration::from_secs(10))
        .expect("webhook called");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["grouped"], 3, "{body}");
    assert_eq!(v["rule"], "down");
    assert_eq!(v["state"], "firing");
    wait_for(|| async { executed(&out).iter().any(|s| s.contains("\"grouped\":3")) }).await;

    // Heard from again: resolved.
    cpu_samples(&client, &hosts[0], now_ms(), &[1.0]).await;
    let back = next_event(&mut events).await;
    assert_eq!(
        (back.agent.as_str(), back.state),
        ("site-0", AlertState::Resolved)
    );
    hub.stop().await;
}

/// A silence that matches `agents`, active from `starts_at`; recurring
/// when `window` is given as (every, duration).
fn silence(agents: &str, starts_at: u64, window: Option<(u64, u64)>) -> Silence {
    Silence {
        id: String::new(),
        agents: vec![agents.into()],
        rules: vec![],
        starts_at: Some(starts_at),
        ends_at: now_ms() + 86_400_000,
        every_ms: window.map(|(every, _)| every),
        duration_ms: window.map(|(_, duration)| duration),
        comment: "window".into(),
        by: "ana".into(),
    }
}

/// The agents a notification body lists, sorted, and its state.
fn notified(body: &str) -> (String, Vec<String>) {
    let v: serde_json::Value = serde_json::from_str(body).expect("json");
    let mut agents: Vec<String> = v["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| a["agent"].as_str().expect("agent").to_owned())
        .collect();
    agents.sort();
    assert_eq!(v["grouped"], agents.len(), "{body}");
    (v["state"].as_str().expect("state").to_owned(), agents)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_both_channels_for_exactly_the_unsilenced_events() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, out, hooked) = notifying_hub(&server, dir.path()).await;
    let client = async_nats::connect(server.url()).await.expect("connect");
    let mut events = client.subscribe(subject::ALERTS_ALL).await.expect("sub");
    client.flush().await.expect("flush");
    put_rule(
        &client,
        &Rule {
            for_ms: 0,
            ..rule("cpu-high", "cpu_pct")
        },
    )
    .await;

    // Four hosts: one unsilenced, one under a one-off silence, one inside
    // the window of a daily silence (an hour from a second ago) and one
    // outside the window of another (an hour from two hours ago).
    let now = now_ms();
    let day = 86_400_000;
    for s in [
        silence("quiet-*", now - 1_000, None),
        silence("nightly-*", now - 1_000, Some((day, 3_600_000))),
        silence("offwindow-*", now - 7_200_000, Some((day, 3_600_000))),
    ] {
        let _: SilenceReply = call(&client, subject::api::SILENCES_CREATE, &s, TIMEOUT)
            .await
            .expect("silence");
    }
    let hosts: Vec<AgentId> = ["loud-1", "quiet-1", "nightly-1", "offwindow-1"]
        .iter()
        .map(|n| AgentId::parse(n).expect("id"))
        .collect();
    for h in &hosts {
        hello(&client, h, 10_000).await;
        cpu_samples(&client, h, now, &[95.0]).await;
    }
    // Every host's alert changes state and is announced, marked.
    let mut marks = Vec::new();
    for _ in 0..hosts.len() {
        let e = next_event(&mut events).await;
        assert_eq!(e.state, AlertState::Firing);
        marks.push((e.agent, e.silenced));
    }
    marks.sort();
    assert_eq!(
        marks,
        [
            ("loud-1".to_owned(), false),
            ("nightly-1".to_owned(), true),
            ("offwindow-1".to_owned(), false),
            ("quiet-1".to_owned(), true),
        ]
    );
    for h in &hosts {
        cpu_samples(&client, h, now + 10_000, &[10.0]).await;
    }
    for _ in 0..hosts.len() {
        assert_eq!(next_event(&mut events).await.state, AlertState::Resolved);
    }

    // Each channel: one firing and one resolved notification, both of the
    // two unsilenced hosts, and nothing more.
    let unsilenced = vec!["loud-1".to_owned(), "offwindow-1".to_owned()];
    let expected = [
        ("firing".to_owned(), unsilenced.clone()),
        ("resolved".to_owned(), unsilenced),
    ];
    let mut hooks: Vec<_> = (0..2)
        .map(|_| {
            notified(
                &hooked
                    .recv_timeout(Duration::from_secs(15))
                    .expect("webhook called"),
            )
        })
        .collect();
    hooks.sort();
    assert_eq!(hooks, expected);
    wait_for(|| async { executed(&out).len() >= 2 }).await;
    // Longer than the grouping wait: a third notification would be here.
    tokio::time::sleep(swarm_hub::alerts::notify::GROUP_WAIT * 2).await;
    assert!(hooked.try_recv().is_err(), "no webhook call beyond the two");
    let bodies = executed(&out);
    let mut execs: Vec<_> = bodies.iter().map(|b| notified(b)).collect();
    execs.sort();
    assert_eq!(execs, expected, "{bodies:?}");
    hub.stop().await;
}

/// Sets the value a real agent reads from its textfile plugin (written
/// beside, then renamed: the agent never reads half a file).
fn set_level(plugins: &std::path::Path, value: f64) {
    let tmp = plugins.join("level.tmp");
    std::fs::write(&tmp, format!("level {value}\n")).expect("write level");
    std::fs::rename(&tmp, plugins.join("level.prom")).expect("rename level");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_replayed_from_the_spool_alerts_at_sample_times() {
    use swarm_agent::{Agent, AgentConfig};
    use swarm_common::nats::NatsArgs;

    let mut server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), &dir.path().join("hub")).await;
    let client = async_nats::connect(server.url()).await.expect("connect");
    put_rule(
        &client,
        &Rule {
            for_ms: 1_000,
            recover: Some(40.0),
            keep_firing_for_ms: 600,
            ..Rule::new("level-high", "custom:level", Op::Gt, 50.0)
        },
    )
    .await;
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugins dir");
    set_level(&plugins, 10.0);
    let id = AgentId::parse("replayer").expect("id");
    let config = AgentConfig {
        interval: Duration::from_millis(200),
        plugins_dir: Some(plugins.clone()),
        ..AgentConfig::new(
            id.clone(),
            NatsArgs::for_url(&server.url()),
            dir.path().join("spool"),
        )
    };
    let agent = Agent::new(config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(agent.run(async {
        let _ = stopped.await;
    }));
    let history = |client: Client| async move {
        let req = swarm_common::protocol::HistoryRequest {
            agent: "replayer".into(),
            series: "custom:level".into(),
            from: -600_000,
            to: None,
            max_points: Some(20_000),
        };
        call::<_, swarm_common::protocol::HistoryReply>(
            &client,
            subject::api::HISTORY,
            &req,
            TIMEOUT,
        )
        .await
        .map_or(0, |r| r.points.len())
    };
    wait_for(|| history(client.clone()).map(|n| n > 0)).await;

    // The bus goes away; meanwhile the level rises over the threshold for
    // 3.5 s (firing after 1 s of it, with room for a machine too busy to
    // sample on time), sits between recover and threshold for 1 s (still
    // firing), then drops below recover for 1.5 s (resolved after 600 ms
    // of it).
    server.kill();
    let out = now_ms();
    set_level(&plugins, 90.0);
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    set_level(&plugins, 45.0);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let low = now_ms();
    set_level(&plugins, 10.0);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let back = now_ms();
    server.restart();

    // Everything arrives after `back`; every event carries a sample time
    // from inside the outage, and each change is recorded exactly once.
    let events = || async {
        let reply: Result<AlertsHistoryReply, _> = call(
            &client,
            subject::api::ALERTS_HISTORY,
            &AlertsHistoryRequest {
                agent: Some("replayer".into()),
                ..Default::default()
            },
            TIMEOUT,
        )
        .await;
        reply.map(|r| r.events).unwrap_or_default()
    };
    wait_for(|| async {
        events()
            .await
            .iter()
            .any(|e| e.state == AlertState::Resolved)
    })
    .await;
    // Past the replay of the rest: nothing more may follow.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = events().await;
    let states: Vec<AlertState> = seen.iter().map(|e| e.state).collect();
    use AlertState::*;
    assert_eq!(states, [Pending, Firing, Resolved], "{seen:?}");
    let (pending, firing, resolved) = (&seen[0], &seen[1], &seen[2]);
    // One sample interval of slack where a file change meets a sample.
    let slack = 250;
    assert!(pending.ts + slack >= out && pending.ts < low, "{seen:?}");
    assert!(
        firing.ts >= pending.ts + 1_000 && firing.ts < low,
        "{seen:?}"
    );
    assert!(
        resolved.ts + slack >= low + 600 && resolved.ts < back,
        "{seen:?}"
    );
    assert!(resolved.value < 40.0, "{seen:?}");
    let _ = stop.send(());
    running.await.expect("agent task").expect("agent ran");
    hub.stop().await;
}
