use std::process::ExitCode;

use clap::Parser;
use swarm_tui::cli::{self, TuiArgs};

#[tokio::main]
async fn main() -> ExitCode {
    let args = TuiArgs::parse();
    match &args.command {
        Some(command) => match cli::run(&args, command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(failure) if failure.is_closed_pipe() => ExitCode::SUCCESS,
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
/// SWARM_TUI_LOG (JSON lines with SWARM_LOG_FORMAT=json), or nowhere.
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
            let format = match std::env::var("SWARM_LOG_FORMAT").as_deref() {
                Ok("json") => swarm_common::logging::LogFormat::Json,
                _ => swarm_common::logging::LogFormat::Text,
            };
            let filter = std::env::var("SWARM_LOG").unwrap_or_else(|_| "info".to_owned());
            if let Err(e) =
                swarm_common::logging::init_to(&filter, format, std::sync::Mutex::new(file), false)
            {
                eprintln!("cannot log to {}: {e}", path.to_string_lossy());
            }
        }
        Err(e) => eprintln!("cannot open log file {}: {e}", path.to_string_lossy()),
    }
}
