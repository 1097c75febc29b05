//! Command line of `swarm-hub` (every flag also from `SWARM_*` env).

use std::path::PathBuf;
use std::time::Duration;

use swarm_common::duration;
use swarm_common::nats::NatsArgs;

use crate::Retention;

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
    /// How long raw samples are kept.
    #[arg(long, env = "SWARM_RETAIN_RAW", default_value = "48h", value_parser = duration::parse_positive)]
    pub retain_raw: Duration,
    /// How long 1-minute rollups are kept.
    #[arg(long = "retain-1m", env = "SWARM_RETAIN_1M", default_value = "30d", value_parser = duration::parse_positive)]
    pub retain_minute: Duration,
    /// How long 1-hour rollups are kept.
    #[arg(long = "retain-1h", env = "SWARM_RETAIN_1H", default_value = "400d", value_parser = duration::parse_positive)]
    pub retain_hour: Duration,
    /// Log filter (tracing syntax), e.g. `info` or `swarm_hub=debug`.
    #[arg(long, env = "SWARM_LOG", default_value = "info")]
    pub log: String,
}

impl HubArgs {
    pub fn retention(&self) -> Retention {
        Retention {
            raw: self.retain_raw,
            minute: self.retain_minute,
            hour: self.retain_hour,
        }
    }
}
