use anyhow::Context;
use swarm_agent::Agent;
use swarm_agent::collect::Collector;
use swarm_agent::plugins::Plugins;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    swarm_common::exit::report("swarm-agent", run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = swarm_agent::config_file::parse_layered()?;
    if let Some(docs) = &args.docs {
        let command = <swarm_agent::AgentArgs as clap::CommandFactory>::command();
        return swarm_common::docs::print(command, docs).context("cannot print");
    }
    let config = args.config()?;
    if args.print_config {
        print!("{}", swarm_agent::config_file::show(&args, &config)?);
        return Ok(());
    }
    if args.once {
        let mut collector = Collector::new(config.id.clone(), config.collectors)?;
        let plugins = async {
            match &config.plugins_dir {
                Some(dir) => Some(Plugins::new(dir.clone(), config.plugin_timeout).run().await),
                None => None,
            }
        };
        // The plugins run while the CPU figures warm up.
        let ((), run) = tokio::join!(collector.warm_up(), plugins);
        let mut sample = collector.sample();
        if let Some(run) = run {
            for s in run.statuses.iter().filter(|s| !s.ok) {
                eprintln!(
                    "plugin {}: {}",
                    s.name,
                    s.error.as_deref().unwrap_or("failed")
                );
            }
            sample.custom = run.metrics;
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&sample).context("cannot print the sample")?
        );
        return Ok(());
    }
    swarm_common::logging::init(&args.log, args.log_format).map_err(anyhow::Error::msg)?;
    Agent::new(config)
        .run(swarm_common::shutdown::signal())
        .await
        .context("agent stopped with an error")
}
