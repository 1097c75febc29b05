//! A NATS outage while an agent samples: what it could not deliver waits
//! in its spool and reaches the hub's history when the bus is back.
#![expect(clippy::expect_used, reason = "test set-up fails loudly")]

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

fn agent_config(
    url: &str,
    name: &str,
    interval: Duration,
    spool: std::path::PathBuf,
) -> AgentConfig {
    AgentConfig {
        id: AgentId::parse(name).expect("id"),
        interval,
        tags: vec![],
        nats: NatsArgs::for_url(url),
        spool_dir: spool,
        spool_max_bytes: 8 << 20,
    }
}

/// Samples of `agent`'s cpu_pct in the last 10 minutes, as the hub has them.
async fn stored(client: async_nats::Client, agent: &'static str) -> usize {
    let req = HistoryRequest {
        agent: agent.into(),
        series: "cpu_pct".into(),
        from: -600_000,
        to: None,
        max_points: Some(20_000),
    };
    call::<_, HistoryReply>(&client, subject::api::HISTORY, &req, Duration::from_secs(2))
        .await
        .map(|r| r.points.len())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_taken_during_an_outage_arrive_after_it() {
    let mut server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), &dir.path().join("hub")).await;
    let agent = Agent::new(agent_config(
        &server.url(),
        "spooler",
        Duration::from_millis(200),
        dir.path().join("spool"),
    ));
    let stats = agent.stats.clone();
    let agent = tokio::spawn(agent.run(std::future::pending()));
    let client = async_nats::connect(server.url()).await.expect("connect");
    wait_for(|| stored(client.clone(), "spooler").map_ok(|n| n >= 5)).await;

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
    wait_for(|| stored(client.clone(), "spooler").map_ok(|n| n as u64 + 3 >= taken)).await;
    let kept = stored(client.clone(), "spooler").await as u64;
    // Samples published in the instant the server died are the only ones
    // core NATS cannot vouch for.
    assert!(
        kept <= taken && kept + 3 >= taken,
        "taken {taken}, stored {kept}, spooled {spooled}"
    );
    eprintln!("outage: taken {taken}, spooled {spooled}, stored {kept}");
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
    let agent = Agent::new(agent_config(
        &server.url(),
        "steady",
        Duration::from_millis(100),
        dir.path().join("spool"),
    ));
    let stats = agent.stats.clone();
    let (stop_agent, agent_stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(agent.run(async {
        let _ = agent_stopped.await;
    }));
    let client = async_nats::connect(server.url()).await.expect("connect");
    wait_for(|| stored(client.clone(), "steady").map_ok(|n| n >= 5)).await;

    // The hub goes away for 2 s; the agent keeps publishing into the stream.
    hub.stop().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hub = TestHub::start(&server.url(), &dir.path().join("hub")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A clean stop flushes what the agent published.
    let _ = stop_agent.send(());
    agent.await.expect("agent task").expect("agent ran");
    let taken = stats.published.load(Ordering::Relaxed) + stats.undelivered.load(Ordering::Relaxed);
    wait_for(|| stored(client.clone(), "steady").map_ok(|n| n as u64 == taken)).await;
    eprintln!(
        "hub outage: taken {taken}, stored {}",
        stored(client.clone(), "steady").await
    );
    hub.stop().await;
}
