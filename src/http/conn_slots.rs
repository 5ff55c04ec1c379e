//! Who holds the API's connections: a count for the whole server and one per client
//! address, so one client (a buggy retry loop, a scanner) cannot take every slot and
//! leave the box's real callers waiting in the kernel's backlog. A client over either
//! limit is answered `503` at once by the server; this module only counts.
//!
//! Written here rather than taken from a crate: it is a map of counters with a drop
//! guard, smaller than any dependency that would do it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;

/// Why a connection got no slot; the server words its `503` from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds `max_connections` already.
    ServerFull(usize),
    /// This client address holds `max_connections_per_client` already.
    ClientFull(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::ServerFull(n) => write!(f, "the server has {n} connections open, its limit"),
            Refusal::ClientFull(n) => write!(
                f,
                "this address has {n} connections open, its limit; reuse or close them"
            ),
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    /// Only addresses that hold a slot now: the map is bounded by `max_total`.
    per_client: HashMap<IpAddr, usize>,
}

/// The server's connection counts; cloned handles share them (one thread, `Rc`).
#[derive(Debug, Clone)]
pub struct ConnectionSlots {
    max_total: usize,
    max_per_client: usize,
    counts: Rc<RefCell<Counts>>,
}

/// One connection's place in the counts, given back when dropped (however the
/// connection's task ends).
#[derive(Debug)]
pub struct Slot {
    counts: Rc<RefCell<Counts>>,
    peer: IpAddr,
}

impl ConnectionSlots {
    /// Counts for a server allowing `max_total` connections, `max_per_client` of them
    /// from one address (both at least 1).
    pub fn new(max_total: usize, max_per_client: usize) -> Self {
        ConnectionSlots {
            max_total: max_total.max(1),
            max_per_client: max_per_client.max(1),
            counts: Rc::default(),
        }
    }

    /// A slot for a connection from `peer`, or why there is none.
    pub fn take(&self, peer: IpAddr) -> Result<Slot, Refusal> {
        let mut c = self.counts.borrow_mut();
        // The client's own limit first: it is the one that client can act on.
        if c.per_client.get(&peer).copied().unwrap_or(0) >= self.max_per_client {
            return Err(Refusal::ClientFull(self.max_per_client));
        }
        if c.total >= self.max_total {
            return Err(Refusal::ServerFull(self.max_total));
        }
        *c.per_client.entry(peer).or_insert(0) += 1;
        c.total += 1;
        Ok(Slot {
            counts: self.counts.clone(),
            peer,
        })
    }

    /// Connections open now (for tests and status).
    pub fn open(&self) -> usize {
        self.counts.borrow().total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.borrow_mut();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_client.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                c.per_client.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn one_client_cannot_take_every_slot() {
        let slots = ConnectionSlots::new(5, 2);
        let a1 = slots.take(ip(1)).unwrap();
        let _a2 = slots.take(ip(1)).unwrap();
        assert_eq!(slots.take(ip(1)).unwrap_err(), Refusal::ClientFull(2));
        // others still get in
        let _b1 = slots.take(ip(2)).unwrap();
        let _b2 = slots.take(ip(2)).unwrap();
        let _c1 = slots.take(ip(3)).unwrap();
        assert_eq!(slots.open(), 5);
        assert_eq!(slots.take(ip(4)).unwrap_err(), Refusal::ServerFull(5));
        // a closed connection gives its slot back to its client
        drop(a1);
        assert_eq!(slots.open(), 4);
        let _a3 = slots.take(ip(1)).unwrap();
        assert_eq!(slots.take(ip(1)).unwrap_err(), Refusal::ClientFull(2));
    }

    #[test]
    fn addresses_without_connections_are_forgotten() {
        let slots = ConnectionSlots::new(1000, 1);
        for i in 0..=255u8 {
            drop(slots.take(ip(i)).unwrap());
        }
        assert_eq!(slots.open(), 0);
        assert!(slots.counts.borrow().per_client.is_empty());
    }
}
