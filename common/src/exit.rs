//! How the binaries end: status 0, or 1 with the error and its causes on
//! one line of stderr.

use std::fmt::Display;
use std::process::ExitCode;

pub fn report<E: Display>(program: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints an anyhow error with its chain of causes.
            eprintln!("{program}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
