//! The limits of one HTTPS listener: how many connections it keeps open, and which one it closes
//! when full (the one that has waited longest on its client), so slow clients cannot lock others out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Notify;

/// Connection and time limits, the same for each listener (`[platform.listener]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerLimits {
    /// Connections a listener keeps open. When full, a new connection closes the open one that
    /// has waited longest on its client (in the TLS handshake, sending headers or a body, or
    /// idle between requests); one whose request is being answered is never closed for it.
    pub max_connections: usize,
    /// A request must be answered within this, its body included (else 408).
    pub request_timeout_secs: u64,
    /// A request body may take this long before [`ListenerLimits::min_body_bytes_per_sec`]
    /// applies.
    pub body_grace_secs: u64,
    /// After the grace, a body must have arrived at least at this average rate (else 408 and
    /// the connection is closed): a body of N bytes may take `grace + N / rate` seconds.
    pub min_body_bytes_per_sec: u64,
}

impl ListenerLimits {
    /// Why these limits cannot work, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.max_connections < 2 {
            return Err("listener.max_connections must be at least 2".into());
        }
        if self.request_timeout_secs == 0 || self.min_body_bytes_per_sec == 0 {
            return Err("listener.request_timeout_secs and min_body_bytes_per_sec must be above 0".into());
        }
        Ok(())
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// The open connections of one listener.
#[derive(Debug)]
pub struct ConnTable {
    max: usize,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
}

/// What one connection is doing, as far as the cap cares: whether the server is answering one
/// of its requests, and when it last made progress. Requests find it in their extensions.
#[derive(Debug)]
pub struct Activity {
    epoch: Instant,
    /// Requests whose body has arrived and whose answer is being made (the server's turn).
    serving: AtomicUsize,
    /// Milliseconds after `epoch` of the last progress: accepted, a body complete, an answer made.
    since_ms: AtomicU64,
    /// Told to close when the cap needs its slot.
    close: Notify,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.since_ms.store(ms, Ordering::Release);
    }

    /// Marks one of this connection's requests as being answered until the guard is dropped.
    pub fn serving(self: &Arc<Self>) -> Serving {
        self.serving.fetch_add(1, Ordering::AcqRel);
        self.touch();
        Serving(self.clone())
    }

    /// Resolves when the cap closes this connection.
    pub async fn closed(&self) {
        self.close.notified().await;
    }
}

/// A request being answered ([`Activity::serving`]).
#[derive(Debug)]
pub struct Serving(Arc<Activity>);
impl Drop for Serving {
    fn drop(&mut self) {
        self.0.touch();
        self.0.serving.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's place in the table, given up when dropped.
#[derive(Debug)]
pub struct Admitted {
    id: u64,
    pub activity: Arc<Activity>,
    table: Arc<ConnTable>,
}
impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut open) = self.table.open.lock() {
            open.remove(&self.id);
        }
    }
}

impl ConnTable {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { max, epoch: Instant::now(), next_id: AtomicU64::new(0), open: Mutex::new(HashMap::new()) })
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.open.lock().map_or(0, |o| o.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes a place for a new connection. When the table is full, the connection that has
    /// waited longest on its client is told to close and gives up its place; when every open
    /// connection is being answered, `None` (the caller drops the new one).
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut open = self.open.lock().ok()?;
        if open.len() >= self.max {
            let victim = open
                .iter()
                .filter(|(_, a)| a.serving.load(Ordering::Acquire) == 0)
                .min_by_key(|(_, a)| a.since_ms.load(Ordering::Acquire))
                .map(|(id, _)| *id)?;
            if let Some(a) = open.remove(&victim) {
                a.close.notify_one();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity {
            epoch: self.epoch,
            serving: AtomicUsize::new(0),
            since_ms: AtomicU64::new(0),
            close: Notify::new(),
        });
        activity.touch();
        open.insert(id, activity.clone());
        Some(Admitted { id, activity, table: self.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_table_closes_the_longest_waiting_connection_and_never_one_being_answered() {
        let table = ConnTable::new(3);
        let oldest = table.admit().expect("room");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let answered = table.admit().expect("room");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let newer = table.admit().expect("room");
        // The oldest is being answered: it is not the one closed.
        let busy = oldest.activity.serving();
        // Waits are compared in whole milliseconds: space the events out so none tie.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let fourth = table.admit().expect("a waiting one makes room");
        assert_eq!(table.len(), 3);
        tokio::time::timeout(Duration::from_secs(1), answered.activity.closed()).await.expect("told to close");
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(busy);
        // Once answered, the oldest has just made progress: the one waiting longest now goes.
        let fifth = table.admit().expect("room");
        tokio::time::timeout(Duration::from_secs(1), newer.activity.closed()).await.expect("told to close");
        // Every connection being answered: a new one is refused instead.
        let _busy = [oldest.activity.serving(), fourth.activity.serving(), fifth.activity.serving()];
        assert!(table.admit().is_none());
        drop(answered);
        assert_eq!(table.len(), 3, "a closed connection's place was already given up");
    }
}
