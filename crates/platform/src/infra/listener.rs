//! The limits of one HTTPS listener: how many connections it keeps open, how many of them one
//! client may hold, and which one it closes when full (the one that has waited longest on its
//! client), so slow clients cannot lock others out.

use std::collections::HashMap;
use std::net::IpAddr;
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
    /// Of those, what one client may hold: an IPv4 address, or an IPv6 /64 (one subscriber's
    /// prefix). Beyond it a new connection from that client is closed at once, before any TLS,
    /// so one host cannot fill the table and push everyone else's connections out. Connections
    /// from `trusted_proxies` (a load balancer's addresses) are not counted. Above
    /// `max_connections` it is `max_connections`.
    pub max_connections_per_client: usize,
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
        if self.max_connections_per_client == 0 {
            return Err("listener.max_connections_per_client must be at least 1".into());
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

/// The open connections of one listener, and how many each client holds.
#[derive(Debug)]
pub struct ConnTable {
    max: usize,
    per_client: usize,
    /// Clients whose connections are not counted per client (load balancers).
    exempt: Vec<IpAddr>,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<Open>,
    /// Since start: connections closed at once for their client's cap, closed at once because
    /// every open one was being answered, and closed later to make room.
    pub refused_client: AtomicU64,
    pub refused_busy: AtomicU64,
    pub evicted: AtomicU64,
}

#[derive(Debug, Default)]
struct Open {
    by_id: HashMap<u64, (Option<IpAddr>, Arc<Activity>)>,
    per_client: HashMap<IpAddr, usize>,
}

impl Open {
    /// Takes `id` out of the table (once), with its client's count.
    fn remove(&mut self, id: u64) -> Option<Arc<Activity>> {
        let (client, activity) = self.by_id.remove(&id)?;
        if let Some(client) = client {
            if let Some(n) = self.per_client.get_mut(&client) {
                *n -= 1;
                if *n == 0 {
                    self.per_client.remove(&client);
                }
            }
        }
        Some(activity)
    }
}

/// Why a new connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its client already holds `max_connections_per_client`.
    ClientFull,
    /// The table is full and every open connection is being answered.
    AllBusy,
}

/// The client a connection from `ip` counts against: an IPv4 address (an IPv4-mapped IPv6
/// address counts as that IPv4 address), or an IPv6 /64.
pub fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
    }
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
            open.remove(self.id);
        }
    }
}

impl ConnTable {
    /// A table of at most `max` connections, `per_client` of them from one client, except
    /// from the `exempt` addresses.
    pub fn new(max: usize, per_client: usize, exempt: Vec<IpAddr>) -> Arc<Self> {
        Arc::new(Self {
            max,
            per_client,
            exempt: exempt.into_iter().map(client_of).collect(),
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(Open::default()),
            refused_client: AtomicU64::new(0),
            refused_busy: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        })
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.open.lock().map_or(0, |o| o.by_id.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes a place for a new connection from `peer`. A client at its cap is refused first;
    /// when the table is full, the connection that has waited longest on its client is told to
    /// close and gives up its place; when every open connection is being answered, refused.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Admitted, Refused> {
        let mut open = self.open.lock().map_err(|_| Refused::AllBusy)?;
        let client = Some(client_of(peer)).filter(|c| !self.exempt.contains(c));
        if let Some(c) = client {
            if open.per_client.get(&c).copied().unwrap_or(0) >= self.per_client {
                self.refused_client.fetch_add(1, Ordering::Relaxed);
                return Err(Refused::ClientFull);
            }
        }
        if open.by_id.len() >= self.max {
            let victim = open
                .by_id
                .iter()
                .filter(|(_, (_, a))| a.serving.load(Ordering::Acquire) == 0)
                .min_by_key(|(_, (_, a))| a.since_ms.load(Ordering::Acquire))
                .map(|(id, _)| *id);
            let Some(victim) = victim else {
                self.refused_busy.fetch_add(1, Ordering::Relaxed);
                return Err(Refused::AllBusy);
            };
            if let Some(a) = open.remove(victim) {
                a.close.notify_one();
                self.evicted.fetch_add(1, Ordering::Relaxed);
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
        open.by_id.insert(id, (client, activity.clone()));
        if let Some(c) = client {
            *open.per_client.entry(c).or_insert(0) += 1;
        }
        Ok(Admitted { id, activity, table: self.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[tokio::test]
    async fn a_full_table_closes_the_longest_waiting_connection_and_never_one_being_answered() {
        // One client, not capped here (a per-client cap of 5 above a table of 3).
        let table = ConnTable::new(3, 5, vec![]);
        let oldest = table.admit(HOST).expect("room");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let answered = table.admit(HOST).expect("room");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let newer = table.admit(HOST).expect("room");
        // The oldest is being answered: it is not the one closed.
        let busy = oldest.activity.serving();
        // Waits are compared in whole milliseconds: space the events out so none tie.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let fourth = table.admit(HOST).expect("a waiting one makes room");
        assert_eq!(table.len(), 3);
        tokio::time::timeout(Duration::from_secs(1), answered.activity.closed()).await.expect("told to close");
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(busy);
        // Once answered, the oldest has just made progress: the one waiting longest now goes.
        let fifth = table.admit(HOST).expect("room");
        tokio::time::timeout(Duration::from_secs(1), newer.activity.closed()).await.expect("told to close");
        // Every connection being answered: a new one is refused instead.
        let _busy = [oldest.activity.serving(), fourth.activity.serving(), fifth.activity.serving()];
        assert_eq!(table.admit(HOST).err(), Some(Refused::AllBusy));
        drop(answered);
        assert_eq!(table.len(), 3, "a closed connection's place was already given up");
    }

    #[test]
    fn one_client_holds_at_most_its_share_and_others_still_get_in() {
        let proxy: IpAddr = "198.51.100.7".parse().expect("ip");
        let table = ConnTable::new(10, 2, vec![proxy]);
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let a = [table.admit(ip("192.0.2.1")).expect("first"), table.admit(ip("192.0.2.1")).expect("second")];
        assert_eq!(table.admit(ip("192.0.2.1")).err(), Some(Refused::ClientFull), "third from one address");
        assert_eq!(table.admit(ip("::ffff:192.0.2.1")).err(), Some(Refused::ClientFull), "mapped IPv6 is the same");
        let _other = table.admit(ip("192.0.2.2")).expect("another address gets in");
        // An IPv6 /64 is one client, whatever its interface identifiers.
        let _v6 =
            [table.admit(ip("2001:db8:1:2::1")).expect("v6"), table.admit(ip("2001:db8:1:2:ffff::9")).expect("v6")];
        assert_eq!(table.admit(ip("2001:db8:1:2:abcd::1")).err(), Some(Refused::ClientFull));
        let _next64 = table.admit(ip("2001:db8:1:3::1")).expect("the next /64 is another client");
        // A load balancer is not one client.
        let _lb: Vec<_> = (0..3).map(|_| table.admit(proxy).expect("exempt")).collect();
        assert_eq!(table.refused_client.load(Ordering::Relaxed), 3);
        // A closed connection gives its client's place back.
        drop(a);
        let _again = table.admit(ip("192.0.2.1")).expect("room again after the two closed");
        assert_eq!(table.len(), 8);
    }

    #[test]
    fn a_connection_closed_to_make_room_gives_back_its_clients_place() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let table = ConnTable::new(2, 1, vec![]);
        let first = table.admit(ip("192.0.2.1")).expect("room");
        std::thread::sleep(Duration::from_millis(5));
        let _second = table.admit(ip("192.0.2.2")).expect("room");
        // Full: a third client's connection pushes out the one waiting longest...
        std::thread::sleep(Duration::from_millis(5));
        let _third = table.admit(ip("192.0.2.3")).expect("room made");
        assert_eq!(table.evicted.load(Ordering::Relaxed), 1);
        // ...and that client may connect again at once (its count went with the place), even
        // before the evicted connection's task has dropped its `Admitted`.
        let _back = table.admit(ip("192.0.2.1")).expect("the evicted client's place is free");
        drop(first);
        assert_eq!(table.len(), 2);
    }
}
