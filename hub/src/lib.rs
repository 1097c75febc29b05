//! `swarm-hub`: ingests agent data into sled and answers the API over NATS.
//!
//! [`Hub::run`] takes a connected client and a shutdown future, so a test
//! starts one in-process on a real server in three lines.

/// The allocator the hub's binaries run on (`#[global_allocator]`):
/// ingest allocates and frees many small values a message (decoded
/// samples, rows), which glibc's allocator made a fifth of the work.
pub use mimalloc::MiMalloc as Allocator;

pub mod access;
pub mod alerts;
pub mod api;
pub mod config;
pub mod disk;
pub mod handoff;
pub mod history;
pub mod ingest;
pub mod maintenance;
pub mod metrics;
pub mod pair_map;
pub mod pushed_config;
pub mod registry;
pub mod run_members;
pub mod scheduler;
pub mod source;
/// The time-series store, its own crate (`hub/store`).
pub use swarm_store as store;
pub mod retention;
pub mod server;
pub mod state;
pub mod summary;
pub mod test_latest;
pub mod test_policy;
#[cfg(feature = "testkit")]
pub mod testing;
pub mod validate;
pub mod watchdog;

pub use retention::{PRUNE_EVERY, Retention};
pub use server::{CHECKPOINT_EVERY, Hub, HubError};
pub use state::{ForgetError, HubState, HubStats, Limits};
