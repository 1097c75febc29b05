//! The hub's API as a NATS micro service (`swarm-hub`): `swarm.api.*`
//! request-reply endpoints, each answered in the request's encoding.

use std::sync::Arc;

use async_nats::Client;
use async_nats::service::{ServiceExt, endpoint::Endpoint};
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use swarm_common::AgentId;
use swarm_common::codec::Encoding;
use swarm_common::protocol::{
    ApiError, ErrorCode, HistoryReply, HistoryRequest, HostReply, HostRequest, HostsReply,
    HostsRequest, ResultsReply, ResultsRequest, SummaryReply, TestIdRequest, TestReply, TestSpec,
    TestsListReply, TestsListRequest,
};
use swarm_common::subject::{self, api};
use swarm_common::time::now_ms;
use tokio::task::JoinSet;

use crate::{HubState, history};

/// Registers the service and serves its endpoints until the tasks are
/// aborted (the set is dropped).
pub async fn start(
    client: &Client,
    state: Arc<HubState>,
) -> Result<(async_nats::service::Service, JoinSet<()>), async_nats::Error> {
    let stats_state = state.clone();
    let service = client
        .service_builder()
        .description("StreamSwarm hub: hosts, history and tests API")
        .stats_handler(move |_endpoint, _stats| stats_state.stats_json())
        .start(subject::SERVICE_NAME, env!("CARGO_PKG_VERSION"))
        .await?;
    let mut tasks = JoinSet::new();
    let add = |name: &str, subject: &str| {
        service
            .endpoint_builder()
            .name(name)
            .add(subject.to_owned())
    };
    tasks.spawn(serve(add("hosts", api::HOSTS).await?, state.clone(), hosts));
    tasks.spawn(serve(add("host", api::HOST).await?, state.clone(), host));
    tasks.spawn(serve(
        add("history", api::HISTORY).await?,
        state.clone(),
        history,
    ));
    tasks.spawn(serve(
        add("tests-create", api::TESTS_CREATE).await?,
        state.clone(),
        tests_create,
    ));
    tasks.spawn(serve(
        add("tests-list", api::TESTS_LIST).await?,
        state.clone(),
        tests_list,
    ));
    tasks.spawn(serve(
        add("tests-get", api::TESTS_GET).await?,
        state.clone(),
        tests_get,
    ));
    tasks.spawn(serve(
        add("tests-cancel", api::TESTS_CANCEL).await?,
        state.clone(),
        tests_cancel,
    ));
    tasks.spawn(serve(
        add("tests-results", api::TESTS_RESULTS).await?,
        state.clone(),
        tests_results,
    ));
    tasks.spawn(serve(
        add("tests-summary", api::TESTS_SUMMARY).await?,
        state,
        tests_summary,
    ));
    Ok((service, tasks))
}

/// Answers every request of one endpoint with `handler`.
async fn serve<Req, Rep>(
    mut endpoint: Endpoint,
    state: Arc<HubState>,
    handler: fn(&HubState, Req) -> Result<Rep, ApiError>,
) where
    Req: DeserializeOwned,
    Rep: Serialize,
{
    while let Some(request) = endpoint.next().await {
        let msg = &request.message;
        let encoding = Encoding::of_request(msg.headers.as_ref(), &msg.payload);
        let result = encoding
            .decode::<Req>(&msg.payload)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))
            .and_then(|req| handler(&state, req));
        if let Err(e) = &result {
            tracing::debug!(subject = %msg.subject, "API error: {e}");
        }
        let (body, headers) = encoding.reply(&result);
        // The error body must reach the client too, so errors are sent as
        // an Ok reply carrying the service error headers.
        if let Err(e) = request.respond_with_headers(Ok(body), headers).await {
            tracing::warn!(subject = %msg.subject, "cannot send API reply: {e}");
        }
    }
}

fn hosts(state: &HubState, req: HostsRequest) -> Result<HostsReply, ApiError> {
    Ok(HostsReply {
        hosts: state.registry.summaries(req.tag.as_deref(), now_ms()),
    })
}

fn host(state: &HubState, req: HostRequest) -> Result<HostReply, ApiError> {
    let agent = known_agent(state, &req.agent)?;
    let host = state
        .registry
        .summary(&agent, now_ms())
        .ok_or_else(|| no_agent(&req.agent))?;
    let series = state.store.series_of(agent.as_str()).map_err(internal)?;
    Ok(HostReply { host, series })
}

fn history(state: &HubState, req: HistoryRequest) -> Result<HistoryReply, ApiError> {
    let agent = known_agent(state, &req.agent)?;
    let now = now_ms();
    let (from, to) = history::window(&req, now)?;
    let max_points = history::max_points(&req)?;
    let known = state.store.series_of(agent.as_str()).map_err(internal)?;
    if !known.contains(&req.series) {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "agent {agent} has no series {:?}; it has: {}",
                req.series,
                known.join(", ")
            ),
        ));
    }
    let cutoffs = state.retention.cutoffs(now);
    let found = history::query(
        &state.store,
        &cutoffs,
        agent.as_str(),
        &req.series,
        (from, to),
        max_points,
    )
    .map_err(internal)?;
    let (percentiles, window) = found.percentiles.unzip();
    Ok(HistoryReply {
        agent,
        series: req.series,
        step_ms: found.step_ms,
        points: found.points,
        percentiles,
        window,
    })
}

/// Results per reply when the request sets no limit, and at most.
const DEFAULT_RESULTS: u32 = 1_000;
const MAX_RESULTS: u32 = 10_000;

fn tests_create(state: &HubState, spec: TestSpec) -> Result<TestReply, ApiError> {
    Ok(TestReply {
        test: state.tests.create(state, &spec)?,
    })
}

fn tests_list(state: &HubState, req: TestsListRequest) -> Result<TestsListReply, ApiError> {
    Ok(TestsListReply {
        tests: state.tests.list(&state.store, req.status)?,
    })
}

fn tests_get(state: &HubState, req: TestIdRequest) -> Result<TestReply, ApiError> {
    Ok(TestReply {
        test: state.tests.get(&state.store, &req.id)?,
    })
}

fn tests_cancel(state: &HubState, req: TestIdRequest) -> Result<TestReply, ApiError> {
    Ok(TestReply {
        test: state.tests.cancel(state, &req.id)?,
    })
}

fn tests_results(state: &HubState, req: ResultsRequest) -> Result<ResultsReply, ApiError> {
    state.tests.get(&state.store, &req.id)?;
    let limit = req.limit.unwrap_or(DEFAULT_RESULTS);
    if !(1..=MAX_RESULTS).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("limit: must be 1..={MAX_RESULTS}"),
        ));
    }
    let results = state
        .store
        .results(
            &req.id,
            req.agent.as_deref(),
            req.since.unwrap_or(0),
            limit as usize,
        )
        .map_err(internal)?;
    Ok(ResultsReply { results })
}

fn tests_summary(state: &HubState, req: TestIdRequest) -> Result<SummaryReply, ApiError> {
    state.tests.get(&state.store, &req.id)?;
    let results = state
        .store
        .results(&req.id, None, 0, usize::MAX)
        .map_err(internal)?;
    Ok(SummaryReply {
        summary: crate::summary::summarise(&results),
    })
}

/// A syntactically valid agent id the hub has heard of.
fn known_agent(state: &HubState, raw: &str) -> Result<AgentId, ApiError> {
    let agent = AgentId::parse(raw)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("agent: {e}")))?;
    if state.registry.summary(&agent, 0).is_none() {
        return Err(no_agent(raw));
    }
    Ok(agent)
}

fn no_agent(raw: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no agent named {raw:?}"))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("API internal error: {e}");
    ApiError::new(ErrorCode::Internal, e.to_string())
}
