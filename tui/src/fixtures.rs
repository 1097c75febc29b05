//! Fixed states for state and screen tests (no clock, no network).

use swarm_common::protocol::{
    AgentRunState, AgentSummary, CpuTimes, DiskIo, DiskUsage, Hop, HostInfo, Interface,
    MetricsSample, Millis, NetUsage, ProcessUsage, Test, TestAgent, TestKind, TestResult, TestRun,
    TestStatus, TopProcesses,
};
use swarm_common::{AgentId, TestId};

use crate::app::App;
use crate::event::Event;

pub const NOW: Millis = 1_800_000_000_000;

pub fn id(name: &str) -> AgentId {
    AgentId::parse(name).unwrap_or_else(|e| panic!("fixture id {name}: {e}"))
}

pub fn info(name: &str, tags: &[&str]) -> HostInfo {
    HostInfo {
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
        ..HostInfo::new(id(name))
    }
}

pub fn sample(name: &str, ts: Millis, cpu: f64, mem_pct: f64, rx: f64) -> MetricsSample {
    let total = 16 * 1024 * 1024 * 1024u64;
    MetricsSample {
        cpu_pct: Some(cpu),
        load: Some([cpu / 25.0, 0.5, 0.25]),
        mem_total: Some(total),
        mem_used: Some((total as f64 * mem_pct / 100.0) as u64),
        mem_available: Some((total as f64 * (100.0 - mem_pct) / 100.0) as u64),
        swap_total: Some(0),
        swap_used: Some(0),
        disks: vec![DiskUsage {
            fs: Some("ext4".into()),
            total: Some(100_000_000_000),
            used: Some(42_000_000_000),
            ..DiskUsage::new("/")
        }],
        net: Some(NetUsage {
            rx_bytes: Some(1),
            tx_bytes: Some(1),
            rx_bps: Some(rx),
            tx_bps: Some(rx / 10.0),
        }),
        uptime_s: Some(200_000),
        procs: Some(180),
        ..MetricsSample::new(id(name), ts)
    }
}

/// A sample with the host detail an agent sends: CPU by kind, cores,
/// interfaces, block devices and the heaviest processes.
pub fn detail_sample(name: &str, ts: Millis) -> MetricsSample {
    let mut s = sample(name, ts, 35.0, 90.0, 48_000.0);
    s.cpu = Some(CpuTimes {
        user: Some(24.0),
        nice: Some(0.0),
        system: Some(7.5),
        iowait: Some(3.5),
        irq: Some(0.0),
        softirq: Some(0.5),
        steal: Some(0.0),
        idle: Some(64.5),
    });
    s.cores = vec![12.0, 88.0, 40.0, 3.0, 55.0, 61.0, 20.0, 99.0];
    s.mem_cached = Some(6 << 30);
    s.mem_buffers = Some(300 << 20);
    s.interfaces = vec![Interface {
        name: "eth0".into(),
        rx_bps: Some(48_000.0),
        tx_bps: Some(9_600.0),
        rx_pps: Some(60.0),
        tx_pps: Some(20.0),
        rx_bytes: Some(1 << 30),
        tx_bytes: Some(1 << 28),
        rx_errors: Some(0),
        tx_errors: Some(0),
        rx_drops: Some(3),
        tx_drops: Some(0),
    }];
    s.disk_io = vec![DiskIo {
        device: "nvme0n1".into(),
        read_bps: Some(2_500_000.0),
        write_bps: Some(14_000_000.0),
        read_ops: Some(120.0),
        write_ops: Some(900.0),
        busy_pct: Some(37.0),
    }];
    let process = |pid: u32, name: &str, user: &str, cpu: f64, rss: u64| ProcessUsage {
        pid,
        name: name.into(),
        user: Some(user.into()),
        cpu_pct: Some(cpu),
        rss: Some(rss),
    };
    s.top = Some(TopProcesses {
        ts,
        by_cpu: vec![
            process(812, "postgres", "postgres", 96.5, 2 << 30),
            process(77, "swarm-agent", "root", 0.2, 6 << 20),
        ],
        by_mem: vec![process(812, "postgres", "postgres", 96.5, 2 << 30)],
    });
    s
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

/// A test as the hub lists it, on the given agents in the given states.
pub fn test(
    test_id: &str,
    kind: TestKind,
    target: &str,
    port: Option<u16>,
    status: TestStatus,
    agents: &[(&str, AgentRunState)],
) -> Test {
    Test {
        id: TestId::parse(test_id).unwrap_or_else(|e| panic!("fixture test id: {e}")),
        kind,
        target: target.into(),
        port,
        selectors: vec!["web-*".into()],
        interval_ms: 1_000,
        duration_ms: 30_000,
        start_at: NOW,
        repeat_every_ms: None,
        timeout_ms: 2_000,
        name: None,
        status,
        created: NOW,
        next_run: None,
        run_id: "r1".into(),
        runs: 1,
        until: Some(NOW + 20_000),
        agents: agents
            .iter()
            .map(|(name, state)| TestAgent {
                agent: id(name),
                state: *state,
                error: (*state == AgentRunState::Failed)
                    .then(|| "cannot resolve \"db.internal\"".to_owned()),
            })
            .collect(),
        error: None,
    }
}

/// Ping results of one agent: `n` probes one second apart, every fifth
/// lost when `lossy`.
pub fn ping_results(
    test: &Test,
    agent: &str,
    n: u32,
    base_ms: f64,
    lossy: bool,
) -> Vec<TestResult> {
    let run = TestRun::of(test, NOW + 20_000);
    (0..n)
        .map(|i| {
            let mut r = TestResult::new(&run, id(agent), NOW - u64::from(n - i) * 1_000);
            r.seq = Some(i);
            if !(lossy && i % 5 == 4) {
                r.rtt_ms = Some(base_ms + f64::from(i % 7) * base_ms / 10.0);
            }
            r
        })
        .collect()
}

/// A traceroute round through a router to the target.
pub fn trace_result(test: &Test, agent: &str) -> TestResult {
    let mut r = ping_results(test, agent, 1, 1.0, false).remove(0);
    r.rtt_ms = None;
    r.reached = Some(true);
    r.hops = Some(vec![
        Hop {
            ttl: 1,
            addr: Some("10.77.1.1".into()),
            host: None,
            rtt_ms: vec![0.041, 0.038, 0.040],
            loss_pct: 0.0,
        },
        Hop {
            ttl: 2,
            addr: None,
            host: None,
            rtt_ms: vec![],
            loss_pct: 100.0,
        },
        Hop {
            ttl: 3,
            addr: Some("10.77.2.2".into()),
            host: Some("target.example.net".into()),
            rtt_ms: vec![0.072, 0.069, 0.075],
            loss_pct: 0.0,
        },
    ]);
    r
}

/// A summary row as the hub computes it.
pub fn summary(agent: &str, sent: u64, received: u64, p50: f64) -> AgentSummary {
    AgentSummary {
        agent: id(agent),
        sent,
        received,
        loss_pct: (sent - received) as f64 * 100.0 / sent as f64,
        rtt_min: Some(p50 * 0.9),
        rtt_p50: Some(p50),
        rtt_p95: Some(p50 * 1.5),
        rtt_p99: Some(p50 * 1.6),
        rtt_max: Some(p50 * 1.7),
        jitter_ms: Some(p50 / 10.0),
    }
}
