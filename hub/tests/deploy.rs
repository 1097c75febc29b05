//! The deployment files: the Grafana dashboard loads and asks only for
//! metrics the hub exposes; the systemd units carry their hardening and
//! pass `systemd-analyze verify` where it runs.
#![expect(clippy::expect_used, reason = "test helpers fail loudly")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use swarm_common::AgentId;
use swarm_common::protocol::alerts::{Op, Rule, Severity};
use swarm_common::protocol::{DiskUsage, HostInfo, MetricsSample, NetUsage, TestKind, TestSpec};
use swarm_common::time::now_ms;
use swarm_hub::Hub;
use swarm_hub::store::Store;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path)
}

/// The exposition of a hub holding one busy host with a firing alert.
fn exposition() -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let hub = Hub::new(store.clone()).expect("hub");
    let state = hub.state();
    let a = AgentId::parse("dash-1").expect("id");
    let now = now_ms();
    state
        .registry
        .hello(HostInfo::new(a.clone()), now)
        .expect("room");
    let mut s = MetricsSample::new(a.clone(), now);
    s.cpu_pct = Some(99.0);
    s.mem_used = Some(1);
    s.mem_total = Some(2);
    s.swap_used = Some(0);
    s.load = Some([1.0, 1.0, 1.0]);
    s.uptime_s = Some(60);
    s.net = Some(NetUsage {
        rx_bps: Some(1.0),
        tx_bps: Some(1.0),
        ..NetUsage::default()
    });
    s.disks = vec![DiskUsage {
        total: Some(2),
        used: Some(1),
        ..DiskUsage::new("/")
    }];
    s.custom.insert("q".into(), 1.0);
    let rows: Vec<(String, f64)> = s
        .series()
        .into_iter()
        .map(|(n, v)| (n.into_owned(), v))
        .collect();
    state.registry.metrics(s, now).expect("room");
    let rule = Rule {
        severity: Severity::Critical,
        ..Rule::new("cpu", "cpu_pct", Op::Gt, 90.0)
    };
    state.alerts.put_rule(&store, rule).expect("rule");
    state.alerts.observe(
        a.as_str(),
        now,
        rows.iter().map(|(n, v)| (n.as_str(), *v)),
        Vec::new,
        now,
    );
    // A running ping test with a probe of dash-1.
    let spec = TestSpec::new(TestKind::Ping, "127.0.0.1", vec!["dash-1".into()]);
    let test = state
        .tests
        .create(
            &state.store,
            &state.registry,
            &spec,
            swarm_common::time::now_ms(),
        )
        .expect("test");
    state.test_latest.observe(
        &test.id,
        "dash-1",
        swarm_hub::test_latest::Probe {
            ts: now,
            latency_ms: Some(1.5),
        },
    );
    swarm_hub::metrics::exposition(&state).expect("encodes")
}

#[test]
fn the_dashboard_asks_only_for_metrics_the_hub_exposes() {
    let text = std::fs::read_to_string(deploy("grafana/streamswarm.json")).expect("dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let exposed = exposition();
    let exposed_names: std::collections::BTreeSet<String> = exposed
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.chars().take_while(|c| *c != '{' && *c != ' ').collect())
        .collect();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().expect("expr").to_owned());
        }
    }
    assert!(
        exprs.len() >= 15,
        "fleet, host and hub panels: {}",
        exprs.len()
    );
    for expr in &exprs {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("swarm_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                exposed_names.contains(&name),
                "{expr:?} asks for {name}, which the hub does not expose (it has {exposed_names:?})"
            );
            rest = &rest[at + name.len()..];
        }
    }
    let variable = &dashboard["templating"]["list"][1];
    assert_eq!(variable["name"], "agent");
}

#[test]
fn systemd_units_are_hardened_and_verify() {
    let units = [
        "nats-server.service",
        "swarm-hub.service",
        "swarm-agent.service",
    ];
    for unit in units {
        let text = std::fs::read_to_string(deploy(&format!("systemd/{unit}"))).expect("unit");
        for needed in [
            "User=",
            "StateDirectory=",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
        ] {
            assert!(text.contains(needed), "{unit} lacks {needed}");
        }
    }
    let agent = std::fs::read_to_string(deploy("systemd/swarm-agent.service")).expect("unit");
    assert!(agent.contains("AmbientCapabilities=CAP_NET_RAW"));

    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: systemd-analyze is not installed; the units were not verified");
        return;
    }
    // The units name installed paths: point them at binaries that exist
    // here, then let systemd check them.
    let hub = PathBuf::from(env!("CARGO_BIN_EXE_swarm-hub"));
    let agent_bin = hub.with_file_name("swarm-agent");
    let nats = std::env::var_os("NATS_SERVER_BIN").map(PathBuf::from);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut verified = Vec::new();
    for (unit, installed, here) in [
        (
            "swarm-hub.service",
            "/usr/local/bin/swarm-hub",
            Some(hub.clone()),
        ),
        (
            "swarm-agent.service",
            "/usr/local/bin/swarm-agent",
            Some(agent_bin),
        ),
        ("nats-server.service", "/usr/local/bin/nats-server", nats),
    ] {
        let Some(here) = here.filter(|p| p.exists()) else {
            eprintln!("SKIPPED: {unit}: no binary here for {installed}");
            continue;
        };
        let text = std::fs::read_to_string(deploy(&format!("systemd/{unit}"))).expect("unit");
        let local = dir.path().join(unit);
        std::fs::write(&local, text.replace(installed, &here.display().to_string()))
            .expect("write unit");
        verified.push(local);
    }
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .args(&verified)
        .output()
        .expect("systemd-analyze");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Containers cannot be built here: the files are checked for what they
/// name (binaries the workspace builds, files beside them).
#[test]
fn container_files_name_binaries_and_files_that_exist() {
    let root = deploy("..");
    let containerfile = std::fs::read_to_string(deploy("container/Containerfile")).expect("file");
    let bins: Vec<&str> = containerfile
        .split("/src/target/release/")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert!(bins.len() >= 3, "{bins:?}");
    for bin in bins {
        let declared = ["hub", "agent", "tui", "sim"].iter().any(|krate| {
            std::fs::read_to_string(root.join(krate).join("Cargo.toml"))
                .is_ok_and(|t| t.contains(&format!("name = \"{bin}\"")))
        });
        assert!(
            declared,
            "the Containerfile copies {bin}, which no package builds"
        );
    }
    let compose = std::fs::read_to_string(deploy("container/compose.yaml")).expect("compose");
    for line in compose.lines() {
        let line = line.trim().trim_start_matches("- ");
        for prefix in ["./", "../"] {
            if let Some(path) = line.strip_prefix(prefix) {
                let file = path.split(':').next().expect("path");
                let full = deploy("container").join(format!("{prefix}{file}"));
                assert!(
                    full.exists(),
                    "compose.yaml names {} which is missing",
                    full.display()
                );
            }
        }
        if let Some(file) = line.strip_prefix("dockerfile: ") {
            assert!(
                root.join(file).exists(),
                "compose.yaml builds from missing {file}"
            );
        }
    }
}
