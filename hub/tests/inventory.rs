//! The inventory at fleet size over a real nats-server: 10,000 hosts page
//! through `swarm.api.hosts`, every reply within the server's
//! `max_payload`; hub-side tags and forgetting hosts.
#![expect(clippy::expect_used, reason = "test helpers fail loudly")]

use std::time::Duration;

use async_nats::Client;
use swarm_common::api::{CallError, all_hosts, call};
use swarm_common::nats::publish_msgpack;
use swarm_common::protocol::*;
use swarm_common::testkit::NatsServer;
use swarm_common::{AgentId, codec, subject};
use swarm_hub::testing::{TestHub, wait_for, wait_for_within};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A HostInfo of about `bytes` encoded bytes, as a well-described host has.
fn info(agent: &str, bytes: usize) -> HostInfo {
    HostInfo {
        hostname: Some(format!("{agent}.dc1.example.com")),
        os: Some("Debian GNU/Linux".into()),
        kernel: Some("6.1.0-18-amd64".into()),
        cpu_model: Some("x".repeat(bytes.saturating_sub(300))),
        cpu_cores: Some(16),
        interval_ms: Some(600_000),
        tags: vec!["role=web".into(), "dc=one".into()],
        ..HostInfo::new(AgentId::parse(agent).expect("id"))
    }
}

async fn publish_hellos(client: &Client, n: usize, bytes: usize) {
    let hellos = (0..n).map(|i| {
        let info = info(&format!("h-{i:05}"), bytes);
        (subject::hello(&info.agent), info)
    });
    swarm_hub::testing::publish_acked(client, hellos).await;
}

async fn page(client: &Client, req: &HostsRequest) -> (HostsReply, usize) {
    let body = codec::to_msgpack(req).expect("encodes");
    let reply = client
        .send_request(
            subject::api::HOSTS,
            async_nats::Request::new()
                .payload(body)
                .headers(codec::msgpack_headers())
                .timeout(Some(TIMEOUT)),
        )
        .await
        .expect("reply");
    let size = reply.payload.len();
    let decoded = codec::decode_reply::<HostsReply>(reply.headers.as_ref(), &reply.payload)
        .expect("decodes")
        .expect("a page");
    (decoded, size)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_hosts_page_within_max_payload() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), dir.path()).await;
    let client = async_nats::connect(server.url()).await.expect("connect");
    let max_payload = client.server_info().max_payload;
    const HOSTS: usize = 10_000;
    // 1.6 KB each: a page of 1,000 would be 1.6 MB, so pages are cut by size.
    publish_hellos(&client, HOSTS, 1_600).await;
    wait_for_within(Duration::from_secs(120), || async {
        hub.state.registry.len() == HOSTS
    })
    .await;

    let mut req = HostsRequest {
        limit: Some(MAX_HOSTS_PAGE),
        ..HostsRequest::default()
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (reply, size) = page(&client, &req).await;
        assert!(size <= max_payload, "page of {size} bytes");
        assert!(!reply.hosts.is_empty());
        pages += 1;
        seen.extend(reply.hosts.into_iter().map(|h| h.agent));
        match reply.next {
            Some(next) => req.after = Some(next),
            None => break,
        }
    }
    assert!(pages > HOSTS / 1000, "pages were cut by size: {pages}");
    assert_eq!(seen.len(), HOSTS);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "agent-id order, no repeats"
    );

    // The default page, and the client that pages for you.
    let (first, _) = page(&client, &HostsRequest::default()).await;
    assert!(first.hosts.len() <= DEFAULT_HOSTS_PAGE as usize);
    assert!(first.next.is_some());
    let all = all_hosts(&client, HostsRequest::default(), TIMEOUT)
        .await
        .expect("all hosts");
    assert_eq!(all.len(), HOSTS);

    // Filters apply before paging.
    let online = HostsRequest {
        status: Some(HostStatus::Offline),
        ..HostsRequest::default()
    };
    let (offline, _) = page(&client, &online).await;
    assert!(offline.hosts.is_empty() && offline.next.is_none());

    let too_many = HostsRequest {
        limit: Some(MAX_HOSTS_PAGE + 1),
        ..HostsRequest::default()
    };
    let refused = call::<_, HostsReply>(&client, subject::api::HOSTS, &too_many, TIMEOUT).await;
    assert!(
        matches!(
            refused,
            Err(CallError::Api(ApiError {
                code: ErrorCode::BadRequest,
                ..
            }))
        ),
        "{refused:?}"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_tags_merge_and_forgotten_hosts_are_gone() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), dir.path()).await;
    let client = async_nats::connect(server.url()).await.expect("connect");
    publish_hellos(&client, 2, 500).await;
    wait_for(|| async { hub.state.registry.len() == 2 }).await;

    let tags = HostTagsRequest {
        agent: "h-00000".into(),
        add: vec!["rack=7".into(), "role=web".into()],
        remove: vec![],
    };
    let reply: HostTagsReply = call(&client, subject::api::HOSTS_TAGS, &tags, TIMEOUT)
        .await
        .expect("tags");
    assert_eq!(reply.host.hub_tags, ["rack=7", "role=web"]);
    assert_eq!(reply.host.agent_tags, ["role=web", "dc=one"]);
    assert_eq!(reply.host.tags, ["role=web", "dc=one", "rack=7"]);
    let by_tag = HostsRequest {
        tag: Some("rack=7".into()),
        ..HostsRequest::default()
    };
    let found: HostsReply = call(&client, subject::api::HOSTS, &by_tag, TIMEOUT)
        .await
        .expect("hosts");
    assert_eq!(found.hosts.len(), 1, "tag: matches hub tags");

    let bad = HostTagsRequest {
        agent: "h-00000".into(),
        add: vec!["a\nb".into()],
        remove: vec![],
    };
    let refused = call::<_, HostTagsReply>(&client, subject::api::HOSTS_TAGS, &bad, TIMEOUT).await;
    assert!(matches!(
        refused,
        Err(CallError::Api(ApiError {
            code: ErrorCode::BadRequest,
            ..
        }))
    ));

    // Online hosts cannot be forgotten.
    let remove = HostRemoveRequest {
        agent: "h-00001".into(),
        purge: None,
    };
    let refused =
        call::<_, HostRemoveReply>(&client, subject::api::HOSTS_REMOVE, &remove, TIMEOUT).await;
    assert!(
        matches!(
            refused,
            Err(CallError::Api(ApiError {
                code: ErrorCode::Conflict,
                ..
            }))
        ),
        "{refused:?}"
    );
    let bye = Bye {
        agent: AgentId::parse("h-00001").expect("id"),
        ts: swarm_common::time::now_ms(),
    };
    publish_msgpack(&client, subject::bye(&bye.agent), &bye)
        .await
        .expect("bye");
    let offline = || async {
        let all: HostsReply = call(
            &client,
            subject::api::HOSTS,
            &HostsRequest::default(),
            TIMEOUT,
        )
        .await
        .expect("hosts");
        all.hosts
            .iter()
            .any(|h| h.agent.as_str() == "h-00001" && h.status == HostStatus::Offline)
    };
    wait_for(offline).await;
    let removed: HostRemoveReply = call(&client, subject::api::HOSTS_REMOVE, &remove, TIMEOUT)
        .await
        .expect("removed");
    assert_eq!(removed.agent.as_str(), "h-00001");
    let again =
        call::<_, HostRemoveReply>(&client, subject::api::HOSTS_REMOVE, &remove, TIMEOUT).await;
    assert!(matches!(
        again,
        Err(CallError::Api(ApiError {
            code: ErrorCode::NotFound,
            ..
        }))
    ));
    hub.stop().await;

    // Forgotten for good: not back after a restart; the hub tags stayed.
    let hub = TestHub::start(&server.url(), dir.path()).await;
    let all = all_hosts(&client, HostsRequest::default(), TIMEOUT)
        .await
        .expect("hosts");
    let names: Vec<&str> = all.iter().map(|h| h.agent.as_str()).collect();
    assert_eq!(names, ["h-00000"]);
    assert_eq!(all[0].hub_tags, ["rack=7", "role=web"]);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_is_on_disk_with_its_batch_not_at_the_next_checkpoint() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&server.url(), dir.path()).await;
    let client = async_nats::connect(server.url()).await.expect("connect");
    publish_hellos(&client, 1, 500).await;
    // Checkpoints come every 10 s; the batch that takes the hello commits
    // within 100 ms and writes its host record with it.
    let deadline = std::time::Instant::now() + swarm_hub::CHECKPOINT_EVERY / 2;
    let on_disk = loop {
        let hosts = hub.state.store.records().hosts().expect("hosts");
        if hosts.iter().any(|(a, _)| a == "h-00000") {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(on_disk, "the host record was written with its batch");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_hosts_are_forgotten_after_forget_after() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let retention = swarm_hub::Retention {
        forget_after: Some(Duration::from_secs(3_600)),
        ..swarm_hub::Retention::default()
    };
    let hub = TestHub::start_with(&server.url(), dir.path(), retention).await;
    let client = async_nats::connect(server.url()).await.expect("connect");
    publish_hellos(&client, 3, 0).await;
    wait_for(|| async { hub.state.registry.len() == 3 }).await;
    let now = swarm_common::time::now_ms();
    // Online now, and offline for less than an hour later: kept.
    assert!(hub.state.forget_retired(now).is_empty());
    assert!(hub.state.forget_retired(now + 1_800_000).is_empty());
    // Offline for more than an hour: forgotten, also on disk.
    let gone = hub.state.forget_retired(now + 7_200_000);
    assert_eq!(gone.len(), 3);
    let hosts = all_hosts(&client, HostsRequest::default(), Duration::from_secs(2))
        .await
        .expect("hosts");
    assert!(hosts.is_empty(), "{hosts:?}");
    hub.stop().await;
    let hub = TestHub::start(&server.url(), dir.path()).await;
    assert_eq!(hub.state.registry.len(), 0, "forgotten across a restart");
    hub.stop().await;
}
