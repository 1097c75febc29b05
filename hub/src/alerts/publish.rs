//! Publishes written alert events on `swarm.alerts.<agent>.<rule>` and
//! hands them to the notifier. Events reach the outbox only once they are
//! in the store, so a restart neither loses a firing alert nor announces
//! it again.

use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use swarm_common::nats::publish_msgpack;
use swarm_common::subject;

use super::AlertBook;
use super::notify::Notifier;

/// How often the outbox is looked at.
const EVERY: Duration = Duration::from_millis(100);

/// Runs until aborted.
pub async fn run(alerts: Arc<AlertBook>, client: Client, notifier: Option<Notifier>) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        publish_outbox(&alerts, &client, notifier.as_ref()).await;
    }
}

/// Publishes what the outbox holds.
pub async fn publish_outbox(alerts: &AlertBook, client: &Client, notifier: Option<&Notifier>) {
    let events = alerts.take_outbox();
    if events.is_empty() {
        return;
    }
    for event in &events {
        let subject = subject::alert(&event.agent, &event.rule);
        if let Err(e) = publish_msgpack(client, subject, event).await {
            tracing::warn!("cannot publish an alert event: {e}");
        }
        if let Some(notifier) = notifier {
            notifier.offer(event);
        }
    }
    if let Err(e) = client.flush().await {
        tracing::warn!("cannot flush alert events: {e}");
    }
}
