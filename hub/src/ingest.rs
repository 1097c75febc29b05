//! Ingest: agent messages in, validated, batched into the store's
//! write-ahead log, host registry updated. A bad message is counted and
//! logged; it never stops ingest.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::Message;
use swarm_common::codec::{self, Encoding};
use swarm_common::protocol::{Bye, HostInfo, MetricsSample, SeriesName, TestResult};
use swarm_common::subject::{AgentSubject, parse_agent_subject, parse_results_subject};
use swarm_common::time::now_ms;
use swarm_common::{limits, text};

use crate::registry::AgentLimit;
use crate::run_members::Refusal;
use crate::source::Acknowledge;
use crate::store::SampleRow;
use crate::validate::{self, Rejection};
use crate::{HubState, watchdog};

/// Rows held back while the store refuses writes (a full disk); past this,
/// the oldest are dropped and counted.
const MAX_PENDING_ROWS: usize = 200_000;
/// A batch is committed when it reaches this many rows, or at each tick.
/// Each commit has costs of its own (the log record, alert states and
/// host records, a flush): at 8,000 rows the hub's own work a message is
/// about a sixth less than at 2,000, and the log record (11 bytes a row)
/// stays under the size sled would write as a file of its own (128 KiB).
pub const BATCH_ROWS: usize = 8_000;
pub const BATCH_TICK: Duration = Duration::from_millis(100);

/// One series sample waiting for the next batch commit; its names are
/// in the [`Rows`] that hold it.
#[derive(Debug, Clone, Copy)]
pub struct OwnedRow {
    pub agent: NameSpan,
    pub series: NameSpan,
    pub ts: u64,
    pub value: f64,
}

/// Where a name lies in its [`Rows`]' names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameSpan {
    start: u32,
    len: u32,
}

/// A batch's rows, with their agent and series names end to end in one
/// buffer; both buffers go back and forth between commits. As strings of
/// their own, a row's names cost a few allocations and frees a message,
/// and a reference count touched every row.
#[derive(Debug, Default)]
struct Rows {
    list: Vec<OwnedRow>,
    names: String,
}

/// How far [`Rows`] reached, to go back to.
#[derive(Debug, Clone, Copy)]
struct RowsMark {
    rows: usize,
    names: usize,
}

impl Rows {
    fn len(&self) -> usize {
        self.list.len()
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn clear(&mut self) {
        self.list.clear();
        self.names.clear();
    }

    fn mark(&self) -> RowsMark {
        RowsMark {
            rows: self.list.len(),
            names: self.names.len(),
        }
    }

    fn truncate(&mut self, mark: RowsMark) {
        self.list.truncate(mark.rows);
        self.names.truncate(mark.names);
    }

    fn name(&mut self, name: &str) -> NameSpan {
        self.write_name(|names| names.push_str(name))
    }

    fn series_name(&mut self, name: SeriesName<'_>) -> NameSpan {
        self.write_name(|names| name.push_to(names))
    }

    fn write_name(&mut self, write: impl FnOnce(&mut String)) -> NameSpan {
        let start = self.names.len();
        write(&mut self.names);
        // At most MAX_PENDING_ROWS rows of bounded names: far below 4 GiB.
        NameSpan {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            len: u32::try_from(self.names.len() - start).unwrap_or(0),
        }
    }

    fn get(&self, span: NameSpan) -> &str {
        name_at(&self.names, span)
    }

    fn push(&mut self, row: OwnedRow) {
        self.list.push(row);
    }

    /// The rows since `mark`, as (series name, value).
    fn series_since(&self, mark: RowsMark) -> impl Iterator<Item = (&str, f64)> {
        self.list[mark.rows..]
            .iter()
            .map(|row| (self.get(row.series), row.value))
    }

    fn sample_rows(&self) -> impl Iterator<Item = SampleRow<'_>> {
        self.list.iter().map(|r| SampleRow {
            agent: self.get(r.agent),
            series: self.get(r.series),
            ts: r.ts,
            value: r.value,
        })
    }

    /// Moves `newer`'s rows after these, names and all.
    fn append(&mut self, newer: &mut Rows) {
        let base = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push_str(&newer.names);
        self.list.extend(newer.list.drain(..).map(|mut row| {
            row.agent.start = row.agent.start.saturating_add(base);
            row.series.start = row.series.start.saturating_add(base);
            row
        }));
        newer.names.clear();
    }

    /// Drops the oldest rows past [`MAX_PENDING_ROWS`], and their names;
    /// returns how many.
    fn drop_oldest(&mut self) -> usize {
        let dropped = drop_oldest(&mut self.list);
        if dropped > 0 {
            self.compact();
        }
        dropped
    }

    /// Keeps only the names the rows use, and points them there.
    fn compact(&mut self) {
        let old = std::mem::take(&mut self.names);
        let mut last_agent: Option<(NameSpan, NameSpan)> = None;
        for i in 0..self.list.len() {
            let row = self.list[i];
            let agent = match last_agent {
                Some((was, now)) if was == row.agent => now,
                _ => {
                    let now = self.name(name_at(&old, row.agent));
                    last_agent = Some((row.agent, now));
                    now
                }
            };
            let series = self.name(name_at(&old, row.series));
            self.list[i] = OwnedRow {
                agent,
                series,
                ..row
            };
        }
    }
}

fn name_at(names: &str, span: NameSpan) -> &str {
    let start = span.start as usize;
    names.get(start..start + span.len as usize).unwrap_or("")
}

/// Rows waiting to be committed to the store, and the acks that may go
/// out once they are on disk.
#[derive(Default)]
pub struct Batch {
    rows: Rows,
    /// Test results, written with the rows (so acks follow both).
    results: Vec<TestResult>,
    acks: Vec<Acknowledge>,
    /// Emptied buffers back from the last commit, taken by the next: fresh
    /// ones of this size cost a page fault every few rows.
    spare_rows: Rows,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.rows.len() + self.results.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.results.is_empty()
    }

    /// Holds an ack until the batch is durable.
    pub fn ack_later(&mut self, acker: Acknowledge) {
        self.acks.push(acker);
    }

    /// Writes the batch to the store, and the host records that changed by
    /// hello, bye or a new host; with JetStream, flushes them to disk and
    /// only then acknowledges their messages. On failure nothing is
    /// acknowledged (JetStream redelivers); without JetStream the rows stay
    /// for the next attempt (bounded: the oldest beyond the cap are dropped
    /// and counted). The writing runs on a blocking thread, so the API and
    /// other tasks go on meanwhile.
    pub async fn commit(&mut self, state: &Arc<HubState>) {
        let left = self.begin_commit(state).finish().await;
        self.take_back(left);
    }

    /// Starts [`Batch::commit`] on a task of its own and leaves the batch
    /// empty, so the caller may go on receiving while it runs (what it
    /// receives must not be handled before [`Commit::finish`]: alert states
    /// and host records are written with the samples that caused them).
    pub fn begin_commit(&mut self, state: &Arc<HubState>) -> Commit {
        let mut work = Batch {
            rows: std::mem::replace(&mut self.rows, std::mem::take(&mut self.spare_rows)),
            results: std::mem::take(&mut self.results),
            acks: std::mem::take(&mut self.acks),
            spare_rows: Rows::default(),
        };
        let state = state.clone();
        Commit(tokio::spawn(async move {
            let shared = state.clone();
            let written = tokio::task::spawn_blocking(move || {
                let _running = shared
                    .watchdog
                    .running("an ingest write", watchdog::COMMIT_LIMIT);
                let durable = work.write_durably(&shared);
                (work, durable)
            })
            .await;
            match written {
                Ok((mut work, durable)) => {
                    if durable {
                        for acker in work.acks.drain(..) {
                            if let Err(e) = acker.send().await {
                                tracing::warn!("cannot acknowledge a message: {e}");
                            }
                        }
                    }
                    work
                }
                Err(e) => {
                    // The batch is lost with the task; its messages were
                    // not acknowledged, so JetStream sends them again.
                    state.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!("the ingest write failed: {e}");
                    Batch::default()
                }
            }
        }))
    }

    /// Takes back what a commit left (rows waiting for a store that
    /// refused them), ahead of what came since; the next failed write
    /// bounds them as ever.
    pub fn take_back(&mut self, mut older: Batch) {
        if older.rows.is_empty() && older.results.is_empty() && older.acks.is_empty() {
            older.rows.clear();
            self.spare_rows = older.rows;
            return;
        }
        older.rows.append(&mut self.rows);
        older.results.append(&mut self.results);
        older.acks.append(&mut self.acks);
        older.spare_rows = std::mem::take(&mut self.spare_rows);
        *self = older;
    }

    /// Writes rows, results and urgent host records; true when what the
    /// held acks stand for is on disk. Rows need only the write-ahead
    /// log synced (what else they wrote is in it until a checkpoint);
    /// sled is flushed too when records, alert states or host records
    /// were written.
    fn write_durably(&mut self, state: &HubState) -> bool {
        let mut records = !self.results.is_empty();
        let mut wrote = self.write(state);
        // Alert states and events, with the samples that caused them.
        match state.alerts.write_changes(&state.store) {
            Ok(written) => records |= written,
            Err(e) => {
                state.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!("cannot write alert states: {e}; will retry");
                self.acks.clear();
                wrote = false;
            }
        }
        match state.registry.persist_urgent(&state.store) {
            Ok(written) => records |= written,
            Err(e) => {
                state.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!("cannot write host records: {e}; not acknowledging");
                self.acks.clear();
                return false;
            }
        }
        if !wrote || self.acks.is_empty() {
            return false;
        }
        let flushed = if records {
            state.store.flush_sync()
        } else {
            state.store.flush_log()
        };
        match flushed {
            Ok(()) => true,
            Err(e) => {
                state.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    "cannot flush the store: {e}; not acknowledging, JetStream will redeliver"
                );
                self.acks.clear();
                false
            }
        }
    }

    fn write(&mut self, state: &HubState) -> bool {
        if !self.write_results(state) {
            return false;
        }
        if self.rows.is_empty() {
            return true;
        }
        let count = self.rows.len();
        match state.store.ingest_rows(self.rows.sample_rows()) {
            Ok(()) => {
                state
                    .stats
                    .samples_stored
                    .fetch_add(count as u64, Ordering::Relaxed);
                self.rows.clear();
                true
            }
            Err(e) => {
                self.failed(state, &format!("cannot write {count} samples"), &e);
                false
            }
        }
    }

    /// After a failed write: with JetStream, everything waits for its
    /// redelivery (keeping it too would store it twice, harmlessly but for
    /// nothing); without, it stays for the next attempt, the oldest past
    /// [`MAX_PENDING_ROWS`] dropped and counted.
    fn failed(&mut self, state: &HubState, what: &str, e: &crate::store::StoreError) {
        state.stats.store_errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!("{what}: {e}; will retry");
        if !self.acks.is_empty() {
            self.acks.clear();
            self.rows.clear();
            self.results.clear();
            return;
        }
        let dropped = self.rows.drop_oldest() + drop_oldest(&mut self.results);
        if dropped > 0 {
            state
                .stats
                .samples_dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
            tracing::error!(
                "dropped the {dropped} oldest samples and results waiting for the store"
            );
        }
    }
}

/// A commit under way (see [`Batch::begin_commit`]).
pub struct Commit(tokio::task::JoinHandle<Batch>);

impl Commit {
    /// Waits for the commit; returns what it left for the next attempt.
    pub async fn finish(&mut self) -> Batch {
        match (&mut self.0).await {
            Ok(left) => left,
            Err(e) => {
                tracing::error!("the ingest commit task failed: {e}");
                Batch::default()
            }
        }
    }
}

/// Drops the oldest entries past [`MAX_PENDING_ROWS`]; returns how many.
fn drop_oldest<T>(waiting: &mut Vec<T>) -> usize {
    let excess = waiting.len().saturating_sub(MAX_PENDING_ROWS);
    waiting.drain(..excess);
    excess
}

impl Batch {
    /// Writes the batch's test results; on failure they wait for the next
    /// attempt (bounded like rows), or for JetStream's redelivery.
    fn write_results(&mut self, state: &HubState) -> bool {
        if self.results.is_empty() {
            return true;
        }
        match state.store.records().put_results(&self.results) {
            Ok(()) => {
                // Only once written: a summary summed from the store
                // meanwhile either has a result or is told of it after.
                for r in self.results.drain(..) {
                    state
                        .summaries
                        .observe(&r.test_id, &r.agent, r.ts, r.latency_ms());
                }
                true
            }
            Err(e) => {
                let what = format!("cannot store {} test results", self.results.len());
                self.failed(state, &what, &e);
                false
            }
        }
    }
}

/// Handles one agent message; metrics rows go into `batch`.
pub fn handle(state: &HubState, msg: &Message, batch: &mut Batch) {
    state.stats.messages.fetch_add(1, Ordering::Relaxed);
    if let Err(rejection) = accept(state, msg, batch) {
        state.stats.rejections.count(&rejection);
        match REJECTION_LOG.take(now_ms()) {
            LogTurn::Log { unlogged } if unlogged > 0 => tracing::warn!(
                subject = %msg.subject,
                "rejected: {rejection} ({unlogged} more rejections were counted, not logged)"
            ),
            LogTurn::Log { .. } => tracing::warn!(subject = %msg.subject, "rejected: {rejection}"),
            LogTurn::Quiet => {}
        }
    }
}

/// Rejections logged per window; a flood of bad messages is counted in
/// full but logs only this many lines every [`LOG_WINDOW_MS`].
const LOG_PER_WINDOW: u64 = 20;
const LOG_WINDOW_MS: u64 = 10_000;

static REJECTION_LOG: LogBudget = LogBudget::new();

enum LogTurn {
    Log { unlogged: u64 },
    Quiet,
}

/// A log line budget per time window (lock-free; approximate at window
/// edges, which is all a log needs).
struct LogBudget {
    window: AtomicU64,
    used: AtomicU64,
    unlogged: AtomicU64,
}

impl LogBudget {
    const fn new() -> Self {
        Self {
            window: AtomicU64::new(0),
            used: AtomicU64::new(0),
            unlogged: AtomicU64::new(0),
        }
    }

    fn take(&self, now: u64) -> LogTurn {
        let window = now / LOG_WINDOW_MS;
        if self.window.swap(window, Ordering::Relaxed) != window {
            self.used.store(0, Ordering::Relaxed);
        }
        if self.used.fetch_add(1, Ordering::Relaxed) < LOG_PER_WINDOW {
            LogTurn::Log {
                unlogged: self.unlogged.swap(0, Ordering::Relaxed),
            }
        } else {
            self.unlogged.fetch_add(1, Ordering::Relaxed);
            LogTurn::Quiet
        }
    }
}

fn accept(state: &HubState, msg: &Message, batch: &mut Batch) -> Result<(), Rejection> {
    let subject = msg.subject.as_str();
    if let Some((test_id, token)) = parse_results_subject(subject) {
        return accept_result(state, msg, test_id, token, batch);
    }
    let (kind, token) = parse_agent_subject(subject).ok_or_else(|| Rejection::BadSubject {
        subject: subject.to_owned(),
    })?;
    // Agents send MessagePack; a JSON payload from a script is accepted too.
    let encoding = Encoding::of_request(msg.headers.as_ref(), &msg.payload);
    let now = now_ms();
    match kind {
        AgentSubject::Hello => {
            validate::size("HostInfo", &msg.payload, limits::MAX_RECORD_BYTES)?;
            let info: HostInfo = decode(encoding, &msg.payload)?;
            validate::same_agent(token, info.agent.as_str())?;
            validate::host_info(&info)?;
            let agent = info.agent.clone();
            let config_rev = info.config_rev;
            state
                .registry
                .hello(info, now)
                .map_err(|AgentLimit(max)| Rejection::AgentLimit(max))?;
            state.alerts.heard_from(agent.as_str(), now);
            state.configs.hello(&state.store, &agent, config_rev);
        }
        AgentSubject::Metrics => {
            validate::size("MetricsSample", &msg.payload, limits::MAX_SAMPLE_BYTES)?;
            let sample = decode_sample(encoding, &msg.payload)?;
            validate::same_agent(token, sample.agent.as_str())?;
            validate::sample(&sample, now)?;
            let ts = sample.ts;
            let mark = batch.rows.mark();
            let agent = batch.rows.name(sample.agent.as_str());
            sample.each_series(|name, value| {
                let series = batch.rows.series_name(name);
                batch.rows.push(OwnedRow {
                    agent,
                    series,
                    ts,
                    value,
                });
            });
            // The registry refuses a new agent past the cap: no rows then.
            if let Err(AgentLimit(max)) = state.registry.metrics(sample, now) {
                batch.rows.truncate(mark);
                return Err(Rejection::AgentLimit(max));
            }
            let agent = batch.rows.get(agent);
            state.alerts.heard_from(agent, now);
            state.alerts.observe(
                agent,
                ts,
                batch.rows.series_since(mark),
                || state.registry.tags_of(agent),
                now,
            );
        }
        AgentSubject::Bye => {
            validate::size("bye", &msg.payload, limits::MAX_RECORD_BYTES)?;
            let bye: Bye = decode(encoding, &msg.payload)?;
            validate::same_agent(token, bye.agent.as_str())?;
            state.registry.bye(&bye.agent, now);
        }
    }
    Ok(())
}

fn accept_result(
    state: &HubState,
    msg: &Message,
    test_id: &str,
    token: &str,
    batch: &mut Batch,
) -> Result<(), Rejection> {
    validate::size("TestResult", &msg.payload, limits::MAX_RECORD_BYTES)?;
    let encoding = Encoding::of_request(msg.headers.as_ref(), &msg.payload);
    let result: TestResult = decode(encoding, &msg.payload)?;
    validate::same_agent(token, result.agent.as_str())?;
    if result.test_id != test_id {
        return Err(Rejection::SubjectMismatch {
            token: test_id.to_owned(),
            agent: result.test_id.to_string(),
        });
    }
    validate::result(&result, now_ms())?;
    state
        .tests
        .check_result(
            &state.store,
            test_id,
            (&result.run_id, &result.agent, result.ts),
        )
        .map_err(|refusal| match refusal {
            Refusal::UnknownTest => {
                Rejection::BadValue(format!("result for unknown test {test_id:?}"))
            }
            Refusal::OutsideRun { from, to } => Rejection::BadValue(format!(
                "result at {} is outside its run ({} to {})",
                swarm_common::time::rfc3339(result.ts),
                swarm_common::time::rfc3339(from),
                swarm_common::time::rfc3339(to)
            )),
            Refusal::NotInRun => Rejection::NotInRun {
                test_id: test_id.to_owned(),
                run_id: text::printable(&result.run_id, 64),
                agent: result.agent.as_str().to_owned(),
            },
        })?;
    // Rules see the latency, and every result as lost (100) or answered
    // (0) for loss rules. The latency also goes into the agent's history,
    // where rollups keep sketches of it: percentiles over a month stay
    // right.
    let agent = result.agent.as_str();
    let latency = result.latency_ms();
    state.test_latest.observe(
        test_id,
        agent,
        crate::test_latest::Probe {
            ts: result.ts,
            latency_ms: latency,
        },
    );
    let loss = result.test_id.loss_series();
    let series = result.test_id.latency_series();
    let lost = if latency.is_some() { 0.0 } else { 100.0 };
    let seen =
        std::iter::once((loss.as_str(), lost)).chain(latency.map(|ms| (series.as_str(), ms)));
    state.alerts.observe(
        agent,
        result.ts,
        seen,
        || state.registry.tags_of(agent),
        now_ms(),
    );
    if let Some(latency) = latency {
        let row = OwnedRow {
            agent: batch.rows.name(agent),
            series: batch.rows.name(&series),
            ts: result.ts,
            value: latency,
        };
        batch.rows.push(row);
    }
    batch.results.push(result);
    Ok(())
}

/// A sample as agents send it is read without serde (see
/// [`codec::sample`]); anything else goes through serde, as every other
/// message does.
fn decode_sample(encoding: Encoding, body: &[u8]) -> Result<MetricsSample, Rejection> {
    match encoding {
        Encoding::MsgPack => {
            codec::sample::metrics(body).map_or_else(|| decode(encoding, body), Ok)
        }
        Encoding::Json => decode(encoding, body),
    }
}

fn decode<T: serde::de::DeserializeOwned>(encoding: Encoding, body: &[u8]) -> Result<T, Rejection> {
    if body.is_empty() {
        return Err(Rejection::Undecodable("empty payload".into()));
    }
    // The decoder's text may quote the input: escaped and cut for the log.
    encoding
        .decode(body)
        .map_err(|e| Rejection::Undecodable(text::printable(&e.to_string(), 200)))
}

/// Store a checkpoint and host records, off the async threads.
pub async fn checkpoint(state: &Arc<HubState>) {
    let state = state.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _running = state
            .watchdog
            .running("a checkpoint", watchdog::CHECKPOINT_LIMIT);
        state.registry.persist(&state.store)?;
        state.store.checkpoint()
    })
    .await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!("checkpoint failed: {e}"),
        Err(e) => tracing::error!("checkpoint task failed: {e}"),
    }
}

/// Enforces retention and the size cap, off the async threads, and says
/// what they removed.
pub async fn prune(state: &Arc<HubState>) {
    let shared = state.clone();
    let result = tokio::task::spawn_blocking(move || {
        let state = shared;
        let _running = state.watchdog.running("retention", watchdog::PRUNE_LIMIT);
        state.forget_retired(now_ms());
        state.retention.enforce(&state.store, now_ms())
    })
    .await;
    match result {
        Ok(Ok((removed, capped))) => {
            if removed.results > 0 || capped.as_ref().is_some_and(|c| c.results > 0) {
                state.summaries.clear();
            }
            if removed.raw_samples + removed.rollup_buckets + removed.results > 0 {
                tracing::info!(
                    "retention removed {} raw samples, {} rollup buckets and {} test results",
                    removed.raw_samples,
                    removed.rollup_buckets,
                    removed.results
                );
            }
            if let Some(report) = capped {
                tracing::warn!("size cap: {report}");
            }
        }
        Ok(Err(e)) => tracing::error!("retention failed: {e}"),
        Err(e) => tracing::error!("retention task failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_of(rows: &[(&str, &str, u64)]) -> Batch {
        let mut batch = Batch::default();
        for &(agent, series, ts) in rows {
            let row = OwnedRow {
                agent: batch.rows.name(agent),
                series: batch.rows.series_name(SeriesName::Of("disk_pct", series)),
                ts,
                value: ts as f64,
            };
            batch.rows.push(row);
        }
        batch
    }

    fn named_rows(batch: &Batch) -> Vec<(String, String, u64)> {
        batch
            .rows
            .list
            .iter()
            .map(|r| {
                let name = |span| batch.rows.get(span).to_owned();
                (name(r.agent), name(r.series), r.ts)
            })
            .collect()
    }

    #[test]
    fn rows_taken_back_keep_their_names_ahead_of_newer_rows() {
        let mut newer = batch_of(&[("c", "/", 3)]);
        newer.take_back(batch_of(&[("a", "/var", 1), ("b", "/", 2)]));
        let expected = [
            ("a", "disk_pct:/var", 1),
            ("b", "disk_pct:/", 2),
            ("c", "disk_pct:/", 3),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|&(a, s, ts)| (a.to_owned(), s.to_owned(), ts))
            .collect();
        assert_eq!(named_rows(&newer), expected);
    }

    #[test]
    fn dropping_the_oldest_rows_drops_their_names() {
        let mut batch = batch_of(&[("old", "/", 1), ("new", "/data", 2), ("new", "/", 3)]);
        batch.rows.list.drain(..1);
        batch.rows.compact();
        assert!(!batch.rows.names.contains("old"), "{:?}", batch.rows.names);
        let names: Vec<_> = named_rows(&batch)
            .into_iter()
            .map(|(agent, series, _)| format!("{agent} {series}"))
            .collect();
        assert_eq!(names, ["new disk_pct:/data", "new disk_pct:/"]);
    }

    #[test]
    fn a_flood_of_rejections_logs_a_few_lines_per_window() {
        let budget = LogBudget::new();
        let logged = (0..1_000)
            .filter(|_| matches!(budget.take(5), LogTurn::Log { .. }))
            .count();
        assert_eq!(logged as u64, LOG_PER_WINDOW);
        match budget.take(LOG_WINDOW_MS + 5) {
            LogTurn::Log { unlogged } => assert_eq!(unlogged, 1_000 - LOG_PER_WINDOW),
            LogTurn::Quiet => panic!("a new window logs again"),
        }
    }
}
