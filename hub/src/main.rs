use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use swarm_common::nats::{NatsHealth, connect_with_retry};
use swarm_hub::Hub;
use swarm_hub::config::HubArgs;
use swarm_hub::store::Store;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    swarm_common::exit::report("swarm-hub", run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = HubArgs::parse();
    swarm_common::logging::init(&args.log).map_err(anyhow::Error::msg)?;
    let store = Store::open(&args.data)?;
    let hub = Hub::with_retention(Arc::new(store), args.retention())?;
    let shutdown = swarm_common::shutdown::signal();
    tokio::pin!(shutdown);
    let client = tokio::select! {
        client = connect_with_retry(&args.nats, "swarm-hub", NatsHealth::new()) => client?,
        () = &mut shutdown => return Ok(()),
    };
    hub.run(client, shutdown)
        .await
        .context("hub stopped with an error")
}
