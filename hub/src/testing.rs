//! Helpers for tests that run a hub in-process against a real nats-server
//! (feature `testkit`).
#![expect(clippy::expect_used, reason = "test set-up fails loudly")]

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use swarm_common::api::call;
use swarm_common::protocol::{HostsReply, HostsRequest};
use swarm_common::subject;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::store::Store;
use crate::{Hub, HubState, Limits, Retention};

/// A hub running in this process until [`TestHub::stop`].
pub struct TestHub {
    pub state: Arc<HubState>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl TestHub {
    /// Starts a hub on `dir` and waits until its API answers.
    pub async fn start(url: &str, dir: &Path) -> Self {
        Self::start_with(url, dir, Retention::default()).await
    }

    /// The same, with other retention and disk limits.
    pub async fn start_with(url: &str, dir: &Path, retention: Retention) -> Self {
        Self::start_limited(url, dir, retention, Limits::default()).await
    }

    /// The same, with other limits too.
    pub async fn start_limited(
        url: &str,
        dir: &Path,
        retention: Retention,
        limits: Limits,
    ) -> Self {
        let store = Arc::new(Store::open(dir).expect("open store"));
        let hub = Hub::with_retention(store, retention)
            .expect("hub")
            .with_limits(limits);
        Self::start_hub(url, hub).await
    }

    /// Starts a hub configured by the caller (on its own store).
    pub async fn start_hub(url: &str, hub: Hub) -> Self {
        let state = hub.state();
        let client = async_nats::connect(url).await.expect("connect");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            hub.run(client, async {
                let _ = stopped.await;
            })
            .await
            .expect("hub runs");
        });
        let probe = async_nats::connect(url).await.expect("connect");
        wait_for(|| {
            let probe = probe.clone();
            async move {
                call::<_, HostsReply>(
                    &probe,
                    subject::api::HOSTS,
                    &HostsRequest::default(),
                    Duration::from_secs(2),
                )
                .await
                .is_ok()
            }
        })
        .await;
        Self { state, stop, task }
    }

    /// Stops the hub the way SIGTERM does, and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("hub task");
    }
}

/// Polls `check` until it holds; panics after 20 s.
pub async fn wait_for<F, Fut>(check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for_within(Duration::from_secs(20), check).await;
}

/// Polls `check` until it holds; panics after `limit` (fleet-size tests
/// on a loaded machine need more than the usual 20 s).
pub async fn wait_for_within<F, Fut>(limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within {limit:?}");
}

/// Publishes many messages the way agents do, through JetStream with its
/// acknowledgements (a few hundred in flight), so none is dropped when the
/// server's stream intake is full; core publishes in a tight loop are
/// (nats-server drops what overflows a stream's ingest queue).
pub async fn publish_acked<T: serde::Serialize>(
    client: &async_nats::Client,
    messages: impl IntoIterator<Item = (String, T)>,
) {
    const IN_FLIGHT: usize = 256;
    let js = async_nats::jetstream::new(client.clone());
    let mut pending = Vec::with_capacity(IN_FLIGHT);
    for (subject, value) in messages {
        let body = swarm_common::codec::to_msgpack(&value).expect("encodes");
        let ack = js
            .publish_with_headers(subject, swarm_common::codec::msgpack_headers(), body)
            .await
            .expect("publish");
        pending.push(ack);
        if pending.len() == IN_FLIGHT {
            for ack in pending.drain(..) {
                ack.await.expect("the stream takes it");
            }
        }
    }
    for ack in pending {
        ack.await.expect("the stream takes it");
    }
}
