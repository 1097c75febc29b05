//! Command line of `swarm-agent` (every flag also from `SWARM_*` env).

use std::path::PathBuf;
use std::time::Duration;

use swarm_common::nats::NatsArgs;
use swarm_common::{AgentId, AgentIdError, duration};

use crate::collect::CollectorSettings;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "swarm-agent",
    version,
    about = "StreamSwarm agent: samples this host and publishes on NATS"
)]
pub struct AgentArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Config file (TOML): below the environment and these flags, above
    /// the defaults. What the hub pushes goes on top of all of them.
    #[arg(long, env = "SWARM_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the settings in force, layer by layer, and exit.
    #[arg(long)]
    pub print_config: bool,
    #[command(subcommand)]
    pub docs: Option<swarm_common::docs::DocsCommand>,
    /// Agent id; default is the host name, normalised to [a-z0-9_-]{1,64}.
    #[arg(long, env = "SWARM_AGENT_NAME")]
    pub name: Option<String>,
    /// Sampling interval.
    #[arg(long, env = "SWARM_INTERVAL", default_value = "5s", value_parser = duration::parse_positive)]
    pub interval: Duration,
    /// Tag announced in HostInfo (`key=value` or a bare word); repeatable.
    #[arg(long = "tag", env = "SWARM_TAGS", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Directory of the spool that keeps what could not be delivered
    /// [default: $XDG_STATE_HOME/swarm-agent/<id>, ~/.local/state/swarm-agent/<id>]
    #[arg(long, env = "SWARM_SPOOL")]
    pub spool: Option<PathBuf>,
    /// Largest spool, in MiB; past it the oldest messages are dropped.
    #[arg(long, env = "SWARM_SPOOL_MAX_MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub spool_max_mib: u64,
    /// Optional collector to leave off; repeatable: processes, per-core,
    /// per-interface, disk-io, temperatures.
    #[arg(
        long = "disable",
        env = "SWARM_DISABLE",
        value_delimiter = ',',
        value_enum
    )]
    pub disable: Vec<Optional>,
    /// How often the heaviest processes are read (at most every sample).
    #[arg(long, env = "SWARM_PROCESSES_EVERY", default_value = "5s", value_parser = duration::parse_positive)]
    pub processes_every: Duration,
    /// Directory of plugins: executables run every interval and `*.prom`
    /// files read, both in the Prometheus text format (custom metrics).
    #[arg(long, env = "SWARM_PLUGINS")]
    pub plugins: Option<PathBuf>,
    /// How long a plugin may run; past it its whole process group is killed.
    #[arg(long, env = "SWARM_PLUGIN_TIMEOUT", default_value = "2s", value_parser = duration::parse_positive)]
    pub plugin_timeout: Duration,
    /// Print one sample as JSON on stdout and exit (no server needed).
    #[arg(long)]
    pub once: bool,
    /// Log filter (tracing syntax), e.g. `info` or `swarm_agent=debug`.
    #[arg(long, env = "SWARM_LOG", default_value = "info")]
    pub log: String,
    /// Log lines as text or as JSON (one object per line).
    #[arg(long, env = "SWARM_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: swarm_common::logging::LogFormat,
}

/// The collectors that can be left off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Optional {
    Processes,
    PerCore,
    PerInterface,
    DiskIo,
    Temperatures,
}

/// The validated configuration the agent runs with.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub id: AgentId,
    pub interval: Duration,
    pub tags: Vec<String>,
    pub nats: NatsArgs,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    pub collectors: CollectorSettings,
    pub plugins_dir: Option<PathBuf>,
    pub plugin_timeout: Duration,
}

impl AgentConfig {
    /// The defaults of the flags for agent `id`.
    pub fn new(id: AgentId, nats: NatsArgs, spool_dir: PathBuf) -> Self {
        Self {
            id,
            interval: Duration::from_secs(5),
            tags: Vec::new(),
            nats,
            spool_dir,
            spool_max_bytes: 64 << 20,
            collectors: CollectorSettings::default(),
            plugins_dir: None,
            plugin_timeout: Duration::from_secs(2),
        }
    }
}

/// Where the spool lives unless `--spool` says otherwise.
fn default_spool(id: &AgentId) -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("swarm-agent").join(id.as_str())
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot derive an agent id from {name:?}: {source}; pass --name")]
    BadName { name: String, source: AgentIdError },
    #[error("cannot read this host's name; pass --name")]
    NoHostname,
    #[error("tag {0:?} is empty or has control characters")]
    BadTag(String),
}

impl AgentArgs {
    pub fn config(&self) -> Result<AgentConfig, ConfigError> {
        let name = match &self.name {
            Some(name) => name.clone(),
            None => sysinfo::System::host_name()
                .ok()
                .ok_or(ConfigError::NoHostname)?,
        };
        let id = AgentId::normalise(&name).map_err(|source| ConfigError::BadName {
            name: name.clone(),
            source,
        })?;
        for tag in &self.tags {
            if tag.trim().is_empty() || tag.chars().any(char::is_control) {
                return Err(ConfigError::BadTag(tag.clone()));
            }
        }
        let mut nats = self.nats.clone();
        if nats.effective_inbox_prefix().is_none() {
            // What the agent role allows, also for an agent known by its
            // TLS certificate rather than a user name.
            nats.inbox_prefix = Some(swarm_common::roles::inbox_prefix(
                &swarm_common::roles::agent_user(&id),
            ));
        }
        let mut collectors = CollectorSettings {
            processes_every: self.processes_every,
            ..CollectorSettings::default()
        };
        for off in &self.disable {
            let slot = match off {
                Optional::Processes => &mut collectors.processes,
                Optional::PerCore => &mut collectors.per_core,
                Optional::PerInterface => &mut collectors.per_interface,
                Optional::DiskIo => &mut collectors.disk_io,
                Optional::Temperatures => &mut collectors.temperatures,
            };
            *slot = false;
        }
        Ok(AgentConfig {
            collectors,
            spool_dir: self.spool.clone().unwrap_or_else(|| default_spool(&id)),
            spool_max_bytes: self.spool_max_mib << 20,
            id,
            interval: self.interval,
            tags: self.tags.iter().map(|t| t.trim().to_owned()).collect(),
            nats,
            plugins_dir: self.plugins.clone(),
            plugin_timeout: self.plugin_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn flags_become_a_config() {
        let args = AgentArgs::try_parse_from([
            "swarm-agent",
            "--name",
            "Web.01",
            "--interval",
            "1s",
            "--tag",
            "role=web,dc1",
        ])
        .expect("valid flags");
        let config = args.config().expect("valid config");
        assert_eq!(config.id.as_str(), "web-01");
        assert_eq!(config.interval, Duration::from_secs(1));
        assert_eq!(config.tags, vec!["role=web", "dc1"]);
        assert_eq!(config.plugins_dir, None);
        assert_eq!(config.plugin_timeout, Duration::from_secs(2));

        let args = AgentArgs::try_parse_from([
            "swarm-agent",
            "--name",
            "a",
            "--plugins",
            "/etc/swarm/plugins",
            "--plugin-timeout",
            "500ms",
        ])
        .expect("valid flags");
        let config = args.config().expect("valid config");
        assert_eq!(
            config.plugins_dir,
            Some(PathBuf::from("/etc/swarm/plugins"))
        );
        assert_eq!(config.plugin_timeout, Duration::from_millis(500));
        assert!(AgentArgs::try_parse_from(["swarm-agent", "--plugin-timeout", "0s"]).is_err());
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let err = AgentArgs::try_parse_from(["swarm-agent", "--interval", "soon"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("is not a duration"), "{err}");
        let args = AgentArgs::try_parse_from(["swarm-agent", "--name", "***"]).expect("parses");
        let err = args
            .config()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("pass --name"), "{err}");
    }
}
