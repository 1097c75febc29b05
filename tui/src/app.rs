//! The console's state: hosts, their recent CPU and network rates,
//! selection, marks, filter, sort, the open view, the one overlay over it
//! (help, filter, command line, form, confirmation), the open test's
//! results, and connection states. Keys and `:` commands become
//! [`Action`]s carried out in one place. Sync methods, no I/O: events go
//! in, commands come out, and the caller redraws when a method says so.

mod action;
mod alerts;
mod command;
mod detail;
mod form;
pub mod line_edit;
pub mod spark;

use std::collections::{BTreeMap, BTreeSet};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use swarm_common::AgentId;
use swarm_common::nats::LinkState;
use swarm_common::protocol::fleet::ConfigStatus;
use swarm_common::protocol::{
    self, HistoryPoint, HostInfo, HostStatus, HostSummary, MetricsSample, Millis, Test, TestKind,
    series,
};
use swarm_common::selector::{self, Selectable};

pub use self::action::Action;
pub use self::alerts::{AlertsPane, SILENCE_KEYS};
pub use self::detail::TestDetail;
pub use self::form::{Field, FormOutcome, TestForm};
pub use self::spark::Buckets;
use crate::event::{Command, Event, HubFailure};

/// Windows the host view's charts can show, switched with 1-6.
pub const WINDOWS: [(&str, i64); 6] = [
    ("15m", 900_000),
    ("1h", 3_600_000),
    ("6h", 21_600_000),
    ("24h", 86_400_000),
    ("7d", 604_800_000),
    ("30d", 2_592_000_000),
];
const DEFAULT_WINDOW: usize = 1;
/// Seconds between asks while the hub does not answer.
const HUB_RETRY_S: u64 = 2;

/// One host as the console knows it.
#[derive(Debug, Clone)]
pub struct HostRow {
    pub agent: AgentId,
    pub info: Option<HostInfo>,
    pub latest: Option<MetricsSample>,
    /// Recent CPU % and network rates, in time buckets.
    pub cpu_recent: Buckets,
    pub rx_recent: Buckets,
    pub tx_recent: Buckets,
    /// Console clock when something last arrived from or about this host.
    pub last_seen: Millis,
    pub said_bye: bool,
    /// Status the hub reported last (it may know more, e.g. after a restart).
    pub hub_status: Option<HostStatus>,
    /// Tags the hub keeps for this host.
    pub hub_tags: Vec<String>,
    /// The agent's and the hub's tags (what selectors and the filter see).
    tags: Vec<String>,
}

impl HostRow {
    fn new(agent: AgentId) -> Self {
        Self {
            agent,
            info: None,
            latest: None,
            cpu_recent: Buckets::default(),
            rx_recent: Buckets::default(),
            tx_recent: Buckets::default(),
            last_seen: 0,
            said_bye: false,
            hub_status: None,
            hub_tags: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// Takes new info from the agent; its tags join the hub's.
    pub fn set_info(&mut self, info: HostInfo) {
        self.tags = protocol::merged_tags(&info.tags, &self.hub_tags);
        self.info = Some(info);
    }

    fn set_hub_tags(&mut self, hub_tags: Vec<String>) {
        self.hub_tags = hub_tags;
        let agent_tags = self.info.as_ref().map_or(&[][..], |i| i.tags.as_slice());
        self.tags = protocol::merged_tags(agent_tags, &self.hub_tags);
    }

    pub fn interval_ms(&self) -> u64 {
        protocol::interval_or_default(self.info.as_ref().and_then(|i| i.interval_ms))
    }

    /// Online unless it said bye or missed its intervals (the hub's rule).
    pub fn status(&self, now: Millis) -> HostStatus {
        protocol::host_status(
            self.last_seen,
            self.said_bye,
            self.info.as_ref().and_then(|i| i.interval_ms),
            now,
        )
    }

    pub fn hostname(&self) -> Option<&str> {
        self.info.as_ref().and_then(|i| i.hostname.as_deref())
    }

    pub fn tags(&self) -> &[String] {
        &self.tags
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

    /// Takes a live sample; `keep_detail` for the host on screen, whose
    /// per-core, per-device and process lists are shown (other hosts keep
    /// only what the table needs, so 10,000 hosts stay small).
    fn push_sample(&mut self, mut sample: MetricsSample, now: Millis, keep_detail: bool) {
        if self.latest.as_ref().is_some_and(|l| l.ts > sample.ts) {
            return; // an old sample replayed late: not "latest"
        }
        if !keep_detail {
            sample.drop_detail();
        } else {
            sample.keep_top_of(self.latest.take());
        }
        let net = sample.net.as_ref();
        for (recent, value) in [
            (&mut self.cpu_recent, sample.cpu_pct),
            (&mut self.rx_recent, net.and_then(|n| n.rx_bps)),
            (&mut self.tx_recent, net.and_then(|n| n.tx_bps)),
        ] {
            if let Some(v) = value {
                recent.push(sample.ts, v);
            }
        }
        self.latest = Some(sample);
        self.last_seen = now;
        self.said_bye = false;
    }
}

impl Selectable for HostRow {
    fn agent_id(&self) -> &str {
        self.agent.as_str()
    }
    fn tag_list(&self) -> &[String] {
        self.tags()
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
    /// One test's live results.
    TestResults(String),
    /// Pending and firing alerts.
    Alerts,
}

/// How the terminal can draw: colours (off with `NO_COLOR`) and Unicode
/// block and box characters (off in ASCII mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    pub color: bool,
    pub unicode: bool,
}

impl Default for Look {
    fn default() -> Self {
        Self {
            color: true,
            unicode: true,
        }
    }
}

/// The hub as the console sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubLink {
    Unknown,
    Ok,
    Down(String),
}

/// History of one series for the host view: `[ts, min, avg, max]` per
/// point, as the hub answers. Raw samples have min = avg = max; rollup
/// points (7d, 30d) keep all three, so a peak inside a bucket is not
/// averaged away.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesChart {
    pub points: Vec<HistoryPoint>,
    /// The hub's step: 0 for raw samples, else the bucket each point covers.
    pub step_ms: u64,
    pub loading: bool,
    pub error: Option<String>,
}

impl SeriesChart {
    /// The newest value: the last point's average.
    pub fn last(&self) -> Option<f64> {
        self.points.last().map(|p| p.2)
    }

    /// The largest value a point reached from `from` on (the buckets'
    /// max, not their averages; a point kept from before the window, as
    /// live samples push it along, does not count).
    pub fn peak(&self, from: Millis) -> Option<f64> {
        self.points
            .iter()
            .filter(|p| p.0.saturating_add(self.step_ms) >= from)
            .map(|p| p.3)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    }
}

/// Series the host view charts: the fixed ones, then one per disk.
pub fn detail_series(row: Option<&HostRow>) -> Vec<String> {
    let mut names: Vec<String> = [
        series::CPU_PCT,
        series::MEM_PCT,
        series::SWAP_PCT,
        series::LOAD1,
        series::NET_RX_BPS,
        series::NET_TX_BPS,
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some(sample) = row.and_then(|r| r.latest.as_ref()) {
        if sample.cpu.is_some() {
            names.extend(
                [
                    series::CPU_USER_PCT,
                    series::CPU_SYSTEM_PCT,
                    series::CPU_IOWAIT_PCT,
                    series::CPU_STEAL_PCT,
                ]
                .map(str::to_owned),
            );
        }
        names.extend(sample.disks.iter().map(|d| series::disk_pct(&d.mount)));
        for iface in &sample.interfaces {
            names.push(series::iface_rx_bps(&iface.name));
            names.push(series::iface_tx_bps(&iface.name));
        }
        for io in &sample.disk_io {
            names.push(series::disk_read_bps(&io.device));
            names.push(series::disk_write_bps(&io.device));
            names.push(series::disk_busy_pct(&io.device));
        }
        names.extend(sample.temps.iter().map(|t| series::temp_c(&t.label)));
    }
    names
}

/// What sits over the view and takes the keys first; one at a time.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    /// The key bindings; any key closes them.
    Help,
    /// The hosts filter being typed (its text is [`HostsTable::filter`]).
    Filter,
    /// The `:` command line, as typed so far.
    CommandLine(String),
    /// The new-test form (boxed: it is most of the enum's size).
    Form(Box<TestForm>),
    /// `x` asked to cancel this test; `y` confirms, any other key keeps it.
    ConfirmCancel(String),
}

/// The hosts table: filter, sort, cursor and marks.
#[derive(Debug, Clone)]
pub struct HostsTable {
    pub filter: String,
    pub sort: SortColumn,
    /// Index into the visible (filtered, sorted) rows.
    pub selected: usize,
    /// The host the cursor was put on: where `selected` goes when the
    /// rows move under it.
    selected_host: Option<AgentId>,
    /// Hosts marked with space: the agents of the next test.
    pub marked: BTreeSet<AgentId>,
}

impl Default for HostsTable {
    fn default() -> Self {
        Self {
            filter: String::new(),
            sort: SortColumn::Name,
            selected: 0,
            selected_host: None,
            marked: BTreeSet::new(),
        }
    }
}

/// The host view: its charts, their window, its panels and the pushed
/// config it shows.
#[derive(Debug, Clone)]
pub struct HostPane {
    pub charts: BTreeMap<String, SeriesChart>,
    /// Index into [`WINDOWS`].
    pub window: usize,
    /// The CPU, network, disk I/O and process panels (`d` toggles).
    pub show_detail: bool,
    /// The open host's pushed-config revisions, as the hub last said.
    pub config: Option<Result<Option<ConfigStatus>, String>>,
}

impl Default for HostPane {
    fn default() -> Self {
        Self {
            charts: BTreeMap::new(),
            window: DEFAULT_WINDOW,
            show_detail: true,
            config: None,
        }
    }
}

/// Network tests as the hub last listed them (newest first), and the
/// cursor in the tests view.
#[derive(Debug, Clone, Default)]
pub struct TestsList {
    pub list: Vec<Test>,
    pub selected: usize,
}

/// Everything the console knows and shows: the inventory (hosts, links),
/// a state per view, the overlay over them.
#[derive(Debug, Clone)]
pub struct App {
    pub hosts: BTreeMap<AgentId, HostRow>,
    pub view: View,
    pub overlay: Option<Overlay>,
    pub table: HostsTable,
    pub host: HostPane,
    pub tests: TestsList,
    /// The open test's results.
    pub detail: Option<TestDetail>,
    pub alerts: AlertsPane,
    pub nats: LinkState,
    pub hub: HubLink,
    pub now: Millis,
    pub dropped: u64,
    /// A one-line message for the status line (what just happened).
    pub notice: Option<String>,
    pub look: Look,
    pub quit: bool,
}

impl App {
    pub fn new(now: Millis) -> Self {
        Self {
            hosts: BTreeMap::new(),
            view: View::Hosts,
            overlay: None,
            table: HostsTable::default(),
            host: HostPane::default(),
            tests: TestsList::default(),
            detail: None,
            alerts: AlertsPane::default(),
            nats: LinkState::Down("connecting".into()),
            hub: HubLink::Unknown,
            now,
            dropped: 0,
            notice: None,
            look: Look::default(),
            quit: false,
        }
    }

    /// The new-test form, when open.
    pub fn form(&self) -> Option<&TestForm> {
        match &self.overlay {
            Some(Overlay::Form(form)) => Some(form.as_ref()),
            _ => None,
        }
    }

    pub fn form_mut(&mut self) -> Option<&mut TestForm> {
        match &mut self.overlay {
            Some(Overlay::Form(form)) => Some(form.as_mut()),
            _ => None,
        }
    }

    /// The `:` line as typed, when open.
    pub fn command_line(&self) -> Option<&str> {
        match &self.overlay {
            Some(Overlay::CommandLine(line)) => Some(line),
            _ => None,
        }
    }

    pub fn filter_editing(&self) -> bool {
        self.overlay == Some(Overlay::Filter)
    }

    pub fn help_open(&self) -> bool {
        self.overlay == Some(Overlay::Help)
    }

    pub fn window_ms(&self) -> i64 {
        WINDOWS[self.host.window.min(WINDOWS.len() - 1)].1
    }

    pub fn window_label(&self) -> &'static str {
        WINDOWS[self.host.window.min(WINDOWS.len() - 1)].0
    }

    /// Online hosts the selectors match: what a test would run on now.
    pub fn matching_online(&self, selectors: &[String]) -> usize {
        self.hosts
            .values()
            .filter(|r| r.status(self.now) == HostStatus::Online)
            .filter(|r| selector::matches_any(selectors, *r))
            .count()
    }

    /// Applies one event; returns whether the screen changed and the
    /// commands for the network task.
    pub fn apply(&mut self, event: Event) -> (bool, Vec<Command>) {
        let mut commands = Vec::new();
        let changed = match event {
            Event::Key(key) => {
                // Rows may have moved since the last frame (updates are
                // drawn at most 5 times a second, keys at once): the key
                // acts on the host the cursor was left on, not on the row.
                self.clamp_selection();
                self.on_key(key, &mut commands)
            }
            Event::Resize => true,
            Event::Tick(now) => {
                self.now = now;
                match self.view {
                    View::Tests => commands.push(Command::RefreshTests),
                    View::TestResults(_) => self.fetch_detail(&mut commands),
                    View::Alerts if (now / 1000).is_multiple_of(5) => {
                        commands.push(Command::RefreshAlerts);
                    }
                    View::Hosts | View::Host(_) | View::Alerts => {}
                }
                // A hub that did not answer is asked again every few
                // seconds (the network task's own refresh is slower).
                if matches!(self.hub, HubLink::Down(_)) && (now / 1000).is_multiple_of(HUB_RETRY_S)
                {
                    commands.push(Command::RefreshHosts);
                }
                // Ages on screen move with the clock.
                !self.hosts.is_empty()
            }
            Event::Nats(state) => {
                let changed = self.nats != state;
                self.nats = state;
                if self.nats == LinkState::Connected && changed {
                    commands.push(Command::RefreshHosts);
                    self.refetch_failed(&mut commands);
                }
                changed
            }
            Event::Metrics(sample) => {
                // What the hub would refuse to store is not shown either
                // (the same rule, from `swarm-common`).
                if let Err(e) = swarm_common::validate::sample(&sample, self.now) {
                    tracing::debug!(agent = %sample.agent, "live sample not shown: {e}");
                    return (false, commands);
                }
                let agent = sample.agent.clone();
                let now = self.now;
                let on_screen = self.view == View::Host(agent.clone());
                self.row(&agent).push_sample(*sample, now, on_screen);
                if on_screen {
                    self.fetch_charts(&agent, &mut commands);
                }
                self.extend_chart(&agent);
                true
            }
            Event::ConfigStatus { agent, status } => {
                let shown = self.view == View::Host(agent);
                if shown {
                    self.host.config = Some(status.map_err(|e| e.to_string()));
                }
                shown
            }
            Event::Hello(info) => {
                // A new revision in force: the hub's view of it is asked again.
                if self.view == View::Host(info.agent.clone())
                    && self
                        .hosts
                        .get(&info.agent)
                        .and_then(|r| r.info.as_ref())
                        .map(|i| i.config_rev)
                        != Some(info.config_rev)
                {
                    commands.push(Command::FetchConfigStatus(info.agent.clone()));
                }
                let now = self.now;
                let agent = info.agent.clone();
                let row = self.row(&agent);
                row.set_info(*info);
                row.last_seen = now;
                row.said_bye = false;
                if self.view == View::Host(agent.clone()) {
                    self.fetch_charts(&agent, &mut commands);
                }
                true
            }
            Event::Bye(agent) => {
                let row = self.row(&agent);
                row.said_bye = true;
                true
            }
            Event::HubHosts(hosts) => {
                let was_down = matches!(self.hub, HubLink::Down(_));
                self.hub = HubLink::Ok;
                self.merge_hub_hosts(hosts);
                if was_down {
                    self.refetch_failed(&mut commands);
                }
                // Opened on a host before anything was known of it
                // (`--host X`): the inventory names its disks and devices,
                // whose charts are asked for now, not at its next sample.
                if let View::Host(agent) = self.view.clone() {
                    self.fetch_charts(&agent, &mut commands);
                }
                true
            }
            Event::Tests(mut tests) => {
                tests.reverse();
                let changed = self.tests.list != tests;
                // The selection stays on its test when others arrive above.
                let selected_id = self
                    .tests
                    .list
                    .get(self.tests.selected)
                    .map(|t| t.id.clone());
                self.tests.list = tests;
                self.tests.selected = selected_id
                    .and_then(|id| self.tests.list.iter().position(|t| t.id == id))
                    .unwrap_or(self.tests.selected)
                    .min(self.tests.list.len().saturating_sub(1));
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
                from,
                result,
            } => self.on_history(&agent, series, from, result),
            Event::TestCreated(result) => self.on_created(result, &mut commands),
            Event::TestUpdate {
                id,
                test,
                summary,
                results,
            } => match &mut self.detail {
                Some(detail) if detail.id == id => {
                    detail.apply(test, summary, results);
                    true
                }
                _ => false,
            },
            Event::TestCancelled(result) => {
                self.notice = Some(match result {
                    Ok(test) => format!("test {} cancelled", test.id),
                    Err(e) => format!("cancel failed: {e}"),
                });
                commands.push(Command::RefreshTests);
                self.fetch_detail(&mut commands);
                true
            }
            Event::Dropped(n) => {
                self.dropped += n;
                true
            }
            Event::Alerts(Ok(alerts)) => self.alerts.set(alerts),
            Event::Alerts(Err(e)) => {
                self.alerts.error = Some(e.to_string());
                true
            }
            Event::AlertAction(result) => {
                self.notice = Some(result.unwrap_or_else(|e| format!("failed: {e}")));
                commands.push(Command::RefreshAlerts);
                true
            }
            Event::HostsForgotten { forgotten, failed } => {
                for agent in &forgotten {
                    self.hosts.remove(agent);
                    self.table.marked.remove(agent);
                }
                if let View::Host(agent) = &self.view
                    && forgotten.contains(agent)
                {
                    self.view = View::Hosts;
                }
                self.clamp_selection();
                self.notice = Some(match failed {
                    Some(e) => format!("forgot {} hosts; {e}", forgotten.len()),
                    None => format!("forgot {} hosts", forgotten.len()),
                });
                true
            }
            Event::TagsEdited(result) => {
                self.notice = Some(result.unwrap_or_else(|e| format!("failed: {e}")));
                commands.push(Command::RefreshHosts);
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
            if row.info.is_none()
                && let Some(info) = summary.info
            {
                row.set_info(info);
            }
            row.set_hub_tags(summary.hub_tags);
            if row.latest.is_none()
                && let Some(latest) = summary.latest
            {
                if let Some(cpu) = latest.cpu_pct {
                    row.cpu_recent.push(latest.ts, cpu);
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
        from: i64,
        result: Result<swarm_common::protocol::HistoryReply, HubFailure>,
    ) -> bool {
        if self.view != View::Host(agent.clone()) || from != -self.window_ms() {
            return false; // an answer for a view or window already left
        }
        let chart = self.host.charts.entry(series).or_default();
        chart.loading = false;
        match result {
            Ok(reply) => {
                chart.points = reply.points;
                chart.step_ms = reply.step_ms;
                chart.error = None;
            }
            Err(e) => chart.error = Some(e.to_string()),
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
        // Points that left the window go, so a view left open for days
        // keeps a window's worth, not every sample since it opened.
        let from = self.now.saturating_sub(self.window_ms().unsigned_abs());
        for (name, value) in sample.series() {
            if let Some(chart) = self.host.charts.get_mut(name.as_ref())
                && chart.points.last().is_none_or(|p| p.0 < sample.ts)
            {
                chart.points.push((sample.ts, value, value, value));
                let step = chart.step_ms;
                let gone = chart
                    .points
                    .iter()
                    .take_while(|p| p.0.saturating_add(step) < from)
                    .count();
                chart.points.drain(..gone);
            }
        }
    }

    /// The rows the filter (text or `tag:`) lets through, unsorted.
    fn filtered(&self) -> impl Iterator<Item = &HostRow> {
        let filter = self.table.filter.trim().to_lowercase();
        self.hosts
            .values()
            .filter(move |r| matches_filter(r, &filter))
    }

    /// How many hosts the filter lets through (without sorting them).
    pub fn shown_count(&self) -> usize {
        self.filtered().count()
    }

    /// Visible rows: filtered, sorted.
    pub fn visible(&self) -> Vec<&HostRow> {
        let mut rows: Vec<&HostRow> = self.filtered().collect();
        let now = self.now;
        let key = |r: &HostRow| -> f64 {
            match self.table.sort {
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
        if self.table.sort != SortColumn::Name {
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
        self.visible()
            .get(self.table.selected)
            .map(|r| r.agent.clone())
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
        // An overlay takes the key; it stays unless the key closed it.
        match self.overlay.take() {
            Some(overlay) => self.on_overlay_key(overlay, key, commands),
            None => self.on_view_key(key, commands),
        }
    }

    fn on_overlay_key(
        &mut self,
        overlay: Overlay,
        key: KeyEvent,
        commands: &mut Vec<Command>,
    ) -> bool {
        match overlay {
            Overlay::Filter => {
                let (changed, open) = self.on_filter_key(key);
                if open {
                    self.overlay = Some(Overlay::Filter);
                }
                self.anchor_selection();
                changed
            }
            Overlay::CommandLine(line) => self.on_command_key(line, key, commands),
            Overlay::Form(mut form) => match form.on_key(key, self.now) {
                FormOutcome::Changed(changed) => {
                    self.overlay = Some(Overlay::Form(form));
                    changed
                }
                FormOutcome::Submit(spec) => {
                    self.overlay = Some(Overlay::Form(form));
                    commands.push(Command::CreateTest(Box::new(spec)));
                    true
                }
                FormOutcome::Cancel => true,
            },
            Overlay::Help => {
                // Any key closes the help; `q` still quits.
                if key.code == KeyCode::Char('q') {
                    self.act(Action::Quit, commands);
                }
                true
            }
            Overlay::ConfirmCancel(id) => {
                if key.code == KeyCode::Char('y') {
                    self.act(Action::CancelTest(id), commands);
                } else {
                    self.notice = Some(format!("test {id} not cancelled"));
                }
                true
            }
        }
    }

    /// The keys every view shares, as actions.
    fn global_action(&self, key: KeyEvent) -> Option<Action> {
        Some(match key.code {
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Char('?') => Action::Help,
            KeyCode::Char('t') if self.view != View::Tests => Action::OpenTests,
            KeyCode::Char('n' | 'p') => Action::NewTest,
            KeyCode::Char(':') => Action::CommandLine(String::new()),
            // Hub-side tags of the marked hosts, or the one in view.
            KeyCode::Char('T') if matches!(self.view, View::Hosts | View::Host(_)) => {
                Action::CommandLine("tag ".to_owned())
            }
            KeyCode::Char('!') if self.view != View::Alerts => Action::OpenAlerts,
            _ => return None,
        })
    }

    fn on_view_key(&mut self, key: KeyEvent, commands: &mut Vec<Command>) -> bool {
        let had_notice = self.notice.take().is_some();
        let changed = if let Some(action) = self.global_action(key) {
            self.act(action, commands);
            true
        } else if key.code == KeyCode::Esc {
            self.back()
        } else {
            match self.view.clone() {
                View::Hosts => {
                    let changed = self.on_hosts_key(key, commands);
                    self.anchor_selection();
                    changed
                }
                View::Host(_) => self.on_host_key(key, commands),
                View::Tests => self.on_tests_key(key, commands),
                View::TestResults(id) => self.on_results_key(key, &id, commands),
                View::Alerts => self.on_alerts_key(key, commands),
            }
        };
        changed || had_notice
    }

    /// Esc: out of a view, or clears the filter and marks.
    fn back(&mut self) -> bool {
        match self.view {
            View::Host(_) | View::Tests | View::Alerts => self.view = View::Hosts,
            View::TestResults(_) => {
                self.view = View::Tests;
                self.detail = None;
            }
            View::Hosts if !self.table.filter.is_empty() || !self.table.marked.is_empty() => {
                self.table.filter.clear();
                self.table.marked.clear();
                self.table.selected = 0;
            }
            View::Hosts => return false,
        }
        true
    }

    fn on_hosts_key(&mut self, key: KeyEvent, commands: &mut Vec<Command>) -> bool {
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::PageDown => self.move_selection(10),
            KeyCode::PageUp => self.move_selection(-10),
            KeyCode::Home | KeyCode::Char('g') => self.table.selected = 0,
            KeyCode::End | KeyCode::Char('G') => {
                self.table.selected = self.visible().len().saturating_sub(1);
            }
            KeyCode::Char('/') => self.act(Action::EditFilter, commands),
            KeyCode::Char('s') => self.table.sort = self.table.sort.next(),
            KeyCode::Char(' ') => {
                let Some(agent) = self.selected_agent() else {
                    return false;
                };
                if !self.table.marked.remove(&agent) {
                    self.table.marked.insert(agent);
                }
                self.move_selection(1);
            }
            KeyCode::Char('a') => {
                // Mark every visible host (or clear the marks).
                if self.table.marked.is_empty() {
                    self.table.marked = self.visible().iter().map(|r| r.agent.clone()).collect();
                } else {
                    self.table.marked.clear();
                }
            }
            KeyCode::Enter => {
                let Some(agent) = self.selected_agent() else {
                    return false;
                };
                self.act(Action::OpenHost(agent), commands);
            }
            _ => return false,
        }
        true
    }

    fn on_host_key(&mut self, key: KeyEvent, commands: &mut Vec<Command>) -> bool {
        if key.code == KeyCode::Char('d') {
            self.host.show_detail = !self.host.show_detail;
            return true;
        }
        let window = match key.code {
            KeyCode::Char(c @ '1'..='6') => (c as usize) - ('1' as usize),
            KeyCode::Char(']' | '+') => (self.host.window + 1).min(WINDOWS.len() - 1),
            KeyCode::Char('[' | '-') => self.host.window.saturating_sub(1),
            _ => return false,
        };
        if window == self.host.window {
            return false;
        }
        self.act(Action::SetWindow(window), commands);
        true
    }

    fn on_tests_key(&mut self, key: KeyEvent, commands: &mut Vec<Command>) -> bool {
        let len = self.tests.list.len();
        let before = self.tests.selected;
        match key.code {
            // A move at either end changes nothing, and draws nothing.
            KeyCode::Down | KeyCode::Char('j') => {
                self.tests.selected = (self.tests.selected + 1).min(len.saturating_sub(1));
                return self.tests.selected != before;
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.tests.selected = self.tests.selected.saturating_sub(1);
                return self.tests.selected != before;
            }
            KeyCode::Enter => {
                let Some(test) = self.tests.list.get(self.tests.selected) else {
                    return false;
                };
                let id = test.id.to_string();
                self.act(Action::OpenResults(id), commands);
            }
            KeyCode::Char('x') => {
                let Some(test) = self.tests.list.get(self.tests.selected) else {
                    return false;
                };
                let id = test.id.to_string();
                self.act(Action::AskCancel(id), commands);
            }
            _ => return false,
        }
        true
    }

    fn on_results_key(&mut self, key: KeyEvent, id: &str, commands: &mut Vec<Command>) -> bool {
        match key.code {
            KeyCode::Char('x') => {
                self.act(Action::AskCancel(id.to_owned()), commands);
                true
            }
            _ => false,
        }
    }

    /// `x` names the test it would cancel and waits for `y`.
    fn ask_cancel(&mut self, id: &str) {
        let open = self.detail.as_ref().and_then(|d| d.test.as_ref());
        let what = open
            .into_iter()
            .chain(&self.tests.list)
            .find(|t| t.id == id)
            .map(|t| format!(" ({} {})", t.kind.as_str(), crate::format::target(t)))
            .unwrap_or_default();
        self.notice = Some(format!("cancel test {id}{what}? y: yes, other key: no"));
        self.overlay = Some(Overlay::ConfirmCancel(id.to_owned()));
    }

    /// The agents a new test starts with: the marked hosts, else the
    /// `tag:` filter, else the hosts the filter shows, else the host in
    /// view or under the cursor.
    fn prefill_agents(&self) -> String {
        if !self.table.marked.is_empty() {
            let ids: Vec<&str> = self.table.marked.iter().map(AgentId::as_str).collect();
            return ids.join(" ");
        }
        if let View::Host(agent) = &self.view {
            return agent.to_string();
        }
        let filter = self.table.filter.trim();
        if filter.starts_with("tag:") {
            return filter.to_owned();
        }
        if self.view == View::Hosts {
            if !filter.is_empty() {
                let ids: Vec<&str> = self.visible().iter().map(|r| r.agent.as_str()).collect();
                return ids.join(" ");
            }
            if let Some(agent) = self.selected_agent() {
                return agent.to_string();
            }
        }
        "*".to_owned()
    }

    /// The hosts an action on "these hosts" means: the marked ones, else
    /// the one in view, else the one under the cursor.
    pub fn chosen_hosts(&self) -> Vec<AgentId> {
        if !self.table.marked.is_empty() {
            return self.table.marked.iter().cloned().collect();
        }
        if let View::Host(agent) = &self.view {
            return vec![agent.clone()];
        }
        self.selected_agent().into_iter().collect()
    }

    /// Opens the test form, focused on the target.
    pub fn open_form(&mut self) {
        self.overlay = Some(Overlay::Form(Box::new(TestForm::new(
            TestKind::Ping,
            &self.prefill_agents(),
        ))));
    }

    fn on_created(
        &mut self,
        result: Result<Test, HubFailure>,
        commands: &mut Vec<Command>,
    ) -> bool {
        match result {
            Ok(test) => {
                if self.form().is_some() {
                    self.overlay = None;
                }
                self.table.marked.clear();
                // The hub picks a run's agents when it starts, so a new
                // test lists none yet: the count is of the online agents
                // its selectors match now, as the form showed.
                let n = if test.agents.is_empty() {
                    self.matching_online(&test.selectors)
                } else {
                    test.agents.len()
                };
                let when = if test.start_at > self.now {
                    format!(
                        "starts in {}",
                        crate::format::age_ms(test.start_at - self.now)
                    )
                } else {
                    "starting".to_owned()
                };
                self.notice = Some(format!(
                    "test {} created: {when} on {n} online agent{}",
                    test.id,
                    if n == 1 { "" } else { "s" }
                ));
                self.open_test_results(test.id.to_string(), commands);
            }
            Err(e) => match self.form_mut() {
                // The hub's own words name the field at fault.
                Some(form) => form.refused(match e {
                    HubFailure::Refused(api) => api.message,
                    other => other.to_string(),
                }),
                None => self.notice = Some(format!("cannot create the test: {e}")),
            },
        }
        true
    }

    /// Opens one test's live results.
    pub fn open_test_results(&mut self, id: String, commands: &mut Vec<Command>) {
        self.view = View::TestResults(id.clone());
        self.detail = Some(TestDetail::new(id));
        self.fetch_detail(commands);
    }

    fn fetch_detail(&mut self, commands: &mut Vec<Command>) {
        if let Some(detail) = &mut self.detail
            && !detail.fetching
        {
            detail.fetching = true;
            commands.push(Command::FetchTestDetail {
                id: detail.id.clone(),
                since: detail.since,
            });
        }
    }

    /// Opens the host view and asks the hub for its charts over the
    /// chosen window, and for the tests it takes part in.
    pub fn open_host(&mut self, agent: AgentId, commands: &mut Vec<Command>) {
        self.host.charts.clear();
        self.fetch_charts(&agent, commands);
        commands.push(Command::RefreshTests);
        self.host.config = None;
        commands.push(Command::FetchConfigStatus(agent.clone()));
        self.view = View::Host(agent);
    }

    /// Asks for the history of each of the host's series not asked for
    /// yet (a host's first full sample names its devices and interfaces).
    fn fetch_charts(&mut self, agent: &AgentId, commands: &mut Vec<Command>) {
        for series in detail_series(self.hosts.get(agent)) {
            if self.host.charts.contains_key(&series) {
                continue;
            }
            self.host.charts.insert(
                series.clone(),
                SeriesChart {
                    loading: true,
                    ..SeriesChart::default()
                },
            );
            commands.push(Command::FetchHistory {
                agent: agent.clone(),
                series,
                from: -self.window_ms(),
            });
        }
    }

    /// After the link or the hub came back: what the view shows and
    /// failed to get is asked for again (charts in error, the test list,
    /// the open test, the alerts), without waiting for a key.
    fn refetch_failed(&mut self, commands: &mut Vec<Command>) {
        match self.view.clone() {
            View::Host(agent) => {
                self.host.charts.retain(|_, chart| chart.error.is_none());
                self.fetch_charts(&agent, commands);
                if matches!(self.host.config, Some(Err(_))) {
                    commands.push(Command::FetchConfigStatus(agent));
                }
                commands.push(Command::RefreshTests);
            }
            View::Tests => commands.push(Command::RefreshTests),
            View::TestResults(_) => {
                if let Some(detail) = &mut self.detail {
                    // A poll lost with the link must not block the next.
                    detail.fetching = false;
                }
                self.fetch_detail(commands);
            }
            View::Hosts | View::Alerts => {}
        }
        if self.alerts.error.is_some() {
            commands.push(Command::RefreshAlerts);
        }
    }

    /// Opens the tests view and asks the hub for the list.
    pub fn open_tests(&mut self, commands: &mut Vec<Command>) {
        self.view = View::Tests;
        commands.push(Command::RefreshTests);
    }

    /// A key on the `:` line: Enter runs it, Esc drops it, the rest edit.
    fn on_command_key(
        &mut self,
        mut line: String,
        key: KeyEvent,
        commands: &mut Vec<Command>,
    ) -> bool {
        match key.code {
            KeyCode::Esc => true,
            KeyCode::Enter => {
                command::run(self, &line, commands);
                true
            }
            _ => {
                let edit = line_edit::edit(&mut line, key, 256);
                self.overlay = Some(Overlay::CommandLine(line));
                edit != line_edit::Edit::Other
            }
        }
    }

    /// A key on the filter: whether the screen changed, and whether the
    /// filter is still being typed.
    fn on_filter_key(&mut self, key: KeyEvent) -> (bool, bool) {
        match key.code {
            KeyCode::Enter => {
                self.table.selected = 0;
                (true, false)
            }
            KeyCode::Esc => {
                self.table.filter.clear();
                self.table.selected = 0;
                (true, false)
            }
            _ => match line_edit::edit(&mut self.table.filter, key, 64) {
                line_edit::Edit::Other => (false, true),
                line_edit::Edit::Unchanged => (true, true),
                line_edit::Edit::Changed => {
                    self.table.selected = 0;
                    (true, true)
                }
            },
        }
    }

    fn move_selection(&mut self, delta: isize) {
        let len = self.visible().len();
        if len == 0 {
            self.table.selected = 0;
            return;
        }
        self.table.selected = self
            .table
            .selected
            .saturating_add_signed(delta)
            .min(len - 1);
    }

    /// Before a frame: the selection follows its host when rows move
    /// (re-sorting by CPU, hosts arriving), and stays inside the rows.
    pub fn clamp_selection(&mut self) {
        let visible = self.visible();
        let len = visible.len();
        let followed = self
            .table
            .selected_host
            .as_ref()
            .and_then(|a| visible.iter().position(|r| &r.agent == a));
        self.table.selected = followed
            .unwrap_or(self.table.selected)
            .min(len.saturating_sub(1));
    }

    /// After a key moved the cursor: it is on this host now.
    fn anchor_selection(&mut self) {
        self.table.selected_host = self
            .visible()
            .get(self.table.selected)
            .map(|r| r.agent.clone());
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
