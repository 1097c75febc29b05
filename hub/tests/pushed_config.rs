//! Configuration pushed from the hub to real agents on a real nats-server:
//! three agents chosen by tag, one offline when it is put (it gets it at
//! its hello), one that refuses it (a plugin it does not have) and keeps
//! its own settings; an agent restarted keeps the config it applied.
#![expect(clippy::expect_used, reason = "test helpers fail loudly")]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::Client;
use futures::StreamExt;
use swarm_agent::{Agent, AgentConfig as AgentSetup};
use swarm_common::api::call;
use swarm_common::nats::NatsArgs;
use swarm_common::protocol::fleet::*;
use swarm_common::protocol::*;
use swarm_common::testkit::NatsServer;
use swarm_common::{AgentId, codec, subject};
use swarm_hub::testing::{TestHub, wait_for};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TIMEOUT: Duration = Duration::from_secs(2);

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), swarm_agent::AgentError>>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("joins").expect("agent ran");
    }
}

fn start(url: &str, name: &str, state: &Path, plugins: Option<PathBuf>) -> Running {
    let config = AgentSetup {
        interval: Duration::from_millis(300),
        tags: vec!["role=web".into()],
        plugins_dir: plugins,
        ..AgentSetup::new(
            AgentId::parse(name).expect("id"),
            NatsArgs::for_url(url),
            state.join(name),
        )
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(Agent::new(config).run(async {
        let _ = stopped.await;
    }));
    Running { stop, task }
}

async fn status(client: &Client, agent: &str) -> Option<ConfigStatus> {
    let reply: ConfigStatusReply = call(
        client,
        subject::api::CONFIG_STATUS,
        &ConfigStatusRequest {
            agent: Some(agent.into()),
            ..Default::default()
        },
        TIMEOUT,
    )
    .await
    .ok()?;
    reply.agents.into_iter().next()
}

async fn host(client: &Client, agent: &str) -> Option<HostSummary> {
    let reply: HostReply = call(
        client,
        subject::api::HOST,
        &HostRequest {
            agent: agent.into(),
        },
        TIMEOUT,
    )
    .await
    .ok()?;
    Some(reply.host)
}

async fn online(client: &Client, agent: &str) -> bool {
    host(client, agent)
        .await
        .is_some_and(|h| h.status == HostStatus::Online)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_reaches_the_agents_a_tag_names_and_is_kept() {
    let server = NatsServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&url, &dir.path().join("hub")).await;
    let client = async_nats::connect(&url).await.expect("connect");

    // A and B have the plugin the config asks for; C has none.
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    let script = plugins.join("queue");
    std::fs::write(&script, "#!/bin/sh\necho 'queue_depth{q=\"mail\"} 7'\n").expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let empty = dir.path().join("no-plugins");
    std::fs::create_dir_all(&empty).expect("empty dir");
    let state = dir.path().join("agents");

    let a = start(&url, "web-a", &state, Some(plugins.clone()));
    let b = start(&url, "web-b", &state, Some(plugins.clone()));
    let c = start(&url, "web-c", &state, Some(empty));
    for name in ["web-a", "web-b", "web-c"] {
        wait_for(|| online(&client, name)).await;
    }
    // B goes away before the config is put.
    b.stop().await;
    wait_for(|| async { !online(&client, "web-b").await }).await;

    // What the hub refuses never reaches an agent.
    let refused: Result<ConfigPutReply, _> = call(
        &client,
        subject::api::CONFIG_PUT,
        &ConfigPutRequest {
            agents: vec!["tag:role=web".into()],
            config: AgentConfig {
                interval_ms: Some(1),
                ..Default::default()
            },
        },
        TIMEOUT,
    )
    .await;
    let error = refused
        .expect_err("an interval of 1 ms is refused")
        .to_string();
    assert!(error.contains("interval_ms"), "{error}");

    let config = AgentConfig {
        interval_ms: Some(1_000),
        plugins: Some(vec!["queue".into()]),
        collectors: Some(Collectors {
            processes: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    };
    let put: ConfigPutReply = call(
        &client,
        subject::api::CONFIG_PUT,
        &ConfigPutRequest {
            agents: vec!["tag:role=web".into()],
            config: config.clone(),
        },
        TIMEOUT,
    )
    .await
    .expect("put");
    let rev = put.rev;
    assert_eq!(put.matched, Some(3));
    assert_eq!(put.agents.len(), 3, "offline hosts are chosen too");

    // A applies it; C refuses it and keeps its own settings.
    wait_for(|| async {
        status(&client, "web-a")
            .await
            .is_some_and(|s| s.applied_rev == rev)
    })
    .await;
    wait_for(|| async {
        status(&client, "web-c")
            .await
            .is_some_and(|s| s.error.is_some())
    })
    .await;
    let c_status = status(&client, "web-c").await.expect("status");
    assert_eq!((c_status.desired_rev, c_status.applied_rev), (rev, 0));
    let why = c_status.error.expect("error");
    assert!(why.contains("not installed"), "{why}");
    let b_status = status(&client, "web-b").await.expect("status");
    assert_eq!((b_status.desired_rev, b_status.applied_rev), (rev, 0));
    assert_eq!(
        b_status.config,
        Some(config.clone()),
        "one agent's status shows the config"
    );

    // A runs with it: its hello says so and its samples carry the plugin.
    wait_for(|| async {
        host(&client, "web-a").await.is_some_and(|h| {
            let info = h.info.as_ref();
            info.and_then(|i| i.config_rev) == Some(rev)
                && info.and_then(|i| i.interval_ms) == Some(1_000)
                && h.latest
                    .as_ref()
                    .is_some_and(|l| l.custom.get("queue_depth{q=mail}") == Some(&7.0))
        })
    })
    .await;
    let c_host = host(&client, "web-c").await.expect("host");
    assert_eq!(
        c_host.info.and_then(|i| i.interval_ms),
        Some(300),
        "C kept its own interval"
    );

    // B comes back and gets the config at its hello.
    let b = start(&url, "web-b", &state, Some(plugins.clone()));
    wait_for(|| async {
        status(&client, "web-b")
            .await
            .is_some_and(|s| s.applied_rev == rev)
    })
    .await;

    // The page of every status lists all three in agent order.
    let page: ConfigStatusReply = call(
        &client,
        subject::api::CONFIG_STATUS,
        &ConfigStatusRequest::default(),
        TIMEOUT,
    )
    .await
    .expect("statuses");
    let names: Vec<&str> = page.agents.iter().map(|s| s.agent.as_str()).collect();
    assert_eq!(names, ["web-a", "web-b", "web-c"]);

    // A restarted announces the applied revision in its first hello: it
    // kept the config on its disk.
    a.stop().await;
    let mut hellos = client
        .subscribe(subject::hello(&AgentId::parse("web-a").expect("id")))
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    let a = start(&url, "web-a", &state, Some(plugins));
    let first = tokio::time::timeout(Duration::from_secs(10), hellos.next())
        .await
        .expect("a hello within 10 s")
        .expect("a message");
    let info: HostInfo = codec::Encoding::of_request(first.headers.as_ref(), &first.payload)
        .decode(&first.payload)
        .expect("HostInfo");
    assert_eq!(info.config_rev, Some(rev));
    assert_eq!(info.interval_ms, Some(1_000));

    // The hub keeps desired and applied revisions across its restart.
    for agent in [a, b, c] {
        agent.stop().await;
    }
    hub.stop().await;
    let hub = TestHub::start(&url, &dir.path().join("hub")).await;
    let a_status = status(&client, "web-a")
        .await
        .expect("status after restart");
    assert_eq!((a_status.desired_rev, a_status.applied_rev), (rev, rev));
    hub.stop().await;
}
