use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use swarm_common::nats::{NatsHealth, connect_with_retry};
use swarm_common::roles::Role;
use swarm_hub::Hub;
use swarm_hub::access::{Access, Secret, UserEntry};
use swarm_hub::config::{AccessCommand, HubArgs, HubCommand};
use swarm_hub::maintenance;
use swarm_hub::store::Store;
use swarm_hub::watchdog::{self, Watchdog};

#[global_allocator]
static ALLOCATOR: swarm_hub::Allocator = swarm_hub::Allocator;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    swarm_common::exit::report("swarm-hub", run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = HubArgs::parse();
    if let Some(command) = &args.command {
        return maintain(&args, command);
    }
    swarm_common::logging::init(&args.log, args.log_format).map_err(anyhow::Error::msg)?;
    let limits = args.limits().map_err(anyhow::Error::msg)?;
    let notify = args.notify().map_err(anyhow::Error::msg)?;
    // Opening replays the write-ahead log and checkpoints: watched too.
    let opening = Watchdog::start();
    let store = {
        let _running = opening.running("opening the store", watchdog::CHECKPOINT_LIMIT);
        Store::open(&args.data)?
    };
    drop(opening);
    let hub = Hub::with_retention(Arc::new(store), args.retention())?
        .with_limits(limits)
        .with_notify(notify)
        .with_metrics(args.metrics_listen);
    let shutdown = swarm_common::shutdown::signal();
    tokio::pin!(shutdown);
    let health = NatsHealth::new();
    let _ = hub.state().nats.set(health.clone());
    let client = tokio::select! {
        client = connect_with_retry(&args.nats, "swarm-hub", health) => client?,
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
        HubCommand::Docs(docs) => {
            swarm_common::docs::print(<HubArgs as clap::CommandFactory>::command(), docs)?;
        }
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
            match maintenance::export(dir, agent, series, window, *format, &mut out) {
                Ok(n) => eprintln!("exported {n} samples"),
                // The reader has what it wanted (`| head`): not an error.
                Err(maintenance::MaintenanceError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(e.into()),
            }
        }
        HubCommand::Access(command) => access(&args.access, command)?,
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

fn access(dir: &std::path::Path, command: &AccessCommand) -> anyhow::Result<()> {
    let access = Access::new(dir);
    let reload = "reload the server to apply it: nats-server --signal reload (or kill -HUP <pid>)";
    match command {
        AccessCommand::AddAgent { id, cert } => {
            let (user, secret) = access.add(Role::Agent, id, *cert)?;
            print_added(&user, &secret);
            eprintln!("{} is updated; {reload}", access.auth_conf().display());
        }
        AccessCommand::Add { name, role, cert } => {
            let (user, secret) = access.add(*role, name, *cert)?;
            print_added(&user, &secret);
            eprintln!("{} is updated; {reload}", access.auth_conf().display());
        }
        AccessCommand::List => {
            for user in access.users()? {
                let how = if user.password_hash.is_some() {
                    "password"
                } else {
                    "certificate"
                };
                println!("{:<32} {:<9} {how}", user.name, user.role);
            }
        }
        AccessCommand::Revoke { name } => {
            access.revoke(name)?;
            eprintln!(
                "revoked {name}; {} is updated; {reload}",
                access.auth_conf().display()
            );
        }
        AccessCommand::TlsInit { hosts } => {
            let block = access.tls_init(hosts)?;
            eprintln!(
                "made a CA and a server certificate in {}, and {} (deploy/nats.conf includes it):",
                access.tls_dir().display(),
                dir.join("tls.conf").display()
            );
            println!("{block}");
        }
    }
    Ok(())
}

fn print_added(user: &UserEntry, secret: &Secret) {
    match secret {
        Secret::PasswordFile(path) => println!(
            "added {} ({}): give it SWARM_NATS_USER={} and SWARM_NATS_PASSWORD_FILE={} (the file, 0600, holds the password)",
            user.name,
            user.role,
            user.name,
            path.display()
        ),
        Secret::Certificate { cert, key } => println!(
            "added {} ({}): give it SWARM_TLS_CERT={} SWARM_TLS_KEY={} and the CA as SWARM_TLS_CA",
            user.name,
            user.role,
            cert.display(),
            key.display()
        ),
    }
}
