//! The shipped deployment configuration (`deploy/nats.conf`) with an
//! access directory made by `swarm-hub access` (CA, server certificate,
//! certificate users): mutual TLS maps each certificate to its user and
//! role; a plaintext client, a client without a certificate, one whose
//! certificate comes from another CA, and one that does not trust the
//! server's CA are all refused.
#![expect(clippy::expect_used, reason = "test set-up fails loudly")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use swarm_common::nats::{self, NatsArgs, NatsHealth};
use swarm_common::roles::Role;
use swarm_common::testkit::{NatsServer, request_until_answered};
use swarm_hub::access::{Access, Secret};

struct Deployment {
    _dir: tempfile::TempDir,
    server: NatsServer,
    ca: PathBuf,
    certs: Vec<(String, PathBuf, PathBuf)>,
}

fn cert_of(secret: Secret) -> (PathBuf, PathBuf) {
    match secret {
        Secret::Certificate { cert, key } => (cert, key),
        Secret::PasswordFile(_) => panic!("a certificate user"),
    }
}

fn deploy() -> Deployment {
    let dir = tempfile::tempdir().expect("tempdir");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats.conf");
    let text = std::fs::read_to_string(&shipped).expect("deploy/nats.conf");
    // Tests run side by side: no fixed monitoring port, a store of its own.
    let store = dir.path().join("js");
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("http:"))
        .map(|l| match l.trim_start().starts_with("store_dir:") {
            true => format!("  store_dir: {:?}\n", store.display().to_string()),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(dir.path().join("nats.conf"), text).expect("write");
    let access = Access::new(&dir.path().join("access"));
    access
        .tls_init(&["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("tls-init");
    let mut certs = Vec::new();
    for (role, name) in [
        (Role::Agent, "web-1"),
        (Role::Hub, "hub"),
        (Role::Operator, "alice"),
    ] {
        let (user, secret) = access.add(role, name, true).expect("add");
        let (cert, key) = cert_of(secret);
        certs.push((user.name, cert, key));
    }
    let server = NatsServer::start_with_file(&dir.path().join("nats.conf"));
    Deployment {
        ca: access.tls_dir().join("ca.pem"),
        _dir: dir,
        server,
        certs,
    }
}

fn args(d: &Deployment, user: Option<&str>) -> NatsArgs {
    let mut args = NatsArgs::for_url(&d.server.url());
    args.tls_ca = Some(d.ca.clone());
    if let Some(user) = user {
        let (_, cert, key) = d.certs.iter().find(|(n, ..)| n == user).expect("user");
        args.tls_cert = Some(cert.clone());
        args.tls_key = Some(key.clone());
        args.inbox_prefix = Some(swarm_common::roles::inbox_prefix(user));
    }
    args
}

async fn refused(args: &NatsArgs, why: &str) {
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        nats::connect_once(args, "t", NatsHealth::new()),
    )
    .await
    .expect("refused in time, not hung");
    assert!(result.is_err(), "{why}: must be refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_name_users_and_their_roles_hold() {
    let d = deploy();
    let hub_health = NatsHealth::new();
    let hub = nats::connect_once(&args(&d, Some("hub")), "hub", hub_health)
        .await
        .expect("the hub's certificate is accepted");
    let agent_health = NatsHealth::new();
    let agent = nats::connect_once(
        &args(&d, Some("agent-web-1")),
        "agent",
        agent_health.clone(),
    )
    .await
    .expect("the agent's certificate is accepted");
    let mut metrics = hub.subscribe("swarm.metrics.*").await.expect("sub");
    // The hub's subscription is in place once its own request round trip
    // (to the agent, which answers through allow_responses) completes.
    let mut requests = agent
        .subscribe("swarm.agent.web-1.info")
        .await
        .expect("sub");
    let answer = {
        let agent = agent.clone();
        tokio::spawn(async move {
            let msg = requests.next().await.expect("request");
            agent
                .publish(msg.reply.expect("reply"), "ok".into())
                .await
                .expect("reply");
            agent.flush().await.expect("flush");
        })
    };
    let reply = request_until_answered(&hub, "swarm.agent.web-1.info", b"").await;
    assert_eq!(
        &reply.expect("the agent answers the hub").payload[..],
        b"ok"
    );
    answer.await.expect("answered");

    agent
        .publish("swarm.metrics.web-2", "forged".into())
        .await
        .expect("publish returns");
    agent
        .publish("swarm.metrics.web-1", "mine".into())
        .await
        .expect("publish");
    agent.flush().await.expect("flush");
    let got = tokio::time::timeout(Duration::from_secs(3), metrics.next())
        .await
        .expect("a sample arrives")
        .expect("message");
    assert_eq!(
        got.subject.as_str(),
        "swarm.metrics.web-1",
        "never the forged one"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while agent_health.permission_violations() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(agent_health.permission_violations(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_certless_foreign_and_distrustful_clients_are_refused() {
    let d = deploy();
    // Plaintext: no TLS options at all.
    refused(&NatsArgs::for_url(&d.server.url()), "a plaintext client").await;
    // TLS, but no client certificate.
    refused(&args(&d, None), "a client without a certificate").await;
    // A certificate from another CA, for a user name the server knows.
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = Access::new(other_dir.path());
    other.tls_init(&["127.0.0.1".to_owned()]).expect("tls-init");
    let (_, secret) = other.add(Role::Hub, "hub", true).expect("add");
    let (cert, key) = cert_of(secret);
    let mut foreign = args(&d, None);
    foreign.tls_cert = Some(cert);
    foreign.tls_key = Some(key);
    refused(&foreign, "a certificate from another CA").await;
    // A client that trusts only the other CA does not accept the server.
    let mut distrustful = args(&d, Some("hub"));
    distrustful.tls_ca = Some(other.tls_dir().join("ca.pem"));
    refused(&distrustful, "a client with the wrong CA").await;
}

/// The whole system on the shipped deployment configuration: a hub, an
/// agent and an operator, each known only by its certificate, do their
/// jobs through their roles (JetStream ingest and acks, the API, a test
/// dispatched to the agent and its results).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_agent_and_operator_work_under_their_roles() {
    use swarm_agent::{Agent, AgentConfig};
    use swarm_common::AgentId;
    use swarm_common::api::call;
    use swarm_common::protocol::{
        HistoryReply, HistoryRequest, ResultsReply, ResultsRequest, TestKind, TestReply, TestSpec,
    };
    use swarm_common::subject;
    use swarm_hub::Hub;
    use swarm_hub::store::Store;

    let d = deploy();

    let data = tempfile::tempdir().expect("tempdir");
    let hub_client = nats::connect_once(&args(&d, Some("hub")), "hub", NatsHealth::new())
        .await
        .expect("hub connects");
    let hub = Hub::new(std::sync::Arc::new(
        Store::open(data.path()).expect("store"),
    ))
    .expect("hub");
    let (stop_hub, hub_stopped) = tokio::sync::oneshot::channel::<()>();
    let hub_task = tokio::spawn(async move {
        hub.run(hub_client, async {
            let _ = hub_stopped.await;
        })
        .await
    });

    // The agent is configured as an operator would: certificate, CA, and
    // the inbox prefix its role allows (set from its id).
    let mut agent_args = args(&d, Some("agent-web-1"));
    let id = AgentId::parse("web-1").expect("id");
    agent_args.inbox_prefix = Some(swarm_common::roles::inbox_prefix(
        &swarm_common::roles::agent_user(&id),
    ));
    let agent = Agent::new(AgentConfig {
        interval: Duration::from_millis(250),
        tags: vec!["tls".into()],
        spool_max_bytes: 1 << 20,
        ..AgentConfig::new(id, agent_args, data.path().join("spool"))
    });
    let agent_health = agent.health.clone();
    let agent_task = tokio::spawn(agent.run(std::future::pending()));

    let operator = nats::connect_once(&args(&d, Some("alice")), "alice", NatsHealth::new())
        .await
        .expect("operator connects");
    let t = Duration::from_secs(2);
    let history = HistoryRequest {
        agent: "web-1".into(),
        series: "cpu_pct".into(),
        from: -60_000,
        to: None,
        max_points: None,
    };
    swarm_hub::testing::wait_for(|| async {
        call::<_, HistoryReply>(&operator, subject::api::HISTORY, &history, t)
            .await
            .is_ok_and(|r| r.points.len() >= 3)
    })
    .await;
    let spec = TestSpec {
        port: Some(d.server.port()),
        interval_ms: Some(200),
        duration_ms: Some(1_000),
        ..TestSpec::new(TestKind::Tcp, "127.0.0.1", vec!["web-1".into()])
    };
    let test = call::<_, TestReply>(&operator, subject::api::TESTS_CREATE, &spec, t)
        .await
        .expect("an operator creates tests")
        .test;
    let results = ResultsRequest {
        id: test.id.to_string(),
        agent: None,
        since: None,
        limit: None,
    };
    swarm_hub::testing::wait_for(|| async {
        call::<_, ResultsReply>(&operator, subject::api::TESTS_RESULTS, &results, t)
            .await
            .is_ok_and(|r| r.results.iter().any(|r| r.ok == Some(true)))
    })
    .await;
    assert_eq!(
        agent_health.permission_violations(),
        0,
        "the agent stays inside its role"
    );
    agent_task.abort();
    let _ = stop_hub.send(());
    hub_task.await.expect("hub task").expect("hub ran");
}
