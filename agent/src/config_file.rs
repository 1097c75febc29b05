//! The agent's config file (`--config FILE`, TOML): a layer between the
//! built-in defaults and the environment. Precedence, lowest first:
//! defaults, this file, `SWARM_*` environment, command-line flags, then
//! what the hub pushes (see [`crate::pushed`]).
//!
//! ```toml
//! name = "web-01"
//! interval = "5s"
//! tags = ["role=web", "dc1"]
//! disable = ["temperatures"]
//!
//! [nats]
//! servers = ["nats://hub.example.net:4222"]
//! creds = "/etc/swarm-agent/agent.creds"
//! ```

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::Deserialize;

use crate::config::{AgentArgs, Optional};

/// A larger file is not a config file.
const MAX_FILE_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read the config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the config file {path} is {bytes} bytes; at most 1 MiB")]
    TooLarge { path: PathBuf, bytes: u64 },
    #[error("config file {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    name: Option<String>,
    interval: Option<String>,
    tags: Option<Vec<String>>,
    spool: Option<PathBuf>,
    spool_max_mib: Option<u64>,
    disable: Option<Vec<Optional>>,
    processes_every: Option<String>,
    plugins: Option<PathBuf>,
    plugin_timeout: Option<String>,
    log: Option<String>,
    nats: Option<NatsFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NatsFile {
    servers: Option<Vec<String>>,
    creds: Option<PathBuf>,
    user: Option<String>,
    password_file: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    inbox_prefix: Option<String>,
    require_tls: Option<bool>,
}

/// The command line, with the config file (if one is named) under it.
/// Bad flags exit with clap's message, as a plain parse does.
pub fn parse_layered() -> Result<AgentArgs, ConfigFileError> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = AgentArgs::command().get_matches();
    let mut args = AgentArgs::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some(path) = args.config.clone() {
        ConfigFile::read(&path)?.apply(&mut args, &matches, &path)?;
    }
    Ok(args)
}

impl ConfigFile {
    pub fn read(path: &Path) -> Result<Self, ConfigFileError> {
        let read_error = |error| ConfigFileError::Read {
            path: path.to_owned(),
            error,
        };
        let bytes = std::fs::metadata(path).map_err(read_error)?.len();
        if bytes > MAX_FILE_BYTES {
            return Err(ConfigFileError::TooLarge {
                path: path.to_owned(),
                bytes,
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        toml::from_str(&text).map_err(|e| ConfigFileError::Invalid {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Sets each value of the file on `args` unless the environment or
    /// the command line gave it (`matches` says where each came from).
    pub fn apply(
        self,
        args: &mut AgentArgs,
        matches: &ArgMatches,
        path: &Path,
    ) -> Result<(), ConfigFileError> {
        let unset = |id: &str| {
            !matches!(
                matches.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        };
        let duration = |key: &str, raw: &str| {
            swarm_common::duration::parse_positive(raw).map_err(|reason| ConfigFileError::Invalid {
                path: path.to_owned(),
                reason: format!("{key}: {reason}"),
            })
        };
        macro_rules! layer {
            ($id:literal, $slot:expr, $value:expr) => {
                if let Some(v) = $value
                    && unset($id)
                {
                    $slot = v;
                }
            };
        }
        layer!("name", args.name, self.name.map(Some));
        if let Some(raw) = &self.interval
            && unset("interval")
        {
            args.interval = duration("interval", raw)?;
        }
        if let Some(raw) = &self.processes_every
            && unset("processes_every")
        {
            args.processes_every = duration("processes_every", raw)?;
        }
        if let Some(raw) = &self.plugin_timeout
            && unset("plugin_timeout")
        {
            args.plugin_timeout = duration("plugin_timeout", raw)?;
        }
        layer!("plugins", args.plugins, self.plugins.map(Some));
        layer!("tags", args.tags, self.tags);
        layer!("spool", args.spool, self.spool.map(Some));
        layer!("spool_max_mib", args.spool_max_mib, self.spool_max_mib);
        layer!("disable", args.disable, self.disable);
        layer!("log", args.log, self.log);
        if let Some(n) = self.nats {
            let nats = &mut args.nats;
            layer!("servers", nats.servers, n.servers);
            layer!("creds", nats.creds, n.creds.map(Some));
            layer!("user", nats.user, n.user.map(Some));
            layer!(
                "password_file",
                nats.password_file,
                n.password_file.map(Some)
            );
            layer!("tls_ca", nats.tls_ca, n.tls_ca.map(Some));
            layer!("tls_cert", nats.tls_cert, n.tls_cert.map(Some));
            layer!("tls_key", nats.tls_key, n.tls_key.map(Some));
            layer!("inbox_prefix", nats.inbox_prefix, n.inbox_prefix.map(Some));
            layer!("require_tls", nats.require_tls, n.require_tls);
        }
        if args.spool_max_mib == 0 {
            return Err(ConfigFileError::Invalid {
                path: path.to_owned(),
                reason: "spool_max_mib: must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// The settings in force, as a config file would say them, with the
/// hub's pushed layer (if any) shown as such below them.
pub fn show(args: &AgentArgs, config: &crate::AgentConfig) -> Result<String, ConfigFileError> {
    use swarm_common::duration::short;
    let invalid = |reason: String| ConfigFileError::Invalid {
        path: args.config.clone().unwrap_or_default(),
        reason,
    };
    let mut table = toml::Table::new();
    let mut put = |k: &str, v: toml::Value| {
        table.insert(k.to_owned(), v);
    };
    let text = |s: &str| toml::Value::String(s.to_owned());
    let list = |v: &[String]| toml::Value::Array(v.iter().map(|s| text(s)).collect());
    put("name", text(config.id.as_str()));
    put("interval", text(&short(config.interval)));
    put("tags", list(&config.tags));
    put("spool", text(&config.spool_dir.display().to_string()));
    put(
        "spool_max_mib",
        toml::Value::Integer(i64::try_from(args.spool_max_mib).unwrap_or(i64::MAX)),
    );
    let off: Vec<String> = args
        .disable
        .iter()
        .filter_map(|d| Some(clap::ValueEnum::to_possible_value(d)?.get_name().to_owned()))
        .collect();
    put("disable", list(&off));
    put("processes_every", text(&short(args.processes_every)));
    if let Some(dir) = &config.plugins_dir {
        put("plugins", text(&dir.display().to_string()));
    }
    put("plugin_timeout", text(&short(config.plugin_timeout)));
    put("log", text(&args.log));
    let mut nats = toml::Table::new();
    nats.insert("servers".into(), list(&args.nats.servers));
    table.insert("nats".into(), toml::Value::Table(nats));
    let source = match &args.config {
        Some(path) => format!("config file {}", path.display()),
        None => "no config file".to_owned(),
    };
    let mut out = format!(
        "# swarm-agent settings: defaults < {source} < SWARM_* environment < flags\n{}",
        toml::to_string(&table).map_err(|e| invalid(e.to_string()))?
    );
    let (pushed, problem) = crate::pushed::Pushed::load(&config.spool_dir);
    if let Some(problem) = problem {
        out.push_str(&format!("\n# {problem}\n"));
    }
    if let Some(push) = pushed.current() {
        out.push_str(&format!(
            "\n# pushed by the hub, revision {}: in force over the values above\n[pushed]\n{}",
            push.rev,
            toml::to_string(&push.config).map_err(|e| invalid(e.to_string()))?
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};
    use std::time::Duration;

    fn layered(flags: &[&str], file: &str) -> Result<AgentArgs, ConfigFileError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, file).expect("write");
        let mut argv = vec!["swarm-agent"];
        argv.extend_from_slice(flags);
        let matches = AgentArgs::command()
            .try_get_matches_from(argv)
            .expect("flags parse");
        let mut args = AgentArgs::from_arg_matches(&matches).expect("args");
        ConfigFile::read(&path)?.apply(&mut args, &matches, &path)?;
        Ok(args)
    }

    #[test]
    fn the_file_is_over_the_defaults_and_under_the_flags() {
        let file = r#"
            interval = "10s"
            tags = ["role=web"]
            disable = ["temperatures", "per-core"]
            plugins = "/etc/swarm-agent/plugins.d"
            [nats]
            servers = ["nats://10.0.0.1:4222"]
        "#;
        let args = layered(&["--interval", "2s"], file).expect("valid");
        assert_eq!(args.interval, Duration::from_secs(2), "the flag wins");
        assert_eq!(args.tags, vec!["role=web"], "the file beats the default");
        assert_eq!(
            args.disable,
            vec![Optional::Temperatures, Optional::PerCore]
        );
        assert_eq!(args.nats.servers, vec!["nats://10.0.0.1:4222"]);
        assert_eq!(
            args.plugins,
            Some(PathBuf::from("/etc/swarm-agent/plugins.d"))
        );
        let args = layered(&["--tag", "dc1"], file).expect("valid");
        assert_eq!(args.tags, vec!["dc1"], "flags replace the file's list");
    }

    #[test]
    fn a_bad_file_is_a_clear_error() {
        for (file, says) in [
            ("intervl = \"3s\"", "unknown field `intervl`"),
            (
                "interval = \"soon\"",
                "interval: \"soon\" is not a duration",
            ),
            ("interval = 5", "invalid type"),
            ("spool_max_mib = 0", "at least 1"),
            ("[nats]\nservers = \"x\"", "invalid type"),
            ("name = ", "TOML parse error"),
        ] {
            let err = layered(&[], file)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(says), "{file:?}: {err}");
        }
    }
}
