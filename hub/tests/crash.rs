//! The hub binary killed with SIGKILL in the middle of ingest: after a
//! restart on the same data directory, every sample it had written before
//! the kill is there once, and ingest goes on. Samples are 2 s apart, so
//! the history spans hours and restarts move closed hours into day files.
#![expect(clippy::expect_used, reason = "test set-up fails loudly")]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::Client;
use swarm_common::api::call;
use swarm_common::protocol::{
    HistoryReply, HistoryRequest, HostInfo, HostReply, HostRequest, MetricsSample,
};
use swarm_common::testkit::NatsServer;
use swarm_common::time::now_ms;
use swarm_common::{AgentId, codec, subject};

fn start_hub(url: &str, dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_swarm-hub"))
        .args(["--nats", url, "--data"])
        .arg(dir)
        .env("SWARM_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start swarm-hub")
}

async fn history(client: &Client, from: u64) -> Option<Vec<u64>> {
    let req = HistoryRequest {
        agent: "crashy".into(),
        series: "cpu_pct".into(),
        from: from as i64,
        to: None,
        max_points: Some(20_000),
    };
    call::<_, HistoryReply>(client, subject::api::HISTORY, &req, Duration::from_secs(2))
        .await
        .ok()
        .map(|r| r.points.iter().map(|p| p.0).collect())
}

async fn known(client: &Client) -> bool {
    let req = HostRequest {
        agent: "crashy".into(),
    };
    call::<_, HostReply>(client, subject::api::HOST, &req, Duration::from_secs(2))
        .await
        .is_ok()
}

/// Time between two samples.
const STEP: u64 = 2_000;

fn sample(id: &AgentId, ts: u64) -> MetricsSample {
    MetricsSample {
        cpu_pct: Some((ts % 10_000) as f64 / 100.0),
        ..MetricsSample::new(id.clone(), ts)
    }
}

async fn publish(client: &Client, id: &AgentId, ts: u64) {
    let sample = sample(id, ts);
    client
        .publish_with_headers(
            subject::metrics(id),
            codec::msgpack_headers(),
            codec::to_msgpack(&sample).expect("enc"),
        )
        .await
        .expect("publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_ingest_loses_nothing_written() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let client = async_nats::connect(server.url()).await.expect("connect");
    let id = AgentId::parse("crashy").expect("id");
    let t0 = now_ms() - 6 * 3_600_000;
    let mut next_ts = t0;

    for round in 0..3 {
        let mut hub = start_hub(&server.url(), dir.path());
        // Wait for the API, then announce the agent.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !known(&client).await && Instant::now() < deadline {
            let hello = HostInfo::new(id.clone());
            client
                .publish_with_headers(
                    subject::hello(&id),
                    codec::msgpack_headers(),
                    codec::to_msgpack(&hello).expect("enc"),
                )
                .await
                .expect("publish");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Round 0 has no samples yet: the series is unknown.
        let before = history(&client, t0).await.unwrap_or_default();
        // Every sample written before the previous kill is still there,
        // once; of those in flight at the kill, some may have made it.
        let expected: Vec<u64> = (0..(next_ts - t0) / STEP).map(|i| t0 + i * STEP).collect();
        let durable: Vec<u64> = before.iter().copied().filter(|ts| *ts < next_ts).collect();
        assert_eq!(durable, expected, "round {round}: history after restart");
        assert!(before.windows(2).all(|w| w[0] < w[1]), "no duplicates");
        assert!(
            before.iter().all(|ts| (ts - t0).is_multiple_of(STEP)),
            "nothing invented"
        );

        // Publish a burst, let the store flush it (sled flushes every
        // 500 ms), keep publishing, and kill in the middle.
        let burst = (0..2_000).map(|i| (subject::metrics(&id), sample(&id, next_ts + i * STEP)));
        swarm_hub::testing::publish_acked(&client, burst).await;
        next_ts += 2_000 * STEP;
        let deadline = Instant::now() + Duration::from_secs(20);
        while history(&client, t0).await.map(|h| h.len()) != Some(((next_ts - t0) / STEP) as usize)
        {
            assert!(Instant::now() < deadline, "ingest did not catch up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        let durable_until = next_ts;
        for _ in 0..500 {
            publish(&client, &id, next_ts).await;
            next_ts += STEP;
        }
        hub.kill().expect("kill -9");
        hub.wait().expect("reap");
        // What was published after the durable point may or may not have
        // made it; the next round starts from the durable point so that the
        // check above is exact.
        next_ts = durable_until;
        // Those in-flight samples are republished (an agent replaying its
        // spool) in the next round, so duplicates are exercised too.
    }
    // The restarts' checkpoints moved closed hours out of sled, so the
    // rounds above read them back from day files.
    let day_files = std::fs::read_dir(dir.path().join("blocks/raw")).map_or(0, |d| d.count());
    assert!(day_files > 0, "no raw day files");
}
