//! `swarm-tui config ...`: push a configuration to agents by selector and
//! see, per host, the revision the hub wants and the one in force.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::Client;
use swarm_common::api::{all_pages, call};
use swarm_common::duration;
use swarm_common::protocol::fleet::{
    AgentConfig, Collectors, ConfigPutReply, ConfigPutRequest, ConfigStatus, ConfigStatusReply,
    ConfigStatusRequest,
};
use swarm_common::subject::api;

use super::say;
use super::{Failure, print_json};

/// The collectors a config can turn on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Collector {
    Processes,
    PerCore,
    PerInterface,
    DiskIo,
    Temperatures,
}

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Make a config the desired one of the hosts the selectors match now
    /// (online hosts get it at once, offline ones when they come back).
    /// Fields not given stay the agents' own settings.
    Push {
        /// Hosts: agent ids, globs (web-*), tag:<tag> or *; repeatable.
        #[arg(long = "agents", required = true, value_delimiter = ',')]
        agents: Vec<String>,
        /// A TOML file with the config's fields (interval_ms, tags,
        /// plugins, [collectors], processes_every_ms); flags go on top.
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long, value_parser = duration::parse_positive)]
        interval: Option<Duration>,
        /// Tags replacing the agents' own; repeatable.
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Plugins to run (the others do not); comma separated.
        #[arg(long, value_delimiter = ',')]
        plugins: Option<Vec<String>>,
        /// Run no plugin at all.
        #[arg(long, conflicts_with = "plugins")]
        no_plugins: bool,
        #[arg(long = "enable", value_delimiter = ',', value_enum)]
        enable: Vec<Collector>,
        #[arg(long = "disable", value_delimiter = ',', value_enum)]
        disable: Vec<Collector>,
        #[arg(long, value_parser = duration::parse_positive)]
        processes_every: Option<Duration>,
        #[arg(long)]
        json: bool,
    },
    /// Desired and applied revision per host (one host: with its config).
    Status {
        agent: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(
    client: &Client,
    timeout: Duration,
    command: &ConfigCommand,
) -> Result<(), Failure> {
    match command {
        ConfigCommand::Push {
            agents,
            file,
            interval,
            tags,
            plugins,
            no_plugins,
            enable,
            disable,
            processes_every,
            json,
        } => {
            let mut config = match file {
                Some(path) => read_file(path)?,
                None => AgentConfig::default(),
            };
            if let Some(d) = interval {
                config.interval_ms = Some(duration::millis(*d));
            }
            if !tags.is_empty() {
                config.tags = Some(tags.clone());
            }
            if *no_plugins {
                config.plugins = Some(Vec::new());
            } else if let Some(p) = plugins {
                config.plugins = Some(p.clone());
            }
            if let Some(d) = processes_every {
                config.processes_every_ms = Some(duration::millis(*d));
            }
            if !enable.is_empty() || !disable.is_empty() {
                let c = config.collectors.get_or_insert_with(Collectors::default);
                for (list, on) in [(enable, true), (disable, false)] {
                    for collector in list {
                        *slot(c, *collector) = Some(on);
                    }
                }
            }
            let req = ConfigPutRequest {
                agents: agents.clone(),
                config,
            };
            let reply: ConfigPutReply = call(client, api::CONFIG_PUT, &req, timeout).await?;
            if *json {
                print_json(&reply)?;
            } else {
                say!(
                    "revision {} for {} hosts: {}{}",
                    reply.rev,
                    reply.matched.unwrap_or(reply.agents.len() as u64),
                    reply
                        .agents
                        .iter()
                        .take(10)
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    if reply.agents.len() > 10 { " ..." } else { "" }
                );
            }
        }
        ConfigCommand::Status { agent, json } => {
            let statuses: Vec<ConfigStatus> = match agent {
                Some(agent) => {
                    let req = ConfigStatusRequest {
                        agent: Some(agent.clone()),
                        ..ConfigStatusRequest::default()
                    };
                    let reply: ConfigStatusReply =
                        call(client, api::CONFIG_STATUS, &req, timeout).await?;
                    reply.agents
                }
                None => {
                    all_pages::<_, ConfigStatusReply>(
                        client,
                        api::CONFIG_STATUS,
                        ConfigStatusRequest::default(),
                        timeout,
                    )
                    .await?
                }
            };
            if *json {
                print_json(&statuses)?;
            } else {
                print_statuses(&statuses)?;
            }
        }
    }
    Ok(())
}

fn slot(c: &mut Collectors, which: Collector) -> &mut Option<bool> {
    match which {
        Collector::Processes => &mut c.processes,
        Collector::PerCore => &mut c.per_core,
        Collector::PerInterface => &mut c.per_interface,
        Collector::DiskIo => &mut c.disk_io,
        Collector::Temperatures => &mut c.temperatures,
    }
}

fn read_file(path: &PathBuf) -> Result<AgentConfig, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure {
        status: 2,
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    toml::from_str(&text).map_err(|e| Failure {
        status: 2,
        message: format!("{}: {e}", path.display()),
    })
}

fn print_statuses(statuses: &[ConfigStatus]) -> Result<(), Failure> {
    say!("{:<24} {:>8} {:>8}  state", "AGENT", "DESIRED", "APPLIED");
    for s in statuses {
        let state = match (&s.error, s.desired_rev.cmp(&s.applied_rev)) {
            (Some(e), _) => format!("refused: {e}"),
            (None, std::cmp::Ordering::Greater) => "waiting for the agent".to_owned(),
            (None, _) => "in force".to_owned(),
        };
        say!(
            "{:<24} {:>8} {:>8}  {state}",
            s.agent.as_str(),
            s.desired_rev,
            s.applied_rev
        );
        if let Some(config) = &s.config
            && let Ok(text) = toml::to_string(config)
        {
            for line in text.lines() {
                say!("    {line}");
            }
        }
    }
    Ok(())
}
