//! `swarm-agent`: samples this host and publishes on NATS.

pub mod collect;
pub mod config;
pub mod run;

pub use config::{AgentArgs, AgentConfig};
pub use run::{Agent, AgentError, AgentStats};
