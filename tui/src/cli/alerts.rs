//! `swarm-tui alerts ...`: alerts, rules (also from a TOML file kept in
//! version control) and silences, from scripts. Everything goes through
//! the hub's API.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::Client;
use serde::Deserialize;
use swarm_common::api::{all_pages, call};
use swarm_common::protocol::Millis;
use swarm_common::protocol::alerts::{
    AckRequest, Alert, AlertReply, AlertState, AlertsHistoryReply, AlertsHistoryRequest,
    AlertsListReply, AlertsListRequest, NameRequest, Rule, RuleReply, RulesListReply,
    RulesListRequest, Silence, SilenceIdRequest, SilenceReply, SilencesListReply,
    SilencesListRequest,
};
use swarm_common::subject::api;
use swarm_common::time::now_ms;

use super::say;
use super::{Failure, print_json};
use crate::format;

#[derive(Debug, clap::Subcommand)]
pub enum AlertsCommand {
    /// Pending and firing alerts, most severe first.
    List {
        #[arg(long, value_parser = parse_state)]
        state: Option<AlertState>,
        #[arg(long)]
        agent: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// State changes, oldest first.
    History {
        #[arg(long)]
        agent: Option<String>,
        #[arg(long)]
        rule: Option<String>,
        /// How far back (default 24h).
        #[arg(long, default_value = "24h", value_parser = swarm_common::duration::parse_positive)]
        since: Duration,
        #[arg(long)]
        json: bool,
    },
    /// The hub's rules (`rules list|put|delete|apply`; alone: list).
    Rules {
        #[command(subcommand)]
        action: Option<RulesAction>,
        #[arg(long)]
        json: bool,
    },
    /// Load rules from a TOML file (`[[rule]]` tables); each is created or
    /// replaced by name. With --prune, the hub's rules not in the file go.
    Apply {
        file: PathBuf,
        #[arg(long)]
        prune: bool,
    },
    /// Delete a rule and its alerts.
    Delete { name: String },
    /// Acknowledge an alert (every console shows it).
    Ack {
        agent: String,
        rule: String,
        #[arg(long)]
        comment: Option<String>,
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
    /// Silence alerts of some hosts for a while (they still change state,
    /// marked silenced; nobody is notified).
    Silence(SilenceArgs),
    /// Silences, active and future.
    Silences {
        #[arg(long)]
        json: bool,
    },
    /// End a silence now.
    Unsilence { id: String },
}

#[derive(Debug, Clone, clap::Args)]
pub struct SilenceArgs {
    /// Selectors: agent ids, globs, tag:<tag>; comma-separated.
    #[arg(long, required = true, value_delimiter = ',')]
    agents: Vec<String>,
    /// Only these rules (default: every rule).
    #[arg(long, value_delimiter = ',')]
    rules: Vec<String>,
    /// How long from now (or from --every's first window).
    #[arg(long = "for", value_parser = swarm_common::duration::parse_positive)]
    duration: Duration,
    /// A recurring window: every this long, for --window each time.
    #[arg(long, value_parser = swarm_common::duration::parse_positive, requires = "window")]
    every: Option<Duration>,
    #[arg(long, value_parser = swarm_common::duration::parse_positive, requires = "every")]
    window: Option<Duration>,
    #[arg(long, required = true)]
    comment: String,
    #[arg(long, env = "USER", default_value = "operator")]
    by: String,
    #[arg(long)]
    json: bool,
}

/// `swarm-tui alerts rules ...`
#[derive(Debug, clap::Subcommand)]
pub enum RulesAction {
    /// The hub's rules.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Create or replace the rules of a TOML file, by name.
    Put { file: PathBuf },
    /// Delete a rule and its alerts.
    Delete { name: String },
    /// Load a TOML rule set; with --prune the hub's rules not in it go.
    Apply {
        file: PathBuf,
        #[arg(long)]
        prune: bool,
    },
}

/// `swarm-tui silence ...`: the same as `alerts silence`, `alerts
/// silences` and `alerts unsilence`.
#[derive(Debug, clap::Subcommand)]
pub enum SilenceCommand {
    /// Silence alerts of some hosts for a while.
    Create(SilenceArgs),
    /// Silences, active and future.
    List {
        #[arg(long)]
        json: bool,
    },
    /// End a silence now.
    Expire { id: String },
}

pub async fn run_silence(
    client: &Client,
    timeout: Duration,
    command: &SilenceCommand,
) -> Result<(), Failure> {
    let command = match command {
        SilenceCommand::Create(args) => AlertsCommand::Silence(args.clone()),
        SilenceCommand::List { json } => AlertsCommand::Silences { json: *json },
        SilenceCommand::Expire { id } => AlertsCommand::Unsilence { id: id.clone() },
    };
    run(client, timeout, &command).await
}

fn parse_state(raw: &str) -> Result<AlertState, String> {
    match raw {
        "pending" => Ok(AlertState::Pending),
        "firing" => Ok(AlertState::Firing),
        _ => Err("must be pending or firing".into()),
    }
}

fn ms(d: Duration) -> Millis {
    swarm_common::duration::millis(d)
}

pub async fn run(
    client: &Client,
    timeout: Duration,
    command: &AlertsCommand,
) -> Result<(), Failure> {
    match command {
        AlertsCommand::List { state, agent, json } => {
            let req = AlertsListRequest {
                state: *state,
                agent: agent.clone(),
                ..AlertsListRequest::default()
            };
            let alerts =
                all_pages::<_, AlertsListReply>(client, api::ALERTS_LIST, req, timeout).await?;
            let reply = AlertsListReply {
                alerts,
                more: false,
                next: None,
            };
            if *json {
                print_json(&reply)?;
            } else {
                print_alerts(&reply.alerts, now_ms())?;
            }
        }
        AlertsCommand::History {
            agent,
            rule,
            since,
            json,
        } => {
            let req = AlertsHistoryRequest {
                agent: agent.clone(),
                rule: rule.clone(),
                from: Some(now_ms().saturating_sub(ms(*since))),
                ..Default::default()
            };
            let reply: AlertsHistoryReply =
                call(client, api::ALERTS_HISTORY, &req, timeout).await?;
            if *json {
                print_json(&reply)?;
            } else {
                print_alerts(&reply.events, now_ms())?;
            }
        }
        AlertsCommand::Rules { action, json } => match action {
            None => print_rules(client, timeout, *json).await?,
            Some(RulesAction::List { json: list_json }) => {
                print_rules(client, timeout, *json || *list_json).await?;
            }
            Some(RulesAction::Put { file }) => apply(client, timeout, file, false).await?,
            Some(RulesAction::Apply { file, prune }) => {
                apply(client, timeout, file, *prune).await?
            }
            Some(RulesAction::Delete { name }) => delete_rule(client, timeout, name).await?,
        },
        AlertsCommand::Apply { file, prune } => apply(client, timeout, file, *prune).await?,
        AlertsCommand::Delete { name } => delete_rule(client, timeout, name).await?,
        AlertsCommand::Ack {
            agent,
            rule,
            comment,
            by,
        } => {
            let req = AckRequest {
                agent: agent.clone(),
                rule: rule.clone(),
                comment: comment.clone(),
                by: by.clone(),
            };
            let reply: AlertReply = call(client, api::ALERTS_ACK, &req, timeout).await?;
            say!("acknowledged {} on {}", reply.alert.rule, reply.alert.agent);
        }
        AlertsCommand::Silence(SilenceArgs {
            agents,
            rules,
            duration,
            every,
            window,
            comment,
            by,
            json,
        }) => {
            let now = now_ms();
            let silence = Silence {
                id: String::new(),
                agents: agents.clone(),
                rules: rules.clone(),
                starts_at: Some(now),
                ends_at: now.saturating_add(ms(*duration)),
                every_ms: every.map(ms),
                duration_ms: window.map(ms),
                comment: comment.clone(),
                by: by.clone(),
            };
            let reply: SilenceReply = call(client, api::SILENCES_CREATE, &silence, timeout).await?;
            if *json {
                print_json(&reply)?;
            } else {
                say!(
                    "silence {} until {}",
                    reply.silence.id,
                    format::timestamp_ms(reply.silence.ends_at)
                );
            }
        }
        AlertsCommand::Silences { json } => {
            let reply: SilencesListReply =
                call(client, api::SILENCES_LIST, &SilencesListRequest {}, timeout).await?;
            if *json {
                print_json(&reply)?;
            } else {
                for s in &reply.silences {
                    let rules = if s.rules.is_empty() {
                        "every rule".to_owned()
                    } else {
                        s.rules.join(",")
                    };
                    say!(
                        "{}  {}  {}  until {}  by {}: {}",
                        s.id,
                        s.agents.join(","),
                        rules,
                        format::timestamp_ms(s.ends_at),
                        s.by,
                        s.comment
                    );
                }
            }
        }
        AlertsCommand::Unsilence { id } => {
            let req = SilenceIdRequest { id: id.clone() };
            let reply: SilenceReply = call(client, api::SILENCES_EXPIRE, &req, timeout).await?;
            say!("silence {} ended", reply.silence.id);
        }
    }
    Ok(())
}

async fn print_rules(client: &Client, timeout: Duration, json: bool) -> Result<(), Failure> {
    let reply = list_rules(client, timeout).await?;
    if json {
        print_json(&reply)?;
    } else {
        for r in &reply.rules {
            say!("{}", describe(r));
        }
    }
    Ok(())
}

async fn delete_rule(client: &Client, timeout: Duration, name: &str) -> Result<(), Failure> {
    let req = NameRequest {
        name: name.to_owned(),
    };
    let reply: RuleReply = call(client, api::ALERTS_RULES_DELETE, &req, timeout).await?;
    say!("deleted rule {}", reply.rule.name);
    Ok(())
}

/// A rule as written in a rules file: the wire fields, and `for` and
/// `keep_firing_for` as durations (`5m`) instead of milliseconds.
#[derive(Debug, Deserialize)]
struct FileRule {
    #[serde(flatten)]
    rule: Rule,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    keep_firing_for: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<FileRule>,
}

/// The rules of a TOML file, each checked; the error names the file and
/// the rule.
pub fn read_rules(path: &Path) -> Result<Vec<Rule>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: RulesFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let duration = |name: &str, raw: &str| {
        swarm_common::duration::parse(raw)
            .map(ms)
            .map_err(|e| format!("{name}: {e}"))
    };
    let mut rules = Vec::new();
    for entry in file.rule {
        let mut rule = entry.rule;
        let named = |e: String| format!("{}: rule {:?}: {e}", path.display(), rule.name);
        if let Some(raw) = &entry.for_ {
            rule.for_ms = duration("for", raw).map_err(named)?;
        }
        if let Some(raw) = &entry.keep_firing_for {
            rule.keep_firing_for_ms = duration("keep_firing_for", raw).map_err(named)?;
        }
        rule.check()
            .map_err(|e| format!("{}: rule {:?}: {e}", path.display(), rule.name))?;
        rules.push(rule);
    }
    Ok(rules)
}

async fn list_rules(client: &Client, timeout: Duration) -> Result<RulesListReply, Failure> {
    Ok(call(
        client,
        api::ALERTS_RULES_LIST,
        &RulesListRequest {},
        timeout,
    )
    .await?)
}

async fn apply(
    client: &Client,
    timeout: Duration,
    file: &Path,
    prune: bool,
) -> Result<(), Failure> {
    let rules = read_rules(file).map_err(|message| Failure { status: 2, message })?;
    for rule in &rules {
        let _: RuleReply = call(client, api::ALERTS_RULES_PUT, rule, timeout).await?;
        say!("set {}", describe(rule));
    }
    if prune {
        let reply = list_rules(client, timeout).await?;
        for old in reply.rules {
            if !rules.iter().any(|r| r.name == old.name) {
                let req = NameRequest { name: old.name };
                let gone: RuleReply = call(client, api::ALERTS_RULES_DELETE, &req, timeout).await?;
                say!("deleted {}", gone.rule.name);
            }
        }
    }
    Ok(())
}

/// `cpu-high: cpu_pct > 90 for 5m (recover 80) on web-* [critical]`
pub fn describe(r: &Rule) -> String {
    let mut out = if r.is_host_down() {
        format!("{}: host_down", r.name)
    } else {
        format!("{}: {} {} {}", r.name, r.series, r.op.symbol(), r.threshold)
    };
    if r.for_ms > 0 {
        out += &format!(" for {}", format::age_ms(r.for_ms));
    }
    if r.recover.is_some_and(|v| v != r.threshold) {
        out += &format!(" (recover {})", r.recover_at());
    }
    if r.keep_firing_for_ms > 0 {
        out += &format!(" keep firing {}", format::age_ms(r.keep_firing_for_ms));
    }
    out += &format!(" on {} [{}]", r.agents.join(","), r.severity.as_str());
    out
}

fn print_alerts(alerts: &[Alert], now: Millis) -> Result<(), Failure> {
    if alerts.is_empty() {
        say!("no alerts");
        return Ok(());
    }
    say!(
        "{:<9} {:<8} {:<24} {:<20} {:>10} {:>8}  marks",
        "STATE",
        "SEVERITY",
        "AGENT",
        "RULE",
        "VALUE",
        "SINCE"
    );
    for a in alerts {
        let mut marks = Vec::new();
        if a.silenced {
            marks.push("silenced".to_owned());
        }
        if let Some(ack) = &a.acked {
            marks.push(format!("acked by {}", ack.by));
        }
        say!(
            "{:<9} {:<8} {:<24} {:<20} {:>10.2} {:>8}  {}",
            a.state.as_str(),
            a.severity.as_str(),
            a.agent,
            a.rule,
            a.value,
            format::age_ms(now.saturating_sub(a.since)),
            marks.join(", ")
        );
    }
    Ok(())
}
