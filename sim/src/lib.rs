//! `swarm-sim`: thousands of virtual agents in one process, speaking the
//! real wire contract (`PROTOCOL.md`) over one NATS connection, for load
//! and limit tests of the hub and the console.

pub mod fleet;
pub mod runs;
pub mod schedule;
pub mod seed;
pub mod stats;
pub mod walk;

pub use stats::{SimStats, Summary};
