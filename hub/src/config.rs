//! Command line of `swarm-hub` (every flag also from `SWARM_*` env).

use std::path::PathBuf;
use std::time::Duration;

use swarm_common::duration;
use swarm_common::nats::NatsArgs;

use crate::Retention;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "swarm-hub",
    version,
    about = "StreamSwarm hub: stores what agents publish and answers the API"
)]
pub struct HubArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Data directory (sled); created if missing.
    #[arg(
        long,
        env = "SWARM_DATA",
        default_value = "./swarm-data",
        global = true
    )]
    pub data: PathBuf,
    /// How long raw samples are kept.
    #[arg(long, env = "SWARM_RETAIN_RAW", default_value = "48h", global = true, value_parser = duration::parse_positive)]
    pub retain_raw: Duration,
    /// How long 1-minute rollups are kept.
    #[arg(long = "retain-1m", env = "SWARM_RETAIN_1M", default_value = "30d", global = true, value_parser = duration::parse_positive)]
    pub retain_minute: Duration,
    /// How long 1-hour rollups are kept.
    #[arg(long = "retain-1h", env = "SWARM_RETAIN_1H", default_value = "400d", global = true, value_parser = duration::parse_positive)]
    pub retain_hour: Duration,
    /// How long test results and alert history are kept.
    #[arg(long, env = "SWARM_RETAIN_RESULTS", default_value = "30d", global = true, value_parser = duration::parse_positive)]
    pub retain_results: Duration,
    /// Forget hosts offline for longer than this (they leave views and
    /// selectors; their history ages out by retention). Off by default.
    #[arg(long, env = "SWARM_FORGET_AFTER", global = true, value_parser = duration::parse_positive)]
    pub forget_after: Option<Duration>,
    /// Cap on stored data in MiB (samples, rollups and test results): over
    /// it, the oldest data goes first (raw, then test results, then
    /// 1-minute, then 1-hour), and the log says so. sled needs about twice this on disk. No cap by default.
    #[arg(long, env = "SWARM_MAX_DATA_MIB", global = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_data_mib: Option<u64>,
    /// Free space (MiB) the hub leaves on the data directory's disk: below
    /// it, it stops storing and acknowledging until there is room again.
    #[arg(long, env = "SWARM_MIN_FREE_MIB", default_value_t = 256, global = true)]
    pub min_free_mib: u64,
    /// Hosts the hub holds at most: hellos and samples of new agents past
    /// it are refused and counted (`rejected.agent_limit`).
    #[arg(long, env = "SWARM_MAX_AGENTS", default_value_t = crate::registry::DEFAULT_MAX_AGENTS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_agents: usize,
    /// Series one agent may have: samples of its new series past it are
    /// dropped and counted (`rejected.series_limit`), the rest stored.
    #[arg(long, env = "SWARM_MAX_SERIES_PER_AGENT", default_value_t = crate::store::DEFAULT_MAX_SERIES_PER_AGENT, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_series_per_agent: usize,
    /// Targets network tests may probe: networks (`10.0.0.0/8`),
    /// addresses and host-name globs (`*.example.net`), comma separated.
    /// Empty: any target.
    #[arg(long, env = "SWARM_TEST_TARGETS", value_delimiter = ',')]
    pub test_targets: Vec<String>,
    /// Tests active (scheduled or running) at once, at most.
    #[arg(long, env = "SWARM_MAX_ACTIVE_TESTS", default_value_t = crate::test_policy::DEFAULT_MAX_ACTIVE, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_active_tests: usize,
    /// Active tests one agent takes part in, at most.
    #[arg(long, env = "SWARM_MAX_TESTS_PER_AGENT", default_value_t = crate::test_policy::DEFAULT_MAX_PER_AGENT, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_tests_per_agent: usize,
    /// A program run for every firing and resolved alert nobody silenced,
    /// the alert as JSON on its standard input (words split on spaces, no
    /// shell).
    #[arg(long, env = "SWARM_NOTIFY_EXEC")]
    pub notify_exec: Option<String>,
    /// A URL (http or https) POSTed every firing and resolved alert
    /// nobody silenced, as JSON.
    #[arg(long, env = "SWARM_NOTIFY_WEBHOOK", value_parser = parse_webhook)]
    pub notify_webhook: Option<String>,
    /// Serve Prometheus metrics (`GET /metrics`) on this address, e.g.
    /// `127.0.0.1:9464`. Off by default.
    #[arg(long, env = "SWARM_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Directory of `swarm-hub access` (users, generated auth.conf, secrets).
    #[arg(
        long,
        env = "SWARM_ACCESS",
        default_value = "./swarm-access",
        global = true
    )]
    pub access: PathBuf,
    /// Log filter (tracing syntax), e.g. `info` or `swarm_hub=debug`.
    #[arg(long, env = "SWARM_LOG", default_value = "info")]
    pub log: String,
    /// Log lines as text or as JSON (one object per line).
    #[arg(long, env = "SWARM_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: swarm_common::logging::LogFormat,
    /// Without a command: run the hub.
    #[command(subcommand)]
    pub command: Option<HubCommand>,
}

/// Maintenance of a stopped hub's data directory (`--data`).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum HubCommand {
    #[command(flatten)]
    Docs(swarm_common::docs::DocsCommand),
    /// Hosts, series, samples per resolution, bytes on disk.
    Stats,
    /// Apply retention now (the --retain-* flags).
    Prune,
    /// Remove everything.
    Wipe {
        /// Yes, really.
        #[arg(long)]
        yes: bool,
    },
    /// Print one series' raw samples, streaming.
    Export {
        #[arg(long)]
        agent: String,
        #[arg(long)]
        series: String,
        /// Start: ms since the epoch, a time back from now (`-1d`, `-30m`,
        /// or negative ms) or an RFC 3339 time.
        #[arg(long, default_value = "0", allow_hyphen_values = true, value_parser = swarm_common::time::parse_point)]
        from: i64,
        /// End, written as `--from` is (default now).
        #[arg(long, allow_hyphen_values = true, value_parser = swarm_common::time::parse_point)]
        to: Option<i64>,
        #[arg(long, value_enum, default_value = "csv")]
        format: crate::maintenance::Format,
    },
    /// Users of the bus and their roles: writes the users file that
    /// nats.conf includes (`--access DIR`).
    #[command(subcommand)]
    Access(AccessCommand),
    /// Copy the data directory to DIR (new or empty).
    Backup { dir: PathBuf },
    /// Restore a backup from DIR into --data (new or empty).
    Restore { dir: PathBuf },
}

/// `swarm-hub access ...`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AccessCommand {
    /// Add an agent: user `agent-<id>`, allowed only its own subjects.
    AddAgent {
        id: String,
        /// Issue a client certificate (mutual TLS) instead of a password.
        #[arg(long)]
        cert: bool,
    },
    /// Add a hub, viewer or operator user.
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: swarm_common::roles::Role,
        /// Issue a client certificate (mutual TLS) instead of a password.
        #[arg(long)]
        cert: bool,
    },
    /// List users and their roles.
    List,
    /// Remove a user and its secrets.
    Revoke { name: String },
    /// Make a CA and the server's certificate (a test deployment's TLS).
    TlsInit {
        /// Names and addresses the server is reached at.
        #[arg(long = "host", default_values = ["127.0.0.1", "localhost"])]
        hosts: Vec<String>,
    },
}

impl HubArgs {
    /// The caps of the command line; a bad `--test-targets` entry is an
    /// error that names it.
    pub fn limits(&self) -> Result<crate::Limits, String> {
        let mut tests =
            crate::test_policy::TestPolicy::default().with_targets(&self.test_targets)?;
        tests.max_active = self.max_active_tests;
        tests.max_per_agent = self.max_tests_per_agent;
        Ok(crate::Limits {
            max_agents: self.max_agents,
            max_series_per_agent: self.max_series_per_agent,
            tests,
        })
    }

    /// Where alert notifications go.
    pub fn notify(&self) -> Result<crate::alerts::notify::NotifyConfig, String> {
        let exec = match self.notify_exec.as_deref().map(str::split_whitespace) {
            Some(words) => {
                let words: Vec<String> = words.map(str::to_owned).collect();
                if words.is_empty() {
                    return Err("--notify-exec: give a program".into());
                }
                Some(words)
            }
            None => None,
        };
        Ok(crate::alerts::notify::NotifyConfig {
            exec,
            webhook: self.notify_webhook.clone(),
        })
    }

    pub fn retention(&self) -> Retention {
        Retention {
            raw: self.retain_raw,
            minute: self.retain_minute,
            hour: self.retain_hour,
            results: self.retain_results,
            max_bytes: self.max_data_mib.map(|m| m.saturating_mul(1024 * 1024)),
            min_free_bytes: self.min_free_mib.saturating_mul(1024 * 1024),
            forget_after: self.forget_after,
        }
    }
}

fn parse_webhook(url: &str) -> Result<String, String> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 2_048
        && !url.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(url.to_owned())
    } else {
        Err("an http:// or https:// URL without spaces".into())
    }
}
