//! The simulator in-process against a real nats-server: 200 agents announce
//! themselves and publish decodable metrics, one accepts a test run and
//! publishes results until cancelled, and all say bye at shutdown.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use swarm_common::api::call;
use swarm_common::protocol::{
    Ack, Bye, CancelRun, HostInfo, MetricsSample, TestKind, TestResult, TestRun,
};
use swarm_common::testkit::NatsServer;
use swarm_common::time::now_ms;
use swarm_common::{AgentId, TestId, codec, subject};
use swarm_sim::{Sim, SimConfig};
use tokio::time::{Instant, timeout};

const AGENTS: u32 = 200;
const TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_agents_speak_the_protocol() {
    let server = NatsServer::start();
    let observer = async_nats::connect(server.url())
        .await
        .expect("observer connects");
    let mut everything = observer
        .subscribe(subject::EVERYTHING)
        .await
        .expect("subscribe");
    observer.flush().await.expect("flush");

    let config = SimConfig {
        agents: AGENTS,
        interval: Duration::from_millis(500),
        seed: 1,
        ..SimConfig::default()
    };
    let sim_client = async_nats::connect(server.url())
        .await
        .expect("sim connects");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sim = tokio::spawn(Sim::new(config).run(sim_client, async {
        let _ = stopped.await;
    }));

    // Every agent says hello, then publishes metrics that decode.
    let mut hellos = HashSet::new();
    let mut sampled = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while (hellos.len() < AGENTS as usize || sampled.len() < AGENTS as usize)
        && Instant::now() < deadline
    {
        let Ok(Some(msg)) = timeout(TIMEOUT, everything.next()).await else {
            break;
        };
        let s = msg.subject.as_str();
        if let Some(token) = s.strip_prefix("swarm.hello.") {
            let info: HostInfo = codec::from_msgpack(&msg.payload).expect("hello is HostInfo");
            assert_eq!(info.agent.as_str(), token);
            assert_eq!(info.interval_ms, Some(500));
            assert!(info.tags.contains(&"sim".to_owned()));
            hellos.insert(info.agent);
        } else if let Some(token) = s.strip_prefix("swarm.metrics.") {
            let sample: MetricsSample =
                codec::from_msgpack(&msg.payload).expect("metrics decode as MetricsSample");
            assert_eq!(sample.agent.as_str(), token);
            assert!(sample.cpu_pct.is_some_and(|c| (0.0..=100.0).contains(&c)));
            assert!(!sample.disks.is_empty() && sample.net.is_some());
            assert!(hellos.contains(&sample.agent), "hello comes before metrics");
            sampled.insert(sample.agent);
        }
    }
    assert_eq!(hellos.len(), AGENTS as usize, "hellos from every agent");
    assert_eq!(sampled.len(), AGENTS as usize, "metrics from every agent");
    assert!(hellos.iter().all(|id| id.as_str().starts_with("sim-00")));

    // One agent answers info and takes a ping test.
    let agent = AgentId::parse("sim-00007").expect("valid id");
    let t1 = TestId::parse("t1").expect("valid id");
    let info: HostInfo = call(
        &observer,
        &subject::agent_info(&agent),
        &BTreeMap::<String, String>::new(),
        TIMEOUT,
    )
    .await
    .expect("info answered");
    assert_eq!(info.agent, agent);

    let mut results = observer
        .subscribe(subject::results(&t1, &agent))
        .await
        .expect("subscribe results");
    observer.flush().await.expect("flush");
    let run = TestRun {
        test_id: t1.clone(),
        run_id: "r1".into(),
        kind: TestKind::Ping,
        target: "10.0.0.5".into(),
        port: None,
        interval_ms: 100,
        until: now_ms() + 30_000,
        timeout_ms: 1_000,
    };
    let ack: Ack = call(&observer, &subject::agent_run(&agent), &run, TIMEOUT)
        .await
        .expect("run answered");
    assert_eq!(ack, Ack::yes());
    let mut seqs = Vec::new();
    while seqs.len() < 5 {
        let msg = timeout(TIMEOUT, results.next())
            .await
            .expect("results keep coming")
            .expect("subscription open");
        let r: TestResult = codec::from_msgpack(&msg.payload).expect("result decodes");
        assert_eq!(
            (r.test_id.as_str(), r.run_id.as_str(), r.kind),
            ("t1", "r1", TestKind::Ping)
        );
        assert_eq!(r.agent, agent);
        assert_eq!(r.addr.as_deref(), Some("10.0.0.5"));
        seqs.push(r.seq.expect("ping results carry seq"));
    }
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "seq counts up: {seqs:?}"
    );

    // A refused run says why.
    let bad = TestRun {
        until: now_ms() - 1,
        ..run.clone()
    };
    let refused: Ack = call(&observer, &subject::agent_run(&agent), &bad, TIMEOUT)
        .await
        .expect("answered");
    assert!(!refused.accepted && refused.error.is_some());

    // Cancel stops the results.
    let ack: Ack = call(
        &observer,
        &subject::agent_cancel(&agent),
        &CancelRun {
            test_id: t1.clone(),
        },
        TIMEOUT,
    )
    .await
    .expect("cancel answered");
    assert!(ack.accepted);
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Some(Some(_)) = results.next().now_or_never() {}
    assert!(
        timeout(Duration::from_millis(400), results.next())
            .await
            .is_err(),
        "no results after cancel"
    );

    // At shutdown every agent says bye.
    stop.send(()).expect("sim still running");
    let summary = timeout(Duration::from_secs(10), sim)
        .await
        .expect("sim stops")
        .expect("sim task")
        .expect("sim ran");
    let mut byes = HashSet::new();
    while byes.len() < AGENTS as usize {
        let Ok(Some(msg)) = timeout(TIMEOUT, everything.next()).await else {
            break;
        };
        if msg.subject.as_str().starts_with("swarm.bye.") {
            let bye: Bye = codec::from_msgpack(&msg.payload).expect("bye decodes");
            byes.insert(bye.agent);
        }
    }
    assert_eq!(byes.len(), AGENTS as usize, "bye from every agent");
    let t = summary.totals;
    assert_eq!((t.hello, t.bye, t.errors, t.runs_started), (200, 200, 0, 1));
    assert!(
        t.metrics >= 400,
        "two rounds of metrics at least: {summary}"
    );
    assert!(t.results >= 5 && t.replies >= 4, "{summary}");
}
