//! The scriptable subcommands, run as a script would: the real binary
//! against a real nats-server, hub and agent. Output and exit status.
#![expect(clippy::expect_used, reason = "test set-up fails loudly")]

use std::process::Output;
use std::time::Duration;

use swarm_agent::{Agent, AgentConfig};
use swarm_common::AgentId;
use swarm_common::nats::NatsArgs;
use swarm_common::testkit::NatsServer;
use swarm_hub::testing::{TestHub, wait_for};
use tokio::process::Command;

/// Runs the binary without blocking the runtime that hosts the hub and
/// the agent; a run that hangs fails the test instead of stalling it.
async fn tui(url: &str, args: &[&str]) -> Output {
    let run = Command::new(env!("CARGO_BIN_EXE_swarm-tui"))
        .env("SWARM_NATS_URL", url)
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("swarm-tui {args:?} did not finish within 60 s"))
        .expect("run swarm-tui")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_subcommands_for_scripts() {
    let server = NatsServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&url, dir.path()).await;
    let agent = Agent::new(AgentConfig {
        interval: Duration::from_millis(500),
        tags: vec!["cli".into()],
        spool_max_bytes: 8 << 20,
        ..AgentConfig::new(
            AgentId::parse("cli-1").expect("id"),
            NatsArgs::for_url(&url),
            tempfile::tempdir().expect("spool dir").keep(),
        )
    });
    let agent = tokio::spawn(agent.run(std::future::pending()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();

    wait_for(|| async {
        let out = tui(&url, &["hosts"]).await;
        out.status.success() && stdout(&out).contains("cli-1")
    })
    .await;
    let out = tui(&url, &["hosts", "--json"]).await;
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one line per host");
    let host: serde_json::Value = serde_json::from_str(lines[0]).expect("json");
    assert_eq!(host["agent"], "cli-1");

    // A config pushed by tag reaches the agent and is shown in force.
    let out = tui(
        &url,
        &[
            "config",
            "push",
            "--agents",
            "tag:cli",
            "--interval",
            "700ms",
            "--disable",
            "processes",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("for 1 hosts: cli-1"),
        "{}",
        stdout(&out)
    );
    wait_for(|| async {
        let out = tui(&url, &["config", "status"]).await;
        stdout(&out).contains("in force")
    })
    .await;
    let out = tui(&url, &["config", "status", "cli-1"]).await;
    assert!(
        stdout(&out).contains("interval_ms = 700"),
        "{}",
        stdout(&out)
    );
    let out = tui(
        &url,
        &["config", "push", "--agents", "nobody-*", "--interval", "1s"],
    )
    .await;
    assert!(!out.status.success(), "no host matched is an error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("match no known host"));

    let create = [
        "test",
        "create",
        "--kind",
        "tcp",
        "--target",
        "127.0.0.1",
        "--port",
        &port,
        "--agents",
        "cli-*",
        "--interval",
        "200ms",
        "--duration",
        "1s",
        // The probes' timeout, not the wait for the hub (--hub-wait).
        "--timeout",
        "3s",
        "--hub-wait",
        "10s",
        "--json",
    ];
    let out = tui(&url, &create).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let id = created["test"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created["test"]["timeout_ms"], 3_000);

    // --follow prints results as they arrive and ends with the test.
    let out = tui(&url, &["test", "show", &id, "--follow", "--json"]).await;
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON result per line"))
        .collect();
    assert!(lines.len() >= 3, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|r| r["ok"] == true && r["agent"] == "cli-1")
    );

    let out = tui(&url, &["test", "show", &id]).await;
    let text = stdout(&out);
    assert!(
        text.contains("[done]") && text.contains("cli-1") && text.contains("LOSS%"),
        "{text}"
    );
    let out = tui(&url, &["test", "list"]).await;
    assert!(stdout(&out).contains(&id));
    let out = tui(&url, &["test", "cancel", &id, "--json"]).await;
    assert!(out.status.success());

    // A recurring test shows its period and next run; a refusal speaks
    // in human units.
    let create = |kind, agents| {
        [
            "test",
            "create",
            "--kind",
            kind,
            "--target",
            "127.0.0.1",
            "--agents",
            agents,
        ]
    };
    let ping = create("ping", "cli-*");
    let recurring = ["--duration", "1s", "--every", "1h", "--at", "30m"];
    let out = tui(&url, &[&ping[..], &recurring].concat()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recurring_id = stdout(&out).trim().to_owned();
    let out = tui(&url, &["test", "list"]).await;
    let line = stdout(&out)
        .lines()
        .find(|l| l.contains(&recurring_id))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        line.contains("every 1h, next") && line.contains("(in 2"),
        "{line}"
    );
    let out = tui(&url, &["test", "show", &recurring_id]).await;
    assert!(
        stdout(&out).contains("· every 1h, next"),
        "{}",
        stdout(&out)
    );
    let _ = tui(&url, &["test", "cancel", &recurring_id]).await;
    let out = tui(&url, &[&ping[..], &["--interval", "10ms"]].concat()).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("100ms to 1h (got 10ms)"), "{err}");

    // Exit codes scripts can trust.
    assert_eq!(
        tui(&url, &["test", "show", "nosuchtest"])
            .await
            .status
            .code(),
        Some(3)
    );
    let none = create("ping", "web-*");
    assert_eq!(
        tui(&url, &none).await.status.code(),
        Some(3),
        "no agent matches"
    );
    let bad = create("tcp", "cli-1");
    let out = tui(&url, &bad).await;
    assert_eq!(out.status.code(), Some(2), "tcp without a port");
    assert!(String::from_utf8_lossy(&out.stderr).contains("port"));
    assert_eq!(
        tui(&url, &["test", "create", "--kind", "dns"])
            .await
            .status
            .code(),
        Some(2),
        "bad usage"
    );
    assert_eq!(
        tui("nats://127.0.0.1:1", &["test", "list"])
            .await
            .status
            .code(),
        Some(1),
        "no NATS"
    );

    agent.abort();
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_from_a_file_silences_and_the_alert_list() {
    let server = NatsServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(&url, dir.path().join("data").as_path()).await;
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        r#"
[[rule]]
name = "cpu-high"
series = "cpu_pct"
agents = ["web-*"]
op = ">"
threshold = 90
recover = 80
for = "5m"
severity = "critical"
summary = "CPU above 90 % for 5 minutes"

[[rule]]
name = "down"
series = "host_down"
for = "1m"
"#,
    )
    .expect("write rules");
    let out = tui(&url, &["alerts", "apply", rules.to_str().expect("path")]).await;
    assert!(out.status.success(), "{out:?}");
    let out = tui(&url, &["alerts", "rules", "--json"]).await;
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed["rules"][0]["name"], "cpu-high");
    assert_eq!(listed["rules"][0]["for_ms"], 300_000);
    assert_eq!(listed["rules"][0]["severity"], "critical");
    assert_eq!(listed["rules"][1]["series"], "host_down");
    let out = tui(&url, &["alerts", "rules"]).await;
    assert!(
        stdout(&out).contains("cpu-high: cpu_pct > 90 for 5m (recover 80) on web-* [critical]"),
        "{}",
        stdout(&out)
    );

    // A bad file is refused before anything is sent, naming the rule.
    std::fs::write(&rules, "[[rule]]\nname = \"Bad\"\nseries = \"cpu_pct\"\n").expect("write");
    let out = tui(&url, &["alerts", "apply", rules.to_str().expect("path")]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"Bad\""),
        "{out:?}"
    );
    // --prune removes what the file no longer has.
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"down\"\nseries = \"host_down\"\n",
    )
    .expect("write");
    let out = tui(
        &url,
        &["alerts", "apply", "--prune", rules.to_str().expect("path")],
    )
    .await;
    assert!(stdout(&out).contains("deleted cpu-high"), "{out:?}");

    let out = tui(
        &url,
        &[
            "alerts",
            "silence",
            "--agents",
            "web-*",
            "--for",
            "2h",
            "--comment",
            "deploy",
        ],
    )
    .await;
    assert!(stdout(&out).starts_with("silence "), "{out:?}");
    let out = tui(&url, &["alerts", "silences", "--json"]).await;
    let silences: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(silences["silences"][0]["comment"], "deploy");
    let id = silences["silences"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let out = tui(&url, &["alerts", "unsilence", &id]).await;
    assert!(out.status.success(), "{out:?}");
    // The same through `silence create|list|expire` and `alerts rules ...`.
    let out = tui(
        &url,
        &[
            "silence",
            "create",
            "--agents",
            "db-*",
            "--for",
            "1h",
            "--comment",
            "backup",
        ],
    )
    .await;
    assert!(stdout(&out).starts_with("silence "), "{out:?}");
    let out = tui(&url, &["silence", "list", "--json"]).await;
    let silences: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let id = silences["silences"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let out = tui(&url, &["silence", "expire", &id]).await;
    assert!(stdout(&out).contains("ended"), "{out:?}");
    let out = tui(
        &url,
        &["alerts", "rules", "put", rules.to_str().expect("path")],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let out = tui(&url, &["alerts", "rules", "list", "--json"]).await;
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed["rules"][0]["name"], "down");
    let out = tui(&url, &["alerts", "rules", "delete", "down"]).await;
    assert!(stdout(&out).contains("deleted rule down"), "{out:?}");
    let out = tui(&url, &["alerts", "list"]).await;
    assert_eq!(stdout(&out).trim(), "no alerts");
    let out = tui(&url, &["alerts", "ack", "nobody", "down"]).await;
    assert_eq!(out.status.code(), Some(3), "not found: {out:?}");
    hub.stop().await;
}
