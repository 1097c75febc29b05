//! `swarm.api.alerts.*` and `swarm.api.silences.*`.

use swarm_common::AgentId;
use swarm_common::protocol::alerts::{
    Ack, AckRequest, Alert, AlertReply, AlertsHistoryReply, AlertsHistoryRequest, AlertsListReply,
    AlertsListRequest, MAX_ALERTS_PAGE, MAX_EVENTS_PAGE, NameRequest, Rule, RuleReply,
    RulesListReply, RulesListRequest, Silence, SilenceIdRequest, SilenceReply, SilencesListReply,
    SilencesListRequest, check_name, check_text,
};
use swarm_common::protocol::{ApiError, ErrorCode};
use swarm_common::text;
use swarm_common::time::now_ms;

use super::{Ctx, internal, limit_of};
use crate::alerts::AlertError;

fn api_error(e: AlertError) -> ApiError {
    match e {
        AlertError::Invalid(m) => ApiError::bad_request(m),
        AlertError::NotFound(m) => ApiError::new(ErrorCode::NotFound, format!("no {m}")),
        AlertError::Full(m) => ApiError::new(ErrorCode::Conflict, m),
        AlertError::Store(m) => internal(m),
    }
}

fn rule_name(raw: &str) -> Result<(), ApiError> {
    check_name(raw).map_err(|e| ApiError::bad_request(format!("rule: {e}")))
}

fn agent_id(raw: &str) -> Result<AgentId, ApiError> {
    AgentId::parse(raw).map_err(|e| ApiError::bad_request(format!("agent: {e}")))
}

pub(super) fn rules_put(ctx: &Ctx, rule: Rule) -> Result<RuleReply, ApiError> {
    let rule = ctx.alerts.put_rule(&ctx.store, rule).map_err(api_error)?;
    tracing::info!(rule = %rule.name, "alert rule set");
    Ok(RuleReply { rule })
}

pub(super) fn rules_list(ctx: &Ctx, _: RulesListRequest) -> Result<RulesListReply, ApiError> {
    let mut rules = ctx.alerts.rules();
    let fit = ctx.fitting(&rules);
    let more = fit < rules.len();
    rules.truncate(fit);
    Ok(RulesListReply { rules, more })
}

pub(super) fn rules_delete(ctx: &Ctx, req: NameRequest) -> Result<RuleReply, ApiError> {
    rule_name(&req.name)?;
    let rule = ctx
        .alerts
        .delete_rule(&ctx.store, &req.name)
        .map_err(api_error)?;
    tracing::info!(rule = %rule.name, "alert rule deleted");
    Ok(RuleReply { rule })
}

pub(super) fn list(ctx: &Ctx, req: AlertsListRequest) -> Result<AlertsListReply, ApiError> {
    if let Some(agent) = &req.agent {
        agent_id(agent)?;
    }
    let limit = limit_of(req.limit, MAX_ALERTS_PAGE, MAX_ALERTS_PAGE)?;
    let mut alerts = ctx
        .alerts
        .list(req.state, req.agent.as_deref(), &ctx.registry, now_ms());
    if let Some(after) = &req.after {
        alerts.retain(|a| a.list_key().as_str() > after.as_str());
    }
    let more = alerts.len() > limit;
    alerts.truncate(limit);
    let fit = ctx.fitting(&alerts);
    let more = more || fit < alerts.len();
    alerts.truncate(fit);
    let next = more.then(|| alerts.last().map(Alert::list_key)).flatten();
    Ok(AlertsListReply { alerts, more, next })
}

pub(super) fn history(
    ctx: &Ctx,
    req: AlertsHistoryRequest,
) -> Result<AlertsHistoryReply, ApiError> {
    if let Some(agent) = &req.agent {
        agent_id(agent)?;
    }
    if let Some(rule) = &req.rule {
        rule_name(rule)?;
    }
    let limit = limit_of(req.limit, MAX_EVENTS_PAGE, MAX_EVENTS_PAGE)?;
    let (from, to) = (req.from.unwrap_or(0), req.to.unwrap_or(u64::MAX));
    if from > to {
        return Err(ApiError::bad_request("from: must not be after to"));
    }
    let (mut events, mut more) = ctx
        .store
        .alerts()
        .events(from, to, limit, |e| {
            req.agent.as_ref().is_none_or(|a| &e.agent == a)
                && req.rule.as_ref().is_none_or(|r| &e.rule == r)
        })
        .map_err(internal)?;
    let fit = ctx.fitting(&events);
    more |= fit < events.len();
    events.truncate(fit);
    Ok(AlertsHistoryReply { events, more })
}

pub(super) fn ack(ctx: &Ctx, req: AckRequest) -> Result<AlertReply, ApiError> {
    let agent = agent_id(&req.agent)?;
    rule_name(&req.rule)?;
    check_text("comment", req.comment.as_deref()).map_err(ApiError::bad_request)?;
    let by = req.by.as_deref().unwrap_or("operator");
    if by.is_empty() || by.len() > 64 {
        return Err(ApiError::bad_request("by: 1-64 bytes"));
    }
    check_text("by", Some(by)).map_err(ApiError::bad_request)?;
    let ack = Ack {
        by: by.to_owned(),
        ts: now_ms(),
        comment: req.comment,
    };
    let alert = ctx
        .alerts
        .ack(&ctx.store, agent.as_str(), &req.rule, ack)
        .map_err(api_error)?;
    Ok(AlertReply { alert })
}

pub(super) fn silences_create(ctx: &Ctx, silence: Silence) -> Result<SilenceReply, ApiError> {
    let silence = ctx
        .alerts
        .add_silence(&ctx.store, silence, now_ms())
        .map_err(api_error)?;
    tracing::info!(id = %silence.id, by = %text::printable(&silence.by, 64), "silence created");
    Ok(SilenceReply { silence })
}

pub(super) fn silences_list(
    ctx: &Ctx,
    _: SilencesListRequest,
) -> Result<SilencesListReply, ApiError> {
    let mut silences = ctx.alerts.silences();
    let fit = ctx.fitting(&silences);
    let more = fit < silences.len();
    silences.truncate(fit);
    Ok(SilencesListReply { silences, more })
}

pub(super) fn silences_expire(ctx: &Ctx, req: SilenceIdRequest) -> Result<SilenceReply, ApiError> {
    if req.id.is_empty() || req.id.len() > 64 {
        return Err(ApiError::bad_request("id: 1-64 bytes"));
    }
    let silence = ctx
        .alerts
        .expire_silence(&ctx.store, &req.id, now_ms())
        .map_err(api_error)?;
    Ok(SilenceReply { silence })
}
