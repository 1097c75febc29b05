//! `swarm-tui`: the operator's console and scriptable subcommands.
//! State ([`app`]), events in and commands out ([`event`]), the network
//! task ([`net`]), drawing ([`ui`]) and the loop that joins them
//! ([`console`]) live apart.

pub mod app;
pub mod cli;
pub mod compact;
pub mod console;
pub mod event;
/// Fixed states for tests and benchmarks.
#[doc(hidden)]
pub mod fixtures;
pub mod format;
pub mod net;
pub mod quiet;
pub mod spec;
pub mod ui;
