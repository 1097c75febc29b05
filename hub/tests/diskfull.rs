//! The hub's disk fills up while an agent publishes through JetStream: the
//! hub stops taking and acknowledging below its free-space floor (the
//! stream keeps the messages), says why and counts it, and once space is
//! back stores everything, once. Needs root for a small tmpfs; skipped
//! (and said so) without it.
#![expect(clippy::expect_used, reason = "test set-up fails loudly")]

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use swarm_agent::{Agent, AgentConfig};
use swarm_common::AgentId;
use swarm_common::api::call;
use swarm_common::nats::NatsArgs;
use swarm_common::protocol::{HistoryReply, HistoryRequest};
use swarm_common::subject;
use swarm_common::testkit::NatsServer;
use swarm_hub::Retention;
use swarm_hub::testing::{TestHub, wait_for};

struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(path).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(path.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn stored(client: &async_nats::Client) -> usize {
    let req = HistoryRequest {
        agent: "filler".into(),
        series: "cpu_pct".into(),
        from: -600_000,
        to: None,
        max_points: Some(20_000),
    };
    call::<_, HistoryReply>(client, subject::api::HISTORY, &req, Duration::from_secs(2))
        .await
        .map(|r| r.points.len())
        .unwrap_or(0)
}

/// Fills the file system holding `path` until `leave` bytes are free.
fn fill(path: &Path, leave: u64) -> std::fs::File {
    let mut file = std::fs::File::create(path).expect("filler");
    let block = vec![0u8; 64 << 10];
    while fs2::available_space(path).expect("free space") > leave + block.len() as u64 {
        file.write_all(&block).expect("fill");
    }
    file.sync_all().expect("sync");
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_acks_and_recovers_when_space_is_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(tmpfs) = Tmpfs::mount(&dir.path().join("disk"), "64m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs (needs root); the full-disk case was not tested");
        return;
    };
    let server = NatsServer::start();
    let data = tmpfs.0.join("hub");
    let retention = Retention {
        min_free_bytes: 16 << 20,
        ..Retention::default()
    };
    let hub = TestHub::start_with(&server.url(), &data, retention).await;
    let agent = Agent::new(AgentConfig {
        interval: Duration::from_millis(100),
        tags: vec![],
        spool_max_bytes: 8 << 20,
        ..AgentConfig::new(
            AgentId::parse("filler").expect("id"),
            NatsArgs::for_url(&server.url()),
            dir.path().join("spool"),
        )
    });
    let stats = agent.stats.clone();
    let (stop_agent, agent_stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(agent.run(async {
        let _ = agent_stopped.await;
    }));
    let client = async_nats::connect(server.url()).await.expect("connect");
    wait_for(|| async { stored(&client).await >= 5 }).await;

    let filler_path = tmpfs.0.join("filler");
    let filler = fill(&filler_path, 8 << 20);
    // The hub stops below its floor, says so, and acknowledges nothing:
    // the stream holds what arrives.
    wait_for(|| async { hub.state.disk.is_low() }).await;
    let js = async_nats::jetstream::new(client.clone());
    let mut waiting = 0;
    for _ in 0..50 {
        let mut stream = js.get_stream("SWARM_INGEST").await.expect("stream");
        waiting = stream.info().await.expect("info").state.messages;
        if waiting >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        waiting >= 10,
        "unacknowledged messages wait in the stream: {waiting}"
    );
    let pauses = hub.state.disk.pauses.load(Ordering::Relaxed);
    assert_eq!(
        hub.state.stats.store_errors.load(Ordering::Relaxed),
        0,
        "sled never saw a full disk"
    );

    drop(filler);
    std::fs::remove_file(&filler_path).expect("free the space");
    let _ = stop_agent.send(());
    agent.await.expect("agent task").expect("agent ran");
    let taken = stats.published.load(Ordering::Relaxed) + stats.undelivered.load(Ordering::Relaxed);
    wait_for(|| async { stored(&client).await as u64 >= taken }).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let kept = stored(&client).await as u64;
    assert_eq!(
        kept, taken,
        "every sample once after the disk had room again"
    );
    eprintln!(
        "disk full: {pauses} pause, {waiting} messages waited in the stream; taken {taken}, stored {kept}"
    );
    hub.stop().await;
}
