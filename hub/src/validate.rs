//! What the hub accepts from agents. Every rejection has a reason that is
//! counted and logged; none stops ingest.

use std::sync::atomic::{AtomicU64, Ordering};

use swarm_common::limits;
use swarm_common::protocol::{HostInfo, MetricsSample, Millis, TestResult};
use swarm_common::validate::{self, SampleError};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("undecodable payload: {0}")]
    Undecodable(String),
    #[error("subject {subject} is not an agent subject")]
    BadSubject { subject: String },
    #[error("subject token {token:?} disagrees with the payload's agent {agent:?}")]
    SubjectMismatch { token: String, agent: String },
    #[error("bad value: {0}")]
    BadValue(String),
    #[error("over a per-message limit: {0}")]
    TooLarge(String),
    #[error("the hub holds its most hosts ({0}); a new agent is refused")]
    AgentLimit(usize),
    #[error("agent {agent} is not in run {run_id:?} of test {test_id}")]
    NotInRun {
        test_id: String,
        run_id: String,
        agent: String,
    },
}

/// Rejection counters, one per reason.
#[derive(Debug, Default)]
pub struct RejectionCounts {
    pub undecodable: AtomicU64,
    pub bad_subject: AtomicU64,
    pub subject_mismatch: AtomicU64,
    pub bad_value: AtomicU64,
    pub too_large: AtomicU64,
    pub agent_limit: AtomicU64,
    pub not_in_run: AtomicU64,
}

impl RejectionCounts {
    pub fn count(&self, rejection: &Rejection) {
        let counter = match rejection {
            Rejection::Undecodable(_) => &self.undecodable,
            Rejection::BadSubject { .. } => &self.bad_subject,
            Rejection::SubjectMismatch { .. } => &self.subject_mismatch,
            Rejection::BadValue(_) => &self.bad_value,
            Rejection::TooLarge(_) => &self.too_large,
            Rejection::AgentLimit(_) => &self.agent_limit,
            Rejection::NotInRun { .. } => &self.not_in_run,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter with its reason's name, as `$SRV.STATS` shows them.
    fn by_reason(&self) -> [(&'static str, &AtomicU64); 7] {
        [
            ("undecodable", &self.undecodable),
            ("bad_subject", &self.bad_subject),
            ("subject_mismatch", &self.subject_mismatch),
            ("bad_value", &self.bad_value),
            ("too_large", &self.too_large),
            ("agent_limit", &self.agent_limit),
            ("not_in_run", &self.not_in_run),
        ]
    }

    pub fn total(&self) -> u64 {
        self.by_reason()
            .iter()
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .sum()
    }

    pub fn as_json(&self) -> serde_json::Value {
        self.by_reason()
            .iter()
            .map(|(name, c)| ((*name).to_owned(), c.load(Ordering::Relaxed).into()))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// A payload over its encoded-size limit is refused before it is decoded.
pub fn size(what: &str, payload: &[u8], max: usize) -> Result<(), Rejection> {
    if payload.len() > max {
        return Err(Rejection::TooLarge(format!(
            "a {what} of {} bytes (at most {max})",
            payload.len()
        )));
    }
    Ok(())
}

/// A HostInfo's tags: at most 64, each 1-128 bytes.
pub fn host_info(info: &HostInfo) -> Result<(), Rejection> {
    limits::check_tags(&info.tags).map_err(Rejection::TooLarge)
}

/// The subject's agent token must be the payload's agent id.
pub fn same_agent(token: &str, agent: &str) -> Result<(), Rejection> {
    if token == agent {
        Ok(())
    } else {
        Err(Rejection::SubjectMismatch {
            token: token.to_owned(),
            agent: agent.to_owned(),
        })
    }
}

/// Checks a sample's timestamp and values for sanity (the rule the
/// console applies to live samples too).
pub fn sample(s: &MetricsSample, now: Millis) -> Result<(), Rejection> {
    Ok(validate::sample(s, now)?)
}

/// Checks a test result's timestamp and numbers.
pub fn result(r: &TestResult, now: Millis) -> Result<(), Rejection> {
    Ok(validate::result(r, now)?)
}

impl From<SampleError> for Rejection {
    fn from(e: SampleError) -> Self {
        match e {
            SampleError::BadValue(reason) => Rejection::BadValue(reason),
            SampleError::TooLarge(reason) => Rejection::TooLarge(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarm_common::AgentId;
    use swarm_common::protocol::{
        CpuTimes, DiskIo, DiskUsage, Interface, NetUsage, ProcessUsage, TopProcesses,
    };

    const NOW: Millis = 1_800_000_000_000;

    fn base() -> MetricsSample {
        MetricsSample {
            cpu_pct: Some(50.0),
            load: Some([0.1, 0.2, 0.3]),
            mem_total: Some(100),
            mem_used: Some(50),
            mem_available: Some(50),
            swap_total: Some(0),
            swap_used: Some(0),
            ..MetricsSample::new(AgentId::parse("a").expect("valid"), NOW)
        }
    }

    #[test]
    fn sane_samples_pass_and_absurd_ones_do_not() {
        assert_eq!(sample(&base(), NOW), Ok(()));
        type Edit = fn(&mut MetricsSample);
        let cases: &[(&str, Edit)] = &[
            ("future", |s| s.ts = NOW + 3_600_000),
            ("ancient", |s| s.ts = 1),
            ("cpu over 100", |s| s.cpu_pct = Some(140.0)),
            ("cpu NaN", |s| s.cpu_pct = Some(f64::NAN)),
            ("negative load", |s| s.load = Some([-1.0, 0.0, 0.0])),
            ("mem over total", |s| s.mem_used = Some(1_000)),
            ("swap over total", |s| s.swap_used = Some(1)),
            ("disk over total", |s| {
                s.disks.push(DiskUsage {
                    total: Some(1),
                    used: Some(2),
                    ..DiskUsage::new("/")
                })
            }),
            ("inodes over total", |s| {
                s.disks.push(DiskUsage {
                    inodes_total: Some(1),
                    inodes_used: Some(2),
                    ..DiskUsage::new("/")
                })
            }),
            ("core over 100", |s| s.cores = vec![10.0, 101.0]),
            ("iowait NaN", |s| {
                s.cpu = Some(CpuTimes {
                    iowait: Some(f64::NAN),
                    ..CpuTimes::default()
                })
            }),
            ("cached over total", |s| s.mem_cached = Some(101)),
            ("interface with a newline", |s| {
                s.interfaces.push(Interface::new("eth\n0"))
            }),
            ("disk busy over 100", |s| {
                s.disk_io.push(DiskIo {
                    busy_pct: Some(250.0),
                    ..DiskIo::new("sda")
                })
            }),
            ("process CPU negative", |s| {
                s.top = Some(TopProcesses {
                    ts: NOW,
                    by_cpu: vec![ProcessUsage {
                        pid: 1,
                        name: "init".into(),
                        user: None,
                        cpu_pct: Some(-1.0),
                        rss: None,
                    }],
                    by_mem: vec![],
                })
            }),
            ("infinite rate", |s| {
                s.net = Some(NetUsage {
                    rx_bps: Some(f64::INFINITY),
                    ..NetUsage::default()
                })
            }),
            ("custom NaN", |s| {
                s.custom.insert("q".into(), f64::NAN);
            }),
            ("custom empty name", |s| {
                s.custom.insert(String::new(), 1.0);
            }),
        ];
        for (name, edit) in cases {
            let mut s = base();
            edit(&mut s);
            assert!(
                matches!(sample(&s, NOW), Err(Rejection::BadValue(_))),
                "{name}"
            );
        }
    }
}
