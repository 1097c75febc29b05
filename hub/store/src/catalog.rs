//! Which agents and series the store knows: their names and u32 ids (the
//! `dict` tree), which series each agent has (`agent_series`), and the cap
//! on series per agent that keeps one sender from growing the store.

// Ingest looks up every sample's agent and series: a fast hash, as the
// keys are the store's own (names from validated messages, ids).
use foldhash::{HashMap, HashSet};

use crate::{Result, StoreError, keys, rollup};

/// Series one agent may have by default.
pub const DEFAULT_MAX_SERIES_PER_AGENT: usize = 1_024;

const AGENT_PREFIX: u8 = b'a';
const SERIES_PREFIX: u8 = b's';

#[derive(Debug, Default)]
struct Names {
    ids: HashMap<String, u32>,
    names: HashMap<u32, String>,
    /// A name was given an id since [`Catalog::take_fresh_names`].
    fresh: bool,
}

impl Names {
    fn insert(&mut self, name: String, id: u32) {
        self.names.insert(id, name.clone());
        self.ids.insert(name, id);
    }

    /// The id of `name`, given one (written to `dict` under `kind`) if it
    /// has none yet.
    fn intern(&mut self, dict: &sled::Tree, kind: u8, name: &str) -> Result<u32> {
        if let Some(&id) = self.ids.get(name) {
            return Ok(id);
        }
        let id = u32::try_from(self.ids.len()).map_err(|_| StoreError::Corrupt {
            tree: "dict",
            reason: "more than 2^32 names".into(),
        })?;
        let mut key = Vec::with_capacity(name.len() + 1);
        key.push(kind);
        key.extend_from_slice(name.as_bytes());
        // Flushed before any write-ahead log record uses the id (see
        // `take_fresh_names`), so a replayed record always finds its name.
        dict.insert(key, &id.to_be_bytes())?;
        self.insert(name.to_owned(), id);
        self.fresh = true;
        Ok(id)
    }
}

pub(crate) struct Catalog {
    dict: sled::Tree,
    /// `agent | series` -> (): every stored series.
    listed: sled::Tree,
    agents: Names,
    series: Names,
    /// Which series each agent has: what the per-agent cap counts.
    of_agent: HashMap<u32, HashSet<u32>>,
    max_series_per_agent: usize,
}

/// Every stored series, read without the store's lock (a handle on the
/// tree, not a copy).
pub(crate) struct Listing(sled::Tree);

impl Listing {
    pub(crate) fn iter(&self) -> impl Iterator<Item = Result<(u32, u32)>> + use<> {
        self.0.iter().keys().filter_map(|key| match key {
            Ok(key) => Some(Ok((keys::u32_from(&key)?, keys::series_of(&key)?))),
            Err(e) => Some(Err(e.into())),
        })
    }
}

impl Catalog {
    pub(crate) fn open(db: &sled::Db) -> Result<Self> {
        let mut catalog = Self {
            dict: db.open_tree("dict")?,
            listed: db.open_tree("agent_series")?,
            agents: Names::default(),
            series: Names::default(),
            of_agent: HashMap::default(),
            max_series_per_agent: DEFAULT_MAX_SERIES_PER_AGENT,
        };
        for item in catalog.dict.iter() {
            let (key, value) = item?;
            let id: [u8; 4] = value.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                tree: "dict",
                reason: "id is not 4 bytes".into(),
            })?;
            let name = String::from_utf8_lossy(&key[1..]).into_owned();
            let names = match key.first() {
                Some(&AGENT_PREFIX) => &mut catalog.agents,
                Some(&SERIES_PREFIX) => &mut catalog.series,
                _ => continue,
            };
            names.insert(name, u32::from_be_bytes(id));
        }
        for pair in catalog.listing().iter() {
            let (agent, series) = pair?;
            catalog.note(agent, series);
        }
        Ok(catalog)
    }

    pub(crate) fn trees(&self) -> [&sled::Tree; 2] {
        [&self.dict, &self.listed]
    }

    /// Caps the series each agent may have; those it has stay.
    pub(crate) fn set_max_series_per_agent(&mut self, max: usize) {
        self.max_series_per_agent = max;
    }

    /// Whether a name was given an id since the last call.
    pub(crate) fn take_fresh_names(&mut self) -> bool {
        std::mem::take(&mut self.agents.fresh) | std::mem::take(&mut self.series.fresh)
    }

    pub(crate) fn agent(&self, name: &str) -> Option<u32> {
        self.agents.ids.get(name).copied()
    }

    /// The ids of a series of an agent, if both names are known.
    pub(crate) fn ids(&self, agent: &str, series: &str) -> Option<(u32, u32)> {
        Some((self.agent(agent)?, *self.series.ids.get(series)?))
    }

    pub(crate) fn agent_name(&self, id: u32) -> &str {
        self.agents.names.get(&id).map_or("", String::as_str)
    }

    pub(crate) fn series_name(&self, id: u32) -> &str {
        self.series.names.get(&id).map_or("", String::as_str)
    }

    /// A latency series (`test:<id>`): its rollups carry sketches.
    pub(crate) fn is_latency(&self, series: u32) -> bool {
        rollup::is_latency(self.series_name(series))
    }

    pub(crate) fn agent_count(&self) -> usize {
        self.agents.ids.len()
    }

    pub(crate) fn series_count(&self) -> usize {
        self.listed.len()
    }

    pub(crate) fn listing(&self) -> Listing {
        Listing(self.listed.clone())
    }

    pub(crate) fn intern_agent(&mut self, name: &str) -> Result<u32> {
        self.agents.intern(&self.dict, AGENT_PREFIX, name)
    }

    /// The series id of a row, or `None` when it would be a new series of
    /// an agent at its cap (the name is then not even interned, so a flood
    /// of fresh names grows nothing).
    pub(crate) fn admit_series(&mut self, agent: u32, name: &str) -> Result<Option<u32>> {
        let has = self.of_agent.get(&agent);
        // Nearly every row is of a series its agent has: one lookup each.
        if let (Some(&id), Some(set)) = (self.series.ids.get(name), has)
            && set.contains(&id)
        {
            return Ok(Some(id));
        }
        if has.map_or(0, |set| set.len()) >= self.max_series_per_agent {
            return Ok(None);
        }
        let series = self.series.intern(&self.dict, SERIES_PREFIX, name)?;
        self.note(agent, series);
        Ok(Some(series))
    }

    /// Counts a series against its agent's cap (replayed rows count as
    /// live ones do).
    pub(crate) fn note(&mut self, agent: u32, series: u32) {
        self.of_agent.entry(agent).or_default().insert(series);
    }

    /// Lists a series on disk (when it gets its first head).
    pub(crate) fn list(&self, agent: u32, series: u32) -> Result<()> {
        self.listed
            .insert(keys::series_prefix(agent, series), &[])?;
        Ok(())
    }

    /// Series names an agent has data for, sorted.
    pub(crate) fn series_names_of(&self, agent: &str) -> Result<Vec<String>> {
        let Some(a) = self.agent(agent) else {
            return Ok(Vec::new());
        };
        let mut names = Vec::new();
        for item in self.listed.scan_prefix(a.to_be_bytes()) {
            let (key, _) = item?;
            if let Some(name) = keys::series_of(&key).and_then(|s| self.series.names.get(&s)) {
                names.push(name.clone());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Forgets which series an agent has (its names stay interned: ids are
    /// never reused). Returns the keys removed.
    pub(crate) fn forget_agent(&mut self, agent: u32) -> Result<u64> {
        self.of_agent.remove(&agent);
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        for key in self.listed.scan_prefix(agent.to_be_bytes()).keys() {
            batch.remove(key?);
            removed += 1;
        }
        self.listed.apply_batch(batch)?;
        Ok(removed)
    }
}
