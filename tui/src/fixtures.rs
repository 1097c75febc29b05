//! Fixed states for state and screen tests (no clock, no network).

use swarm_common::AgentId;
use swarm_common::protocol::{DiskUsage, HostInfo, MetricsSample, Millis, NetUsage};

use crate::app::App;
use crate::event::Event;

pub const NOW: Millis = 1_800_000_000_000;

pub fn id(name: &str) -> AgentId {
    AgentId::parse(name).unwrap_or_else(|e| panic!("fixture id {name}: {e}"))
}

pub fn info(name: &str, tags: &[&str]) -> HostInfo {
    HostInfo {
        agent: id(name),
        hostname: Some(format!("{name}.example.net")),
        os: Some("Debian GNU/Linux".into()),
        os_version: Some("12".into()),
        kernel: Some("6.1.0-18-amd64".into()),
        arch: Some("x86_64".into()),
        cpu_model: Some("AMD EPYC 7763 64-Core Processor".into()),
        cpu_cores: Some(8),
        mem_total: Some(16 * 1024 * 1024 * 1024),
        boot_time: Some(1_799_000_000),
        agent_version: Some("0.1.0".into()),
        interval_ms: Some(5_000),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        ts: Some(NOW),
        probes: None,
        spool: None,
    }
}

pub fn sample(name: &str, ts: Millis, cpu: f64, mem_pct: f64, rx: f64) -> MetricsSample {
    let total = 16 * 1024 * 1024 * 1024u64;
    MetricsSample {
        agent: id(name),
        ts,
        cpu_pct: Some(cpu),
        load: Some([cpu / 25.0, 0.5, 0.25]),
        mem_total: Some(total),
        mem_used: Some((total as f64 * mem_pct / 100.0) as u64),
        mem_available: Some((total as f64 * (100.0 - mem_pct) / 100.0) as u64),
        swap_total: Some(0),
        swap_used: Some(0),
        disks: vec![DiskUsage {
            mount: "/".into(),
            fs: Some("ext4".into()),
            total: Some(100_000_000_000),
            used: Some(42_000_000_000),
        }],
        net: Some(NetUsage {
            rx_bytes: Some(1),
            tx_bytes: Some(1),
            rx_bps: Some(rx),
            tx_bps: Some(rx / 10.0),
        }),
        uptime_s: Some(200_000),
        procs: Some(180),
        custom: Default::default(),
    }
}

/// Four hosts: three online with CPU history, one that said bye.
pub fn app() -> App {
    let mut app = App::new(NOW - 60_000);
    let hosts = [
        ("web-1", &["role=web", "dc1"][..], 12.0, 40.0, 1_200.0),
        ("web-2", &["role=web", "dc2"][..], 87.0, 71.0, 2_500_000.0),
        ("db-1", &["role=db", "dc1"][..], 35.0, 90.0, 48_000.0),
        ("cache-1", &["role=cache"][..], 3.0, 20.0, 0.0),
    ];
    for (name, tags, cpu, mem, rx) in hosts {
        app.apply(Event::Hello(Box::new(info(name, tags))));
        for i in 0..12u32 {
            let ts = NOW - 60_000 + u64::from(i) * 5_000;
            app.apply(Event::Tick(ts));
            let wobble = f64::from(i % 5) * 2.0;
            app.apply(Event::Metrics(Box::new(sample(
                name,
                ts,
                (cpu + wobble).min(100.0),
                mem,
                rx,
            ))));
        }
    }
    app.apply(Event::Bye(id("cache-1")));
    app.apply(Event::Tick(NOW));
    app
}
