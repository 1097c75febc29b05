//! Every message type of the contract decoded from hostile bytes: random
//! bytes, and valid MessagePack and JSON encodings with bytes flipped,
//! cut or inserted. Nothing may panic; what does not decode is an error.
//!
//! `PROPTEST_CASES=N` sets the cases per property (default 1000 here);
//! long runs: `PROPTEST_CASES=200000 cargo test --release -p swarm-common
//! --test fuzz_decoders`.

use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use swarm_common::codec::{self, Encoding};
use swarm_common::protocol::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

/// Decodes `bytes` as `T` every way a receiver might: no panic allowed.
fn decode_all<T: DeserializeOwned>(bytes: &[u8]) {
    let _ = Encoding::MsgPack.decode::<T>(bytes);
    let _ = Encoding::Json.decode::<T>(bytes);
    let _ = Encoding::of_request(None, bytes).decode::<T>(bytes);
    let _ = codec::decode_reply::<T>(None, bytes);
}

/// A valid value's encodings, damaged by `edits` (position, byte) and cut
/// at `cut`.
fn damaged<T: Serialize>(
    value: &T,
    edits: &[(usize, u8)],
    cut: usize,
    insert: bool,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for enc in [Encoding::MsgPack, Encoding::Json] {
        let Ok(bytes) = enc.encode(value) else {
            continue;
        };
        let mut bytes = bytes.to_vec();
        for &(at, b) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = at % bytes.len();
            if insert {
                bytes.insert(at, b);
            } else {
                bytes[at] = b;
            }
        }
        let cut = cut % (bytes.len() + 1);
        out.push(bytes[..cut].to_vec());
        out.push(bytes);
    }
    out
}

fn test_id() -> swarm_common::TestId {
    swarm_common::TestId::parse("t1").unwrap_or_else(|e| panic!("{e}"))
}

fn agent() -> swarm_common::AgentId {
    swarm_common::AgentId::parse("web-1").unwrap_or_else(|e| panic!("{e}"))
}

fn sample_metrics() -> MetricsSample {
    let mut s = MetricsSample::new(agent(), 1_800_000_000_000);
    s.cpu_pct = Some(12.5);
    s.load = Some([0.1, 0.2, 0.3]);
    s.disks = vec![DiskUsage {
        fs: Some("ext4".into()),
        total: Some(10),
        used: Some(5),
        available: Some(4),
        ..DiskUsage::new("/")
    }];
    s.custom.insert("queue".into(), 3.0);
    s.cpu = Some(CpuTimes {
        user: Some(10.0),
        idle: Some(90.0),
        ..CpuTimes::default()
    });
    s.cores = vec![12.0, 8.0];
    s.top = Some(TopProcesses {
        ts: 1_800_000_000_000,
        by_cpu: vec![ProcessUsage {
            pid: 7,
            name: "nginx".into(),
            user: Some("www".into()),
            cpu_pct: Some(3.5),
            rss: Some(1 << 20),
        }],
        by_mem: vec![],
    });
    s
}

fn sample_result() -> TestResult {
    let run = TestRun {
        test_id: test_id(),
        run_id: "r1".into(),
        kind: TestKind::Traceroute,
        target: "10.0.0.1".into(),
        port: None,
        interval_ms: 1_000,
        until: 2,
        timeout_ms: 3,
    };
    let mut r = TestResult::new(&run, agent(), 1);
    r.hops = Some(vec![Hop {
        ttl: 1,
        addr: Some("10.0.0.254".into()),
        host: None,
        rtt_ms: vec![0.1, 0.2],
        loss_pct: 0.0,
    }]);
    r.reached = Some(true);
    r
}

macro_rules! fuzz_types {
    ($($name:ident: $ty:ty = $value:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(cases()))]
            $(
                #[test]
                fn $name(
                    random in proptest::collection::vec(any::<u8>(), 0..512),
                    edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
                    cut in any::<usize>(),
                    insert in any::<bool>(),
                ) {
                    decode_all::<$ty>(&random);
                    for bytes in damaged(&$value, &edits, cut, insert) {
                        decode_all::<$ty>(&bytes);
                    }
                }
            )*
        }
    };
}

fuzz_types! {
    host_info: HostInfo = HostInfo::new(agent());
    metrics_sample: MetricsSample = sample_metrics();
    bye: Bye = Bye { agent: agent(), ts: 1 };
    test_result: TestResult = sample_result();
    test_run: TestRun = TestRun {
        test_id: test_id(), run_id: "r".into(), kind: TestKind::Tcp, target: "x".into(),
        port: Some(22), interval_ms: 1, until: 2, timeout_ms: 3,
    };
    cancel_run: CancelRun = CancelRun { test_id: test_id() };
    ack: Ack = Ack { accepted: false, error: Some("no".into()) };
    test_spec: TestSpec = TestSpec {
        kind: TestKind::Ping, target: "10.0.0.1".into(), port: None, agents: vec!["*".into()],
        interval_ms: Some(1_000), duration_ms: None, start_at: None, repeat_every_ms: None,
        timeout_ms: None, name: None,
    };
    history_request: HistoryRequest = HistoryRequest {
        agent: "web-1".into(), series: "cpu_pct".into(), from: -60_000, to: None, max_points: Some(10),
    };
    history_reply: HistoryReply = HistoryReply {
        agent: agent(), series: "test:t1".into(), step_ms: 60_000,
        points: vec![(1, 1.0, 2.0, 3.0)], percentiles: Some(vec![(1, 1.0, 2.0, 3.0)]),
        window: Some(WindowPercentiles { count: 1, p50: 1.0, p95: 1.0, p99: 1.0, exact: true, relative_error: 0.0 }),
    };
    hosts_request: HostsRequest = HostsRequest { tag: Some("dc1".into()), ..HostsRequest::default() };
    host_request: HostRequest = HostRequest { agent: "web-1".into() };
    results_request: ResultsRequest = ResultsRequest { id: "t".into(), agent: None, since: Some(1), limit: Some(5) };
    tests_list_request: TestsListRequest = TestsListRequest { status: Some(TestStatus::Running), ..TestsListRequest::default() };
    test_id_request: TestIdRequest = TestIdRequest { id: "t".into() };
    error_reply: ErrorReply = ErrorReply { error: ApiError::new(ErrorCode::NotFound, "x") };
    summary_reply: SummaryReply = SummaryReply { summary: Vec::new(), next: None };
}

/// The plain-case sample decoder gives serde's sample or nothing.
fn agrees_with_serde(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Some(fast) = codec::sample::metrics(bytes) {
        let serde: Result<MetricsSample, _> = codec::from_msgpack(bytes);
        // Compared encoded: a NaN the damage made is not equal to itself.
        let encoded = |s: &MetricsSample| codec::to_msgpack(s).ok();
        prop_assert_eq!(serde.ok().as_ref().and_then(encoded), encoded(&fast));
    }
    Ok(())
}

/// A sample with every part an agent fills in, some of it from `n`.
fn full_sample(n: u64, cpu: f64, text: &str) -> MetricsSample {
    let mut s = sample_metrics();
    s.ts = n;
    s.cpu_pct = Some(cpu);
    s.mem_total = Some(n);
    s.mem_free = Some(n / 2);
    s.net = Some(NetUsage {
        rx_bytes: Some(n),
        tx_bytes: None,
        rx_bps: Some(cpu),
        tx_bps: Some(-cpu),
    });
    s.disks.push(DiskUsage {
        inodes_total: Some(n),
        ..DiskUsage::new(text)
    });
    s.disk_io = vec![DiskIo {
        device: text.into(),
        read_bps: Some(cpu),
        write_bps: None,
        read_ops: Some(1.0),
        write_ops: Some(2.0),
        busy_pct: Some(3.0),
    }];
    s.interfaces = vec![Interface {
        name: text.into(),
        rx_bps: Some(cpu),
        tx_bps: Some(1.0),
        rx_pps: None,
        tx_pps: Some(2.0),
        rx_bytes: Some(n),
        tx_bytes: Some(1),
        rx_errors: None,
        rx_drops: Some(0),
        tx_errors: Some(3),
        tx_drops: None,
    }];
    s.temps = vec![Temperature {
        label: text.into(),
        celsius: cpu,
        critical: Some(90.0),
    }];
    s.custom.insert(text.into(), cpu);
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn the_plain_sample_decoder_reads_what_agents_send(
        n in any::<u64>(),
        cpu in any::<f64>().prop_filter("NaN is not equal to itself", |v| !v.is_nan()),
        text in "\\PC{0,40}",
    ) {
        let sample = full_sample(n, cpu, &text);
        let bytes = codec::to_msgpack(&sample).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(codec::sample::metrics(&bytes), Some(sample));
    }

    #[test]
    fn the_plain_sample_decoder_gives_serdes_sample_or_nothing(
        random in proptest::collection::vec(any::<u8>(), 0..512),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
        insert in any::<bool>(),
    ) {
        agrees_with_serde(&random)?;
        for bytes in damaged(&full_sample(7, 12.5, "eth0"), &edits, cut, insert) {
            agrees_with_serde(&bytes)?;
        }
    }
}
