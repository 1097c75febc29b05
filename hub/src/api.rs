//! The hub's API as a NATS micro service (`swarm-hub`): `swarm.api.*`
//! request-reply endpoints, each answered in the request's encoding.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_nats::service::{ServiceExt, endpoint::Endpoint};
use async_nats::{Client, HeaderMap};
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use swarm_common::AgentId;
use swarm_common::codec::Encoding;
use swarm_common::limits;
use swarm_common::protocol::fleet::{
    ConfigPutReply, ConfigPutRequest, ConfigStatusReply, ConfigStatusRequest, DEFAULT_CONFIG_PAGE,
    MAX_CONFIG_PAGE,
};
use swarm_common::protocol::{
    ApiError, DEFAULT_HOSTS_PAGE, ErrorCode, HistoryReply, HistoryRequest, HostRemoveReply,
    HostRemoveRequest, HostReply, HostRequest, HostTagsReply, HostTagsRequest, HostsReply,
    HostsRequest, MAX_HOSTS_PAGE, ResultsReply, ResultsRequest, SummaryReply, SummaryRequest,
    TestIdRequest, TestReply, TestSpec, TestsListReply, TestsListRequest,
};
use swarm_common::subject::{self, api};
use swarm_common::time::now_ms;
use tokio::task::JoinSet;

mod alerts;

use crate::registry::{PageQuery, RemoveError};
use crate::{ForgetError, HubState, history};

/// Room kept in a reply for its headers, under the server's
/// `max_payload` (which counts headers and body together).
const HEADER_ROOM: usize = 1024;
/// Room kept for the reply's envelope around a list of items.
const ENVELOPE_ROOM: usize = 512;

/// What every handler gets: the hub's state, the request's encoding and
/// the room its reply has.
pub struct Ctx {
    state: Arc<HubState>,
    encoding: Encoding,
    /// Bytes the reply body may take.
    reply_bytes: usize,
}

impl Deref for Ctx {
    type Target = HubState;
    fn deref(&self) -> &HubState {
        &self.state
    }
}

impl Ctx {
    /// The page of `items` (in `key` order) after `after`: at most
    /// `limit`, cut to fit the reply, and the cursor of the next page.
    fn page<T: Serialize>(
        &self,
        mut items: Vec<T>,
        after: Option<&str>,
        limit: usize,
        key: impl Fn(&T) -> &str,
    ) -> (Vec<T>, Option<String>) {
        if let Some(after) = after {
            items.retain(|t| key(t) > after);
        }
        let more = items.len() > limit;
        items.truncate(limit);
        self.cut_page(items, more, key)
    }

    /// Cuts a page to what fits the reply; `more` says that items follow
    /// it anyway. Returns the page and the cursor of the next one.
    fn cut_page<T: Serialize>(
        &self,
        mut items: Vec<T>,
        more: bool,
        key: impl Fn(&T) -> &str,
    ) -> (Vec<T>, Option<String>) {
        let fit = self.fitting(&items);
        let cut = fit < items.len();
        items.truncate(fit);
        let next = (more || cut)
            .then(|| items.last().map(|t| key(t).to_owned()))
            .flatten();
        (items, next)
    }

    /// How many of `items`, from the first, fit in one reply (at least
    /// one, so a page always makes progress).
    fn fitting<T: Serialize>(&self, items: &[T]) -> usize {
        let budget = self.reply_bytes.saturating_sub(ENVELOPE_ROOM);
        let mut used = 0;
        for (i, item) in items.iter().enumerate() {
            // An item that cannot be encoded fails the whole reply later.
            used += self.encoding.encode(item).map_or(0, |b| b.len()) + 1;
            if used > budget {
                return i.max(1);
            }
        }
        items.len()
    }
}

impl Ctx {
    /// History points a reply has room for: a point is at most about 96
    /// bytes in JSON and 48 in MessagePack, and a latency series sends
    /// its percentiles per point too. `max_points` is lowered to this, so
    /// the hub picks a coarser step rather than fail.
    fn points_that_fit(&self, series: &str) -> u32 {
        let per_point = match self.encoding {
            Encoding::Json => 96,
            Encoding::MsgPack => 48,
        } * if crate::store::rollup::is_latency(series) {
            2
        } else {
            1
        };
        let room = self.reply_bytes.saturating_sub(2 * ENVELOPE_ROOM);
        u32::try_from(room / per_point).unwrap_or(u32::MAX).max(1)
    }
}

type Handler<Req, Rep> = fn(&Ctx, Req) -> Result<Rep, ApiError>;

/// Registers the service and serves its endpoints until the tasks are
/// aborted (the set is dropped).
pub async fn start(
    client: &Client,
    state: Arc<HubState>,
) -> Result<(async_nats::service::Service, JoinSet<()>), async_nats::Error> {
    let stats_state = state.clone();
    let service = client
        .service_builder()
        .description("StreamSwarm hub: hosts, history, tests and alerts API")
        .stats_handler(move |_endpoint, _stats| stats_state.stats_json())
        .start(subject::SERVICE_NAME, env!("CARGO_PKG_VERSION"))
        .await?;
    let reply_bytes = client.server_info().max_payload.saturating_sub(HEADER_ROOM);
    let mut tasks = JoinSet::new();
    let add = |name: &str, subject: &str| {
        service
            .endpoint_builder()
            .name(name)
            .add(subject.to_owned())
    };
    macro_rules! serve {
        ($name:literal, $subject:expr, $handler:expr) => {
            tasks.spawn(serve(
                add($name, $subject).await?,
                state.clone(),
                reply_bytes,
                $handler,
            ));
        };
    }
    serve!("hosts", api::HOSTS, hosts);
    serve!("hosts-remove", api::HOSTS_REMOVE, hosts_remove);
    serve!("hosts-tags", api::HOSTS_TAGS, hosts_tags);
    serve!("host", api::HOST, host);
    serve!("history", api::HISTORY, history);
    serve!("tests-create", api::TESTS_CREATE, tests_create);
    serve!("tests-list", api::TESTS_LIST, tests_list);
    serve!("tests-get", api::TESTS_GET, tests_get);
    serve!("tests-cancel", api::TESTS_CANCEL, tests_cancel);
    serve!("tests-results", api::TESTS_RESULTS, tests_results);
    serve!("tests-summary", api::TESTS_SUMMARY, tests_summary);
    serve!("alerts-rules-put", api::ALERTS_RULES_PUT, alerts::rules_put);
    serve!(
        "alerts-rules-list",
        api::ALERTS_RULES_LIST,
        alerts::rules_list
    );
    serve!(
        "alerts-rules-delete",
        api::ALERTS_RULES_DELETE,
        alerts::rules_delete
    );
    serve!("alerts-list", api::ALERTS_LIST, alerts::list);
    serve!("alerts-history", api::ALERTS_HISTORY, alerts::history);
    serve!("alerts-ack", api::ALERTS_ACK, alerts::ack);
    serve!(
        "silences-create",
        api::SILENCES_CREATE,
        alerts::silences_create
    );
    serve!("silences-list", api::SILENCES_LIST, alerts::silences_list);
    serve!("config-put", api::CONFIG_PUT, config_put);
    serve!("config-status", api::CONFIG_STATUS, config_status);
    serve!(
        "silences-expire",
        api::SILENCES_EXPIRE,
        alerts::silences_expire
    );
    Ok((service, tasks))
}

/// Answers every request of one endpoint with `handler`, on a blocking
/// thread (handlers read sled). A handler that panics is answered
/// `internal` and counted; the endpoint goes on serving.
async fn serve<Req, Rep>(
    mut endpoint: Endpoint,
    state: Arc<HubState>,
    reply_bytes: usize,
    handler: Handler<Req, Rep>,
) where
    Req: DeserializeOwned + Send + 'static,
    Rep: Serialize + Send + 'static,
{
    while let Some(request) = endpoint.next().await {
        let msg = request.message.clone();
        let encoding = Encoding::of_request(msg.headers.as_ref(), &msg.payload);
        let ctx = Ctx {
            state: state.clone(),
            encoding,
            reply_bytes,
        };
        let subject = msg.subject.clone();
        let answered =
            tokio::task::spawn_blocking(move || answer(&ctx, handler, &msg.payload)).await;
        let (body, headers) = answered.unwrap_or_else(|e| {
            state.stats.api_failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%subject, "API handler failed: {e}");
            encoding.reply::<()>(&Err(ApiError::new(
                ErrorCode::Internal,
                "the hub failed while answering this request (it goes on serving)",
            )))
        });
        // The error body must reach the client too, so errors are sent as
        // an Ok reply carrying the service error headers.
        if let Err(e) = request.respond_with_headers(Ok(body), headers).await {
            tracing::warn!(%subject, "cannot send API reply: {e}");
        }
    }
}

/// Decodes, handles and encodes one request; a reply that would not fit
/// the server's `max_payload` becomes an error that does.
fn answer<Req: DeserializeOwned, Rep: Serialize>(
    ctx: &Ctx,
    handler: Handler<Req, Rep>,
    payload: &[u8],
) -> (Bytes, HeaderMap) {
    let result = ctx
        .encoding
        .decode::<Req>(payload)
        .map_err(|e| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("cannot decode the request: {e}"),
            )
        })
        .and_then(|req| handler(ctx, req));
    if let Err(e) = &result {
        tracing::debug!("API error: {e}");
    }
    let (body, headers) = ctx.encoding.reply(&result);
    if body.len() <= ctx.reply_bytes {
        return (body, headers);
    }
    ctx.stats
        .api_replies_too_large
        .fetch_add(1, Ordering::Relaxed);
    tracing::error!(
        "an API reply of {} bytes would exceed the server's max_payload",
        body.len()
    );
    ctx.encoding.reply::<()>(&Err(ApiError::new(
        ErrorCode::Internal,
        format!(
            "the reply ({} bytes) would not fit the server's max_payload ({} bytes); ask for less",
            body.len(),
            ctx.reply_bytes + HEADER_ROOM
        ),
    )))
}

/// A request's `limit`: its default when absent, else within 1..=max.
fn limit_of(limit: Option<u32>, default: u32, max: u32) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit as usize)
    } else {
        Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("limit: must be 1..={max}"),
        ))
    }
}

fn hosts(ctx: &Ctx, req: HostsRequest) -> Result<HostsReply, ApiError> {
    let limit = limit_of(req.limit, DEFAULT_HOSTS_PAGE, MAX_HOSTS_PAGE)?;
    if let Some(tag) = &req.tag {
        limits::check_tag(tag).map_err(ApiError::bad_request)?;
    }
    let query = PageQuery {
        tag: req.tag.as_deref(),
        status: req.status,
        after: req.after.as_deref(),
        limit,
    };
    let (hosts, more) = ctx.registry.page(query, now_ms());
    let (hosts, next) = ctx.cut_page(hosts, more, |h| h.agent.as_str());
    Ok(HostsReply { hosts, next })
}

fn hosts_remove(ctx: &Ctx, req: HostRemoveRequest) -> Result<HostRemoveReply, ApiError> {
    let agent = known_agent(ctx, &req.agent)?;
    ctx.forget_host(&agent, req.purge == Some(true), now_ms())
        .map_err(|e| match e {
            ForgetError::Remove(RemoveError::Unknown(_)) => no_agent(&req.agent),
            ForgetError::Remove(e @ RemoveError::Online(_)) => {
                ApiError::new(ErrorCode::Conflict, e.to_string())
            }
            ForgetError::Store(e) => internal(e),
        })?;
    tracing::info!(%agent, purge = req.purge == Some(true), "host forgotten");
    Ok(HostRemoveReply { agent })
}

fn hosts_tags(ctx: &Ctx, req: HostTagsRequest) -> Result<HostTagsReply, ApiError> {
    let agent = known_agent(ctx, &req.agent)?;
    let bad = ApiError::bad_request;
    limits::check_tags(&req.add).map_err(|e| bad(format!("add: {e}")))?;
    limits::check_tags(&req.remove).map_err(|e| bad(format!("remove: {e}")))?;
    let host = ctx
        .registry
        .edit_tags(&agent, &req.add, &req.remove, now_ms())
        .ok_or_else(|| no_agent(&req.agent))?
        .map_err(|e| bad(format!("hub tags: {e}")))?;
    ctx.registry.persist(&ctx.store).map_err(internal)?;
    Ok(HostTagsReply { host })
}

fn config_put(ctx: &Ctx, req: ConfigPutRequest) -> Result<ConfigPutReply, ApiError> {
    let put = ctx
        .configs
        .put(&ctx.store, &ctx.registry, &req.agents, req.config, now_ms())?;
    tracing::info!(rev = put.rev, hosts = put.agents.len(), "config put");
    let matched = put.agents.len();
    let mut agents = put.agents;
    agents.truncate(crate::pushed_config::MAX_REPLY_AGENTS);
    Ok(ConfigPutReply {
        rev: put.rev,
        agents,
        matched: Some(matched as u64),
    })
}

fn config_status(ctx: &Ctx, req: ConfigStatusRequest) -> Result<ConfigStatusReply, ApiError> {
    if let Some(raw) = &req.agent {
        let agent =
            AgentId::parse(raw).map_err(|e| ApiError::bad_request(format!("agent: {e}")))?;
        let status = ctx.configs.status_of(&agent).ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("no config was pushed to {agent} and it reported none"),
            )
        })?;
        return Ok(ConfigStatusReply {
            agents: vec![status],
            next: None,
        });
    }
    let limit = limit_of(req.limit, DEFAULT_CONFIG_PAGE, MAX_CONFIG_PAGE)?;
    let (agents, more) = ctx.configs.statuses(req.after.as_deref(), limit);
    let (agents, next) = ctx.cut_page(agents, more, |s| s.agent.as_str());
    Ok(ConfigStatusReply { agents, next })
}

fn host(state: &Ctx, req: HostRequest) -> Result<HostReply, ApiError> {
    let agent = known_agent(state, &req.agent)?;
    let host = state
        .registry
        .summary(&agent, now_ms())
        .ok_or_else(|| no_agent(&req.agent))?;
    let series = state.store.series_of(agent.as_str()).map_err(internal)?;
    Ok(HostReply { host, series })
}

fn history(state: &Ctx, req: HistoryRequest) -> Result<HistoryReply, ApiError> {
    let agent = known_agent(state, &req.agent)?;
    let now = now_ms();
    let (from, to) = history::window(&req, now)?;
    let max_points = history::max_points(&req)?.min(state.points_that_fit(&req.series));
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
/// Tests per `tests.list` page when the request sets no limit, and at most.
const DEFAULT_TESTS_PAGE: u32 = 500;
const MAX_TESTS_PAGE: u32 = 1_000;
/// Agents per `tests.summary` page when the request sets no limit, and at
/// most.
const DEFAULT_SUMMARY_PAGE: u32 = 1_000;
const MAX_SUMMARY_PAGE: u32 = 10_000;

fn tests_create(state: &Ctx, spec: TestSpec) -> Result<TestReply, ApiError> {
    Ok(TestReply {
        test: state
            .tests
            .create(&state.store, &state.registry, &spec, now_ms())?,
    })
}

fn tests_list(state: &Ctx, req: TestsListRequest) -> Result<TestsListReply, ApiError> {
    let limit = limit_of(req.limit, DEFAULT_TESTS_PAGE, MAX_TESTS_PAGE)?;
    let tests = state.tests.list(&state.store, req.status)?;
    let (tests, next) = state.page(tests, req.after.as_deref(), limit, |t| t.id.as_str());
    Ok(TestsListReply { tests, next })
}

fn tests_get(state: &Ctx, req: TestIdRequest) -> Result<TestReply, ApiError> {
    Ok(TestReply {
        test: state.tests.get(&state.store, &req.id)?,
    })
}

fn tests_cancel(state: &Ctx, req: TestIdRequest) -> Result<TestReply, ApiError> {
    Ok(TestReply {
        test: state.tests.cancel(&state.store, &req.id)?,
    })
}

fn tests_results(state: &Ctx, req: ResultsRequest) -> Result<ResultsReply, ApiError> {
    state.tests.get(&state.store, &req.id)?;
    let limit = limit_of(req.limit, DEFAULT_RESULTS, MAX_RESULTS)?;
    let mut results = state
        .store
        .records()
        .results(&req.id, req.agent.as_deref(), req.since.unwrap_or(0), limit)
        .map_err(internal)?;
    let fit = state.fitting(&results);
    let more = fit < results.len();
    results.truncate(fit);
    Ok(ResultsReply { results, more })
}

fn tests_summary(state: &Ctx, req: SummaryRequest) -> Result<SummaryReply, ApiError> {
    let limit = limit_of(req.limit, DEFAULT_SUMMARY_PAGE, MAX_SUMMARY_PAGE)?;
    state.tests.get(&state.store, &req.id)?;
    let summary = state
        .summaries
        .summary(&req.id, |each| {
            state.store.records().each_result(&req.id, each)
        })
        .map_err(internal)?;
    // In agent-id order: the page is the agents after `after`.
    let (summary, next) = state.page(summary, req.after.as_deref(), limit, |s| s.agent.as_str());
    Ok(SummaryReply { summary, next })
}

/// A syntactically valid agent id the hub has heard of.
fn known_agent(state: &Ctx, raw: &str) -> Result<AgentId, ApiError> {
    let agent = AgentId::parse(raw).map_err(|e| ApiError::bad_request(format!("agent: {e}")))?;
    if !state.registry.contains(&agent) {
        return Err(no_agent(raw));
    }
    Ok(agent)
}

fn no_agent(raw: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no agent named {raw:?}"))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("API internal error: {e}");
    ApiError::internal(e)
}
