//! A NATS outage while an agent samples: what it could not deliver waits
//! in its spool and reaches the hub's history when the bus is back.

use std::sync::atomic::Ordering;
use std::time::Duration;

use swarm_agent::{Agent, AgentConfig};
use swarm_common::AgentId;
use swarm_common::api::call;
use swarm_common::codec;
use swarm_common::nats::NatsArgs;
use swarm_common::protocol::{HistoryReply, HistoryRequest, HostInfo};
use swarm_common::subject;
use swarm_common::testkit::NatsServer;
use swarm_hub::testing::{TestHub, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_taken_during_an_outage_arrive_after_it() {
    let mut server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), &dir.path().join("hub")).await;
    let agent = Agent::new(AgentConfig {
        id: AgentId::parse("spooler").expect("id"),
        interval: Duration::from_millis(200),
        tags: vec![],
        nats: NatsArgs::for_url(&server.url()),
        spool_dir: dir.path().join("spool"),
        spool_max_bytes: 8 << 20,
    });
    let stats = agent.stats.clone();
    let agent = tokio::spawn(agent.run(std::future::pending()));
    let client = async_nats::connect(server.url()).await.expect("connect");
    let count = |client: async_nats::Client| async move {
        let req = HistoryRequest {
            agent: "spooler".into(),
            series: "cpu_pct".into(),
            from: -600_000,
            to: None,
            max_points: Some(20_000),
        };
        call::<_, HistoryReply>(&client, subject::api::HISTORY, &req, Duration::from_secs(2))
            .await
            .map(|r| r.points.len())
            .unwrap_or(0)
    };
    wait_for(|| count(client.clone()).map_ok(|n| n >= 5)).await;

    server.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let spooled = stats.undelivered.load(Ordering::Relaxed);
    assert!(
        spooled >= 10,
        "the agent kept sampling into its spool: {spooled}"
    );
    server.restart();

    // The agent's own info says when its spool is drained.
    let client = async_nats::connect(server.url()).await.expect("reconnect");
    let info_subject = subject::agent_info(&AgentId::parse("spooler").expect("id"));
    wait_for(|| async {
        let Ok(msg) = client.request(info_subject.clone(), "".into()).await else {
            return false;
        };
        codec::from_msgpack::<HostInfo>(&msg.payload)
            .ok()
            .and_then(|i| i.spool)
            .is_some_and(|s| s.records == 0 && s.replayed >= spooled)
    })
    .await;
    agent.abort();
    let taken = stats.published.load(Ordering::Relaxed) + stats.undelivered.load(Ordering::Relaxed);
    wait_for(|| count(client.clone()).map_ok(|n| n as u64 + 3 >= taken)).await;
    let stored = count(client.clone()).await as u64;
    // Samples published in the instant the server died are the only ones
    // core NATS cannot vouch for.
    assert!(
        stored <= taken && stored + 3 >= taken,
        "taken {taken}, stored {stored}, spooled {spooled}"
    );
    eprintln!("outage: taken {taken}, spooled {spooled}, stored {stored}");
    hub.stop().await;
}

trait MapOk {
    fn map_ok(self, f: impl FnOnce(usize) -> bool) -> impl std::future::Future<Output = bool>;
}

impl<F: std::future::Future<Output = usize>> MapOk for F {
    async fn map_ok(self, f: impl FnOnce(usize) -> bool) -> bool {
        f(self.await)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_jetstream_a_hub_outage_loses_nothing() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), &dir.path().join("hub")).await;
    let agent = Agent::new(AgentConfig {
        id: AgentId::parse("steady").expect("id"),
        interval: Duration::from_millis(100),
        tags: vec![],
        nats: NatsArgs::for_url(&server.url()),
        spool_dir: dir.path().join("spool"),
        spool_max_bytes: 8 << 20,
    });
    let stats = agent.stats.clone();
    let (stop_agent, agent_stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(agent.run(async {
        let _ = agent_stopped.await;
    }));
    let client = async_nats::connect(server.url()).await.expect("connect");
    let count = |client: async_nats::Client| async move {
        let req = HistoryRequest {
            agent: "steady".into(),
            series: "cpu_pct".into(),
            from: -600_000,
            to: None,
            max_points: Some(20_000),
        };
        call::<_, HistoryReply>(&client, subject::api::HISTORY, &req, Duration::from_secs(2))
            .await
            .map(|r| r.points.len())
            .unwrap_or(0)
    };
    wait_for(|| count(client.clone()).map_ok(|n| n >= 5)).await;

    // The hub goes away for 2 s; the agent keeps publishing into the stream.
    hub.stop().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hub = TestHub::start(&server.url(), &dir.path().join("hub")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A clean stop flushes what the agent published.
    let _ = stop_agent.send(());
    agent.await.expect("agent task").expect("agent ran");
    let taken = stats.published.load(Ordering::Relaxed) + stats.undelivered.load(Ordering::Relaxed);
    wait_for(|| count(client.clone()).map_ok(|n| n as u64 == taken)).await;
    eprintln!(
        "hub outage: taken {taken}, stored {}",
        count(client.clone()).await
    );
    hub.stop().await;
}
