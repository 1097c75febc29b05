use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use swarm_common::nats::{NatsHealth, connect_with_retry};
use swarm_hub::Hub;
use swarm_hub::config::{HubArgs, HubCommand};
use swarm_hub::maintenance;
use swarm_hub::store::Store;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    swarm_common::exit::report("swarm-hub", run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = HubArgs::parse();
    if let Some(command) = &args.command {
        return maintain(&args, command);
    }
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

fn maintain(args: &HubArgs, command: &HubCommand) -> anyhow::Result<()> {
    let dir = &args.data;
    let mut out = std::io::stdout().lock();
    match command {
        HubCommand::Stats => maintenance::stats(dir, &mut out)?,
        HubCommand::Prune => maintenance::prune(dir, &args.retention(), &mut out)?,
        HubCommand::Wipe { yes } => {
            maintenance::wipe(dir, *yes)?;
            eprintln!("wiped {}", dir.display());
        }
        HubCommand::Export {
            agent,
            series,
            from,
            to,
            format,
        } => {
            let now = swarm_common::time::now_ms();
            let req = swarm_common::protocol::HistoryRequest {
                agent: agent.clone(),
                series: series.clone(),
                from: *from,
                to: *to,
                max_points: None,
            };
            let window =
                swarm_hub::history::window(&req, now).map_err(|e| anyhow::anyhow!(e.message))?;
            let n = maintenance::export(dir, agent, series, window, *format, &mut out)?;
            eprintln!("exported {n} samples");
        }
        HubCommand::Backup { dir: dest } => {
            maintenance::backup(dir, dest)?;
            eprintln!("backed up {} to {}", dir.display(), dest.display());
        }
        HubCommand::Restore { dir: source } => {
            maintenance::restore(source, dir)?;
            eprintln!("restored {} into {}", source.display(), dir.display());
        }
    }
    Ok(())
}
