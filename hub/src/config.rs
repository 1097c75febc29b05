//! Command line of `swarm-hub` (every flag also from `SWARM_*` env).

use std::path::PathBuf;

use swarm_common::nats::NatsArgs;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "swarm-hub",
    version,
    about = "StreamSwarm hub: stores what agents publish and answers the API"
)]
pub struct HubArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Data directory (sled); created if missing.
    #[arg(long, env = "SWARM_DATA", default_value = "./swarm-data")]
    pub data: PathBuf,
    /// Log filter (tracing syntax), e.g. `info` or `swarm_hub=debug`.
    #[arg(long, env = "SWARM_LOG", default_value = "info")]
    pub log: String,
}
