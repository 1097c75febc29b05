//! Network tests end to end: real nats-server, hub and agents in-process,
//! real probes to loopback or to namespaces the test builds itself.
#![expect(clippy::expect_used, reason = "test set-up fails loudly")]

use std::time::Duration;

use async_nats::Client;
use serde::Serialize;
use serde::de::DeserializeOwned;
use swarm_agent::probe::caps::{Caps, IcmpMode};
use swarm_agent::{Agent, AgentConfig};
use swarm_common::api::{CallError, call};
use swarm_common::nats::NatsArgs;
use swarm_common::protocol::*;
use swarm_common::testkit::NatsServer;
use swarm_common::testkit::netns::Topology;
use swarm_common::time::now_ms;
use swarm_common::{AgentId, codec, subject};
use swarm_hub::testing::{TestHub, wait_for};

const T: Duration = Duration::from_secs(3);

async fn api<Req: Serialize, Rep: DeserializeOwned>(
    client: &Client,
    subject: &str,
    req: &Req,
) -> Result<Rep, CallError> {
    call(client, subject, req, T).await
}

fn start_agent(url: &str, name: &str, tags: &[&str]) -> tokio::task::JoinHandle<()> {
    let agent = Agent::new(AgentConfig {
        interval: Duration::from_millis(500),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        spool_max_bytes: 8 << 20,
        ..AgentConfig::new(
            AgentId::parse(name).expect("id"),
            NatsArgs::for_url(url),
            tempfile::tempdir().expect("spool dir").keep(),
        )
    });
    tokio::spawn(async move {
        let _ = agent.run(std::future::pending()).await;
    })
}

fn spec(kind: TestKind, target: &str, agents: &[&str]) -> TestSpec {
    TestSpec {
        interval_ms: Some(200),
        duration_ms: Some(2_000),
        timeout_ms: Some(1_000),
        ..TestSpec::new(
            kind,
            target,
            agents.iter().map(|a| (*a).to_owned()).collect(),
        )
    }
}

async fn create(client: &Client, spec: &TestSpec) -> Test {
    api::<_, TestReply>(client, subject::api::TESTS_CREATE, spec)
        .await
        .expect("test created")
        .test
}

async fn get(client: &Client, id: &str) -> Test {
    api::<_, TestReply>(
        client,
        subject::api::TESTS_GET,
        &TestIdRequest { id: id.into() },
    )
    .await
    .expect("test")
    .test
}

async fn summary(client: &Client, id: &str) -> Vec<AgentSummary> {
    api::<_, SummaryReply>(
        client,
        subject::api::TESTS_SUMMARY,
        &TestIdRequest { id: id.into() },
    )
    .await
    .expect("summary")
    .summary
}

async fn results(client: &Client, id: &str) -> Vec<TestResult> {
    let req = ResultsRequest {
        id: id.into(),
        agent: None,
        since: None,
        limit: Some(10_000),
    };
    api::<_, ResultsReply>(client, subject::api::TESTS_RESULTS, &req)
        .await
        .expect("results")
        .results
}

async fn wait_status(client: &Client, id: &str, status: TestStatus) -> Test {
    wait_for(|| async { get(client, id).await.status == status }).await;
    get(client, id).await
}

/// A hub, a server and two agents (`probe-a`, `probe-b`) online.
struct Bench {
    server: NatsServer,
    dir: tempfile::TempDir,
    hub: Option<TestHub>,
    client: Client,
    agents: Vec<tokio::task::JoinHandle<()>>,
}

impl Bench {
    async fn start() -> Self {
        let server = NatsServer::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let hub = TestHub::start(&server.url(), dir.path()).await;
        let client = async_nats::connect(server.url()).await.expect("connect");
        let agents = vec![
            start_agent(&server.url(), "probe-a", &["site=one"]),
            start_agent(&server.url(), "probe-b", &["site=two"]),
        ];
        wait_for(|| async {
            api::<_, HostsReply>(&client, subject::api::HOSTS, &HostsRequest::default())
                .await
                .is_ok_and(|r| {
                    r.hosts
                        .iter()
                        .filter(|h| h.status == HostStatus::Online)
                        .count()
                        == 2
                })
        })
        .await;
        Self {
            server,
            dir,
            hub: Some(hub),
            client,
            agents,
        }
    }

    async fn restart_hub_after(&mut self, down: Duration) {
        if let Some(hub) = self.hub.take() {
            hub.stop().await;
        }
        tokio::time::sleep(down).await;
        self.hub = Some(TestHub::start(&self.server.url(), self.dir.path()).await);
    }

    async fn stop(mut self) {
        for a in &self.agents {
            a.abort();
        }
        if let Some(hub) = self.hub.take() {
            hub.stop().await;
        }
    }
}

fn icmp_available() -> bool {
    if Caps::detect().icmp == IcmpMode::None {
        eprintln!("SKIPPED: this process may not send ICMP (no ping_group_range, no CAP_NET_RAW)");
        return false;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_loopback_v4_and_v6_from_two_agents_at_once() {
    if !icmp_available() {
        return;
    }
    let bench = Bench::start().await;
    let v4 = create(
        &bench.client,
        &spec(TestKind::Ping, "127.0.0.1", &["probe-*"]),
    )
    .await;
    let v6 = create(
        &bench.client,
        &spec(TestKind::Ping, "::1", &["tag:site=one", "tag:site=two"]),
    )
    .await;
    assert_eq!(v4.status, TestStatus::Scheduled);
    for test in [&v4, &v6] {
        let done = wait_status(&bench.client, &test.id, TestStatus::Done).await;
        assert_eq!(done.agents.len(), 2);
        assert!(
            done.agents.iter().all(|a| a.state == AgentRunState::Done),
            "{:?}",
            done.agents
        );
        let summary = summary(&bench.client, &test.id).await;
        assert_eq!(summary.len(), 2, "one row per agent");
        for s in &summary {
            assert!(s.sent >= 5, "{s:?}");
            assert_eq!(s.received, s.sent, "loopback loses nothing: {s:?}");
            assert_eq!(s.loss_pct, 0.0);
            let min = s.rtt_min.expect("rtt");
            assert!(min > 0.0 && min < 50.0, "a real loopback RTT: {s:?}");
            assert!(s.rtt_p50 <= s.rtt_p99 && s.rtt_p99 <= s.rtt_max);
            // The agent's latency history of this test agrees with the
            // summary: both are exact nearest-rank over the same RTTs.
            let series = test.id.latency_series();
            let req = HistoryRequest {
                agent: s.agent.to_string(),
                series: series.clone(),
                from: -600_000,
                to: None,
                max_points: Some(1_000),
            };
            let mut reply = None;
            for _ in 0..100 {
                // `not_found` until the hub's next batch holds the series.
                let got: Result<HistoryReply, _> =
                    api(&bench.client, subject::api::HISTORY, &req).await;
                if let Ok(got) = got
                    && got.window.as_ref().is_some_and(|w| w.count == s.received)
                {
                    reply = Some(got);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let reply = reply.expect("history");
            let window = reply.window.expect("window percentiles");
            assert!(window.exact);
            assert_eq!(Some(window.p50), s.rtt_p50, "{series}");
            assert_eq!(Some(window.p99), s.rtt_p99, "{series}");
            let per_point = reply.percentiles.expect("percentiles");
            assert_eq!(per_point.len(), reply.points.len());
        }
        let all = results(&bench.client, &test.id).await;
        assert!(
            all.iter()
                .all(|r| r.kind == TestKind::Ping && r.rtt_ms.is_some())
        );
    }
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_to_an_open_and_a_closed_loopback_port() {
    let bench = Bench::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let open_port = listener.local_addr().expect("addr").port();
    let accept = tokio::spawn(async move {
        loop {
            let _ = listener.accept().await;
        }
    });
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut open = spec(TestKind::Tcp, "127.0.0.1", &["probe-a"]);
    open.port = Some(open_port);
    let mut closed = spec(TestKind::Tcp, "localhost", &["probe-b"]);
    closed.port = Some(closed_port);
    let open = create(&bench.client, &open).await;
    let closed = create(&bench.client, &closed).await;
    wait_status(&bench.client, &open.id, TestStatus::Done).await;
    wait_status(&bench.client, &closed.id, TestStatus::Done).await;

    let ok = results(&bench.client, &open.id).await;
    assert!(
        !ok.is_empty()
            && ok
                .iter()
                .all(|r| r.ok == Some(true) && r.connect_ms.is_some_and(|ms| ms > 0.0))
    );
    let refused = results(&bench.client, &closed.id).await;
    assert!(!refused.is_empty());
    for r in &refused {
        assert_eq!(r.ok, Some(false));
        assert!(
            r.error.as_deref().unwrap_or("").contains("refused"),
            "{r:?}"
        );
    }
    let s = summary(&bench.client, &closed.id).await;
    assert_eq!(s[0].loss_pct, 100.0);
    accept.abort();
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_and_traceroute_through_test_namespaces() {
    if !icmp_available() {
        return;
    }
    let topo = match Topology::build() {
        Ok(t) => t,
        Err(why) => {
            eprintln!("SKIPPED: cannot build network namespaces here: {why}");
            return;
        }
    };
    let bench = Bench::start().await;
    // Nobody holds this address: every echo is lost.
    let mut lost = spec(TestKind::Ping, &topo.silent().to_string(), &["probe-a"]);
    lost.timeout_ms = Some(300);
    let lost = create(&bench.client, &lost).await;
    // Through the router to the target: reached, no loss.
    let reach = create(
        &bench.client,
        &spec(TestKind::Ping, &topo.target().to_string(), &["probe-b"]),
    )
    .await;
    wait_status(&bench.client, &lost.id, TestStatus::Done).await;
    wait_status(&bench.client, &reach.id, TestStatus::Done).await;
    let s = summary(&bench.client, &lost.id).await;
    assert!(
        s[0].sent >= 5 && s[0].received == 0 && s[0].loss_pct == 100.0,
        "{s:?}"
    );
    assert_eq!(s[0].rtt_p50, None);
    let s = summary(&bench.client, &reach.id).await;
    assert!(s[0].sent >= 5 && s[0].loss_pct == 0.0, "{s:?}");

    if Caps::detect().raw {
        let mut trace = spec(
            TestKind::Traceroute,
            &topo.target().to_string(),
            &["probe-a"],
        );
        trace.interval_ms = Some(1_000);
        trace.duration_ms = Some(2_500);
        let trace = create(&bench.client, &trace).await;
        wait_status(&bench.client, &trace.id, TestStatus::Done).await;
        let rounds = results(&bench.client, &trace.id).await;
        assert!(!rounds.is_empty());
        // A loaded machine may lose a probe in a round: at least one round
        // shows the whole path, and no round shows another.
        let (router, target) = (topo.router().to_string(), topo.target().to_string());
        let complete = rounds.iter().find(|r| {
            r.reached == Some(true)
                && r.hops.as_ref().is_some_and(|h| {
                    h.len() == 2
                        && h.iter()
                            .all(|hop| !hop.rtt_ms.is_empty() && hop.loss_pct == 0.0)
                })
        });
        let hops = complete
            .and_then(|r| r.hops.as_ref())
            .unwrap_or_else(|| panic!("no complete round in {rounds:?}"));
        assert_eq!((hops[0].ttl, hops[1].ttl), (1, 2));
        assert_eq!(hops[0].addr.as_deref(), Some(router.as_str()));
        assert_eq!(hops[1].addr.as_deref(), Some(target.as_str()));
        for r in &rounds {
            for hop in r.hops.iter().flatten() {
                let addr = hop.addr.as_deref();
                assert!(
                    addr.is_none()
                        || addr == Some(router.as_str())
                        || addr == Some(target.as_str()),
                    "{r:?}"
                );
            }
        }
    } else {
        eprintln!("SKIPPED traceroute: no raw sockets for this process");
    }
    bench.stop().await;
    drop(topo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_specs_and_unmatched_selectors_are_errors() {
    let bench = Bench::start().await;
    let mut no_port = spec(TestKind::Tcp, "127.0.0.1", &["probe-a"]);
    no_port.port = None;
    match api::<_, TestReply>(&bench.client, subject::api::TESTS_CREATE, &no_port).await {
        Err(CallError::Api(e)) => {
            assert_eq!(e.code, ErrorCode::BadRequest);
            assert!(e.message.starts_with("port"), "{e:?}");
        }
        other => panic!("want bad_request, got {other:?}"),
    }
    match api::<_, TestReply>(
        &bench.client,
        subject::api::TESTS_CREATE,
        &spec(TestKind::Ping, "127.0.0.1", &["web-*"]),
    )
    .await
    {
        Err(CallError::Api(e)) => assert_eq!(e.code, ErrorCode::NotFound, "{e:?}"),
        other => panic!("want not_found, got {other:?}"),
    }
    // JSON from a script: readable error with the field named.
    let reply = bench
        .client
        .request(
            subject::api::TESTS_CREATE,
            r#"{"kind":"ping","target":"127.0.0.1","agents":["probe-a"],"interval_ms":1}"#.into(),
        )
        .await
        .expect("reply");
    let body: serde_json::Value = serde_json::from_slice(&reply.payload).expect("json");
    assert_eq!(body["error"]["code"], "bad_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("interval_ms"),
        "{body}"
    );
    // A name that does not resolve is the agent's clear refusal.
    let unresolvable = create(
        &bench.client,
        &spec(TestKind::Tcp, "nothing.invalid", &["probe-a"]).with_port(80),
    )
    .await;
    let failed = wait_status(&bench.client, &unresolvable.id, TestStatus::Failed).await;
    let err = failed.agents[0].error.clone().unwrap_or_default();
    assert_eq!(failed.agents[0].state, AgentRunState::Failed);
    assert!(err.contains("cannot resolve \"nothing.invalid\""), "{err}");
    bench.stop().await;
}

trait WithPort {
    fn with_port(self, port: u16) -> Self;
}

impl WithPort for TestSpec {
    fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_later_recurring_cancel_and_a_silent_agent() {
    let bench = Bench::start().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();

    // Later: scheduled until start_at, then it runs.
    let mut later = spec(TestKind::Tcp, "127.0.0.1", &["probe-a"]).with_port(port);
    later.start_at = Some(now_ms() + 1_500);
    later.duration_ms = Some(500);
    let later = create(&bench.client, &later).await;
    assert_eq!(
        get(&bench.client, &later.id).await.status,
        TestStatus::Scheduled
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        get(&bench.client, &later.id).await.runs,
        0,
        "not before start_at"
    );
    let done = wait_status(&bench.client, &later.id, TestStatus::Done).await;
    assert_eq!(done.runs, 1);
    let first = results(&bench.client, &later.id).await;
    assert!(first.first().is_some_and(|r| r.ts >= later.start_at));

    // Recurring, then cancelled: no results after the cancel.
    let mut every = spec(TestKind::Tcp, "127.0.0.1", &["probe-*"]).with_port(port);
    every.duration_ms = Some(400);
    every.repeat_every_ms = Some(1_000);
    let every = create(&bench.client, &every).await;
    wait_for(|| async { get(&bench.client, &every.id).await.runs >= 2 }).await;
    let cancelled = api::<_, TestReply>(
        &bench.client,
        subject::api::TESTS_CANCEL,
        &TestIdRequest {
            id: every.id.to_string(),
        },
    )
    .await
    .expect("cancel")
    .test;
    assert_eq!(cancelled.status, TestStatus::Cancelled);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = results(&bench.client, &every.id).await.len();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        results(&bench.client, &every.id).await.len(),
        settled,
        "nothing after cancel"
    );
    assert_eq!(
        get(&bench.client, &every.id).await.status,
        TestStatus::Cancelled
    );

    // An agent that is online but never answers run requests.
    let ghost = HostInfo {
        interval_ms: Some(60_000),
        ..HostInfo::new(AgentId::parse("ghost").expect("id"))
    };
    bench
        .client
        .publish_with_headers(
            "swarm.hello.ghost",
            codec::msgpack_headers(),
            codec::to_msgpack(&ghost).expect("enc"),
        )
        .await
        .expect("publish");
    bench.client.flush().await.expect("flush");
    wait_for(|| async {
        api::<_, HostReply>(
            &bench.client,
            subject::api::HOST,
            &HostRequest {
                agent: "ghost".into(),
            },
        )
        .await
        .is_ok()
    })
    .await;
    let mut silent = spec(TestKind::Tcp, "127.0.0.1", &["ghost"]).with_port(port);
    silent.duration_ms = Some(4_000);
    let silent = create(&bench.client, &silent).await;
    wait_for(|| async {
        get(&bench.client, &silent.id)
            .await
            .agents
            .first()
            .is_some_and(|a| a.state == AgentRunState::Unreachable)
    })
    .await;
    let t = get(&bench.client, &silent.id).await;
    assert!(
        t.agents[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("no responders"),
        "{t:?}"
    );
    drop(listener);
    bench.stop().await;
}

/// A TCP test from `probe-a` to a loopback port: 300 ms every second.
fn every_second(port: u16) -> TestSpec {
    let mut every = spec(TestKind::Tcp, "127.0.0.1", &["probe-a"]).with_port(port);
    every.duration_ms = Some(300);
    every.repeat_every_ms = Some(1_000);
    every
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recurring_schedule_survives_a_hub_restart_and_catches_up_once() {
    let mut bench = Bench::start().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let every = create(&bench.client, &every_second(port)).await;
    wait_for(|| async { get(&bench.client, &every.id).await.runs >= 1 }).await;

    // Down long enough to miss three slots.
    bench.restart_hub_after(Duration::from_millis(3_500)).await;
    let before = get(&bench.client, &every.id).await.runs;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = get(&bench.client, &every.id).await;
    assert!(
        after.runs <= before + 1,
        "missed slots run once, not {} times",
        after.runs - before
    );
    wait_for(|| async { get(&bench.client, &every.id).await.runs > after.runs }).await;
    assert!(matches!(
        get(&bench.client, &every.id).await.status,
        TestStatus::Running | TestStatus::Scheduled
    ));
    drop(listener);
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_results_of_the_run_before_are_taken_after_a_hub_restart() {
    let mut bench = Bench::start().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let every = create(&bench.client, &every_second(port)).await;
    wait_for(|| async { !get(&bench.client, &every.id).await.run_id.is_empty() }).await;
    let first = get(&bench.client, &every.id).await;
    let ran_until = first.until.expect("a running run ends");
    wait_for(|| async { get(&bench.client, &every.id).await.run_id != first.run_id }).await;

    // The hub forgets what it held in memory; an agent's spool still holds
    // a result of the first run.
    bench.restart_hub_after(Duration::from_millis(100)).await;
    let marker = 4_321.5;
    let late = TestResult {
        connect_ms: Some(marker),
        ok: Some(true),
        ..TestResult::new(
            &TestRun::of(&first, ran_until),
            AgentId::parse("probe-a").expect("id"),
            ran_until - 100,
        )
    };
    bench
        .client
        .publish_with_headers(
            subject::results(&every.id, &late.agent),
            codec::msgpack_headers(),
            codec::to_msgpack(&late).expect("encode"),
        )
        .await
        .expect("publish");
    wait_for(|| async {
        results(&bench.client, &every.id)
            .await
            .iter()
            .any(|r| r.run_id == first.run_id && r.connect_ms == Some(marker))
    })
    .await;
    drop(listener);
    bench.stop().await;
}
