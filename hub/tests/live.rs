//! Agent and hub in-process against a real nats-server and a real sled store.
#![expect(clippy::expect_used, reason = "test helpers fail loudly")]

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_nats::Client;
use swarm_agent::{Agent, AgentConfig};
use swarm_common::api::{CallError, call};
use swarm_common::nats::NatsArgs;
use swarm_common::protocol::*;
use swarm_common::testkit::NatsServer;
use swarm_common::{AgentId, codec, subject};
use swarm_hub::testing::{TestHub, wait_for};
use tokio::sync::oneshot;

const TIMEOUT: Duration = Duration::from_secs(2);

fn agent_config(url: &str, name: &str, interval: Duration) -> AgentConfig {
    AgentConfig {
        interval,
        tags: vec!["role=test".into()],
        spool_max_bytes: 8 << 20,
        ..AgentConfig::new(
            AgentId::parse(name).expect("valid id"),
            NatsArgs::for_url(url),
            tempfile::tempdir().expect("spool dir").keep(),
        )
    }
}

async fn host(client: &Client, agent: &str) -> Result<HostReply, CallError> {
    call(
        client,
        subject::api::HOST,
        &HostRequest {
            agent: agent.into(),
        },
        TIMEOUT,
    )
    .await
}

async fn history(client: &Client, agent: &str, series: &str) -> Result<HistoryReply, CallError> {
    call(
        client,
        subject::api::HISTORY,
        &HistoryRequest {
            agent: agent.into(),
            series: series.into(),
            from: -3_600_000,
            to: None,
            max_points: None,
        },
        TIMEOUT,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_appears_online_with_history_that_survives_a_restart() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), dir.path()).await;
    let client = async_nats::connect(server.url()).await.expect("connect");

    let (stop_agent, agent_stopped) = oneshot::channel::<()>();
    let agent = Agent::new(agent_config(
        &server.url(),
        "box-1",
        Duration::from_millis(200),
    ));
    let agent_stats = agent.stats.clone();
    let agent_task = tokio::spawn(agent.run(async {
        let _ = agent_stopped.await;
    }));

    wait_for(|| async {
        match host(&client, "box-1").await {
            Ok(reply) => {
                reply.host.status == HostStatus::Online
                    && reply.host.latest.is_some()
                    && reply.series.iter().any(|s| s == "cpu_pct")
            }
            Err(_) => false,
        }
    })
    .await;
    let reply = host(&client, "box-1").await.expect("host");
    assert_eq!(reply.host.tags, vec!["role=test".to_owned()]);
    assert_eq!(
        reply.host.info.as_ref().and_then(|i| i.interval_ms),
        Some(200)
    );
    for series in ["cpu_pct", "mem_pct", "load1", "net_rx_bps", "disk_pct:/"] {
        assert!(
            reply.series.iter().any(|s| s == series),
            "missing {series} in {:?}",
            reply.series
        );
    }

    // Some samples in; the agent's own info endpoint answers too.
    wait_for(|| async {
        history(&client, "box-1", "cpu_pct")
            .await
            .is_ok_and(|h| h.points.len() >= 5)
    })
    .await;
    let info: HostInfo = {
        let msg = client
            .request(
                subject::agent_info(&AgentId::parse("box-1").expect("id")),
                "".into(),
            )
            .await
            .expect("info reply");
        codec::from_msgpack(&msg.payload).expect("HostInfo")
    };
    assert_eq!(info.agent.as_str(), "box-1");

    let _ = stop_agent.send(());
    agent_task.await.expect("agent task").expect("agent ran");
    // Until the hub answered its first ping, samples went through the spool.
    let taken = agent_stats.published.load(Ordering::Relaxed)
        + agent_stats.undelivered.load(Ordering::Relaxed);
    assert!(taken >= 5, "{taken}");
    // bye marks it offline at once.
    wait_for(|| async {
        host(&client, "box-1")
            .await
            .is_ok_and(|r| r.host.status == HostStatus::Offline)
    })
    .await;

    let before = history(&client, "box-1", "cpu_pct").await.expect("history");
    assert_eq!(before.step_ms, 0);
    assert!(before.points.iter().all(|p| p.1 == p.2 && p.2 == p.3));
    hub.stop().await;

    // A second hub on the same data directory answers the same.
    let hub = TestHub::start(&server.url(), dir.path()).await;
    let after = history(&client, "box-1", "cpu_pct").await.expect("history");
    assert_eq!(after.points, before.points);
    let reply = host(&client, "box-1").await.expect("host after restart");
    assert_eq!(reply.host.status, HostStatus::Offline);
    assert!(reply.host.latest.is_some());
    hub.stop().await;
}

async fn publish_raw(client: &Client, subject: &str, body: Vec<u8>) {
    client
        .publish(subject.to_owned(), body.into())
        .await
        .expect("publish");
    client.flush().await.expect("flush");
}

fn sample(agent: &str, ts: Millis, cpu: f64) -> MetricsSample {
    MetricsSample {
        cpu_pct: Some(cpu),
        load: Some([0.0, 0.0, 0.0]),
        mem_total: Some(100),
        mem_used: Some(10),
        ..MetricsSample::new(AgentId::parse(agent).expect("id"), ts)
    }
}

fn encoded(value: &impl serde::Serialize) -> Vec<u8> {
    codec::to_msgpack(value).expect("encodes").to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_counted_and_ingest_goes_on() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), dir.path()).await;
    let client = async_nats::connect(server.url()).await.expect("connect");
    let now = swarm_common::time::now_ms();

    // Garbage, a subject that disagrees with the payload, a string where a
    // number belongs, an absurd value, an empty payload.
    publish_raw(&client, "swarm.metrics.x", vec![0xc1, 0xff, 0x00]).await;
    publish_raw(&client, "swarm.metrics.x", encoded(&sample("y", now, 1.0))).await;
    let mut not_a_number = serde_json::to_value(sample("x", now, 1.0)).expect("json");
    not_a_number["cpu_pct"] = serde_json::json!("lots");
    publish_raw(&client, "swarm.metrics.x", encoded(&not_a_number)).await;
    publish_raw(
        &client,
        "swarm.metrics.x",
        encoded(&sample("x", now, 250.0)),
    )
    .await;
    publish_raw(&client, "swarm.hello.x", vec![]).await;
    // And then a good one, which must still land.
    publish_raw(&client, "swarm.metrics.x", encoded(&sample("x", now, 42.0))).await;

    wait_for(|| async {
        history(&client, "x", "cpu_pct")
            .await
            .is_ok_and(|h| h.points == vec![(now, 42.0, 42.0, 42.0)])
    })
    .await;
    let rejected = &hub.state.stats.rejections;
    assert_eq!(rejected.undecodable.load(Ordering::Relaxed), 3);
    assert_eq!(rejected.subject_mismatch.load(Ordering::Relaxed), 1);
    assert_eq!(rejected.bad_value.load(Ordering::Relaxed), 1);

    // API errors follow the contract, in JSON for a JSON request.
    let reply = client
        .request(
            subject::api::HISTORY,
            r#"{"agent":"nobody","series":"cpu_pct","from":-1000}"#.into(),
        )
        .await
        .expect("reply");
    let body: serde_json::Value = serde_json::from_slice(&reply.payload).expect("json body");
    assert_eq!(body["error"]["code"], "not_found");
    let code = reply
        .headers
        .as_ref()
        .and_then(|h| h.get(codec::SERVICE_ERROR_CODE))
        .map(|v| v.to_string());
    assert_eq!(code.as_deref(), Some("404"));
    let reply = client
        .request(subject::api::HISTORY, r#"{"series":"cpu_pct"}"#.into())
        .await
        .expect("reply");
    let body: serde_json::Value = serde_json::from_slice(&reply.payload).expect("json body");
    assert_eq!(body["error"]["code"], "bad_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("agent"),
        "{body}"
    );
    let reply = client
        .request(subject::api::HOSTS, "".into())
        .await
        .expect("reply");
    let body: serde_json::Value =
        serde_json::from_slice(&reply.payload).expect("empty body gets JSON");
    assert_eq!(body["hosts"][0]["agent"], "x");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_marks_a_host_offline_after_three_intervals() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), dir.path()).await;
    let client = async_nats::connect(server.url()).await.expect("connect");
    let info = HostInfo {
        interval_ms: Some(300),
        ..HostInfo::new(AgentId::parse("quiet").expect("id"))
    };
    publish_raw(&client, "swarm.hello.quiet", encoded(&info)).await;
    let started = Instant::now();
    wait_for(|| async {
        host(&client, "quiet")
            .await
            .is_ok_and(|r| r.host.status == HostStatus::Online)
    })
    .await;
    wait_for(|| async {
        host(&client, "quiet")
            .await
            .is_ok_and(|r| r.host.status == HostStatus::Offline)
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "offline only after 3 x 300 ms"
    );
    hub.stop().await;
}
