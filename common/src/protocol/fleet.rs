//! Managing the fleet from the hub: configuration pushed to agents and
//! acknowledged by revision, and the agents' plugin reports
//! (`PROTOCOL.md`, "Agent configuration" and "Custom metrics").

use serde::{Deserialize, Serialize};

use crate::AgentId;
use crate::protocol::Millis;

/// Plugins an agent reports, at most.
pub const MAX_PLUGINS: usize = 32;
/// Plugin names in one pushed config, at most.
pub const MAX_CONFIG_PLUGINS: usize = 64;
/// Shortest and longest interval a pushed config may set.
pub const MIN_INTERVAL_MS: u64 = 250;
pub const MAX_INTERVAL_MS: u64 = 24 * 3600 * 1000;
/// Agents per `swarm.api.config.status` page when the request sets no
/// limit, and at most.
pub const DEFAULT_CONFIG_PAGE: u32 = 500;
pub const MAX_CONFIG_PAGE: u32 = 1_000;

/// How one plugin fared at its last run (HostInfo `plugins`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginStatus {
    /// File name in the agent's plugin directory.
    pub name: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it last ran (ms).
    #[serde(default)]
    pub last_run: Option<Millis>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Metrics it gave at its last run.
    #[serde(default)]
    pub metrics: Option<u32>,
}

/// Which optional collectors run. Absent means the agent's own setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collectors {
    /// The heaviest processes (`top`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<bool>,
    /// CPU % of each core (`cores`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_core: Option<bool>,
    /// Each network interface (`interfaces`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_interface: Option<bool>,
    /// Each block device's I/O (`disk_io`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_io: Option<bool>,
    /// Temperature sensors (`temps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperatures: Option<bool>,
}

/// What the hub may set on an agent. Every field absent means "the agent's
/// own setting" (its flags, environment and config file). Never code or
/// commands: `plugins` only chooses among what is installed on the host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// Replaces the agent's own tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Names of the plugins (in the agent's plugin directory) to run; the
    /// others do not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collectors: Option<Collectors>,
    /// How often the processes are read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes_every_ms: Option<u64>,
}

impl AgentConfig {
    /// What any receiver checks before keeping or applying a config: the
    /// agent checks again what only it can know (installed plugins).
    pub fn check(&self) -> Result<(), String> {
        for (what, v) in [
            ("interval_ms", self.interval_ms),
            ("processes_every_ms", self.processes_every_ms),
        ] {
            if let Some(v) = v
                && !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&v)
            {
                return Err(format!(
                    "{what} {v} is outside {MIN_INTERVAL_MS}..={MAX_INTERVAL_MS}"
                ));
            }
        }
        if let Some(tags) = &self.tags {
            crate::limits::check_tags(tags)?;
        }
        if let Some(plugins) = &self.plugins {
            if plugins.len() > MAX_CONFIG_PLUGINS {
                return Err(format!(
                    "{} plugins is more than {MAX_CONFIG_PLUGINS}",
                    plugins.len()
                ));
            }
            for name in plugins {
                check_plugin_name(name)?;
            }
        }
        Ok(())
    }
}

/// A plugin is named by its file name: 1-64 bytes of `[A-Za-z0-9._-]`, not
/// starting with a dot (no paths, nothing hidden).
pub fn check_plugin_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "plugin name {:?} must be 1-64 characters of [A-Za-z0-9._-], not starting with '.'",
            crate::text::printable(name, 64)
        ))
    }
}

/// `swarm.agent.<agent>.config` (hub to agent): the config the agent
/// should run with, as revision `rev`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigPush {
    pub rev: u64,
    pub config: AgentConfig,
}

/// The agent's answer to a [`ConfigPush`]: the revision now in force, and
/// why the pushed one was refused if it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigAck {
    pub applied_rev: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `swarm.api.config.put` (operator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigPutRequest {
    /// Selectors of the hosts it is for, matched now.
    pub agents: Vec<String>,
    pub config: AgentConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigPutReply {
    pub rev: u64,
    /// The hosts the selectors matched (the first 1,000 by agent id).
    #[serde(default)]
    pub agents: Vec<AgentId>,
    /// How many hosts the selectors matched.
    #[serde(default)]
    pub matched: Option<u64>,
}

/// `swarm.api.config.status`: one agent, or a page of every agent with a
/// desired or applied config, in agent-id order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigStatusRequest {
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigStatus {
    pub agent: AgentId,
    /// The revision the hub wants in force (0: none pushed).
    pub desired_rev: u64,
    /// The revision the agent says is in force (0: its own settings).
    pub applied_rev: u64,
    /// Why the agent refused the desired revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The desired config itself (only when one agent was asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<AgentConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigStatusReply {
    pub agents: Vec<ConfigStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_is_checked() {
        assert!(AgentConfig::default().check().is_ok());
        let bad_interval = AgentConfig {
            interval_ms: Some(10),
            ..AgentConfig::default()
        };
        assert!(bad_interval.check().is_err());
        for bad in ["", "../x", ".hidden", "a b", &"p".repeat(65)] {
            assert!(check_plugin_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_plugin_name("disk_queue.sh").is_ok());
    }
}
