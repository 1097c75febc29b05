//! The network task: owns the NATS client, turns bus messages and hub
//! replies into [`Event`]s and carries out [`Command`]s. Nothing here ever
//! waits on the render loop, and the render loop never waits on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::{Client, Message};
use futures::StreamExt;
use swarm_common::AgentId;
use swarm_common::api::{CallError, all_hosts, all_pages, call};
use swarm_common::codec::Encoding;
use swarm_common::nats::{self, NatsArgs, NatsHealth};
use swarm_common::protocol::alerts::{
    AckRequest, AlertReply, AlertsListReply, AlertsListRequest, Silence, SilenceReply,
};
use swarm_common::protocol::fleet::{ConfigStatusReply, ConfigStatusRequest};
use swarm_common::protocol::{
    Bye, ErrorCode, HistoryReply, HistoryRequest, HostInfo, HostRemoveReply, HostRemoveRequest,
    HostTagsReply, HostTagsRequest, HostsRequest, MetricsSample, ResultsReply, ResultsRequest,
    SummaryReply, SummaryRequest, TestIdRequest, TestReply, TestsListReply, TestsListRequest,
};
use swarm_common::subject::{self, AgentSubject, parse_agent_subject};
use tokio::sync::mpsc;

use crate::event::{Command, Event, HubFailure};

const ALERTS_PREFIX: &str = "swarm.alerts.";
/// How often the host inventory is refreshed from the hub.
const HOSTS_EVERY: Duration = Duration::from_secs(10);
pub const API_TIMEOUT: Duration = Duration::from_secs(3);
/// Points asked for per chart: wider than any terminal column count.
const HISTORY_POINTS: u32 = 400;
/// Results fetched per poll of an open test; more come on the next poll.
const RESULTS_PER_POLL: u32 = 2_000;

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
    let mut alerts_timer = tokio::time::interval(Duration::from_secs(1));
    // Asked for at the start (the status line counts firing alerts).
    let mut alerts_stale = true;
    loop {
        tokio::select! {
            msg = live.next() => {
                let Some(msg) = msg else { break };
                if msg.subject.as_str().starts_with(ALERTS_PREFIX) {
                    // A state changed: the list is asked for again, at
                    // most once a second however many changes come.
                    alerts_stale = true;
                } else {
                    forward_live(&msg, &events, &dropped);
                }
            }
            _ = alerts_timer.tick() => {
                if std::mem::take(&mut alerts_stale) {
                    spawn_alerts(&client, &events);
                }
            }
            command = commands.recv() => {
                let Some(command) = command else { break };
                match command {
                    Command::RefreshHosts => spawn_hosts(&client, &events),
                    Command::RefreshTests => spawn_tests(&client, &events),
                    Command::FetchHistory { agent, series, from } => {
                        spawn_history(&client, &events, agent, series, from);
                    }
                    Command::CreateTest(spec) => {
                        let (client, events) = (client.clone(), events.clone());
                        tokio::spawn(async move {
                            let result = call::<_, TestReply>(
                                &client, subject::api::TESTS_CREATE, &*spec, API_TIMEOUT,
                            )
                            .await
                            .map(|r| r.test)
                            .map_err(HubFailure::from);
                            let _ = events.send(Event::TestCreated(result)).await;
                        });
                    }
                    Command::FetchTestDetail { id, since } => {
                        spawn_test_detail(&client, &events, id, since);
                    }
                    Command::RefreshAlerts => spawn_alerts(&client, &events),
                    Command::FetchConfigStatus(agent) => spawn_config_status(&client, &events, agent),
                    Command::ForgetHosts { agents, purge } => spawn_forget(&client, &events, agents, purge),
                    Command::EditTags { agents, add, remove } => {
                        spawn_edit_tags(&client, &events, agents, add, remove);
                    }
                    Command::SilenceHost { agent, for_ms } => {
                        spawn_silence(&client, &events, agent, for_ms);
                    }
                    Command::AckAlert { agent, rule, comment } => {
                        spawn_ack(&client, &events, agent, rule, comment);
                    }
                    Command::CancelTest(id) => {
                        let (client, events) = (client.clone(), events.clone());
                        tokio::spawn(async move {
                            let result = call::<_, TestReply>(
                                &client,
                                subject::api::TESTS_CANCEL,
                                &TestIdRequest { id },
                                API_TIMEOUT,
                            )
                            .await
                            .map(|r| r.test)
                            .map_err(HubFailure::from);
                            let _ = events.send(Event::TestCancelled(result)).await;
                        });
                    }
                }
            }
            _ = hosts_timer.tick() => {
                spawn_hosts(&client, &events);
                alerts_stale = true;
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
    for subject in [
        subject::METRICS_ALL,
        subject::HELLO_ALL,
        subject::BYE_ALL,
        subject::ALERTS_ALL,
    ] {
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

fn spawn_history(
    client: &Client,
    events: &mpsc::Sender<Event>,
    agent: swarm_common::AgentId,
    series: String,
    from: i64,
) {
    let (client, events) = (client.clone(), events.clone());
    tokio::spawn(async move {
        let req = HistoryRequest {
            agent: agent.to_string(),
            series: series.clone(),
            from,
            to: None,
            max_points: Some(HISTORY_POINTS),
        };
        // A series the hub has no data for (no swap, a new disk) is an
        // empty chart, not an error.
        let result = match call(&client, subject::api::HISTORY, &req, API_TIMEOUT).await {
            Err(CallError::Api(e)) if e.code == ErrorCode::NotFound => Ok(HistoryReply {
                agent: agent.clone(),
                series: series.clone(),
                step_ms: 0,
                points: Vec::new(),
                percentiles: None,
                window: None,
            }),
            other => other.map_err(HubFailure::from),
        };
        let _ = events
            .send(Event::History {
                agent,
                series,
                from,
                result,
            })
            .await;
    });
}

/// One poll of an open test: the test, its summary and the results since
/// the newest one the console has, asked for at once.
fn spawn_test_detail(client: &Client, events: &mpsc::Sender<Event>, id: String, since: u64) {
    let (client, events) = (client.clone(), events.clone());
    tokio::spawn(async move {
        let by_id = TestIdRequest { id: id.clone() };
        let results_req = ResultsRequest {
            id: id.clone(),
            agent: None,
            since: Some(since),
            limit: Some(RESULTS_PER_POLL),
        };
        let (test, summary, results) = tokio::join!(
            call::<_, TestReply>(&client, subject::api::TESTS_GET, &by_id, API_TIMEOUT),
            all_pages::<_, SummaryReply>(
                &client,
                subject::api::TESTS_SUMMARY,
                SummaryRequest {
                    id: id.clone(),
                    ..SummaryRequest::default()
                },
                API_TIMEOUT
            ),
            call::<_, ResultsReply>(
                &client,
                subject::api::TESTS_RESULTS,
                &results_req,
                API_TIMEOUT
            ),
        );
        let event = Event::TestUpdate {
            id,
            test: test.map(|r| r.test).map_err(HubFailure::from),
            summary: summary.ok(),
            results: results.map(|r| r.results).unwrap_or_default(),
        };
        let _ = events.send(event).await;
    });
}

fn spawn_tests(client: &Client, events: &mpsc::Sender<Event>) {
    let (client, events) = (client.clone(), events.clone());
    tokio::spawn(async move {
        let req = TestsListRequest::default();
        let listed =
            all_pages::<_, TestsListReply>(&client, subject::api::TESTS_LIST, req, API_TIMEOUT);
        let event = match listed.await {
            Ok(tests) => Event::Tests(tests),
            Err(e) => Event::HubDown(e.to_string()),
        };
        let _ = events.send(event).await;
    });
}

fn spawn_hosts(client: &Client, events: &mpsc::Sender<Event>) {
    let (client, events) = (client.clone(), events.clone());
    tokio::spawn(async move {
        let event = match all_hosts(&client, HostsRequest::default(), API_TIMEOUT).await {
            Ok(hosts) => Event::HubHosts(hosts),
            Err(e) => Event::HubDown(e.to_string()),
        };
        let _ = events.send(event).await;
    });
}

fn spawn_forget(client: &Client, events: &mpsc::Sender<Event>, agents: Vec<AgentId>, purge: bool) {
    let (client, events) = (client.clone(), events.clone());
    tokio::spawn(async move {
        let mut forgotten = Vec::new();
        let mut failed = Vec::new();
        for agent in agents {
            let req = HostRemoveRequest {
                agent: agent.to_string(),
                purge: Some(purge),
            };
            match call::<_, HostRemoveReply>(&client, subject::api::HOSTS_REMOVE, &req, API_TIMEOUT)
                .await
            {
                Ok(_) => forgotten.push(agent),
                Err(e) => failed.push(format!("{agent}: {e}")),
            }
        }
        let failed = failed
            .first()
            .map(|first| format!("{} not forgotten; {first}", failed.len()));
        let _ = events
            .send(Event::HostsForgotten { forgotten, failed })
            .await;
    });
}

fn spawn_edit_tags(
    client: &Client,
    events: &mpsc::Sender<Event>,
    agents: Vec<AgentId>,
    add: Vec<String>,
    remove: Vec<String>,
) {
    let (client, events) = (client.clone(), events.clone());
    tokio::spawn(async move {
        let mut done = 0;
        let mut failed = Vec::new();
        for agent in &agents {
            let req = HostTagsRequest {
                agent: agent.to_string(),
                add: add.clone(),
                remove: remove.clone(),
            };
            match call::<_, HostTagsReply>(&client, subject::api::HOSTS_TAGS, &req, API_TIMEOUT)
                .await
            {
                Ok(_) => done += 1,
                Err(e) => failed.push(format!("{agent}: {e}")),
            }
        }
        let outcome = match failed.first() {
            None => Ok(format!("hub tags changed on {done} hosts")),
            Some(first) => Err(HubFailure::Failed(format!(
                "{} of {} hosts not changed; {first}",
                failed.len(),
                agents.len()
            ))),
        };
        let _ = events.send(Event::TagsEdited(outcome)).await;
    });
}

fn spawn_config_status(client: &Client, events: &mpsc::Sender<Event>, agent: AgentId) {
    let (client, events) = (client.clone(), events.clone());
    tokio::spawn(async move {
        let req = ConfigStatusRequest {
            agent: Some(agent.to_string()),
            ..ConfigStatusRequest::default()
        };
        let status = match call::<_, ConfigStatusReply>(
            &client,
            subject::api::CONFIG_STATUS,
            &req,
            API_TIMEOUT,
        )
        .await
        {
            Ok(reply) => Ok(reply.agents.into_iter().next()),
            // Nothing pushed to this host is no error.
            Err(CallError::Api(e)) if e.code == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(HubFailure::from(e)),
        };
        let _ = events.send(Event::ConfigStatus { agent, status }).await;
    });
}

fn spawn_alerts(client: &Client, events: &mpsc::Sender<Event>) {
    let (client, events) = (client.clone(), events.clone());
    tokio::spawn(async move {
        let listed = all_pages::<_, AlertsListReply>(
            &client,
            subject::api::ALERTS_LIST,
            AlertsListRequest::default(),
            API_TIMEOUT,
        )
        .await
        .map_err(HubFailure::from);
        let _ = events.send(Event::Alerts(listed)).await;
    });
}

fn spawn_silence(client: &Client, events: &mpsc::Sender<Event>, agent: String, for_ms: u64) {
    let (client, events) = (client.clone(), events.clone());
    tokio::spawn(async move {
        let now = swarm_common::time::now_ms();
        let by = std::env::var("USER").unwrap_or_else(|_| "console".into());
        let silence = Silence {
            id: String::new(),
            agents: vec![agent.clone()],
            rules: Vec::new(),
            starts_at: Some(now),
            ends_at: now.saturating_add(for_ms),
            every_ms: None,
            duration_ms: None,
            comment: "silenced from the console".into(),
            by,
        };
        let result = call::<_, SilenceReply>(
            &client,
            subject::api::SILENCES_CREATE,
            &silence,
            API_TIMEOUT,
        )
        .await
        .map(|r| format!("{agent} silenced (silence {})", r.silence.id))
        .map_err(HubFailure::from);
        let _ = events.send(Event::AlertAction(result)).await;
    });
}

fn spawn_ack(
    client: &Client,
    events: &mpsc::Sender<Event>,
    agent: String,
    rule: String,
    comment: Option<String>,
) {
    let (client, events) = (client.clone(), events.clone());
    tokio::spawn(async move {
        let req = AckRequest {
            agent,
            rule,
            comment,
            by: std::env::var("USER").ok(),
        };
        let result = call::<_, AlertReply>(&client, subject::api::ALERTS_ACK, &req, API_TIMEOUT)
            .await
            .map(|r| format!("{} on {} acknowledged", r.alert.rule, r.alert.agent))
            .map_err(HubFailure::from);
        let _ = events.send(Event::AlertAction(result)).await;
    });
}
