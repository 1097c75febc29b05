//! The configuration the hub pushed (`swarm.agent.<agent>.config`): the
//! top layer over flags, environment and config file. Checked before it is
//! taken, kept on disk once taken (and used from the next start on), and
//! acknowledged by revision; a config that fails leaves the previous one
//! in force.

use std::path::{Path, PathBuf};
use std::time::Duration;

use swarm_common::protocol::fleet::{AgentConfig, ConfigPush, check_plugin_name};

use crate::collect::CollectorSettings;

/// File in the agent's state directory holding the last applied push.
const FILE: &str = "pushed-config.json";
/// A larger file is not a config this agent wrote.
const MAX_FILE_BYTES: u64 = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PushedError {
    #[error("cannot read the pushed config {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the pushed config {path} is unreadable ({reason}); running without it")]
    Corrupt { path: PathBuf, reason: String },
}

/// What the agent runs with from its own flags, environment and file:
/// the layer the pushed config goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct Base {
    pub interval: Duration,
    pub tags: Vec<String>,
    pub collectors: CollectorSettings,
}

/// The settings in force: the base with the pushed layer on top.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub interval: Duration,
    pub tags: Vec<String>,
    /// Plugins to run (`None`: every installed one).
    pub plugins: Option<Vec<String>>,
    pub collectors: CollectorSettings,
    /// The pushed revision in force (0: none).
    pub rev: u64,
}

impl Base {
    pub fn with(&self, pushed: Option<&ConfigPush>) -> Effective {
        let mut e = Effective {
            interval: self.interval,
            tags: self.tags.clone(),
            plugins: None,
            collectors: self.collectors,
            rev: 0,
        };
        let Some(push) = pushed else { return e };
        let c = &push.config;
        e.rev = push.rev;
        if let Some(ms) = c.interval_ms {
            e.interval = Duration::from_millis(ms);
        }
        if let Some(tags) = &c.tags {
            e.tags = tags.clone();
        }
        e.plugins = c.plugins.clone();
        if let Some(layer) = &c.collectors {
            e.collectors = e.collectors.with(layer);
        }
        if let Some(ms) = c.processes_every_ms {
            e.collectors.processes_every = Duration::from_millis(ms);
        }
        e
    }
}

/// The last applied push and where it is kept.
#[derive(Debug)]
pub struct Pushed {
    path: PathBuf,
    current: Option<ConfigPush>,
}

impl Pushed {
    /// Reads the kept push from `dir`; a damaged file is reported and
    /// ignored (the hub sends the config again at `hello`).
    pub fn load(dir: &Path) -> (Self, Option<PushedError>) {
        let path = dir.join(FILE);
        let (current, problem) = match read(&path) {
            Ok(current) => (current, None),
            Err(e) => (None, Some(e)),
        };
        (Self { path, current }, problem)
    }

    pub fn current(&self) -> Option<&ConfigPush> {
        self.current.as_ref()
    }

    pub fn rev(&self) -> u64 {
        self.current.as_ref().map_or(0, |c| c.rev)
    }

    /// Checks `push` against what only this agent knows (the plugins
    /// installed here) and keeps it on disk; then it is the one in force.
    /// On error nothing changes.
    pub fn accept(&mut self, push: ConfigPush, installed: &[String]) -> Result<(), String> {
        check(&push.config, installed)?;
        let body = serde_json::to_vec_pretty(&push).map_err(|e| e.to_string())?;
        swarm_common::fs::write_private(&self.path, &body).map_err(|(what, e)| {
            format!(
                "cannot keep the config: {what} {}: {e}",
                self.path.display()
            )
        })?;
        self.current = Some(push);
        Ok(())
    }
}

/// A config this agent can run: valid values, known plugins.
pub fn check(config: &AgentConfig, installed: &[String]) -> Result<(), String> {
    config.check()?;
    for name in config.plugins.iter().flatten() {
        check_plugin_name(name)?;
        if !installed.iter().any(|i| i == name) {
            return Err(format!("plugin {name:?} is not installed on this host"));
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<Option<ConfigPush>, PushedError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(PushedError::Read {
                path: path.to_owned(),
                error,
            });
        }
    };
    let corrupt = |reason: String| PushedError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(corrupt(format!("{} bytes", meta.len())));
    }
    let body = std::fs::read(path).map_err(|error| PushedError::Read {
        path: path.to_owned(),
        error,
    })?;
    let push: ConfigPush = serde_json::from_slice(&body).map_err(|e| corrupt(e.to_string()))?;
    push.config.check().map_err(corrupt)?;
    Ok(Some(push))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Base {
        Base {
            interval: Duration::from_secs(5),
            tags: vec!["role=web".into()],
            collectors: CollectorSettings::default(),
        }
    }

    #[test]
    fn the_pushed_layer_goes_on_top_and_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut pushed, problem) = Pushed::load(dir.path());
        assert!(problem.is_none());
        assert_eq!(base().with(pushed.current()).rev, 0);
        let push = ConfigPush {
            rev: 7,
            config: AgentConfig {
                interval_ms: Some(1_000),
                tags: Some(vec!["role=db".into()]),
                plugins: Some(vec!["queue".into()]),
                collectors: Some(swarm_common::protocol::fleet::Collectors {
                    processes: Some(false),
                    ..Default::default()
                }),
                processes_every_ms: None,
            },
        };
        let refused = pushed.accept(push.clone(), &[]);
        assert!(refused.is_err_and(|e| e.contains("not installed")));
        assert_eq!(pushed.rev(), 0, "a refused config changes nothing");
        pushed.accept(push, &["queue".into()]).expect("valid");
        let (again, problem) = Pushed::load(dir.path());
        assert!(problem.is_none());
        let e = base().with(again.current());
        assert_eq!(e.rev, 7);
        assert_eq!(e.interval, Duration::from_secs(1));
        assert_eq!(e.tags, vec!["role=db"]);
        assert_eq!(e.plugins, Some(vec!["queue".into()]));
        assert!(!e.collectors.processes && e.collectors.per_core);
    }

    #[test]
    fn a_damaged_file_is_reported_and_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE), b"{not json").expect("write");
        let (pushed, problem) = Pushed::load(dir.path());
        assert_eq!(pushed.rev(), 0);
        assert!(matches!(problem, Some(PushedError::Corrupt { .. })));
    }
}
