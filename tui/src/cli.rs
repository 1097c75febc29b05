//! Command line of `swarm-tui`: the console by default, and subcommands
//! for scripts.
//!
//! Exit status: 0 success; 1 NATS or the hub unreachable, or an internal
//! error; 2 bad usage or a request the hub refused as bad; 3 not found;
//! 4 conflict.

pub mod alerts;
mod config;
mod nettest;

use std::time::Duration;

use futures::StreamExt;
use swarm_common::api::{CallError, all_hosts, call};
use swarm_common::codec::Encoding;
use swarm_common::nats::{self, NatsArgs, NatsHealth};
use swarm_common::protocol::{
    ErrorCode, HostRemoveReply, HostRemoveRequest, HostStatus, HostTagsReply, HostTagsRequest,
    HostsReply, HostsRequest,
};
use swarm_common::{AgentId, subject};

use crate::event::HubFailure;
use crate::format;

#[derive(Debug, clap::Parser)]
#[command(
    name = "swarm-tui",
    version,
    about = "StreamSwarm console: live hosts, host details; subcommands for scripts"
)]
pub struct TuiArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Open the console on this host's view.
    #[arg(long, value_parser = parse_agent)]
    pub host: Option<AgentId>,
    /// Open the console on a view: `hosts` or `tests`.
    #[arg(long, value_parser = ["hosts", "tests"])]
    pub view: Option<String>,
    /// Draw with ASCII characters only (for terminals or fonts without
    /// Unicode block and box characters). Colours follow NO_COLOR.
    #[arg(long, env = "SWARM_ASCII")]
    pub ascii: bool,
    /// How long subcommands wait for the hub's answer (not to be confused
    /// with `test create --timeout`, the probes' own timeout).
    #[arg(long, env = "SWARM_HUB_WAIT", default_value = "5s", value_parser = swarm_common::duration::parse_positive, global = true)]
    pub hub_wait: Duration,
    #[command(subcommand)]
    pub command: Option<SubCommand>,
}

#[derive(Debug, clap::Subcommand)]
pub enum SubCommand {
    /// List hosts as the hub knows them (every page), or change one.
    Hosts {
        #[command(subcommand)]
        action: Option<HostsAction>,
        /// Only hosts with this tag (the agent's or the hub's).
        #[arg(long)]
        tag: Option<String>,
        /// Only hosts in this state.
        #[arg(long, value_parser = parse_status)]
        status: Option<HostStatus>,
        /// One JSON object per host per line (JSON Lines) instead of a
        /// table.
        #[arg(long)]
        json: bool,
    },
    /// Print bus messages as one JSON line each (default subject: swarm.>).
    Tail {
        #[arg(default_value = subject::EVERYTHING)]
        subject: String,
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Network tests: create, list, show, cancel.
    #[command(subcommand)]
    Test(nettest::TestCommand),
    /// Alerts, rules (also from a TOML file) and silences.
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
    /// Silences: create, list, expire (as `alerts silence|silences|unsilence`).
    #[command(subcommand)]
    Silence(alerts::SilenceCommand),
    #[command(flatten)]
    Docs(swarm_common::docs::DocsCommand),
    /// Configuration pushed to agents: push by selector, status per host.
    #[command(subcommand)]
    Config(config::ConfigCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum HostsAction {
    /// Forget an offline host; its history ages out by retention, or goes
    /// at once with --purge. If its agent comes back it is a new host.
    Remove {
        agent: String,
        /// Delete its history now.
        #[arg(long)]
        purge: bool,
        #[arg(long)]
        json: bool,
    },
    /// Add or remove tags the hub keeps for a host (merged with the
    /// agent's own; `tag:` selectors match both).
    Tag {
        agent: String,
        /// A tag to add (repeat for more).
        #[arg(long)]
        add: Vec<String>,
        /// A tag to remove (repeat for more).
        #[arg(long)]
        remove: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

fn parse_status(raw: &str) -> Result<HostStatus, String> {
    match raw {
        "online" => Ok(HostStatus::Online),
        "offline" => Ok(HostStatus::Offline),
        _ => Err("must be online or offline".into()),
    }
}

impl TuiArgs {
    /// How the console draws: ASCII on request, no colours when `NO_COLOR`
    /// is set to anything non-empty (no-color.org).
    pub fn look(&self) -> crate::app::Look {
        crate::app::Look {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            unicode: !self.ascii,
        }
    }
}

/// Why a subcommand failed, and the exit status that says so.
#[derive(Debug)]
pub struct Failure {
    pub status: u8,
    pub message: String,
}

impl Failure {
    pub fn internal(message: String) -> Self {
        Self { status: 1, message }
    }

    /// The reader closed the pipe (`| head`): it has what it wanted; the
    /// command ends quietly and successfully.
    pub fn is_closed_pipe(&self) -> bool {
        self.status == 0
    }
}

/// A line on stdout, as `println!` would write it, but a closed pipe or a
/// full disk is an error the command returns instead of a panic.
macro_rules! say {
    () => {
        $crate::cli::write_line(format_args!(""))?
    };
    ($($arg:tt)*) => {
        $crate::cli::write_line(format_args!($($arg)*))?
    };
}
pub(crate) use say;

pub(crate) fn write_line(line: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_fmt(line).and_then(|()| out.write_all(b"\n")) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure {
            status: 0,
            message: String::new(),
        }),
        Err(e) => Err(Failure::internal(format!("cannot write to stdout: {e}"))),
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<CallError> for Failure {
    /// Said as the console says it ([`HubFailure`]); the exit status by
    /// what the hub answered.
    fn from(e: CallError) -> Self {
        let failure = HubFailure::from(e);
        let status = match &failure {
            HubFailure::Refused(api) => match api.code {
                ErrorCode::BadRequest => 2,
                ErrorCode::NotFound => 3,
                ErrorCode::Conflict => 4,
                ErrorCode::Unavailable | ErrorCode::Internal => 1,
            },
            HubFailure::Unreachable(_) | HubFailure::Failed(_) => 1,
        };
        Self {
            status,
            message: failure.to_string(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(format!("{e:#}"))
    }
}

fn parse_agent(raw: &str) -> Result<AgentId, String> {
    AgentId::parse(raw).map_err(|e| e.to_string())
}

pub async fn run(args: &TuiArgs, command: &SubCommand) -> Result<(), Failure> {
    if let SubCommand::Docs(docs) = command {
        // Needs no server.
        return swarm_common::docs::print(<TuiArgs as clap::CommandFactory>::command(), docs)
            .map_err(|e| Failure::internal(e.to_string()));
    }
    let client = nats::connect_once(&args.nats, "swarm-tui", NatsHealth::new())
        .await
        .map_err(|e| Failure::internal(e.to_string()))?;
    match command {
        SubCommand::Hosts {
            action: None,
            tag,
            status,
            json,
        } => {
            let req = HostsRequest {
                tag: tag.clone(),
                status: *status,
                ..HostsRequest::default()
            };
            let hosts = all_hosts(&client, req, args.hub_wait).await?;
            if *json {
                for host in &hosts {
                    let line = serde_json::to_string(host)
                        .map_err(|e| Failure::internal(e.to_string()))?;
                    say!("{line}");
                }
            } else {
                print_hosts(&HostsReply { hosts, next: None })?;
            }
        }
        SubCommand::Hosts {
            action: Some(action),
            ..
        } => hosts_action(&client, args.hub_wait, action).await?,
        SubCommand::Tail { subject, count } => tail(&client, subject, *count).await?,
        SubCommand::Test(command) => nettest::run(&client, args.hub_wait, command).await?,
        SubCommand::Alerts(command) => alerts::run(&client, args.hub_wait, command).await?,
        SubCommand::Config(command) => config::run(&client, args.hub_wait, command).await?,
        SubCommand::Silence(command) => {
            alerts::run_silence(&client, args.hub_wait, command).await?
        }
        SubCommand::Docs(_) => {}
    }
    Ok(())
}

async fn hosts_action(
    client: &async_nats::Client,
    timeout: Duration,
    action: &HostsAction,
) -> Result<(), Failure> {
    match action {
        HostsAction::Remove { agent, purge, json } => {
            let req = HostRemoveRequest {
                agent: agent.clone(),
                purge: Some(*purge),
            };
            let reply: HostRemoveReply =
                call(client, subject::api::HOSTS_REMOVE, &req, timeout).await?;
            if *json {
                print_json(&reply)?;
            } else if *purge {
                say!("forgot {} and deleted its history", reply.agent);
            } else {
                say!("forgot {} (its history ages out)", reply.agent);
            }
        }
        HostsAction::Tag {
            agent,
            add,
            remove,
            json,
        } => {
            let req = HostTagsRequest {
                agent: agent.clone(),
                add: add.clone(),
                remove: remove.clone(),
            };
            let reply: HostTagsReply =
                call(client, subject::api::HOSTS_TAGS, &req, timeout).await?;
            if *json {
                print_json(&reply)?;
            } else {
                say!(
                    "{}: hub tags [{}]; all tags [{}]",
                    reply.host.agent,
                    reply.host.hub_tags.join(", "),
                    reply.host.tags.join(", ")
                );
            }
        }
    }
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::internal(e.to_string()))?;
    say!("{text}");
    Ok(())
}

fn print_hosts(reply: &HostsReply) -> Result<(), Failure> {
    say!(
        "{:<24} {:<8} {:>5} {:>5} {:>6} {:>10} {:>10} {:>6}",
        "AGENT",
        "STATUS",
        "CPU",
        "MEM",
        "DISK/",
        "RX",
        "TX",
        "LOAD"
    );
    for h in &reply.hosts {
        let latest = h.latest.as_ref();
        let net = latest.and_then(|s| s.net.as_ref());
        say!(
            "{:<24} {:<8} {:>5} {:>5} {:>6} {:>10} {:>10} {:>6}",
            h.agent.as_str(),
            match h.status {
                HostStatus::Online => "online",
                HostStatus::Offline => "offline",
            },
            format::pct(latest.and_then(|s| s.cpu_pct)),
            format::pct(latest.and_then(|s| s.mem_pct())),
            format::pct(
                latest
                    .and_then(|s| s.root_disk())
                    .and_then(|d| d.used_pct())
            ),
            net.and_then(|n| n.rx_bps).map_or("-".into(), format::rate),
            net.and_then(|n| n.tx_bps).map_or("-".into(), format::rate),
            latest
                .and_then(|s| s.load)
                .map_or("-".into(), |l| format!("{:.2}", l[0])),
        );
    }
    Ok(())
}

/// Decodes each message (MessagePack or JSON) to one JSON line:
/// `{"subject": ..., "data": ...}`.
async fn tail(
    client: &async_nats::Client,
    subject: &str,
    count: Option<u64>,
) -> Result<(), Failure> {
    let mut sub = client
        .subscribe(subject.to_owned())
        .await
        .map_err(|e| Failure::internal(format!("cannot subscribe to {subject}: {e}")))?;
    let mut seen = 0u64;
    while let Some(msg) = sub.next().await {
        let enc = Encoding::of_request(msg.headers.as_ref(), &msg.payload);
        let data = match enc.decode::<serde_json::Value>(&msg.payload) {
            Ok(v) => v,
            Err(_) => serde_json::Value::String(String::from_utf8_lossy(&msg.payload).into_owned()),
        };
        say!(
            "{}",
            serde_json::json!({"subject": msg.subject.as_str(), "data": data})
        );
        seen += 1;
        if count.is_some_and(|c| seen >= c) {
            break;
        }
    }
    Ok(())
}
