//! `/metrics` against a real hub and agent: the exposition parses as
//! OpenMetrics text, names the host's values, and, when Debian's
//! `prometheus` is installed, a real Prometheus scrapes it and answers a
//! query for `swarm_cpu_percent`.
#![expect(clippy::expect_used, reason = "test helpers fail loudly")]

use std::sync::Arc;
use std::time::Duration;

use swarm_common::protocol::{CpuTimes, DiskIo, DiskUsage, HostInfo, MetricsSample, SpoolInfo};
use swarm_common::testkit::NatsServer;
use swarm_common::time::now_ms;
use swarm_common::{AgentId, subject};
use swarm_hub::store::Store;
use swarm_hub::testing::{TestHub, publish_acked, wait_for};
use swarm_hub::{Hub, Retention};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn get(url: &str) -> Option<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    agent.get(url).call().ok()?.body_mut().read_to_string().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_name_each_host_and_a_real_prometheus_scrapes_them() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let store = Arc::new(Store::open(&dir.path().join("data")).expect("store"));
    let hub = Hub::with_retention(store, Retention::default())
        .expect("hub")
        .with_metrics(Some(([127, 0, 0, 1], port).into()));
    let hub = TestHub::start_hub(&server.url(), hub).await;
    let client = async_nats::connect(server.url()).await.expect("connect");
    let a = AgentId::parse("prom-1").expect("id");
    let info = HostInfo {
        hostname: Some("prom-1.example".into()),
        interval_ms: Some(60_000),
        tags: vec!["role=web".into()],
        spool: Some(SpoolInfo {
            records: 12,
            bytes: 4096,
            dropped: 3,
            replayed: 0,
        }),
        ..HostInfo::new(a.clone())
    };
    publish_acked(&client, [(subject::hello(&a), info)]).await;
    let mut sample = MetricsSample::new(a.clone(), now_ms());
    sample.cpu_pct = Some(42.5);
    sample.mem_used = Some(1 << 30);
    sample.load = Some([0.5, 0.25, 0.125]);
    sample.disks = vec![DiskUsage {
        total: Some(1000),
        used: Some(250),
        ..DiskUsage::new("/")
    }];
    sample.custom.insert("queue_depth".into(), 7.0);
    sample.cpu = Some(CpuTimes {
        iowait: Some(12.5),
        ..CpuTimes::default()
    });
    sample.disk_io = vec![DiskIo {
        device: "nvme0n1".into(),
        read_bps: Some(4096.0),
        write_bps: None,
        read_ops: None,
        write_ops: None,
        busy_pct: Some(50.0),
    }];
    publish_acked(&client, [(subject::metrics(&a), sample)]).await;

    let url = format!("http://127.0.0.1:{port}/metrics");
    wait_for(|| async {
        get(&url).is_some_and(|t| t.contains(r#"swarm_cpu_percent{agent="prom-1"} 42.5"#))
    })
    .await;
    let text = get(&url).expect("scrape");
    for line in [
        r#"swarm_host_up{agent="prom-1"} 1.0"#,
        r#"swarm_memory_used_bytes{agent="prom-1"} 1073741824.0"#,
        r#"swarm_disk_used_ratio{agent="prom-1",mount="/"} 0.25"#,
        r#"swarm_load1{agent="prom-1"} 0.5"#,
        r#"swarm_custom{agent="prom-1",name="queue_depth"} 7.0"#,
        r#"swarm_cpu_mode_percent{agent="prom-1",mode="iowait"} 12.5"#,
        r#"swarm_disk_read_bytes_per_second{agent="prom-1",device="nvme0n1"} 4096.0"#,
        r#"swarm_disk_busy_ratio{agent="prom-1",device="nvme0n1"} 0.5"#,
        r#"swarm_agent_spool_messages{agent="prom-1"} 12.0"#,
        r#"swarm_agent_spool_dropped_messages{agent="prom-1"} 3.0"#,
        "# TYPE swarm_hub_store_bytes gauge",
        "# TYPE swarm_hub_ingest_lag_seconds gauge",
        r#"tags="role=web""#,
        "# TYPE swarm_hub_messages counter",
        "swarm_hub_messages_total 2",
        r#"swarm_hub_rejected_total{reason="too_large"} 0"#,
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    // Every sample line is `name{labels} value`, names in Prometheus form.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name: String = line
            .chars()
            .take_while(|c| *c != '{' && *c != ' ')
            .collect();
        assert!(
            name.starts_with("swarm_")
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{line}"
        );
        let value = line.rsplit(' ').next().expect("value");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }

    prometheus_scrapes(port, dir.path()).await;
    hub.stop().await;
}

/// With Debian's `prometheus` installed: scrape the hub and query it.
async fn prometheus_scrapes(port: u16, dir: &std::path::Path) {
    let Some(bin) = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!(
            "SKIPPED: no prometheus binary (apt-get install prometheus); the exposition was checked by hand only"
        );
        return;
    };
    let web = free_port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: swarm\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .expect("config");
    let mut child = tokio::process::Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{web}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start prometheus");
    let query = format!("http://127.0.0.1:{web}/api/v1/query?query=swarm_cpu_percent");
    swarm_hub::testing::wait_for_within(Duration::from_secs(60), || async {
        get(&query).is_some_and(|t| t.contains(r#""agent":"prom-1""#) && t.contains("42.5"))
    })
    .await;
    let _ = child.kill().await;
}
