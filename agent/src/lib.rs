//! `swarm-agent`: samples this host and publishes on NATS.

pub mod collect;
pub mod config;
pub mod config_file;
pub mod outbox;
pub mod plugins;
pub mod probe;
pub mod pushed;
pub mod run;
pub mod runs;
pub mod spool;

pub use config::{AgentArgs, AgentConfig};
pub use run::{Agent, AgentError, AgentStats};
