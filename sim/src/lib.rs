//! `swarm-sim`: thousands of virtual agents in one process, speaking the
//! real wire contract (`PROTOCOL.md`) over one NATS connection, for load
//! and limit tests of the hub and the console.
//!
//! ```no_run
//! # async fn demo(client: async_nats::Client) -> Result<(), swarm_sim::SimError> {
//! let config = swarm_sim::SimConfig { agents: 1_000, ..Default::default() };
//! let summary = swarm_sim::Sim::new(config).run(client, std::future::pending()).await?;
//! println!("{summary}");
//! # Ok(()) }
//! ```

pub mod config;
pub mod fleet;
pub mod run;
pub mod runs;
pub mod schedule;
pub mod seed;
pub mod stats;
pub mod walk;

pub use config::{SimArgs, SimConfig};
pub use run::{Sim, SimError};
pub use stats::{SimStats, Summary};
