//! Everything the agent publishes goes through the outbox: straight to the
//! bus when it is up, a hub listens and nothing waits in the spool; into
//! the spool otherwise (or when a delivery fails), and from the spool back
//! to the bus oldest first at a bounded rate. While a backlog is replayed,
//! new messages join its end: the hub receives every agent's samples in
//! sample order, so alert rules evaluate a replayed outage as if it had
//! arrived live, and the store appends it on its fast path.
//!
//! Where the hub ingests through its JetStream stream, a message counts as
//! delivered only once the stream acknowledged storing it: a server that
//! dies in between costs nothing, the message stays in the spool. Without
//! a stream, a plain publish.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::context::PublishErrorKind;
use serde::Serialize;
use swarm_common::codec;
use swarm_common::nats::NatsHealth;
use swarm_common::protocol::SpoolInfo;

use crate::spool::Spool;

/// Replayed messages per second, at most: a reconnecting fleet must not
/// flood the hub with its backlog.
pub const REPLAY_RATE: u32 = 1_000;
const REPLAY_BURST: u32 = 100;
/// Failed reads of the oldest spool segment (5 s apart) before it is
/// given up.
const MAX_UNREADABLE: u32 = 3;

pub struct Outbox {
    health: Arc<NatsHealth>,
    spool: Mutex<Spool>,
    /// A hub answered since the link last came up. Core NATS delivers only
    /// to whoever listens at that instant, so until then messages wait in
    /// the spool rather than vanish into a bus the hub has not rejoined.
    hub_ready: AtomicBool,
}

impl Outbox {
    pub fn new(health: Arc<NatsHealth>, spool: Spool) -> Arc<Self> {
        Arc::new(Self {
            health,
            spool: Mutex::new(spool),
            hub_ready: AtomicBool::new(false),
        })
    }

    fn spool(&self) -> std::sync::MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn spool_info(&self) -> SpoolInfo {
        self.spool().state()
    }

    /// Publishes `value` as MessagePack, or keeps it for later. Returns
    /// whether it went out now.
    pub async fn send<T: Serialize>(
        &self,
        client: Option<&Client>,
        subject: String,
        value: &T,
    ) -> bool {
        let body = match codec::to_msgpack(value) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("cannot encode a message for {subject}: {e}");
                return false;
            }
        };
        let ready = self.health.is_connected()
            && self.hub_ready.load(Ordering::Relaxed)
            && self.spool().is_empty();
        if let Some(client) = client.filter(|_| ready) {
            match deliver(client, &[(subject.clone(), body.clone())]).await {
                Ok(()) => return true,
                Err(e) => tracing::warn!("cannot deliver to {subject}: {e}; spooled"),
            }
        }
        self.spool().push(&subject, &body);
        false
    }

    /// Delivers the spool, oldest first, whenever the bus is up. Runs until
    /// the task is dropped.
    pub async fn replay(self: Arc<Self>, client: Client) {
        let pause = Duration::from_secs(1) * REPLAY_BURST / REPLAY_RATE;
        let mut unreadable = 0u32;
        loop {
            if !self.health.is_connected() {
                self.hub_ready.store(false, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            if !self.hub_ready.load(Ordering::Relaxed) {
                if hub_listening(&client).await {
                    self.hub_ready.store(true, Ordering::Relaxed);
                } else {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                continue;
            }
            if self.spool().is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let oldest = self.spool().oldest();
            let (seq, records) = match oldest {
                Ok(Some(segment)) => {
                    unreadable = 0;
                    segment
                }
                Ok(None) => continue,
                Err(e) => {
                    // New messages queue behind this segment: one that
                    // stays unreadable is given up (counted as dropped)
                    // rather than hold back everything after it.
                    unreadable += 1;
                    tracing::error!("cannot read the spool: {e}");
                    if unreadable >= MAX_UNREADABLE {
                        unreadable = 0;
                        if let Err(e) = self.spool().discard_oldest() {
                            tracing::error!("cannot remove an unreadable spool segment: {e}");
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            tracing::info!("replaying {} spooled messages", records.len());
            let mut sent_all = true;
            // Each payload becomes a message body once, without a copy.
            let messages: Vec<(String, bytes::Bytes)> = records
                .into_iter()
                .map(|r| (r.subject, r.payload.into()))
                .collect();
            for burst in messages.chunks(REPLAY_BURST as usize) {
                if !self.health.is_connected() {
                    sent_all = false;
                    break;
                }
                if let Err(e) = deliver(&client, burst).await {
                    tracing::warn!("replay stopped: {e}");
                    sent_all = false;
                    break;
                }
                // The rate cap paces full bursts; a short tail (the last
                // few messages queued behind the backlog) goes at once.
                if burst.len() == REPLAY_BURST as usize {
                    tokio::time::sleep(pause).await;
                }
            }
            // Only a segment the server has taken is removed; a partial one
            // is sent again (the hub stores each sample once).
            let flushed = tokio::time::timeout(Duration::from_secs(5), client.flush()).await;
            if sent_all && matches!(flushed, Ok(Ok(()))) {
                if let Err(e) = self.spool().delivered(seq) {
                    tracing::error!("cannot remove a delivered spool segment: {e}");
                }
            } else {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// How long the stream may take to acknowledge a message.
const ACK_WAIT: Duration = Duration::from_secs(2);

/// Hands messages (subject, body) to the bus: through the hub's stream,
/// acknowledged, when there is one; else a plain publish. All are
/// published, then their acknowledgements awaited together, so a replay
/// burst costs one round trip (and at most one hub batch), not one per
/// message.
async fn deliver(client: &Client, messages: &[(String, bytes::Bytes)]) -> Result<(), String> {
    let mut js = async_nats::jetstream::new(client.clone());
    js.set_timeout(ACK_WAIT);
    let headers = codec::msgpack_headers();
    let mut acks = Vec::with_capacity(messages.len());
    for (subject, body) in messages {
        acks.push(
            js.publish_with_headers(subject.clone(), headers.clone(), body.clone())
                .await,
        );
    }
    for ((subject, body), ack) in messages.iter().zip(acks) {
        let ack = match ack {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match ack {
            Ok(_) => {}
            Err(e) if e.kind() == PublishErrorKind::StreamNotFound => client
                .publish_with_headers(subject.clone(), headers.clone(), body.clone())
                .await
                .map_err(|e| e.to_string())?,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

/// Whether a hub answers its service ping right now.
async fn hub_listening(client: &Client) -> bool {
    let subject = format!("$SRV.PING.{}", swarm_common::subject::SERVICE_NAME);
    let ping = client.request(subject, "".into());
    matches!(
        tokio::time::timeout(Duration::from_secs(2), ping).await,
        Ok(Ok(_))
    )
}
