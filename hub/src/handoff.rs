//! A bounded queue from the hub's state (which exists before the bus is
//! connected) to the one task that owns the NATS client: what the API asks
//! to send (a pushed config, a cancel) waits here until that task runs,
//! instead of being skipped because no client was set yet.

use std::sync::Mutex;

use tokio::sync::mpsc;

pub struct Handoff<T> {
    queue: mpsc::Sender<T>,
    waiting: Mutex<Option<mpsc::Receiver<T>>>,
}

impl<T> Handoff<T> {
    pub fn new(capacity: usize) -> Self {
        let (queue, waiting) = mpsc::channel(capacity);
        Self {
            queue,
            waiting: Mutex::new(Some(waiting)),
        }
    }

    /// Queues an item; false when the queue is full (the caller counts it).
    pub fn send(&self, item: T) -> bool {
        self.queue.try_send(item).is_ok()
    }

    /// The receiving end, for the one task that sends: `None` once taken.
    pub fn take(&self) -> Option<mpsc::Receiver<T>> {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_wait_for_the_receiver_and_a_full_queue_says_so() {
        let handoff = Handoff::new(2);
        assert!(handoff.send(1) && handoff.send(2));
        assert!(!handoff.send(3), "full");
        let mut rx = handoff.take().expect("receiver");
        assert!(handoff.take().is_none(), "taken once");
        assert_eq!((rx.try_recv().ok(), rx.try_recv().ok()), (Some(1), Some(2)));
    }
}
