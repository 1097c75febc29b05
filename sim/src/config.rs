//! Command line of `swarm-sim` (every knob also from `SWARM_SIM_*` env, the
//! connection from the shared `SWARM_NATS_*`) and the validated
//! configuration a simulation runs with.

use std::time::Duration;

use swarm_common::nats::NatsArgs;
use swarm_common::{AgentIdError, duration};

use crate::fleet;

/// Largest fleet one process simulates.
pub const MAX_AGENTS: u32 = 1_000_000;
/// Most fixed custom metrics per sample.
pub const MAX_CUSTOM: u32 = 10_000;
/// Largest padded HostInfo (the largest payload NATS can be set to take).
pub const MAX_INFO_BYTES: usize = 64 << 20;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "swarm-sim",
    version,
    about = "StreamSwarm simulator: N virtual agents publishing hello, metrics and test results on NATS"
)]
pub struct SimArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Number of virtual agents.
    #[arg(long, env = "SWARM_SIM_AGENTS", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_AGENTS)))]
    pub agents: u32,
    /// Agent ids are `<prefix>-<n>`, n zero-padded (`sim-00042`).
    #[arg(long, env = "SWARM_SIM_PREFIX", default_value = "sim")]
    pub prefix: String,
    /// Metrics interval of every agent.
    #[arg(long, env = "SWARM_SIM_INTERVAL", default_value = "5s", value_parser = duration::parse_positive)]
    pub interval: Duration,
    /// Stop (saying bye) after this long; default: run until SIGINT/SIGTERM.
    #[arg(long, env = "SWARM_SIM_DURATION", value_parser = duration::parse_positive)]
    pub duration: Option<Duration>,
    /// Custom metrics per sample, named m0, m1, ...
    #[arg(long, env = "SWARM_SIM_CUSTOM", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_CUSTOM)))]
    pub custom: u32,
    /// Hostile: one custom metric with a name never used before in every
    /// sample (tests the hub's series limits).
    #[arg(long, env = "SWARM_SIM_FRESH_CUSTOM")]
    pub fresh_custom: bool,
    /// Percent of the online agents that say bye in each interval and come
    /// back one to three intervals later.
    #[arg(long, env = "SWARM_SIM_CHURN", default_value_t = 0.0, value_parser = parse_pct)]
    pub churn: f64,
    /// Pad every HostInfo with extra tags to about this many bytes (tests
    /// payload limits).
    #[arg(long, env = "SWARM_SIM_INFO_BYTES", value_parser = clap::value_parser!(u64).range(1..=MAX_INFO_BYTES as u64))]
    pub info_bytes: Option<u64>,
    /// Print messages/s to stderr every 5 s.
    #[arg(long, env = "SWARM_SIM_RATE_REPORT")]
    pub rate_report: bool,
    /// Seed of every random choice; the same seed gives the same fleet
    /// [default: random, logged at start].
    #[arg(long, env = "SWARM_SIM_SEED")]
    pub seed: Option<u64>,
    /// Log filter (tracing syntax), e.g. `info` or `swarm_sim=debug`.
    #[arg(long, env = "SWARM_LOG", default_value = "info")]
    pub log: String,
    /// Log lines as text or as JSON (one object per line).
    #[arg(long, env = "SWARM_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: swarm_common::logging::LogFormat,
}

fn parse_pct(raw: &str) -> Result<f64, String> {
    let v: f64 = raw
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|e| format!("{raw:?} is not a percentage ({e})"))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(format!("{raw:?} must be between 0 and 100"));
    }
    Ok(v)
}

/// What a simulation runs with. `Default` is the command line's defaults
/// with seed 0.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub agents: u32,
    pub prefix: String,
    pub interval: Duration,
    /// Stop by itself after this long.
    pub duration: Option<Duration>,
    pub custom: u32,
    pub fresh_custom: bool,
    /// 0..=100
    pub churn_pct: f64,
    pub info_bytes: Option<usize>,
    /// Print rates to stderr this often.
    pub rate_report: Option<Duration>,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            agents: 100,
            prefix: "sim".to_owned(),
            interval: Duration::from_secs(5),
            duration: None,
            custom: 0,
            fresh_custom: false,
            churn_pct: 0.0,
            info_bytes: None,
            rate_report: None,
            seed: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--prefix {prefix:?} does not make valid agent ids: {source}")]
    BadPrefix {
        prefix: String,
        source: AgentIdError,
    },
    #[error("{what} must be {rule}")]
    OutOfRange {
        what: &'static str,
        rule: &'static str,
    },
}

/// How often `--rate-report` prints.
pub const RATE_REPORT_EVERY: Duration = Duration::from_secs(5);

impl SimConfig {
    /// Checks what clap cannot: that every agent id is valid, and ranges
    /// for configs built in code.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_AGENTS).contains(&self.agents) {
            return Err(ConfigError::OutOfRange {
                what: "agents",
                rule: "1..=1000000",
            });
        }
        if self.interval.is_zero() {
            return Err(ConfigError::OutOfRange {
                what: "interval",
                rule: "longer than zero",
            });
        }
        if !(0.0..=100.0).contains(&self.churn_pct) {
            return Err(ConfigError::OutOfRange {
                what: "churn",
                rule: "between 0 and 100",
            });
        }
        if self.custom > MAX_CUSTOM {
            return Err(ConfigError::OutOfRange {
                what: "custom",
                rule: "at most 10000",
            });
        }
        if self.prefix.is_empty() {
            return Err(ConfigError::BadPrefix {
                prefix: String::new(),
                source: AgentIdError::Empty {
                    original: String::new(),
                },
            });
        }
        // The longest id is the last one; the first checks the prefix's
        // characters even when the fleet is small.
        let width = fleet::id_width(self.agents);
        for n in [0, self.agents - 1] {
            fleet::agent_id(&self.prefix, n, width).map_err(|source| ConfigError::BadPrefix {
                prefix: self.prefix.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

impl SimArgs {
    pub fn config(&self) -> Result<SimConfig, ConfigError> {
        let seed = self.seed.unwrap_or_else(rand::random);
        let config = SimConfig {
            agents: self.agents,
            prefix: self.prefix.trim().to_owned(),
            interval: self.interval,
            duration: self.duration,
            custom: self.custom,
            fresh_custom: self.fresh_custom,
            churn_pct: self.churn,
            info_bytes: self
                .info_bytes
                .map(|b| usize::try_from(b).unwrap_or(MAX_INFO_BYTES)),
            rate_report: self.rate_report.then_some(RATE_REPORT_EVERY),
            seed,
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn flags_become_a_config() {
        let args = SimArgs::try_parse_from([
            "swarm-sim",
            "--agents",
            "10000",
            "--prefix",
            "load",
            "--interval",
            "1s",
            "--duration",
            "2m",
            "--custom",
            "5",
            "--fresh-custom",
            "--churn",
            "2.5",
            "--info-bytes",
            "4096",
            "--rate-report",
            "--seed",
            "7",
        ])
        .expect("parses");
        let c = args.config().expect("valid");
        assert_eq!(
            c,
            SimConfig {
                agents: 10_000,
                prefix: "load".into(),
                interval: Duration::from_secs(1),
                duration: Some(Duration::from_secs(120)),
                custom: 5,
                fresh_custom: true,
                churn_pct: 2.5,
                info_bytes: Some(4096),
                rate_report: Some(RATE_REPORT_EVERY),
                seed: 7,
            }
        );
    }

    #[test]
    fn defaults_match_the_library_defaults() {
        let args = SimArgs::try_parse_from(["swarm-sim", "--seed", "0"]).expect("parses");
        assert_eq!(args.config().expect("valid"), SimConfig::default());
    }

    #[test]
    fn bad_values_are_refused() {
        let refused = [
            vec!["--agents", "0"],
            vec!["--interval", "0s"],
            vec!["--interval", "often"],
            vec!["--churn", "101"],
            vec!["--churn", "-1"],
            vec!["--info-bytes", "0"],
        ];
        for extra in refused {
            let argv = std::iter::once("swarm-sim").chain(extra.iter().copied());
            assert!(SimArgs::try_parse_from(argv).is_err(), "{extra:?}");
        }
        for prefix in ["Sim.Load", "", &"x".repeat(60)] {
            let args = SimArgs::try_parse_from(["swarm-sim", "--prefix", prefix]).expect("parses");
            assert!(
                matches!(args.config(), Err(ConfigError::BadPrefix { .. })),
                "{prefix:?}"
            );
        }
    }
}
