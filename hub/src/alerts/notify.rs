//! Notifications: for firing and resolved events that nobody silenced, a
//! command (`--notify-exec`, JSON on standard input) and a webhook
//! (`--notify-webhook`, JSON POSTed). Events of one rule and state that
//! arrive within [`GROUP_WAIT`] go out as one notification, so a site
//! going dark sends one, not five hundred. Each delivery is bounded in
//! time ([`NOTIFY_TIMEOUT`]), in concurrency ([`MAX_CONCURRENT`]) and in
//! retries ([`ATTEMPTS`]); outcomes are counted.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use swarm_common::protocol::alerts::{Alert, AlertState};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, mpsc};

pub const GROUP_WAIT: Duration = Duration::from_secs(2);
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_CONCURRENT: usize = 4;
pub const ATTEMPTS: u32 = 3;
/// Alerts listed in one notification; the count says how many in all.
pub const MAX_GROUP_LISTED: usize = 100;
/// Events waiting for grouping; past this they are dropped and counted.
const QUEUE: usize = 10_000;

/// Where notifications go.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    /// A program and its arguments.
    pub exec: Option<Vec<String>>,
    pub webhook: Option<String>,
}

impl NotifyConfig {
    pub fn is_empty(&self) -> bool {
        self.exec.is_none() && self.webhook.is_none()
    }
}

#[derive(Debug, Default)]
pub struct NotifyStats {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub retries: AtomicU64,
    pub dropped: AtomicU64,
}

impl NotifyStats {
    pub fn as_json(&self) -> serde_json::Value {
        serde_json::json!({
            "sent": self.sent.load(Ordering::Relaxed),
            "failed": self.failed.load(Ordering::Relaxed),
            "retries": self.retries.load(Ordering::Relaxed),
            "dropped": self.dropped.load(Ordering::Relaxed),
        })
    }
}

/// One notification: the first alert's fields, plus the whole group.
#[derive(Debug, Serialize)]
struct Notification<'a> {
    #[serde(flatten)]
    first: &'a Alert,
    /// How many alerts of this rule changed to this state together.
    grouped: usize,
    alerts: &'a [Alert],
}

/// Hands events to the notifier task.
#[derive(Clone)]
pub struct Notifier {
    queue: mpsc::Sender<Alert>,
    stats: Arc<NotifyStats>,
}

impl Notifier {
    /// Starts the notifier task (none when nothing is configured: events
    /// are then only counted as not needed).
    pub fn start(config: NotifyConfig, stats: Arc<NotifyStats>) -> Option<Self> {
        if config.is_empty() {
            return None;
        }
        let (queue, events) = mpsc::channel(QUEUE);
        tokio::spawn(run(config, events, stats.clone()));
        Some(Self { queue, stats })
    }

    /// Queues an event if it is one to notify of.
    pub fn offer(&self, alert: &Alert) {
        let notifiable = !alert.silenced
            && (alert.state == AlertState::Firing
                || (alert.state == AlertState::Resolved && alert.fired_at.is_some()));
        if notifiable && self.queue.try_send(alert.clone()).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn run(config: NotifyConfig, mut events: mpsc::Receiver<Alert>, stats: Arc<NotifyStats>) {
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(MAX_CONCURRENT));
    // (rule, state) -> alerts, flushed GROUP_WAIT after the first.
    let mut groups: BTreeMap<(String, bool), Vec<Alert>> = BTreeMap::new();
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let wait = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                let key = (event.rule.clone(), event.state == AlertState::Firing);
                groups.entry(key).or_default().push(event);
                deadline.get_or_insert_with(|| tokio::time::Instant::now() + GROUP_WAIT);
            }
            () = wait => {
                deadline = None;
                for (_, alerts) in std::mem::take(&mut groups) {
                    let Ok(permit) = slots.clone().acquire_owned().await else { return };
                    let config = config.clone();
                    let stats = stats.clone();
                    tokio::spawn(async move {
                        deliver(&config, &alerts, &stats).await;
                        drop(permit);
                    });
                }
            }
        }
    }
}

async fn deliver(config: &NotifyConfig, alerts: &[Alert], stats: &NotifyStats) {
    let Some(first) = alerts.first() else { return };
    let notification = Notification {
        first,
        grouped: alerts.len(),
        alerts: &alerts[..alerts.len().min(MAX_GROUP_LISTED)],
    };
    let body = match serde_json::to_vec(&notification) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!("cannot encode a notification: {e}");
            stats.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    if let Some(command) = &config.exec {
        attempt("--notify-exec", stats, || run_command(command, &body)).await;
    }
    if let Some(url) = &config.webhook {
        attempt("--notify-webhook", stats, || post(url, &body)).await;
    }
}

/// Tries a delivery up to [`ATTEMPTS`] times, 1 s, 2 s apart.
async fn attempt<F, Fut>(what: &str, stats: &NotifyStats, mut once: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    for n in 1..=ATTEMPTS {
        match tokio::time::timeout(NOTIFY_TIMEOUT, once()).await {
            Ok(Ok(())) => {
                stats.sent.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(Err(e)) => tracing::warn!("{what}: attempt {n} failed: {e}"),
            Err(_) => tracing::warn!("{what}: attempt {n} took over {NOTIFY_TIMEOUT:?}"),
        }
        if n < ATTEMPTS {
            stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(u64::from(n))).await;
        }
    }
    stats.failed.fetch_add(1, Ordering::Relaxed);
}

async fn run_command(command: &[String], body: &[u8]) -> Result<(), String> {
    let (program, args) = command.split_first().ok_or("an empty command")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        // A command past its timeout is killed with its future.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {program:?}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(body)
            .await
            .map_err(|e| format!("cannot write to {program:?}: {e}"))?;
    }
    let status = child.wait().await.map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{program:?} exited with {status}"))
    }
}

async fn post(url: &str, body: &[u8]) -> Result<(), String> {
    let url = url.to_owned();
    let body = body.to_vec();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(NOTIFY_TIMEOUT))
            .build()
            .into();
        agent
            .post(&url)
            .header("content-type", "application/json")
            .send(&body[..])
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}
