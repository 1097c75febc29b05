//! The network task: owns the NATS client, turns bus messages and hub
//! replies into [`Event`]s and carries out [`Command`]s. Nothing here ever
//! waits on the render loop, and the render loop never waits on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::{Client, Message};
use futures::StreamExt;
use swarm_common::api::call;
use swarm_common::codec::Encoding;
use swarm_common::nats::{self, NatsArgs, NatsHealth};
use swarm_common::protocol::{
    Bye, HistoryRequest, HostInfo, HostsReply, HostsRequest, MetricsSample, TestsListReply,
    TestsListRequest,
};
use swarm_common::subject::{self, AgentSubject, parse_agent_subject};
use tokio::sync::mpsc;

use crate::event::{Command, Event};

/// How often the host inventory is refreshed from the hub.
const HOSTS_EVERY: Duration = Duration::from_secs(10);
pub const API_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs until the console drops its end of the channels.
pub async fn run(
    args: NatsArgs,
    events: mpsc::Sender<Event>,
    mut commands: mpsc::Receiver<Command>,
) {
    let health = NatsHealth::new();
    spawn_link_watch(&health, events.clone());
    let client = tokio::select! {
        c = nats::connect_with_retry(&args, "swarm-tui", health.clone()) => c,
        () = events.closed() => return,
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            let _ = events
                .send(Event::Nats(nats::LinkState::Down(e.to_string())))
                .await;
            return;
        }
    };
    let mut live = match subscribe_live(&client).await {
        Ok(s) => s,
        Err(e) => {
            let _ = events
                .send(Event::HubDown(format!("cannot subscribe: {e}")))
                .await;
            return;
        }
    };
    let dropped = Arc::new(AtomicU64::new(0));
    let mut hosts_timer = tokio::time::interval(HOSTS_EVERY);
    loop {
        tokio::select! {
            msg = live.next() => {
                let Some(msg) = msg else { break };
                forward_live(&msg, &events, &dropped);
            }
            command = commands.recv() => {
                let Some(command) = command else { break };
                match command {
                    Command::RefreshHosts => spawn_hosts(&client, &events),
                    Command::RefreshTests => spawn_tests(&client, &events),
                    Command::FetchHistory { agent, series, from } => {
                        let (client, events) = (client.clone(), events.clone());
                        tokio::spawn(async move {
                            let req = HistoryRequest {
                                agent: agent.to_string(),
                                series: series.clone(),
                                from,
                                to: None,
                                max_points: Some(500),
                            };
                            let result = call(&client, subject::api::HISTORY, &req, API_TIMEOUT)
                                .await
                                .map_err(|e| e.to_string());
                            let _ = events.send(Event::History { agent, series, result }).await;
                        });
                    }
                }
            }
            _ = hosts_timer.tick() => {
                spawn_hosts(&client, &events);
                let n = dropped.swap(0, Ordering::Relaxed);
                if n > 0 {
                    let _ = events.try_send(Event::Dropped(n));
                }
            }
        }
    }
}

fn spawn_link_watch(health: &Arc<NatsHealth>, events: mpsc::Sender<Event>) {
    let mut link = health.subscribe();
    tokio::spawn(async move {
        loop {
            let state = link.borrow_and_update().clone();
            if events.send(Event::Nats(state)).await.is_err() || link.changed().await.is_err() {
                return;
            }
        }
    });
}

async fn subscribe_live(
    client: &Client,
) -> Result<futures::stream::SelectAll<async_nats::Subscriber>, async_nats::SubscribeError> {
    let mut subs = Vec::new();
    for subject in [subject::METRICS_ALL, subject::HELLO_ALL, subject::BYE_ALL] {
        subs.push(client.subscribe(subject).await?);
    }
    Ok(futures::stream::select_all(subs))
}

/// Decodes a live message; one the console cannot take now is dropped and
/// counted rather than queued without bound.
fn forward_live(msg: &Message, events: &mpsc::Sender<Event>, dropped: &AtomicU64) {
    let Some((kind, token)) = parse_agent_subject(msg.subject.as_str()) else {
        return;
    };
    let enc = Encoding::of_request(msg.headers.as_ref(), &msg.payload);
    let event = match kind {
        AgentSubject::Metrics => enc
            .decode::<MetricsSample>(&msg.payload)
            .ok()
            .filter(|s| s.agent.as_str() == token)
            .map(|s| Event::Metrics(Box::new(s))),
        AgentSubject::Hello => enc
            .decode::<HostInfo>(&msg.payload)
            .ok()
            .filter(|i| i.agent.as_str() == token)
            .map(|i| Event::Hello(Box::new(i))),
        AgentSubject::Bye => enc
            .decode::<Bye>(&msg.payload)
            .ok()
            .filter(|b| b.agent.as_str() == token)
            .map(|b| Event::Bye(b.agent)),
    };
    if let Some(event) = event
        && events.try_send(event).is_err()
    {
        dropped.fetch_add(1, Ordering::Relaxed);
    }
}

fn spawn_tests(client: &Client, events: &mpsc::Sender<Event>) {
    let (client, events) = (client.clone(), events.clone());
    tokio::spawn(async move {
        let req = TestsListRequest::default();
        let event =
            match call::<_, TestsListReply>(&client, subject::api::TESTS_LIST, &req, API_TIMEOUT)
                .await
            {
                Ok(reply) => Event::Tests(reply.tests),
                Err(e) => Event::HubDown(e.to_string()),
            };
        let _ = events.send(event).await;
    });
}

fn spawn_hosts(client: &Client, events: &mpsc::Sender<Event>) {
    let (client, events) = (client.clone(), events.clone());
    tokio::spawn(async move {
        let event = match call::<_, HostsReply>(
            &client,
            subject::api::HOSTS,
            &HostsRequest::default(),
            API_TIMEOUT,
        )
        .await
        {
            Ok(reply) => Event::HubHosts(reply.hosts),
            Err(e) => Event::HubDown(e.to_string()),
        };
        let _ = events.send(event).await;
    });
}
