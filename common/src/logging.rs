//! Logging set-up of the daemons: to stderr, colours only on a terminal.

use std::io::IsTerminal;

/// Installs the global subscriber with a tracing filter such as `info` or
/// `swarm_hub=debug`; the error names the bad filter.
pub fn init(filter: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| format!("bad log filter {filter:?}: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .map_err(|e| e.to_string())
}
