//! Configuration pushed to agents, kept across restarts in sled:
//!
//! - `agent_configs`: agent id -> [`AgentConfigRecord`] (what the hub wants
//!   in force there, and what the agent last said is);
//! - `config_meta`: `next_rev` -> the next revision number (u64, big
//!   endian), so revisions never repeat across restarts.

use serde::{Deserialize, Serialize};
use swarm_common::AgentId;
use swarm_common::protocol::fleet::AgentConfig;

use crate::Result;
use crate::records::{all, encode_record};

/// One agent's desired and applied configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentConfigRecord {
    pub agent: AgentId,
    /// 0 when nothing was pushed (only an applied revision is known).
    pub desired_rev: u64,
    #[serde(default)]
    pub config: AgentConfig,
    pub applied_rev: u64,
    /// Why the agent refused `refused_rev`.
    #[serde(default)]
    pub error: Option<String>,
    /// The revision the agent refused last: not sent again.
    #[serde(default)]
    pub refused_rev: u64,
}

impl AgentConfigRecord {
    pub fn new(agent: AgentId) -> Self {
        Self {
            agent,
            desired_rev: 0,
            config: AgentConfig::default(),
            applied_rev: 0,
            error: None,
            refused_rev: 0,
        }
    }

    /// The agent should be sent its desired config: it runs an older one
    /// and has not refused this one.
    pub fn needs_push(&self) -> bool {
        self.desired_rev > self.applied_rev && self.refused_rev != self.desired_rev
    }
}

const TREE: &str = "agent_configs";
const NEXT_REV: &[u8] = b"next_rev";

pub struct ConfigRecords {
    configs: sled::Tree,
    meta: sled::Tree,
}

impl ConfigRecords {
    pub(crate) fn open(db: &sled::Db) -> Result<Self> {
        Ok(Self {
            configs: db.open_tree(TREE)?,
            meta: db.open_tree("config_meta")?,
        })
    }

    pub(crate) fn trees(&self) -> [&sled::Tree; 2] {
        [&self.configs, &self.meta]
    }

    pub fn all(&self) -> Result<Vec<AgentConfigRecord>> {
        all(&self.configs, TREE)
    }

    /// Writes records together, with the next revision number.
    pub fn put(&self, records: &[AgentConfigRecord], next_rev: u64) -> Result<()> {
        let mut batch = sled::Batch::default();
        for r in records {
            batch.insert(r.agent.as_str().as_bytes(), encode_record(TREE, r)?);
        }
        self.configs.apply_batch(batch)?;
        self.meta.insert(NEXT_REV, &next_rev.to_be_bytes())?;
        Ok(())
    }

    pub fn remove(&self, agent: &AgentId) -> Result<()> {
        self.configs.remove(agent.as_str().as_bytes())?;
        Ok(())
    }

    /// The next revision to hand out (1 on a new store).
    pub fn next_rev(&self) -> Result<u64> {
        Ok(self
            .meta
            .get(NEXT_REV)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(1, u64::from_be_bytes)
            .max(1))
    }
}
