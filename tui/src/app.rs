//! The console's state: hosts, their recent CPU, selection, filter, sort,
//! the open view and connection states. Sync methods, no I/O: events go in,
//! commands come out, and the caller redraws when a method says so.

use std::collections::{BTreeMap, VecDeque};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use swarm_common::AgentId;
use swarm_common::nats::LinkState;
use swarm_common::protocol::{
    HostInfo, HostStatus, HostSummary, MetricsSample, Millis, Test, series,
};

use crate::event::{Command, Event};

/// Samples kept per host for the sparkline.
pub const SPARK_LEN: usize = 60;
/// How far back the host view's charts reach.
pub const DETAIL_WINDOW_MS: i64 = 3_600_000;
const DEFAULT_INTERVAL_MS: u64 = 5_000;
const MISSED_INTERVALS: u64 = 3;

/// One host as the console knows it.
#[derive(Debug, Clone)]
pub struct HostRow {
    pub agent: AgentId,
    pub info: Option<HostInfo>,
    pub latest: Option<MetricsSample>,
    /// Recent CPU % (oldest first).
    pub cpu_recent: VecDeque<f64>,
    /// Console clock when something last arrived from or about this host.
    pub last_seen: Millis,
    pub said_bye: bool,
    /// Status the hub reported last (it may know more, e.g. after a restart).
    pub hub_status: Option<HostStatus>,
}

impl HostRow {
    fn new(agent: AgentId) -> Self {
        Self {
            agent,
            info: None,
            latest: None,
            cpu_recent: VecDeque::with_capacity(SPARK_LEN),
            last_seen: 0,
            said_bye: false,
            hub_status: None,
        }
    }

    pub fn interval_ms(&self) -> u64 {
        self.info
            .as_ref()
            .and_then(|i| i.interval_ms)
            .filter(|i| *i > 0)
            .unwrap_or(DEFAULT_INTERVAL_MS)
    }

    /// Online unless it said bye or was silent for 3 intervals.
    pub fn status(&self, now: Millis) -> HostStatus {
        let silent = now.saturating_sub(self.last_seen) > self.interval_ms() * MISSED_INTERVALS;
        if self.said_bye || silent {
            HostStatus::Offline
        } else {
            HostStatus::Online
        }
    }

    pub fn hostname(&self) -> Option<&str> {
        self.info.as_ref().and_then(|i| i.hostname.as_deref())
    }

    pub fn tags(&self) -> &[String] {
        self.info.as_ref().map_or(&[], |i| i.tags.as_slice())
    }

    pub fn cpu(&self) -> Option<f64> {
        self.latest.as_ref()?.cpu_pct
    }

    pub fn mem(&self) -> Option<f64> {
        self.latest.as_ref()?.mem_pct()
    }

    pub fn root_disk(&self) -> Option<f64> {
        self.latest.as_ref()?.root_disk()?.used_pct()
    }

    pub fn rx(&self) -> Option<f64> {
        self.latest.as_ref()?.net.as_ref()?.rx_bps
    }

    pub fn tx(&self) -> Option<f64> {
        self.latest.as_ref()?.net.as_ref()?.tx_bps
    }

    pub fn load1(&self) -> Option<f64> {
        self.latest.as_ref()?.load.map(|l| l[0])
    }

    pub fn uptime_s(&self) -> Option<u64> {
        self.latest.as_ref()?.uptime_s
    }

    fn push_sample(&mut self, sample: MetricsSample, now: Millis) {
        if self.latest.as_ref().is_some_and(|l| l.ts > sample.ts) {
            return; // an old sample replayed late: not "latest"
        }
        if let Some(cpu) = sample.cpu_pct {
            if self.cpu_recent.len() == SPARK_LEN {
                self.cpu_recent.pop_front();
            }
            self.cpu_recent.push_back(cpu);
        }
        self.latest = Some(sample);
        self.last_seen = now;
        self.said_bye = false;
    }
}

/// Columns the host table can be sorted by, in the order `s` cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Name,
    Status,
    Cpu,
    Mem,
    Disk,
    Rx,
    Tx,
    Load,
    Uptime,
}

impl SortColumn {
    pub const ALL: [Self; 9] = [
        Self::Name,
        Self::Status,
        Self::Cpu,
        Self::Mem,
        Self::Disk,
        Self::Rx,
        Self::Tx,
        Self::Load,
        Self::Uptime,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Status => "status",
            Self::Cpu => "cpu",
            Self::Mem => "mem",
            Self::Disk => "disk",
            Self::Rx => "rx",
            Self::Tx => "tx",
            Self::Load => "load",
            Self::Uptime => "uptime",
        }
    }

    fn next(self) -> Self {
        let i = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Hosts,
    Host(AgentId),
    Tests,
}

/// The hub as the console sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubLink {
    Unknown,
    Ok,
    Down(String),
}

/// History of one series for the host view.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesChart {
    pub points: Vec<(Millis, f64)>,
    pub loading: bool,
    pub error: Option<String>,
}

/// Series the host view charts.
pub const DETAIL_SERIES: [&str; 2] = [series::CPU_PCT, series::MEM_PCT];

#[derive(Debug, Clone)]
pub struct App {
    pub hosts: BTreeMap<AgentId, HostRow>,
    pub view: View,
    pub help: bool,
    pub filter: String,
    pub filter_editing: bool,
    pub sort: SortColumn,
    /// Index into the visible (filtered, sorted) rows.
    pub selected: usize,
    pub nats: LinkState,
    pub hub: HubLink,
    pub now: Millis,
    pub dropped: u64,
    pub charts: BTreeMap<String, SeriesChart>,
    /// Network tests as the hub last listed them (newest first).
    pub tests: Vec<Test>,
    pub quit: bool,
}

impl App {
    pub fn new(now: Millis) -> Self {
        Self {
            hosts: BTreeMap::new(),
            view: View::Hosts,
            help: false,
            filter: String::new(),
            filter_editing: false,
            sort: SortColumn::Name,
            selected: 0,
            nats: LinkState::Down("connecting".into()),
            hub: HubLink::Unknown,
            now,
            dropped: 0,
            charts: BTreeMap::new(),
            tests: Vec::new(),
            quit: false,
        }
    }

    /// Applies one event; returns whether the screen changed and the
    /// commands for the network task.
    pub fn apply(&mut self, event: Event) -> (bool, Vec<Command>) {
        let mut commands = Vec::new();
        let changed = match event {
            Event::Key(key) => self.on_key(key, &mut commands),
            Event::Resize => true,
            Event::Tick(now) => {
                self.now = now;
                if self.view == View::Tests {
                    commands.push(Command::RefreshTests);
                }
                // Ages on screen move with the clock.
                !self.hosts.is_empty()
            }
            Event::Nats(state) => {
                let changed = self.nats != state;
                if state == LinkState::Connected && changed {
                    commands.push(Command::RefreshHosts);
                }
                self.nats = state;
                changed
            }
            Event::Metrics(sample) => {
                let agent = sample.agent.clone();
                let now = self.now;
                self.row(&agent).push_sample(*sample, now);
                self.extend_chart(&agent);
                true
            }
            Event::Hello(info) => {
                let now = self.now;
                let row = self.row(&info.agent);
                row.info = Some(*info);
                row.last_seen = now;
                row.said_bye = false;
                true
            }
            Event::Bye(agent) => {
                let row = self.row(&agent);
                row.said_bye = true;
                true
            }
            Event::HubHosts(hosts) => {
                self.hub = HubLink::Ok;
                self.merge_hub_hosts(hosts);
                true
            }
            Event::Tests(mut tests) => {
                tests.reverse();
                let changed = self.tests != tests;
                self.tests = tests;
                self.hub = HubLink::Ok;
                changed
            }
            Event::HubDown(reason) => {
                let down = HubLink::Down(reason);
                let changed = self.hub != down;
                self.hub = down;
                changed
            }
            Event::History {
                agent,
                series,
                result,
            } => self.on_history(&agent, series, result),
            Event::Dropped(n) => {
                self.dropped += n;
                true
            }
        };
        (changed, commands)
    }

    fn row(&mut self, agent: &AgentId) -> &mut HostRow {
        self.hosts
            .entry(agent.clone())
            .or_insert_with(|| HostRow::new(agent.clone()))
    }

    /// The hub's inventory fills in hosts the bus has not shown yet; live
    /// data already on screen wins over the hub's copy.
    fn merge_hub_hosts(&mut self, hosts: Vec<HostSummary>) {
        let now = self.now;
        for summary in hosts {
            let row = self.row(&summary.agent);
            row.hub_status = Some(summary.status);
            if row.info.is_none() {
                row.info = summary.info;
            }
            if row.latest.is_none()
                && let Some(latest) = summary.latest
            {
                if let Some(cpu) = latest.cpu_pct {
                    row.cpu_recent.push_back(cpu);
                }
                row.latest = Some(latest);
            }
            if row.last_seen == 0 {
                // The hub's clock, not ours: only good enough to start with.
                row.last_seen = summary.last_seen.unwrap_or(0).min(now);
                row.said_bye = summary.status == HostStatus::Offline;
            }
        }
    }

    fn on_history(
        &mut self,
        agent: &AgentId,
        series: String,
        result: Result<swarm_common::protocol::HistoryReply, String>,
    ) -> bool {
        if self.view != View::Host(agent.clone()) {
            return false; // an answer for a view already left
        }
        let chart = self.charts.entry(series).or_default();
        chart.loading = false;
        match result {
            Ok(reply) => {
                chart.points = reply.points.iter().map(|p| (p.0, p.2)).collect();
                chart.error = None;
            }
            Err(e) => chart.error = Some(e),
        }
        true
    }

    /// Live samples extend the open host's charts.
    fn extend_chart(&mut self, agent: &AgentId) {
        if self.view != View::Host(agent.clone()) {
            return;
        }
        let Some(sample) = self.hosts.get(agent).and_then(|r| r.latest.clone()) else {
            return;
        };
        for (name, value) in sample.series() {
            if let Some(chart) = self.charts.get_mut(&name)
                && chart.points.last().is_none_or(|p| p.0 < sample.ts)
            {
                chart.points.push((sample.ts, value));
            }
        }
    }

    /// Visible rows: filtered by text (or `tag:`), sorted.
    pub fn visible(&self) -> Vec<&HostRow> {
        let filter = self.filter.trim().to_lowercase();
        let mut rows: Vec<&HostRow> = self
            .hosts
            .values()
            .filter(|r| matches_filter(r, &filter))
            .collect();
        let now = self.now;
        let key = |r: &HostRow| -> f64 {
            match self.sort {
                SortColumn::Cpu => r.cpu().unwrap_or(-1.0),
                SortColumn::Mem => r.mem().unwrap_or(-1.0),
                SortColumn::Disk => r.root_disk().unwrap_or(-1.0),
                SortColumn::Rx => r.rx().unwrap_or(-1.0),
                SortColumn::Tx => r.tx().unwrap_or(-1.0),
                SortColumn::Load => r.load1().unwrap_or(-1.0),
                SortColumn::Uptime => r.uptime_s().map_or(-1.0, |u| u as f64),
                SortColumn::Status => f64::from(u8::from(r.status(now) == HostStatus::Online)),
                SortColumn::Name => 0.0,
            }
        };
        if self.sort != SortColumn::Name {
            // Biggest first: the busiest host is the one to look at.
            rows.sort_by(|a, b| {
                key(b)
                    .total_cmp(&key(a))
                    .then_with(|| a.agent.cmp(&b.agent))
            });
        }
        rows
    }

    pub fn selected_agent(&self) -> Option<AgentId> {
        self.visible().get(self.selected).map(|r| r.agent.clone())
    }

    pub fn counts(&self) -> (usize, usize) {
        let online = self
            .hosts
            .values()
            .filter(|r| r.status(self.now) == HostStatus::Online)
            .count();
        (online, self.hosts.len() - online)
    }

    fn on_key(&mut self, key: KeyEvent, commands: &mut Vec<Command>) -> bool {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return true;
        }
        if self.filter_editing {
            return self.on_filter_key(key);
        }
        if self.help {
            // Any key closes the help; `q` still quits.
            self.help = false;
            if key.code == KeyCode::Char('q') {
                self.quit = true;
            }
            return true;
        }
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('t') if self.view != View::Tests => self.open_tests(commands),
            KeyCode::Esc => match self.view {
                View::Host(_) | View::Tests => self.view = View::Hosts,
                View::Hosts if !self.filter.is_empty() => {
                    self.filter.clear();
                    self.selected = 0;
                }
                View::Hosts => return false,
            },
            _ if self.view != View::Hosts => return false,
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::PageDown => self.move_selection(10),
            KeyCode::PageUp => self.move_selection(-10),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => {
                self.selected = self.visible().len().saturating_sub(1);
            }
            KeyCode::Char('/') => self.filter_editing = true,
            KeyCode::Char('s') => self.sort = self.sort.next(),
            KeyCode::Enter => {
                let Some(agent) = self.selected_agent() else {
                    return false;
                };
                self.open_host(agent, commands);
            }
            _ => return false,
        }
        true
    }

    /// Opens the host view and asks the hub for its charts.
    pub fn open_host(&mut self, agent: AgentId, commands: &mut Vec<Command>) {
        self.charts.clear();
        for series in DETAIL_SERIES {
            self.charts.insert(
                series.to_owned(),
                SeriesChart {
                    loading: true,
                    ..SeriesChart::default()
                },
            );
            commands.push(Command::FetchHistory {
                agent: agent.clone(),
                series: series.to_owned(),
                from: -DETAIL_WINDOW_MS,
            });
        }
        self.view = View::Host(agent);
    }

    /// Opens the tests view and asks the hub for the list.
    pub fn open_tests(&mut self, commands: &mut Vec<Command>) {
        self.view = View::Tests;
        commands.push(Command::RefreshTests);
    }

    fn on_filter_key(&mut self, key: KeyEvent) -> bool {
        match key.code {
            KeyCode::Enter => self.filter_editing = false,
            KeyCode::Esc => {
                self.filter_editing = false;
                self.filter.clear();
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) if !c.is_control() && self.filter.chars().count() < 64 => {
                self.filter.push(c);
            }
            _ => return false,
        }
        self.selected = 0;
        true
    }

    fn move_selection(&mut self, delta: isize) {
        let len = self.visible().len();
        if len == 0 {
            self.selected = 0;
            return;
        }
        self.selected = self.selected.saturating_add_signed(delta).min(len - 1);
    }

    /// Keeps the selection inside the visible rows after they changed.
    pub fn clamp_selection(&mut self) {
        let len = self.visible().len();
        self.selected = self.selected.min(len.saturating_sub(1));
    }
}

/// Text matches the agent id, host name or a tag; `tag:x` matches tags only.
fn matches_filter(row: &HostRow, filter: &str) -> bool {
    if filter.is_empty() {
        return true;
    }
    if let Some(tag) = filter.strip_prefix("tag:") {
        return row.tags().iter().any(|t| t.to_lowercase().contains(tag));
    }
    row.agent.as_str().contains(filter)
        || row
            .hostname()
            .is_some_and(|h| h.to_lowercase().contains(filter))
        || row.tags().iter().any(|t| t.to_lowercase().contains(filter))
}

#[cfg(test)]
pub(crate) mod tests;
