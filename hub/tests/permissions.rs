//! The shipped roles against a real nats-server: users made by
//! `swarm-hub access` (the same code), a matrix of role x (publish,
//! subscribe) x subject that must match the table in README.md
//! (Security), replies through `allow_responses`, and permission
//! violations reported by the client.
#![expect(clippy::expect_used, reason = "test set-up fails loudly")]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use swarm_common::nats::{self, NatsArgs, NatsHealth};
use swarm_common::roles::Role;
use swarm_common::testkit::{NatsServer, request_until_answered};
use swarm_hub::access::{Access, Secret};

/// How long a message that is allowed may take to arrive.
const ARRIVE: Duration = Duration::from_millis(300);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Act {
    Pub,
    Sub,
}

/// (subject, what it stands for); "own" is the agent web-1 and each
/// user's own inbox.
const SUBJECTS: [(&str, &str); 9] = [
    ("swarm.metrics.web-1", "own agent data"),
    ("swarm.metrics.web-2", "another agent's data"),
    ("swarm.agent.web-1.run", "run request to web-1"),
    ("swarm.agent.web-2.run", "run request to web-2"),
    ("swarm.api.hosts", "API read"),
    ("swarm.api.tests.create", "API write"),
    ("$JS.API.STREAM.LIST", "JetStream API"),
    ("_INBOX.someone-else.x", "another user's inbox"),
    ("{own inbox}", "own inbox"),
];

/// The table in README.md: per role, publish and subscribe, one letter per
/// subject above (y allowed, n denied).
const MATRIX: [(&str, Act, &str); 8] = [
    ("agent-web-1", Act::Pub, "ynnnnnnnn"),
    ("agent-web-1", Act::Sub, "nnynnnnny"),
    ("hub", Act::Pub, "nnyynnynn"),
    ("hub", Act::Sub, "yynnyynny"),
    ("viewer-1", Act::Pub, "nnnnynnnn"),
    ("viewer-1", Act::Sub, "yynnnnnny"),
    ("alice", Act::Pub, "nnnnyynnn"),
    ("alice", Act::Sub, "yynnnnnny"),
];

struct Users {
    server: NatsServer,
    secrets: Vec<(String, std::path::PathBuf)>,
}

fn setup(dir: &Path) -> Users {
    let access = Access::new(dir);
    let mut secrets = Vec::new();
    for (role, name) in [
        (Role::Agent, "web-1"),
        (Role::Hub, "hub"),
        (Role::Viewer, "viewer-1"),
        (Role::Operator, "alice"),
        (Role::Hub, "probe"),
    ] {
        let (user, secret) = access.add(role, name, false).expect("add user");
        let Secret::PasswordFile(path) = secret else {
            panic!("password user");
        };
        secrets.push((user.name, path));
    }
    // The probe sees everything: it is given every right in the test's copy.
    let conf = std::fs::read_to_string(access.auth_conf()).expect("auth.conf");
    let probe_at = conf.find("      user: \"probe\"").expect("probe entry");
    let perms_at = probe_at + conf[probe_at..].find("      permissions").expect("perms");
    let end_at = perms_at + conf[perms_at..].find("\n    }").expect("end");
    let open = format!(
        "{}      permissions: {{ publish: \">\", subscribe: \">\" }}{}",
        &conf[..perms_at],
        &conf[end_at..]
    );
    // Inline: nats-server resolves `include` relative to the including
    // file, and the test server's file lives in its own directory.
    let server = NatsServer::start_with_config(Some(&open));
    Users { server, secrets }
}

async fn connect(users: &Users, name: &str) -> (async_nats::Client, Arc<NatsHealth>) {
    let (_, path) = users
        .secrets
        .iter()
        .find(|(n, _)| n == name)
        .expect("known user");
    let mut args = NatsArgs::for_url(&users.server.url());
    args.user = Some(name.to_owned());
    args.password_file = Some(path.clone());
    let health = NatsHealth::new();
    let client = nats::connect_once(&args, name, health.clone())
        .await
        .unwrap_or_else(|e| panic!("{name} connects: {e}"));
    (client, health)
}

/// Waits until `sub` sees a message that `send` publishes (again every
/// 50 ms): then the server has taken every command sent before the
/// subscription. `flush` only empties the client's buffer, it is no round
/// trip.
async fn until_seen<F, Fut>(sub: &mut async_nats::Subscriber, token: &str, send: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        send().await;
        if let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(50), sub.next()).await
            && msg.payload == token.as_bytes()
        {
            return;
        }
    }
    panic!("the server never delivered the marker {token}");
}

/// Whether any message with `token` arrives on `sub` within [`ARRIVE`].
async fn arrives(sub: &mut async_nats::Subscriber, token: &str) -> bool {
    tokio::time::timeout(ARRIVE, async {
        while let Some(msg) = sub.next().await {
            if msg.payload == token.as_bytes() {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

/// Whether `name` (connected as `client`) can do `act` on `subject`, seen
/// from the probe. Payloads are unique, so checks running side by side on
/// the same subject cannot answer each other's.
async fn allowed(
    name: &str,
    client: &async_nats::Client,
    health: &NatsHealth,
    probe: &async_nats::Client,
    act: Act,
    subject: &str,
) -> bool {
    let token = || format!("{}", rand::random::<u64>());
    match act {
        Act::Pub => {
            let mut watch = probe
                .subscribe(subject.to_owned())
                .await
                .expect("probe sub");
            let marker = token();
            until_seen(&mut watch, &marker, || async {
                let _ = probe
                    .publish(subject.to_owned(), marker.clone().into())
                    .await;
            })
            .await;
            let violations = health.permission_violations();
            let test = token();
            client
                .publish(subject.to_owned(), test.clone().into())
                .await
                .expect("publish returns Ok even when denied");
            client.flush().await.expect("flush");
            let got = arrives(&mut watch, &test).await;
            if !got {
                // A denied publish comes back as an async error, counted.
                let deadline = tokio::time::Instant::now() + ARRIVE;
                while health.permission_violations() == violations
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                assert!(
                    health.permission_violations() > violations,
                    "{name}: a denied publish to {subject} is reported"
                );
            }
            got
        }
        Act::Sub => {
            let mut sub = client
                .subscribe(subject.to_owned())
                .await
                .expect("subscribe");
            // A marker on the user's own inbox, subscribed after: once it
            // arrives, the server has decided on the subscription above.
            let marker = token();
            let sync_subject = format!("_INBOX.{name}.sync.{marker}");
            let mut sync = client
                .subscribe(sync_subject.clone())
                .await
                .expect("sync sub");
            until_seen(&mut sync, &marker, || async {
                let _ = probe
                    .publish(sync_subject.clone(), marker.clone().into())
                    .await;
            })
            .await;
            let test = token();
            probe
                .publish(subject.to_owned(), test.clone().into())
                .await
                .expect("probe publish");
            arrives(&mut sub, &test).await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_match_the_documented_matrix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = setup(dir.path());
    let (probe, _) = connect(&users, "probe").await;
    let names = ["agent-web-1", "hub", "viewer-1", "alice"];
    // One connection per user, its checks in turn; users side by side.
    let per_user = names.map(|name| {
        let (users, probe) = (&users, &probe);
        async move {
            let (client, health) = connect(users, name).await;
            let mut wrong = Vec::new();
            let mut count = 0;
            for (_, act, row) in MATRIX.iter().filter(|(n, ..)| *n == name) {
                for ((subject, what), want) in SUBJECTS.iter().zip(row.chars()) {
                    let subject = if *subject == "{own inbox}" {
                        format!("_INBOX.{name}.x")
                    } else {
                        (*subject).to_owned()
                    };
                    let want = want == 'y';
                    let got = allowed(name, &client, &health, probe, *act, &subject).await;
                    count += 1;
                    if got != want {
                        wrong.push(format!(
                            "{name} {act:?} {subject} ({what}): expected allowed={want}"
                        ));
                    }
                }
            }
            (count, wrong)
        }
    });
    let results = futures::future::join_all(per_user).await;
    let total: usize = results.iter().map(|(n, _)| n).sum();
    let wrong: Vec<String> = results.into_iter().flat_map(|(_, w)| w).collect();
    assert!(
        wrong.is_empty(),
        "{} of {total} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(total, 72);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_answers_the_hubs_request_once_through_allow_responses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = setup(dir.path());
    let (agent, _) = connect(&users, "agent-web-1").await;
    let (hub, _) = connect(&users, "hub").await;
    let mut requests = agent
        .subscribe("swarm.agent.web-1.info")
        .await
        .expect("sub");
    // Answers every request (the first may come before the subscription
    // is in place: `flush` is no round trip, so the hub asks again).
    let answer = tokio::spawn(async move {
        while let Some(msg) = requests.next().await {
            let reply = msg.reply.expect("reply subject");
            agent.publish(reply, "info".into()).await.expect("reply");
            agent.flush().await.expect("flush");
        }
    });
    let reply = request_until_answered(&hub, "swarm.agent.web-1.info", b"?")
        .await
        .expect("the agent's answer passes");
    assert_eq!(&reply.payload[..], b"info");
    answer.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_unknown_users_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = setup(dir.path());
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-password\n").expect("write");
    for (user, file) in [("hub", &wrong), ("nobody", &wrong)] {
        let mut args = NatsArgs::for_url(&users.server.url());
        args.user = Some(user.to_owned());
        args.password_file = Some(file.clone());
        let err = nats::connect_once(&args, "t", NatsHealth::new())
            .await
            .expect_err("refused");
        assert!(
            matches!(err, nats::NatsError::AuthRefused(_)),
            "{user}: {err}"
        );
    }
}
