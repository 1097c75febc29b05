use anyhow::Context;
use clap::Parser;
use swarm_common::nats::{NatsHealth, connect_with_retry};
use swarm_sim::{Sim, SimArgs};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    swarm_common::exit::report("swarm-sim", run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = SimArgs::parse();
    let config = args.config()?;
    swarm_common::logging::init(&args.log, args.log_format).map_err(anyhow::Error::msg)?;
    let shutdown = swarm_common::shutdown::signal();
    tokio::pin!(shutdown);
    let client = tokio::select! {
        client = connect_with_retry(&args.nats, "swarm-sim", NatsHealth::new()) => client?,
        () = &mut shutdown => return Ok(()),
    };
    let summary = Sim::new(config)
        .run(client, shutdown)
        .await
        .context("simulator stopped with an error")?;
    println!("{summary}");
    Ok(())
}
