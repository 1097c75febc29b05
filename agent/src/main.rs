use anyhow::Context;
use clap::Parser;
use swarm_agent::collect::Collector;
use swarm_agent::{Agent, AgentArgs};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    swarm_common::exit::report("swarm-agent", run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = AgentArgs::parse();
    let config = args.config()?;
    if args.once {
        let mut collector = Collector::new(config.id.clone(), config.collectors)?;
        collector.warm_up().await;
        let sample = collector.sample();
        println!(
            "{}",
            serde_json::to_string_pretty(&sample).context("cannot print the sample")?
        );
        return Ok(());
    }
    swarm_common::logging::init(&args.log).map_err(anyhow::Error::msg)?;
    Agent::new(config)
        .run(swarm_common::shutdown::signal())
        .await
        .context("agent stopped with an error")
}
