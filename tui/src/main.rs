use std::process::ExitCode;

use clap::Parser;
use swarm_tui::cli::{self, TuiArgs};

#[tokio::main]
async fn main() -> ExitCode {
    let args = TuiArgs::parse();
    match &args.command {
        Some(command) => match cli::run(&args, command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(failure) => {
                eprintln!("swarm-tui: {failure}");
                ExitCode::from(failure.status)
            }
        },
        None => {
            init_file_log();
            let start = swarm_tui::console::Start {
                host: args.host.clone(),
                tests: args.view.as_deref() == Some("tests"),
                look: args.look(),
            };
            let result = swarm_tui::console::run(args.nats.clone(), start).await;
            swarm_common::exit::report("swarm-tui", result)
        }
    }
}

/// The console owns the screen: logs go to the file named by
/// SWARM_TUI_LOG, or nowhere.
fn init_file_log() {
    let Some(path) = std::env::var_os("SWARM_TUI_LOG") else {
        return;
    };
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        Ok(file) => {
            tracing_subscriber::fmt()
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .init();
        }
        Err(e) => eprintln!("cannot open log file {}: {e}", path.to_string_lossy()),
    }
}
