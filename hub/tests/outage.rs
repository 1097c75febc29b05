//! Outages while agents sample: what an agent could not deliver waits in
//! its spool and reaches the hub's history when the bus is back; a server
//! killed right after the hub's acknowledgements, or a hub that stops,
//! costs no sample and doubles none.
#![expect(clippy::expect_used, reason = "test set-up fails loudly")]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use swarm_agent::{Agent, AgentConfig, AgentError, AgentStats};
use swarm_common::AgentId;
use swarm_common::api::call;
use swarm_common::codec;
use swarm_common::nats::NatsArgs;
use swarm_common::protocol::{HistoryReply, HistoryRequest, HostInfo};
use swarm_common::subject;
use swarm_common::testkit::{NatsServer, request_until_answered};
use swarm_hub::testing::{TestHub, wait_for};

fn agent_config(
    url: &str,
    name: &str,
    interval: Duration,
    spool: std::path::PathBuf,
) -> AgentConfig {
    AgentConfig {
        interval,
        tags: vec![],
        spool_max_bytes: 8 << 20,
        ..AgentConfig::new(
            AgentId::parse(name).expect("id"),
            NatsArgs::for_url(url),
            spool,
        )
    }
}

/// `agent`'s cpu_pct of the last 10 minutes, every sample, as the hub has it.
async fn history(client: &async_nats::Client, agent: &str) -> Option<HistoryReply> {
    let req = HistoryRequest {
        agent: agent.into(),
        series: "cpu_pct".into(),
        from: -600_000,
        to: None,
        max_points: Some(20_000),
    };
    call(client, subject::api::HISTORY, &req, Duration::from_secs(2))
        .await
        .ok()
}

/// How many of those samples the hub has.
async fn stored(client: async_nats::Client, agent: &'static str) -> usize {
    history(&client, agent).await.map_or(0, |r| r.points.len())
}

/// An agent running in this process until [`RunningAgent::stop`].
struct RunningAgent {
    stats: Arc<AgentStats>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), AgentError>>,
}

impl RunningAgent {
    fn start(config: AgentConfig) -> Self {
        let agent = Agent::new(config);
        let stats = agent.stats.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(agent.run(async {
            let _ = stopped.await;
        }));
        Self { stats, stop, task }
    }

    /// A clean stop: the agent's last sample and its bye go out first.
    async fn stop(self) -> Arc<AgentStats> {
        let _ = self.stop.send(());
        self.task.await.expect("agent task").expect("agent ran");
        self.stats
    }
}

/// What an agent took: published live plus spooled.
fn taken(stats: &AgentStats) -> u64 {
    stats.published.load(Ordering::Relaxed) + stats.undelivered.load(Ordering::Relaxed)
}

/// Waits until the agent says its spool is empty and it replayed at least
/// `at_least` messages.
async fn drained(client: &async_nats::Client, agent: &str, at_least: u64) {
    let info_subject = subject::agent_info(&AgentId::parse(agent).expect("id"));
    wait_for(|| async {
        let Ok(msg) = client.request(info_subject.clone(), "".into()).await else {
            return false;
        };
        codec::from_msgpack::<HostInfo>(&msg.payload)
            .ok()
            .and_then(|i| i.spool)
            .is_some_and(|s| s.records == 0 && s.replayed >= at_least)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_15_second_bus_outage_loses_no_sample() {
    let mut server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), &dir.path().join("hub")).await;
    let names = ["outage-a", "outage-b"];
    let mut agents = Vec::new();
    for name in names {
        let agent = RunningAgent::start(agent_config(
            &server.url(),
            name,
            Duration::from_secs(1),
            dir.path().join(name),
        ));
        agents.push((name, agent));
    }
    let client = async_nats::connect(server.url()).await.expect("connect");
    for name in names {
        wait_for(|| stored(client.clone(), name).map_ok(|n| n >= 2)).await;
    }

    server.kill();
    tokio::time::sleep(Duration::from_secs(15)).await;
    let spooled: Vec<u64> = agents
        .iter()
        .map(|(_, agent)| agent.stats.undelivered.load(Ordering::Relaxed))
        .collect();
    assert!(
        spooled.iter().all(|n| *n >= 12),
        "the agents kept sampling into their spools: {spooled:?}"
    );
    server.restart();

    // Reconnect delays are capped near 2 s: the hub and every agent answer
    // again within about 3 s of the bus coming back (said, not timed: the
    // bound below only catches a backoff that grew to 15 s again).
    let back = Instant::now();
    let client = async_nats::connect(server.url()).await.expect("reconnect");
    request_until_answered(&client, subject::api::HOSTS, b"{}")
        .await
        .expect("the hub answers again");
    let hub_back = back.elapsed();
    for name in names {
        let info = subject::agent_info(&AgentId::parse(name).expect("id"));
        request_until_answered(&client, &info, b"")
            .await
            .expect("the agent answers again");
    }
    let all_back = back.elapsed();
    eprintln!("after the bus returned: hub answers in {hub_back:?}, every agent in {all_back:?}");
    assert!(all_back < Duration::from_secs(8), "{all_back:?}");
    for ((name, _), spooled) in agents.iter().zip(&spooled) {
        drained(&client, name, *spooled).await;
    }
    let mut report = Vec::new();
    for (name, agent) in agents {
        let taken = taken(&*agent.stop().await);
        wait_for(|| stored(client.clone(), name).map_ok(|n| n as u64 >= taken)).await;
        let kept = stored(client.clone(), name).await as u64;
        assert_eq!(kept, taken, "{name}: every sample taken is stored, once");
        report.push(format!("{name}: taken {taken}, stored {kept}"));
    }
    eprintln!("15 s outage: {} (spooled {spooled:?})", report.join("; "));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_killed_right_after_acks_loses_and_doubles_nothing() {
    let mut server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), &dir.path().join("hub")).await;
    let agent = RunningAgent::start(agent_config(
        &server.url(),
        "steady-k",
        Duration::from_millis(100),
        dir.path().join("spool"),
    ));
    let client = async_nats::connect(server.url()).await.expect("connect");
    // Three times: once the hub has stored (and so acknowledged) new
    // samples, SIGKILL the server at once, and bring it back.
    for round in 0..3 {
        let before = stored(client.clone(), "steady-k").await;
        wait_for(|| stored(client.clone(), "steady-k").map_ok(|n| n >= before + 5)).await;
        server.kill();
        tokio::time::sleep(Duration::from_millis(500 + 250 * round)).await;
        server.restart();
        wait_for(|| async { async_nats::connect(server.url()).await.is_ok() }).await;
    }
    let client = async_nats::connect(server.url()).await.expect("reconnect");
    drained(&client, "steady-k", 0).await;
    let stats = agent.stop().await;
    let taken = taken(&stats);
    wait_for(|| stored(client.clone(), "steady-k").map_ok(|n| n as u64 >= taken)).await;
    // Redelivered messages (the server forgot some acks) land on the same
    // samples: history has each sample once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let kept = stored(client.clone(), "steady-k").await as u64;
    assert_eq!(kept, taken, "taken {taken}, stored {kept}");
    eprintln!(
        "nats-server kill -9 x3 after acks: taken {taken}, stored {kept}, spooled {}",
        stats.undelivered.load(Ordering::Relaxed)
    );
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
    let agent = RunningAgent::start(agent_config(
        &server.url(),
        "steady",
        Duration::from_millis(100),
        dir.path().join("spool"),
    ));
    let client = async_nats::connect(server.url()).await.expect("connect");
    wait_for(|| stored(client.clone(), "steady").map_ok(|n| n >= 5)).await;

    // The hub goes away for 2 s; the agent keeps publishing into the stream.
    hub.stop().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hub = TestHub::start(&server.url(), &dir.path().join("hub")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A clean stop flushes what the agent published.
    let stats = agent.stop().await;
    let taken = taken(&stats);
    wait_for(|| stored(client.clone(), "steady").map_ok(|n| n as u64 == taken)).await;
    eprintln!(
        "hub outage: taken {taken}, stored {}",
        stored(client.clone(), "steady").await
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_loses_exactly_the_counted_oldest_samples() {
    let mut server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), &dir.path().join("hub")).await;
    let interval = Duration::from_millis(100);
    let mut config = agent_config(
        &server.url(),
        "overflow",
        interval,
        dir.path().join("spool"),
    );
    // Room for about 80 samples: a 10 s outage at 10 a second overflows.
    config.spool_max_bytes = 32 << 10;
    let agent = RunningAgent::start(config);
    let client = async_nats::connect(server.url()).await.expect("connect");
    wait_for(|| stored(client.clone(), "overflow").map_ok(|n| n >= 5)).await;

    server.kill();
    let killed_at = swarm_common::time::now_ms();
    tokio::time::sleep(Duration::from_secs(10)).await;
    server.restart();
    let client = async_nats::connect(server.url()).await.expect("reconnect");
    drained(&client, "overflow", 0).await;
    // The agent's own count of what it dropped, from its HostInfo.
    let info_subject = subject::agent_info(&AgentId::parse("overflow").expect("id"));
    let msg = client.request(info_subject, "".into()).await.expect("info");
    let spool = codec::from_msgpack::<HostInfo>(&msg.payload)
        .expect("HostInfo")
        .spool
        .expect("spool state");
    let stats = agent.stop().await;
    let taken = taken(&stats);
    let dropped = spool.dropped;
    assert!(dropped > 0, "the spool overflowed");
    wait_for(|| stored(client.clone(), "overflow").map_ok(|n| n as u64 + dropped >= taken)).await;
    let reply = history(&client, "overflow").await.expect("history");
    let kept = reply.points.len() as u64;
    assert_eq!(
        kept + dropped,
        taken,
        "taken {taken}, dropped {dropped}, stored {kept}"
    );
    // Oldest first: the only hole in the history is right after the kill,
    // and it is as long as the drops.
    let gaps: Vec<(u64, u64)> = reply
        .points
        .windows(2)
        .map(|w| (w[0].0, w[1].0 - w[0].0))
        .filter(|(_, gap)| *gap > 4 * interval.as_millis() as u64)
        .collect();
    assert_eq!(gaps.len(), 1, "one hole: {gaps:?}");
    let (hole_start, hole) = gaps[0];
    assert!(
        hole_start <= killed_at && killed_at <= hole_start + hole,
        "the hole starts at the kill: {gaps:?}, killed at {killed_at}"
    );
    // Sampling slips on a loaded machine (a tick late is a sample fewer
    // in the hole): the count is exact above, the hole's length near.
    let missing = hole / interval.as_millis() as u64;
    assert!(
        missing.abs_diff(dropped) <= 2 + dropped / 10,
        "the hole ({hole} ms, about {missing} samples) is the {dropped} dropped"
    );
    eprintln!("spool overflow: taken {taken}, dropped {dropped}, stored {kept}");
    hub.stop().await;
}

/// Without JetStream the hub answers an agent's stream-style publish once
/// it stored the message: the agent neither waits out its ack timeout on
/// every sample nor spools what the hub took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_jetstream_the_agent_is_acknowledged_by_the_hub() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("nats.conf");
    std::fs::write(&conf, "max_payload: 1MB\n").expect("config without JetStream");
    let server = NatsServer::start_with_file(&conf);
    let hub = TestHub::start(&server.url(), &dir.path().join("hub")).await;
    let agent = Agent::new(agent_config(
        &server.url(),
        "plain-1",
        Duration::from_millis(100),
        dir.path().join("spool"),
    ));
    let stats = agent.stats.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(agent.run(async {
        let _ = stopped.await;
    }));
    // Samples taken before the agent connected wait in the spool; from
    // then on each is answered. Waiting 2 s for an ack nobody gives would
    // publish one sample in two seconds and spool the rest.
    wait_for(|| async { stats.published.load(Ordering::Relaxed) > 0 }).await;
    let spooled_before = stats.undelivered.load(Ordering::Relaxed);
    let published_before = stats.published.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let published = stats.published.load(Ordering::Relaxed);
    let spooled = stats.undelivered.load(Ordering::Relaxed);
    assert!(
        published - published_before >= 12,
        "published {published_before} then {published}"
    );
    assert_eq!(
        spooled, spooled_before,
        "nothing the hub took went to the spool"
    );
    // What waited in the spool is replayed, and acknowledged the same way.
    let client = async_nats::connect(server.url()).await.expect("connect");
    drained(&client, "plain-1", spooled_before).await;
    let _ = stop.send(());
    task.await.expect("agent task").expect("agent ran");
    hub.stop().await;
}
