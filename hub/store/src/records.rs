//! What the hub keeps beside its time series: host records, tests and
//! test results, each a sled tree of MessagePack values.
//!
//! - `hosts`: agent id -> [`HostRecord`];
//! - `tests`: test id -> Test;
//! - `previous_runs`: test id -> [`PastRun`], the run before its current;
//! - `results`: `test_id | 0 | ts | agent | 0 | seq` -> TestResult (time
//!   order within a test).

use serde::{Deserialize, Serialize};
use swarm_common::AgentId;
use swarm_common::protocol::{HostInfo, MetricsSample, Millis, Test, TestResult};

use crate::{Result, StoreError, keys};

/// What the hub remembers of a host between restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    pub info: Option<HostInfo>,
    pub first_seen: Millis,
    /// Hub clock when the last message from the agent arrived.
    pub last_seen: Millis,
    /// The agent said `bye` after its last message.
    pub said_bye: bool,
    pub latest: Option<MetricsSample>,
    /// Tags the hub keeps for this host, merged with the agent's own.
    #[serde(default)]
    pub hub_tags: Vec<String>,
}

/// A test's run before its current one: its results may still come (from
/// an agent's spool), after a restart of the hub too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastRun {
    pub run_id: String,
    pub agents: Vec<AgentId>,
    /// When it ran, from its start to its end (hub clock).
    pub from: Millis,
    pub to: Millis,
}

/// The host, test and result trees.
pub struct Records {
    hosts: sled::Tree,
    tests: sled::Tree,
    previous_runs: sled::Tree,
    results: sled::Tree,
}

impl Records {
    pub(crate) fn open(db: &sled::Db) -> Result<Self> {
        Ok(Self {
            hosts: db.open_tree("hosts")?,
            tests: db.open_tree("tests")?,
            previous_runs: db.open_tree("previous_runs")?,
            results: db.open_tree("results")?,
        })
    }

    /// Handles to the trees, for closing them.
    pub(crate) fn trees(&self) -> [&sled::Tree; 4] {
        [&self.hosts, &self.tests, &self.previous_runs, &self.results]
    }

    pub fn put_host(&self, agent: &str, record: &HostRecord) -> Result<()> {
        self.hosts
            .insert(agent.as_bytes(), encode_record("hosts", record)?)?;
        Ok(())
    }

    pub fn remove_host(&self, agent: &str) -> Result<()> {
        self.hosts.remove(agent.as_bytes())?;
        Ok(())
    }

    /// Every host record; undecodable ones are logged and skipped.
    pub fn hosts(&self) -> Result<Vec<(String, HostRecord)>> {
        let mut out = Vec::new();
        for item in self.hosts.iter() {
            let (key, value) = item?;
            let agent = String::from_utf8_lossy(&key).into_owned();
            match decode_record::<HostRecord>("hosts", &value) {
                Ok(record) => out.push((agent, record)),
                Err(e) => tracing::warn!("skipping unreadable host record for {agent:?}: {e}"),
            }
        }
        Ok(out)
    }

    pub fn counts(&self) -> (usize, usize) {
        (self.tests.len(), self.results.len())
    }

    pub fn put_test(&self, test: &Test) -> Result<()> {
        self.tests
            .insert(test.id.as_str(), encode_record("tests", test)?)?;
        Ok(())
    }

    pub fn test(&self, id: &str) -> Result<Option<Test>> {
        match self.tests.get(id.as_bytes())? {
            Some(bytes) => Ok(Some(decode_record("tests", &bytes)?)),
            None => Ok(None),
        }
    }

    pub fn put_previous_run(&self, test_id: &str, run: &PastRun) -> Result<()> {
        self.previous_runs
            .insert(test_id.as_bytes(), encode_record("previous_runs", run)?)?;
        Ok(())
    }

    pub fn previous_run(&self, test_id: &str) -> Result<Option<PastRun>> {
        match self.previous_runs.get(test_id.as_bytes())? {
            Some(bytes) => Ok(Some(decode_record("previous_runs", &bytes)?)),
            None => Ok(None),
        }
    }

    /// Every test, oldest first (ids sort by creation time).
    pub fn tests(&self) -> Result<Vec<Test>> {
        all(&self.tests, "tests")
    }

    /// Stores results; the same result twice lands in the same place.
    pub fn put_results(&self, results: &[TestResult]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for r in results {
            batch.insert(
                keys::result(
                    r.test_id.as_str(),
                    r.ts,
                    r.agent.as_str(),
                    r.seq.unwrap_or(0),
                ),
                encode_record("results", r)?,
            );
        }
        self.results.apply_batch(batch)?;
        Ok(())
    }

    /// Deletes every test result older than `before`, of every test, a
    /// bounded batch at a time; returns how many went and their bytes.
    pub fn prune_results(&self, before: Millis) -> Result<(u64, u64)> {
        const BATCH: usize = 10_000;
        let (mut removed, mut freed) = (0u64, 0u64);
        for id in self.tests.iter().keys() {
            let id = id?;
            let Ok(id) = std::str::from_utf8(&id) else {
                continue;
            };
            let range = keys::result(id, 0, "", 0)..keys::result(id, before, "", 0);
            loop {
                let mut batch = sled::Batch::default();
                let mut n = 0;
                for item in self.results.range(range.clone()).take(BATCH) {
                    let (key, value) = item?;
                    freed += (key.len() + value.len()) as u64;
                    batch.remove(key);
                    n += 1;
                }
                if n == 0 {
                    break;
                }
                self.results.apply_batch(batch)?;
                removed += n as u64;
            }
        }
        Ok((removed, freed))
    }

    /// Bytes of stored results (keys and values): what the size cap counts.
    pub fn results_bytes(&self) -> Result<u64> {
        let mut total = 0;
        for item in self.results.iter() {
            let (key, value) = item?;
            total += (key.len() + value.len()) as u64;
        }
        Ok(total)
    }

    /// The time of the oldest stored result, of any test.
    pub fn oldest_result(&self) -> Result<Option<Millis>> {
        let mut oldest: Option<Millis> = None;
        for id in self.tests.iter().keys() {
            let id = id?;
            let Ok(id) = std::str::from_utf8(&id) else {
                continue;
            };
            let prefix = keys::result_prefix(id);
            if let Some(key) = self
                .results
                .scan_prefix(&prefix)
                .keys()
                .next()
                .transpose()?
                && let Some(ts) = key
                    .get(prefix.len()..prefix.len() + 8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
            {
                oldest = Some(oldest.map_or(ts, |o| o.min(ts)));
            }
        }
        Ok(oldest)
    }

    /// Hands every result of a test to `each`, oldest first, without
    /// holding them all (a long test has millions).
    pub fn each_result(&self, test_id: &str, mut each: impl FnMut(TestResult)) -> Result<()> {
        self.scan_results(test_id, 0, |r| {
            each(r);
            true
        })
    }

    /// Results of a test in time order, from `since` (inclusive), at most
    /// `limit`, of one agent or all.
    pub fn results(
        &self,
        test_id: &str,
        agent: Option<&str>,
        since: Millis,
        limit: usize,
    ) -> Result<Vec<TestResult>> {
        let mut out = Vec::new();
        self.scan_results(test_id, since, |r| {
            if agent.is_none_or(|a| r.agent.as_str() == a) {
                out.push(r);
            }
            out.len() < limit
        })?;
        Ok(out)
    }

    /// Hands a test's results from `since` on, in time order, to `each`
    /// until it says stop (false).
    fn scan_results(
        &self,
        test_id: &str,
        since: Millis,
        mut each: impl FnMut(TestResult) -> bool,
    ) -> Result<()> {
        let prefix = keys::result_prefix(test_id);
        for item in self.results.range(keys::result(test_id, since, "", 0)..) {
            let (key, bytes) = item?;
            if !key.starts_with(&prefix) || !each(decode_record("results", &bytes)?) {
                break;
            }
        }
        Ok(())
    }
}

pub(crate) fn encode_record<T: Serialize>(tree: &'static str, value: &T) -> Result<Vec<u8>> {
    rmp_serde::to_vec_named(value).map_err(|e| StoreError::Corrupt {
        tree,
        reason: e.to_string(),
    })
}

pub(crate) fn decode_record<T: serde::de::DeserializeOwned>(
    tree: &'static str,
    bytes: &[u8],
) -> Result<T> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree,
        reason: e.to_string(),
    })
}

/// Every value of a tree; undecodable ones are logged and skipped.
pub(crate) fn all<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for item in tree.iter() {
        let (key, bytes) = item?;
        match decode_record::<T>(name, &bytes) {
            Ok(v) => out.push(v),
            Err(e) => tracing::warn!(
                "skipping unreadable {name} record {:?}: {e}",
                String::from_utf8_lossy(&key)
            ),
        }
    }
    Ok(out)
}
