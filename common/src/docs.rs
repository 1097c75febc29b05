//! Shell completions and man pages of the binaries, generated from their
//! clap definitions (`swarm-tui completions bash`, `swarm-hub man`), so
//! they never drift from the flags.

use std::io::Write;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum DocsCommand {
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff; `| man -l -`).
    Man,
}

/// Writes what `which` asks for, for the command `cmd`, to stdout. A
/// reader that stops early (`| head`) is no error.
pub fn print(cmd: clap::Command, which: &DocsCommand) -> std::io::Result<()> {
    let text = render(cmd, which)?;
    let mut out = std::io::stdout().lock();
    match out.write_all(&text).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// What `which` asks for, in memory (the generators write whole).
pub fn render(mut cmd: clap::Command, which: &DocsCommand) -> std::io::Result<Vec<u8>> {
    let mut text = Vec::new();
    match which {
        DocsCommand::Completions { shell } => {
            let name = cmd.get_name().to_owned();
            clap_complete::generate(*shell, &mut cmd, name, &mut text);
        }
        DocsCommand::Man => clap_mangen::Man::new(cmd).render(&mut text)?,
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    #[command(name = "swarm-demo")]
    struct Demo {
        /// Sampling interval.
        #[arg(long)]
        interval: Option<String>,
    }

    #[test]
    fn completions_and_man_page_name_the_flags() {
        let cmd = <Demo as clap::CommandFactory>::command();
        let bash = render(
            cmd.clone(),
            &DocsCommand::Completions {
                shell: clap_complete::Shell::Bash,
            },
        )
        .expect("bash");
        assert!(String::from_utf8_lossy(&bash).contains("--interval"));
        let man = render(cmd, &DocsCommand::Man).expect("man");
        let man = String::from_utf8_lossy(&man);
        assert!(man.contains(".TH swarm-demo") && man.contains("Sampling interval"));
    }
}
