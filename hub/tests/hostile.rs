//! Every API endpoint against hostile bodies, over a real nats-server: each
//! request gets a reply (at worst `bad_request`), no header carries CR/LF,
//! and every endpoint still serves afterwards; over-limit messages are
//! counted rejections.
#![expect(clippy::expect_used, reason = "test helpers fail loudly")]

use std::time::Duration;

use async_nats::Client;
use rand::{Rng, SeedableRng};
use swarm_common::protocol::{HostsReply, TestsListReply};
use swarm_common::testkit::NatsServer;
use swarm_common::{codec, subject};
use swarm_hub::testing::TestHub;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Field names the endpoints read; each gets every hostile value.
const FIELDS: [&str; 14] = [
    "agent", "id", "tag", "status", "series", "kind", "target", "agents", "after", "name", "add",
    "remove", "from", "limit",
];

fn hostile_values() -> Vec<serde_json::Value> {
    use serde_json::json;
    vec![
        json!("x\ny"),
        json!("a\r\nNats-Service-Error: forged\r\n"),
        json!("\u{0}\u{1b}[2J"),
        json!("x".repeat(10_000)),
        json!(["\r\n", "x".repeat(10_000)]),
        json!(u64::MAX),
        json!(-1),
        json!(1e308),
        json!({"nested": "\n"}),
        json!(null),
    ]
}

/// A MessagePack map `{field: <invalid UTF-8 string>}`.
fn msgpack_bad_utf8(field: &str) -> Vec<u8> {
    let mut out = vec![0x81, 0xa0 | field.len() as u8];
    out.extend_from_slice(field.as_bytes());
    out.extend_from_slice(&[0xa3, 0xff, 0xfe, 0x0a]);
    out
}

async fn ask(client: &Client, subject: &str, body: Vec<u8>) -> async_nats::Message {
    let request = async_nats::Request::new()
        .payload(body.into())
        .timeout(Some(TIMEOUT));
    client
        .send_request(subject.to_owned(), request)
        .await
        .unwrap_or_else(|e| panic!("{subject}: no reply: {e}"))
}

fn assert_clean_reply(subject: &str, reply: &async_nats::Message) {
    if let Some(headers) = &reply.headers {
        for (name, values) in headers.iter() {
            for v in values {
                let v = v.as_str();
                assert!(
                    !v.contains('\r') && !v.contains('\n') && v.len() <= 512,
                    "{subject}: header {name} = {v:?}"
                );
            }
        }
    }
    assert!(!reply.payload.is_empty(), "{subject}: empty reply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_stops_an_endpoint() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), dir.path()).await;
    let client = async_nats::connect(server.url()).await.expect("connect");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);

    for endpoint in subject::api::ALL {
        for field in FIELDS {
            for value in hostile_values() {
                let body = serde_json::to_vec(&serde_json::json!({ field: value })).expect("json");
                let reply = ask(&client, endpoint, body).await;
                assert_clean_reply(endpoint, &reply);
            }
            let reply = ask(&client, endpoint, msgpack_bad_utf8(field)).await;
            assert_clean_reply(endpoint, &reply);
        }
        for len in [1, 7, 300, 20_000] {
            let body: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let reply = ask(&client, endpoint, body).await;
            assert_clean_reply(endpoint, &reply);
        }
        // The raw text of a bad field never comes back with its newline.
        let reply = ask(
            &client,
            endpoint,
            br#"{"status":"x\ny","kind":"a\nb"}"#.to_vec(),
        )
        .await;
        assert_clean_reply(endpoint, &reply);
    }

    // Every endpoint still answers a good request.
    let hosts: HostsReply = codec::decode_reply(
        None,
        &ask(&client, subject::api::HOSTS, b"{}".to_vec())
            .await
            .payload,
    )
    .expect("decodes")
    .expect("hosts answers");
    assert!(hosts.hosts.is_empty());
    let tests: TestsListReply = codec::decode_reply(
        None,
        &ask(&client, subject::api::TESTS_LIST, b"{}".to_vec())
            .await
            .payload,
    )
    .expect("decodes")
    .expect("tests.list answers");
    assert!(tests.tests.is_empty());
    for endpoint in subject::api::ALL {
        let reply = ask(&client, endpoint, b"{}".to_vec()).await;
        assert_clean_reply(endpoint, &reply);
    }
    hub.stop().await;
}

async fn publish<T: serde::Serialize>(client: &Client, subject: String, value: &T) {
    swarm_common::nats::publish_msgpack(client, subject, value)
        .await
        .expect("publish");
    client.flush().await.expect("flush");
}

fn stats(hub: &TestHub) -> serde_json::Value {
    hub.state.stats_json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_limit_messages_are_counted_rejections() {
    use swarm_common::AgentId;
    use swarm_common::protocol::*;
    use swarm_common::time::now_ms;
    use swarm_hub::testing::wait_for;

    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), dir.path()).await;
    let client = async_nats::connect(server.url()).await.expect("connect");
    let rejected = |reason: &'static str| {
        let hub = &hub;
        move || async move { stats(hub)["rejected"][reason].as_u64() == Some(1) }
    };
    let id = |s: &str| AgentId::parse(s).expect("id");

    // A HostInfo over 16 KiB, and one with 65 tags.
    let mut big = HostInfo::new(id("big"));
    big.cpu_model = Some("x".repeat(17_000));
    publish(&client, subject::hello(&big.agent), &big).await;
    wait_for(rejected("too_large")).await;
    let mut tagged = HostInfo::new(id("tagged"));
    tagged.tags = (0..65).map(|i| format!("t{i}")).collect();
    publish(&client, subject::hello(&tagged.agent), &tagged).await;
    wait_for(|| async { stats(&hub)["rejected"]["too_large"].as_u64() == Some(2) }).await;

    // Fresh custom names past the per-agent series cap: dropped, the rest kept.
    let a = id("a");
    publish(&client, subject::hello(&a), &HostInfo::new(a.clone())).await;
    let now = now_ms();
    for round in 0..5u64 {
        let mut sample = MetricsSample::new(a.clone(), now - 10_000 + round * 1_000);
        sample.cpu_pct = Some(1.0);
        for i in 0..250 {
            sample.custom.insert(format!("m{round}_{i}"), 1.0);
        }
        publish(&client, subject::metrics(&a), &sample).await;
    }
    let series_limited =
        || async { stats(&hub)["rejected"]["series_limit"].as_u64() == Some(5 * 250 + 1 - 1_024) };
    wait_for(series_limited).await;
    let series = hub.state.store.series_of("a").expect("series");
    assert_eq!(series.len(), 1_024);
    assert!(series.iter().any(|s| s == "cpu_pct"), "the rest is stored");

    // A sample with 257 custom metrics is refused whole.
    let mut wide = MetricsSample::new(a.clone(), now);
    for i in 0..257 {
        wide.custom.insert(format!("w{i}"), 1.0);
    }
    publish(&client, subject::metrics(&a), &wide).await;
    wait_for(|| async { stats(&hub)["rejected"]["too_large"].as_u64() == Some(3) }).await;

    // Results only from the agents of the run.
    let b = id("b");
    publish(&client, subject::hello(&b), &HostInfo::new(b.clone())).await;
    let spec = TestSpec::new(TestKind::Ping, "127.0.0.1", vec!["a".into()]);
    let created: TestReply =
        swarm_common::api::call(&client, subject::api::TESTS_CREATE, &spec, TIMEOUT)
            .await
            .expect("created");
    let test_id = created.test.id.clone();
    let running = || async {
        let got: TestReply = swarm_common::api::call(
            &client,
            subject::api::TESTS_GET,
            &TestIdRequest {
                id: test_id.to_string(),
            },
            TIMEOUT,
        )
        .await
        .expect("get");
        (!got.test.run_id.is_empty()).then_some(got.test)
    };
    wait_for(|| async { running().await.is_some() }).await;
    let test = running().await.expect("a run");
    let run = TestRun::of(&test, now_ms() + 60_000);
    let mut from_b = TestResult::new(&run, b.clone(), now_ms());
    from_b.rtt_ms = Some(1.0);
    publish(&client, subject::results(&test_id, &b), &from_b).await;
    wait_for(rejected("not_in_run")).await;
    let mut from_a = TestResult::new(&run, a.clone(), now_ms());
    from_a.rtt_ms = Some(1.0);
    publish(&client, subject::results(&test_id, &a), &from_a).await;
    let stored = || async {
        let got: ResultsReply = swarm_common::api::call(
            &client,
            subject::api::TESTS_RESULTS,
            &ResultsRequest {
                id: test_id.to_string(),
                agent: None,
                since: None,
                limit: None,
            },
            TIMEOUT,
        )
        .await
        .expect("results");
        got.results.len() == 1 && got.results[0].agent == a
    };
    wait_for(stored).await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_agents_past_the_hub_cap_are_refused() {
    use swarm_common::AgentId;
    use swarm_common::protocol::*;
    use swarm_hub::testing::wait_for;

    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = swarm_hub::Limits {
        max_agents: 3,
        ..swarm_hub::Limits::default()
    };
    let hub = TestHub::start_limited(&server.url(), dir.path(), Default::default(), limits).await;
    let state = hub.state.clone();
    let client = async_nats::connect(server.url()).await.expect("connect");
    for i in 0..10 {
        let info = HostInfo::new(AgentId::parse(&format!("n{i}")).expect("id"));
        publish(&client, subject::hello(&info.agent), &info).await;
    }
    wait_for(|| async { state.stats_json()["rejected"]["agent_limit"].as_u64() == Some(7) }).await;
    assert_eq!(state.registry.len(), 3);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tests_are_held_to_the_target_list_and_the_caps() {
    use swarm_common::AgentId;
    use swarm_common::api::{CallError, call};
    use swarm_common::protocol::*;
    use swarm_hub::testing::wait_for;

    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tests = swarm_hub::test_policy::TestPolicy::default()
        .with_targets(&["127.0.0.0/8".into(), "*.test".into()])
        .expect("targets");
    tests.max_per_agent = 1;
    let limits = swarm_hub::Limits {
        tests,
        ..swarm_hub::Limits::default()
    };
    let hub = TestHub::start_limited(&server.url(), dir.path(), Default::default(), limits).await;
    let state = hub.state.clone();
    let client = async_nats::connect(server.url()).await.expect("connect");
    let a = AgentId::parse("a").expect("id");
    publish(&client, subject::hello(&a), &HostInfo::new(a.clone())).await;
    wait_for(|| async { state.registry.len() == 1 }).await;
    let create = |target: &str| {
        let spec = TestSpec::new(TestKind::Ping, target, vec!["a".into()]);
        let client = client.clone();
        async move { call::<_, TestReply>(&client, subject::api::TESTS_CREATE, &spec, TIMEOUT).await }
    };
    let code = |r: Result<TestReply, CallError>| match r {
        Err(CallError::Api(e)) => Some(e.code),
        _ => None,
    };
    assert_eq!(
        code(create("10.0.0.5").await),
        Some(ErrorCode::BadRequest),
        "not listed"
    );
    assert_eq!(
        code(create("db.example.com").await),
        Some(ErrorCode::BadRequest)
    );
    let first = create("127.0.0.1").await.expect("a listed target");
    // The run takes agent a; a second test on it is past its cap.
    let get = TestIdRequest {
        id: first.test.id.to_string(),
    };
    wait_for(|| async {
        let got: TestReply = call(&client, subject::api::TESTS_GET, &get, TIMEOUT)
            .await
            .expect("get");
        !got.test.agents.is_empty()
    })
    .await;
    assert_eq!(
        code(create("host.test").await),
        Some(ErrorCode::Unavailable)
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lists_come_in_pages_and_history_fits_max_payload() {
    use swarm_common::AgentId;
    use swarm_common::api::{all_pages, call};
    use swarm_common::protocol::*;
    use swarm_common::time::now_ms;
    use swarm_hub::testing::wait_for;

    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), dir.path()).await;
    let client = async_nats::connect(server.url()).await.expect("connect");
    let max_payload = client.server_info().max_payload;

    // 20,000 samples in the last hour: raw, they would not fit in JSON.
    let a = AgentId::parse("dense").expect("id");
    publish(&client, subject::hello(&a), &HostInfo::new(a.clone())).await;
    let start = now_ms() - 3_500_000;
    let samples = (0..20_000u64).map(|i| {
        let mut sample = MetricsSample::new(a.clone(), start + i * 175);
        sample.cpu_pct = Some(12.345_678_901_234 + (i % 7) as f64);
        (subject::metrics(&a), sample)
    });
    swarm_hub::testing::publish_acked(&client, samples).await;
    let stored = || stats(&hub)["samples_stored"].as_u64() >= Some(20_000);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !stored() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if !stored() {
        let info = client
            .request(
                "$JS.API.CONSUMER.INFO.SWARM_INGEST.swarm-hub",
                bytes::Bytes::new(),
            )
            .await
            .map(|m| String::from_utf8_lossy(&m.payload).into_owned());
        panic!("not all stored: {}; consumer: {info:?}", stats(&hub));
    }
    let body = br#"{"agent":"dense","series":"cpu_pct","from":-3600000,"max_points":20000}"#;
    let reply = ask(&client, subject::api::HISTORY, body.to_vec()).await;
    assert!(
        reply.payload.len() <= max_payload,
        "{}",
        reply.payload.len()
    );
    let history: HistoryReply = codec::decode_reply(reply.headers.as_ref(), &reply.payload)
        .expect("decodes")
        .expect("history answers");
    assert!(history.step_ms > 0, "a coarser step instead of a failure");
    assert!(!history.points.is_empty() && history.points.len() <= 20_000);

    // A test summary comes in pages of agents.
    let agents: Vec<AgentId> = (0..3)
        .map(|i| AgentId::parse(&format!("p{i}")).expect("id"))
        .collect();
    for agent in &agents {
        publish(
            &client,
            subject::hello(agent),
            &HostInfo::new(agent.clone()),
        )
        .await;
    }
    // The hellos go through the ingest stream; the test needs them in.
    wait_for(|| async { agents.iter().all(|a| hub.state.registry.contains(a)) }).await;
    let spec = TestSpec::new(TestKind::Ping, "127.0.0.1", vec!["p*".into()]);
    let created: TestReply = call(&client, subject::api::TESTS_CREATE, &spec, TIMEOUT)
        .await
        .expect("created");
    let id = created.test.id;
    let get = TestIdRequest { id: id.to_string() };
    let running = || async {
        let got: TestReply = call(&client, subject::api::TESTS_GET, &get, TIMEOUT)
            .await
            .expect("get");
        got.test
    };
    wait_for(|| async { running().await.agents.len() == 3 }).await;
    let run = TestRun::of(&running().await, now_ms() + 60_000);
    for agent in &agents {
        let mut result = TestResult::new(&run, agent.clone(), now_ms());
        result.rtt_ms = Some(1.0);
        publish(&client, subject::results(&id, agent), &result).await;
    }
    let by_page = SummaryRequest {
        id: id.to_string(),
        after: None,
        limit: Some(2),
    };
    wait_for(|| async {
        let page: SummaryReply = call(&client, subject::api::TESTS_SUMMARY, &by_page, TIMEOUT)
            .await
            .expect("summary");
        page.summary.len() == 2 && page.next.as_deref() == Some("p1")
    })
    .await;
    let all = all_pages::<_, SummaryReply>(&client, subject::api::TESTS_SUMMARY, by_page, TIMEOUT)
        .await
        .expect("every page");
    let names: Vec<&str> = all.iter().map(|s| s.agent.as_str()).collect();
    assert_eq!(names, ["p0", "p1", "p2"]);
    hub.stop().await;
}
