//! Spool replay against live data: a store with LIVE agents writing SERIES
//! series every 5 s, then R agents come back with a DAYS-long backlog each
//! (their samples in time order, oldest first, as their spools replay
//! them). The hub's ingest cuts what arrives into batches of
//! `BATCH_ROWS` rows, each logged, applied and flushed (as with JetStream
//! acknowledgements), with a checkpoint every `CHECKPOINT_EVERY` of wall
//! time (`--checkpoint-clock live`: of the live samples' time, as when
//! the store keeps pace with the bus); here a batch of replay and a batch
//! of live samples take turns until the backlog is in. Live samples are stamped on a clock of their
//! own that moves 5 s per round of every live agent, so both phases run
//! as fast as the store takes them.
//!
//! Figures per case: live-only samples/s, then during the replay the
//! replay's and the live samples/s and the time to finish the replay;
//! bytes the data directory takes on disk before and after, and bytes the
//! process wrote (`/proc/self/io` `write_bytes`, Linux).
//!
//! cargo run --release -p swarm-hub --example replay-bench -- [--live N]
//! [--series N] [--days N] [--live-minutes N] [--checkpoint-clock wall|live]
//! [REPLAYING_AGENTS...]
//! (defaults: 1,000 live agents, 20 series, 2 days, 10 minutes of live
//! samples alone, cases of 1 and 100 replaying agents)

use std::path::Path;
use std::time::{Duration, Instant};

use swarm_hub::CHECKPOINT_EVERY;
use swarm_hub::ingest::BATCH_ROWS;
use swarm_hub::store::{SampleRow, Store};

const INTERVAL_MS: u64 = 5_000;
const SERIES: [&str; 20] = [
    "cpu_pct",
    "mem_pct",
    "swap_pct",
    "load1",
    "load5",
    "load15",
    "net_rx_bps",
    "net_tx_bps",
    "disk_pct:/",
    "disk_pct:/var",
    "cpu_user_pct",
    "cpu_system_pct",
    "cpu_iowait_pct",
    "cpu_steal_pct",
    "inodes_pct:/",
    "disk_io_read_bps:sda",
    "disk_io_write_bps:sda",
    "disk_io_busy_pct:sda",
    "net_rx_bps:eth0",
    "net_tx_bps:eth0",
];
/// Day-aligned, so a backlog covers whole UTC days and their hours.
const T0: u64 = 1_700_006_400_000;

struct Args {
    live: usize,
    series: usize,
    days: u64,
    live_minutes: u64,
    /// Checkpoints every `CHECKPOINT_EVERY` of wall time (as the hub), or
    /// of the live samples' time.
    live_clock: bool,
    cases: Vec<usize>,
}

fn args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut a = Args {
        live: 1_000,
        series: SERIES.len(),
        days: 2,
        live_minutes: 10,
        live_clock: false,
        cases: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--live" => a.live = value()?.parse()?,
            "--series" => a.series = value()?.parse::<usize>()?.clamp(1, SERIES.len()),
            "--days" => a.days = value()?.parse()?,
            "--live-minutes" => a.live_minutes = value()?.parse()?,
            "--checkpoint-clock" => {
                a.live_clock = match value()?.as_str() {
                    "wall" => false,
                    "live" => true,
                    other => {
                        return Err(format!("--checkpoint-clock wall|live, not {other}").into());
                    }
                }
            }
            n => a.cases.push(n.parse()?),
        }
    }
    if a.cases.is_empty() {
        a.cases = vec![1, 100];
    }
    Ok(a)
}

/// One agent's walk: values shaped as agents send them (percentages to
/// 0.01 or 0.001, loads with two decimals, whole bytes/s).
struct Walk {
    state: u64,
    values: Vec<f64>,
}

impl Walk {
    fn new(seed: u64, series: usize) -> Self {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let values = SERIES[..series]
            .iter()
            .map(|name| {
                let u = unit(&mut state);
                if name.contains("_bps") {
                    u * 1e6
                } else {
                    u * 50.0
                }
            })
            .collect();
        Walk { state, values }
    }

    fn step(&mut self) {
        for (name, v) in SERIES.iter().zip(self.values.iter_mut()) {
            let d = unit(&mut self.state) - 0.5;
            *v = if name.contains("_bps") {
                (*v + d * 40_000.0).abs().round()
            } else if name.starts_with("load") {
                ((*v + d * 0.2).abs() * 100.0).round() / 100.0
            } else if name.starts_with("mem_")
                || name.starts_with("disk_pct")
                || name.starts_with("inodes")
            {
                ((*v + d * 0.01).clamp(0.0, 100.0) * 1000.0).round() / 1000.0
            } else {
                ((*v + d * 4.0).clamp(0.0, 100.0) * 100.0).round() / 100.0
            };
        }
    }
}

fn unit(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

/// Agents that each publish one message (all their series at one `ts`)
/// per step, in step order, agents of a step in turn.
struct Fleet {
    names: Vec<String>,
    clock: Clock,
}

struct Clock {
    walks: Vec<Walk>,
    /// Next step (a multiple of the interval from `start`) and agent.
    step: u64,
    agent: usize,
    start: u64,
    /// Steps to produce; `u64::MAX` for live agents.
    steps: u64,
}

impl Fleet {
    fn new(prefix: &str, n: usize, series: usize, start: u64, steps: u64) -> Self {
        Fleet {
            names: (0..n).map(|i| format!("{prefix}-{i:05}")).collect(),
            clock: Clock {
                walks: (0..n)
                    .map(|i| Walk::new(i as u64 + prefix.len() as u64 * 7919, series))
                    .collect(),
                step: 0,
                agent: 0,
                start,
                steps,
            },
        }
    }

    fn done(&self) -> bool {
        self.clock.step >= self.clock.steps
    }

    /// Sample time of the next message.
    fn now(&self) -> u64 {
        self.clock.start + self.clock.step * INTERVAL_MS
    }

    /// The next batch: whole messages up to `BATCH_ROWS` rows, fewer when
    /// the fleet is done.
    fn batch(&mut self) -> Vec<SampleRow<'_>> {
        let c = &mut self.clock;
        let n = self.names.len() as u64;
        let series = c.walks[0].values.len();
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        while batch.len() + series <= BATCH_ROWS && c.step < c.steps {
            // Agents spread over the interval, as the simulator spreads them.
            let ts = c.start + c.step * INTERVAL_MS + (c.agent as u64 * INTERVAL_MS) / n;
            let walk = &mut c.walks[c.agent];
            walk.step();
            for (s, &value) in walk.values.iter().enumerate() {
                batch.push(SampleRow {
                    agent: &self.names[c.agent],
                    series: SERIES[s],
                    ts,
                    value,
                });
            }
            c.agent += 1;
            if c.agent == self.names.len() {
                c.agent = 0;
                c.step += 1;
            }
        }
        batch
    }
}

/// Writes batches as the hub commits them: logged and applied, flushed
/// for the acks, checkpointed every `CHECKPOINT_EVERY`.
struct Writer<'s> {
    store: &'s Store,
    live_clock: bool,
    last_checkpoint: Instant,
    last_checkpoint_live: u64,
    checkpoints: usize,
    checkpoint_time: Duration,
    checkpoint_bytes: u64,
}

impl Writer<'_> {
    /// `live_now`: the live samples' clock, for `--checkpoint-clock live`.
    fn commit(
        &mut self,
        rows: &[SampleRow<'_>],
        live_now: u64,
    ) -> Result<(), Box<dyn std::error::Error>> {
        self.store.ingest(rows)?;
        self.store.flush_sync()?;
        let due = if self.live_clock {
            live_now.saturating_sub(self.last_checkpoint_live)
                >= CHECKPOINT_EVERY.as_millis() as u64
        } else {
            self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY
        };
        if due {
            self.checkpoint(live_now)?;
        }
        Ok(())
    }

    /// Commits the live fleet's next batch; returns its rows.
    fn commit_live(&mut self, live: &mut Fleet) -> Result<u64, Box<dyn std::error::Error>> {
        let now = live.now();
        let rows = live.batch();
        self.commit(&rows, now)?;
        Ok(rows.len() as u64)
    }

    fn checkpoint(&mut self, live_now: u64) -> Result<(), Box<dyn std::error::Error>> {
        let t = Instant::now();
        let io = write_bytes();
        self.store.checkpoint()?;
        self.checkpoint_time += t.elapsed();
        if let (Some(a), Some(b)) = (io, write_bytes()) {
            self.checkpoint_bytes += b.saturating_sub(a);
        }
        self.checkpoints += 1;
        self.last_checkpoint = Instant::now();
        self.last_checkpoint_live = live_now;
        Ok(())
    }

    fn reset(&mut self) {
        self.checkpoints = 0;
        self.checkpoint_time = Duration::ZERO;
        self.checkpoint_bytes = 0;
    }

    fn report(&self) -> String {
        format!(
            "{} checkpoints, {:.1} s and {:.1} MiB written of them",
            self.checkpoints,
            self.checkpoint_time.as_secs_f64(),
            mib(self.checkpoint_bytes)
        )
    }
}

/// Peak resident memory of this process (Linux), if known.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Bytes written to storage by this process so far (Linux), if known.
fn write_bytes() -> Option<u64> {
    proc_io("write_bytes:")
}

/// A field of `/proc/self/io`: `write_bytes` counts pages as they are
/// dirtied, `cancelled_write_bytes` those dropped before they reached
/// the disk (a file truncated or removed).
fn proc_io(field: &str) -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().parse().ok())
}

/// Bytes the files under `dir` take on disk (allocated blocks).
fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                todo.push(e.path());
            } else {
                total += m.blocks() * 512;
            }
        }
    }
    total
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn written_since(start: Option<u64>) -> String {
    match (start, write_bytes()) {
        (Some(a), Some(b)) => format!("{:.1} MiB", mib(b.saturating_sub(a))),
        _ => "unknown".into(),
    }
}

fn run_case(a: &Args, replaying: usize) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let steps_per_day = 86_400_000 / INTERVAL_MS;
    let backlog_steps = a.days * steps_per_day;
    let live_start = T0 + backlog_steps * INTERVAL_MS;
    let prefill_steps = 120; // ten minutes of every agent before it starts
    let mut writer = Writer {
        store: &store,
        live_clock: a.live_clock,
        last_checkpoint: Instant::now(),
        last_checkpoint_live: live_start,
        checkpoints: 0,
        checkpoint_time: Duration::ZERO,
        checkpoint_bytes: 0,
    };

    // Known hosts: ten minutes of the live agents up to now, and of the
    // returning agents up to when they went away.
    {
        let mut live = Fleet::new(
            "live",
            a.live,
            a.series,
            live_start - prefill_steps * INTERVAL_MS,
            prefill_steps,
        );
        let mut back = Fleet::new(
            "back",
            replaying,
            a.series,
            T0 - prefill_steps * INTERVAL_MS,
            prefill_steps,
        );
        for fleet in [&mut back, &mut live] {
            while !fleet.done() {
                writer.commit(&fleet.batch(), 0)?;
            }
        }
        writer.checkpoint(live_start)?;
    }
    let disk_start = disk_bytes(dir.path());
    let io_start = write_bytes();
    let cancelled_start = proc_io("cancelled_write_bytes:");
    writer.reset();
    writer.last_checkpoint = Instant::now();

    // Live agents alone.
    let mut live = Fleet::new("live", a.live, a.series, live_start, u64::MAX);
    let live_rounds = a.live_minutes * 60_000 / INTERVAL_MS;
    let live_rows_target = live_rounds * (a.live * a.series) as u64;
    let t = Instant::now();
    let mut live_rows = 0u64;
    while live_rows < live_rows_target {
        live_rows += writer.commit_live(&mut live)?;
    }
    let live_secs = t.elapsed().as_secs_f64();
    let io_live = written_since(io_start);
    let live_cp = writer.report();

    // The backlog, a batch of it and a batch of live samples in turn.
    writer.reset();
    let io_replay_start = write_bytes();
    let mut back = Fleet::new("back", replaying, a.series, T0, backlog_steps);
    let t = Instant::now();
    let (mut replay_rows, mut mixed_live_rows) = (0u64, 0u64);
    let mut replay_time = Duration::ZERO;
    while !back.done() {
        let rows = back.batch();
        replay_rows += rows.len() as u64;
        let (b, in_checkpoints) = (Instant::now(), writer.checkpoint_time);
        writer.commit(&rows, live.now())?;
        // A checkpoint due at this commit is not the replay's own time.
        replay_time += b.elapsed() - (writer.checkpoint_time - in_checkpoints);
        mixed_live_rows += writer.commit_live(&mut live)?;
    }
    let mixed_secs = t.elapsed().as_secs_f64();
    let io_replay = written_since(io_replay_start);
    let mixed_cp = writer.report();
    writer.reset();
    writer.checkpoint(live.now())?;
    let final_cp = writer.report();
    let disk_end = disk_bytes(dir.path());

    println!(
        "case: {replaying} agent(s) back with {} days each ({} samples), {} live agents x {} series every 5 s, checkpoints every {} s of {} time",
        a.days,
        replay_rows,
        a.live,
        a.series,
        CHECKPOINT_EVERY.as_secs(),
        if a.live_clock { "live-sample" } else { "wall" }
    );
    println!(
        "  live only:     {live_rows} samples in {live_secs:.1} s = {:.0} samples/s ({live_cp}); written {io_live}",
        live_rows as f64 / live_secs,
    );
    println!(
        "  replay+live:   replay done in {mixed_secs:.1} s: replay {:.0} samples/s, live {:.0} samples/s, together {:.0} samples/s ({mixed_cp}); written {io_replay}",
        replay_rows as f64 / mixed_secs,
        mixed_live_rows as f64 / mixed_secs,
        (replay_rows + mixed_live_rows) as f64 / mixed_secs,
    );
    println!(
        "  replay batches alone (checkpoints left out): {:.1} s ({:.0} samples/s while writing them)",
        replay_time.as_secs_f64(),
        replay_rows as f64 / replay_time.as_secs_f64()
    );
    println!(
        "  final checkpoint: {final_cp}; data dir on disk {:.1} MiB before live, {:.1} MiB after ({:.2} bytes per sample added); written in all {} (of which cancelled before reaching the disk: {}); peak RSS {}",
        mib(disk_start),
        mib(disk_end),
        disk_end.saturating_sub(disk_start) as f64
            / (live_rows + replay_rows + mixed_live_rows) as f64,
        written_since(io_start),
        match (cancelled_start, proc_io("cancelled_write_bytes:")) {
            (Some(a), Some(b)) => format!("{:.1} MiB", mib(b.saturating_sub(a))),
            _ => "unknown".into(),
        },
        peak_rss()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    for &replaying in &a.cases {
        run_case(&a, replaying)?;
    }
    Ok(())
}
