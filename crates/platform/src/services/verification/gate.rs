//! Bounds on the public verifications (`/api/v1/verify`, the portal's `/verify`): a few at a
//! time per client address and a fixed number in total, so anonymous uploads can never take
//! every core or blocking thread from the terminals' uploads (which do not pass this gate).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Concurrent public verifications one client address may run.
pub const PER_CLIENT: usize = 2;

/// Why a verification was not started; the caller should retry shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    /// This client already runs its share.
    #[error("{0} verifications from this address are already running")]
    Client(usize),
    /// The platform runs as many as it allows at once.
    #[error("the platform is verifying as many images as it allows at once ({0})")]
    Platform(usize),
}

/// Counts running verifications per client and in total.
#[derive(Debug)]
pub struct VerifyGate {
    per_client: usize,
    total: usize,
    slots: Arc<Semaphore>,
    clients: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Held while one verification runs; dropping it frees the slot.
#[derive(Debug)]
pub struct VerifyPermit {
    client: IpAddr,
    clients: Arc<Mutex<HashMap<IpAddr, usize>>>,
    _slot: OwnedSemaphorePermit,
}

impl Drop for VerifyPermit {
    fn drop(&mut self) {
        if let Ok(mut clients) = self.clients.lock() {
            if let Some(n) = clients.get_mut(&self.client) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    clients.remove(&self.client);
                }
            }
        }
    }
}

/// IPv6 clients are counted per /64, which one subscriber usually holds whole.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl VerifyGate {
    pub fn new(per_client: usize, total: usize) -> Self {
        let total = total.max(1);
        Self { per_client: per_client.max(1), total, slots: Arc::new(Semaphore::new(total)), clients: Arc::default() }
    }

    /// [`PER_CLIENT`] per address and two per core in total.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self::new(PER_CLIENT, 2 * cores)
    }

    /// The total this gate allows.
    pub fn total(&self) -> usize {
        self.total
    }

    /// A slot for one verification by `client`, or why there is none now (never waits: a
    /// queue of anonymous uploads would only hold memory and connections).
    pub fn try_enter(&self, client: IpAddr) -> Result<VerifyPermit, Busy> {
        let key = client_key(client);
        // A poisoned lock means a panic elsewhere while counting; refusing is the safe side.
        let mut clients = self.clients.lock().map_err(|_| Busy::Platform(self.total))?;
        let running = clients.get(&key).copied().unwrap_or(0);
        if running >= self.per_client {
            return Err(Busy::Client(running));
        }
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| Busy::Platform(self.total))?;
        clients.insert(key, running + 1);
        Ok(VerifyPermit { client: key, clients: self.clients.clone(), _slot: slot })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn each_client_gets_its_share_and_the_total_is_a_ceiling() {
        let gate = VerifyGate::new(2, 3);
        let a1 = gate.try_enter(ip("192.0.2.1")).unwrap();
        let _a2 = gate.try_enter(ip("192.0.2.1")).unwrap();
        assert_eq!(gate.try_enter(ip("192.0.2.1")).unwrap_err(), Busy::Client(2));
        let _b = gate.try_enter(ip("192.0.2.2")).unwrap();
        assert_eq!(gate.try_enter(ip("192.0.2.3")).unwrap_err(), Busy::Platform(3));
        drop(a1);
        let _c = gate.try_enter(ip("192.0.2.3")).unwrap();
        assert!(gate.try_enter(ip("192.0.2.1")).is_err(), "the total is reached again");
    }

    #[test]
    fn addresses_of_one_ipv6_subscriber_share_a_count() {
        let gate = VerifyGate::new(1, 10);
        let _p = gate.try_enter(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(gate.try_enter(ip("2001:db8:1:2::ffff")).unwrap_err(), Busy::Client(1));
        gate.try_enter(ip("2001:db8:1:3::1")).unwrap();
    }
}
