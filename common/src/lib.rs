//! The StreamSwarm wire contract and what every binary shares: protocol
//! types, subject builders, the agent-id rule, the rule for what a sample
//! may hold (`validate`, shared by hub and console), the codec, durations, NATS
//! connection options, and (feature `testkit`) a real `nats-server` for tests.

pub mod agent_id;
pub mod api;
pub mod codec;
pub mod docs;
pub mod duration;
pub mod exit;
pub mod fs;
pub mod limits;
pub mod logging;
pub mod nats;
pub mod protocol;
pub mod roles;
pub mod selector;
pub mod shutdown;
pub mod subject;
pub mod test_id;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod text;
pub mod time;
mod token;
pub mod validate;

pub use agent_id::{AgentId, AgentIdError};
pub use test_id::{TestId, TestIdError};
