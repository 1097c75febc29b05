//! Where ingest reads from: a JetStream stream with a durable consumer when
//! the server has JetStream (messages wait in the stream while the hub is
//! down, and each is acknowledged only once the write-ahead log holding it
//! is on disk), else plain subscriptions.

use async_nats::jetstream::{self, consumer::pull, message::Acker, stream};
use async_nats::{Client, Message};
use futures::StreamExt;
use futures::stream::{BoxStream, SelectAll};
use swarm_common::subject;

/// Stream and durable consumer names.
pub const STREAM: &str = "SWARM_INGEST";
pub const CONSUMER: &str = "swarm-hub";
/// How long one pull request waits: the longest ingest can stall when a
/// request is lost is this plus the client's 5 s margin.
pub const PULL_EXPIRES: std::time::Duration = std::time::Duration::from_secs(5);
pub const PULL_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(2);
/// Messages one pull request asks for. The client asks again only when
/// the ingest loop takes messages, and the loop takes none while it
/// handles what came during a commit: with the client's default of 200
/// the server ran dry meanwhile, and ingest kept a quarter below the
/// bare stream (measured with `ingest-e2e-bench`; at 2,000 the hub keeps
/// up with its publishers).
pub const PULL_BATCH: usize = 2_000;
/// Bytes one pull request asks for, at least: what the client holds for
/// the hub is bounded by bytes as well as messages, whatever the
/// messages' size.
pub const PULL_MIN_BYTES: usize = 8 << 20;

/// Bytes a pull request asks for on a server of this `max_payload`:
/// never less than one message of the largest size, which a request
/// capped below it could never deliver.
pub fn pull_max_bytes(max_payload: usize) -> usize {
    PULL_MIN_BYTES.max(max_payload.saturating_mul(2))
}

/// Agent subjects ingest reads. Request subjects stay outside the stream.
pub const SUBJECTS: [&str; 4] = [
    subject::HELLO_ALL,
    subject::METRICS_ALL,
    subject::BYE_ALL,
    subject::RESULTS_ALL,
];

/// One message to ingest, with what acknowledges it once it is stored.
pub struct Incoming {
    pub message: Message,
    pub acker: Option<Acknowledge>,
}

/// How a stored message is acknowledged.
pub enum Acknowledge {
    /// The stream's ack: the stream may let the message go.
    Stream(Acker),
    /// Without JetStream, a sender that asked for an answer (an agent
    /// publishes as to a stream and waits for its ack) gets a
    /// JetStream-style publish ack from the hub once the message is
    /// stored, rather than waiting out its ack timeout.
    Reply {
        client: Client,
        subject: async_nats::Subject,
    },
}

/// The body of a hub's publish ack: the hub itself is the store.
const HUB_PUBLISH_ACK: &[u8] = br#"{"stream":"swarm-hub","seq":0}"#;

impl Acknowledge {
    pub async fn send(self) -> Result<(), String> {
        match self {
            Self::Stream(acker) => acker.ack().await.map_err(|e| e.to_string()),
            Self::Reply { client, subject } => client
                .publish(subject, bytes::Bytes::from_static(HUB_PUBLISH_ACK))
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

pub enum Source {
    Durable(BoxStream<'static, Incoming>),
    Core {
        client: Client,
        messages: SelectAll<async_nats::Subscriber>,
    },
}

impl Source {
    /// JetStream if the server has it, else core subscriptions; says which.
    pub async fn open(client: &Client) -> Result<Self, async_nats::Error> {
        match durable(client).await {
            Ok(source) => {
                tracing::info!(
                    "ingesting through JetStream stream {STREAM} (durable consumer {CONSUMER})"
                );
                Ok(source)
            }
            Err(e) => {
                tracing::warn!(
                    "JetStream is not available ({e}): ingesting with plain subscriptions; \
                     what agents publish while the hub is down is lost"
                );
                let mut subs = Vec::new();
                for s in SUBJECTS {
                    subs.push(client.subscribe(s).await?);
                }
                Ok(Self::Core {
                    client: client.clone(),
                    messages: futures::stream::select_all(subs),
                })
            }
        }
    }

    pub async fn next(&mut self) -> Option<Incoming> {
        match self {
            Self::Durable(s) => s.next().await,
            Self::Core { client, messages } => messages.next().await.map(|message| Incoming {
                acker: message.reply.clone().map(|subject| Acknowledge::Reply {
                    client: client.clone(),
                    subject,
                }),
                message,
            }),
        }
    }

    /// Whether senders wait for the hub's own answer (plain
    /// subscriptions), so a commit should not wait for the next tick.
    pub fn answers_senders(&self) -> bool {
        matches!(self, Self::Core { .. })
    }

    /// A message already received, without waiting.
    pub fn try_next(&mut self) -> Option<Incoming> {
        futures::FutureExt::now_or_never(self.next()).flatten()
    }
}

/// The ingest stream as the hub sets it up (also what benchmarks of the
/// bare pipeline build, so they measure the same stream).
pub fn stream_config() -> stream::Config {
    stream::Config {
        name: STREAM.to_owned(),
        subjects: SUBJECTS.iter().map(|s| (*s).to_owned()).collect(),
        // Acknowledged messages leave the stream; the rest wait for the
        // hub, bounded.
        retention: stream::RetentionPolicy::WorkQueue,
        max_bytes: 1 << 30,
        // Full: refuse new messages, so publishers (agents waiting for
        // their publish ack) keep them in their spools, rather than
        // dropping the oldest, which nobody holds any more.
        discard: stream::DiscardPolicy::New,
        max_age: std::time::Duration::from_secs(7 * 86_400),
        ..Default::default()
    }
}

/// The hub's durable pull consumer on the ingest stream.
pub fn consumer_config() -> pull::Config {
    pull::Config {
        durable_name: Some(CONSUMER.to_owned()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        // What a stopped hub had taken but not acknowledged comes back
        // this soon to the next one.
        ack_wait: std::time::Duration::from_secs(10),
        max_ack_pending: 50_000,
        ..Default::default()
    }
}

async fn durable(client: &Client) -> Result<Source, async_nats::Error> {
    let js = jetstream::new(client.clone());
    // Updated when it exists, so a stream made by an older hub gets the
    // current limits and discard policy.
    js.create_or_update_stream(stream_config()).await?;
    let stream = js.get_stream(STREAM).await?;
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(CONSUMER, consumer_config())
        .await?;
    // A pull request can go unanswered under load (seen: the server holds
    // no request while the client counts messages still owed to it); the
    // client only asks again when a request expires, so requests expire
    // soon, and heartbeats tell a silent server from an idle one.
    let messages = consumer
        .stream()
        .max_messages_per_batch(PULL_BATCH)
        .max_bytes_per_batch(pull_max_bytes(client.server_info().max_payload))
        .expires(PULL_EXPIRES)
        .heartbeat(PULL_HEARTBEAT)
        .messages()
        .await?;
    let incoming = messages.filter_map(|m| async move {
        match m {
            Ok(m) => {
                let (message, acker) = m.split();
                Some(Incoming {
                    message,
                    acker: Some(Acknowledge::Stream(acker)),
                })
            }
            Err(e) => {
                tracing::warn!("JetStream consumer: {e}");
                None
            }
        }
    });
    Ok(Source::Durable(incoming.boxed()))
}
