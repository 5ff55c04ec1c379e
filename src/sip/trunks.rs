//! The trunks calls leave through, and what the box knows of each: its addresses, and
//! whether it is down (it answered 503, did not answer, or could not be reached) and
//! until when. Decisions only, no I/O: the shell resolves hosts, sends pings and INVITEs,
//! and feeds what happened back in.
//!
//! Order of a call's attempts: trunks that take the number (`prefixes`), those not down
//! first; by priority, lower first; among equal priorities a weighted random order
//! (RFC 2782's selection, so weights share the calls). Trunks that are down still come
//! last rather than not at all: a trunk marked down by a stale failure is better tried
//! than a call refused outright.

use super::endpoint::Credentials;
use super::transport::Transport;
use rand::Rng;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// One trunk as configured.
#[derive(Debug, Clone)]
pub struct Trunk {
    /// Name in state lines and logs.
    pub name: String,
    /// Request-URI template with `{number}`.
    pub uri: String,
    /// What its calls and pings go over (`transport = "tcp"`, or `;transport=tcp` in
    /// the URI).
    pub transport: Transport,
    /// Lower first.
    pub priority: u32,
    /// Share among equal priorities (at least 1).
    pub weight: u32,
    /// Numbers it takes; empty takes all.
    pub prefixes: Vec<String>,
    /// Who the box is on this trunk.
    pub credentials: Credentials,
    /// Interval of OPTIONS pings; None: no pings.
    pub keepalive: Option<Duration>,
    /// How long a failed trunk is passed over.
    pub retry: Duration,
}

impl Trunk {
    /// The request URI for `number`: the template with `{number}` replaced, `#` escaped
    /// as SIP URIs require.
    pub fn request_uri(&self, number: &str) -> String {
        self.uri.replace("{number}", &number.replace('#', "%23"))
    }

    fn takes(&self, number: &str) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| number.starts_with(p))
    }
}

/// What the box knows of one trunk right now.
#[derive(Debug, Clone, Default)]
struct Health {
    /// Where its host resolved to (empty until resolved, or when resolving failed).
    addrs: Vec<SocketAddr>,
    /// Down until this instant, and why.
    down: Option<(Instant, String)>,
    /// When the next ping is due.
    next_ping: Option<Instant>,
}

/// Every trunk and its health. Indexes into the configured list are the trunks' ids.
#[derive(Debug)]
pub struct TrunkTable {
    trunks: Vec<Trunk>,
    health: Vec<Health>,
}

impl TrunkTable {
    /// The configured trunks, all up, pings due at once.
    pub fn new(trunks: Vec<Trunk>, now: Instant) -> TrunkTable {
        let health = trunks
            .iter()
            .map(|t| Health {
                next_ping: t.keepalive.map(|_| now),
                ..Health::default()
            })
            .collect();
        TrunkTable { trunks, health }
    }

    /// Trunk `i` as configured.
    pub fn trunk(&self, i: usize) -> Option<&Trunk> {
        self.trunks.get(i)
    }

    /// How many trunks there are.
    pub fn len(&self) -> usize {
        self.trunks.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.trunks.is_empty()
    }

    /// The order in which a call to `number` tries the trunks (see the module doc);
    /// empty when no trunk takes the number.
    pub fn plan(&self, number: &str, now: Instant, rng: &mut impl Rng) -> Vec<usize> {
        let mut up: Vec<usize> = Vec::new();
        let mut down: Vec<usize> = Vec::new();
        for (i, t) in self.trunks.iter().enumerate() {
            if !t.takes(number) {
                continue;
            }
            if self.is_down(i, now) {
                down.push(i);
            } else {
                up.push(i);
            }
        }
        let mut plan = self.weighted_order(up, rng);
        down.sort_by_key(|&i| self.trunks[i].priority);
        plan.extend(down);
        plan
    }

    /// `ids` by priority, each priority's trunks in a weighted random order.
    fn weighted_order(&self, mut ids: Vec<usize>, rng: &mut impl Rng) -> Vec<usize> {
        ids.sort_by_key(|&i| self.trunks[i].priority);
        let mut out = Vec::with_capacity(ids.len());
        let mut rest = ids.as_slice();
        while let Some(&first) = rest.first() {
            let prio = self.trunks[first].priority;
            let n = rest
                .iter()
                .take_while(|&&i| self.trunks[i].priority == prio)
                .count();
            let (group, tail) = rest.split_at(n);
            let mut group = group.to_vec();
            while !group.is_empty() {
                let total: u64 = group
                    .iter()
                    .map(|&i| u64::from(self.trunks[i].weight.max(1)))
                    .sum();
                let mut pick = rng.gen_range(0..total);
                let mut at = 0;
                for (k, &i) in group.iter().enumerate() {
                    let w = u64::from(self.trunks[i].weight.max(1));
                    if pick < w {
                        at = k;
                        break;
                    }
                    pick -= w;
                }
                out.push(group.remove(at));
            }
            rest = tail;
        }
        out
    }

    /// Whether trunk `i` is passed over at `now`.
    pub fn is_down(&self, i: usize, now: Instant) -> bool {
        self.health
            .get(i)
            .and_then(|h| h.down.as_ref())
            .is_some_and(|(until, _)| *until > now)
    }

    /// Why trunk `i` is down at `now`, if it is.
    pub fn down_reason(&self, i: usize, now: Instant) -> Option<&str> {
        self.health
            .get(i)
            .and_then(|h| h.down.as_ref())
            .filter(|(until, _)| *until > now)
            .map(|(_, why)| why.as_str())
    }

    /// Trunk `i` failed a call or a ping: passed over for its retry period. Returns
    /// whether it was up until now (so the caller logs the change once).
    pub fn mark_down(&mut self, i: usize, now: Instant, why: &str) -> bool {
        let was_up = !self.is_down(i, now);
        if let (Some(h), Some(t)) = (self.health.get_mut(i), self.trunks.get(i)) {
            h.down = Some((now + t.retry, why.to_string()));
        }
        was_up
    }

    /// Trunk `i` answered (a ping, or a call): up again. Returns whether it was down.
    pub fn mark_up(&mut self, i: usize, now: Instant) -> bool {
        let was_down = self.is_down(i, now);
        if let Some(h) = self.health.get_mut(i) {
            h.down = None;
        }
        was_down
    }

    /// Where trunk `i`'s host resolved to.
    pub fn set_addrs(&mut self, i: usize, addrs: Vec<SocketAddr>) {
        if let Some(h) = self.health.get_mut(i) {
            h.addrs = addrs;
        }
    }

    /// The address to send trunk `i`'s requests to: of the family the box speaks when it
    /// has one, else the first.
    pub fn addr(&self, i: usize, want_v4: bool) -> Option<SocketAddr> {
        let addrs = &self.health.get(i)?.addrs;
        addrs
            .iter()
            .find(|a| a.is_ipv4() == want_v4)
            .or(addrs.first())
            .copied()
    }

    /// Where trunk `i`'s host resolved to, in the order found.
    pub fn addrs(&self, i: usize) -> &[SocketAddr] {
        self.health.get(i).map_or(&[], |h| h.addrs.as_slice())
    }

    /// Every address of every trunk (all trusted as sources of requests).
    pub fn all_addrs(&self) -> Vec<SocketAddr> {
        self.health.iter().flat_map(|h| h.addrs.clone()).collect()
    }

    /// Trunks whose ping is due at `now`; each is scheduled for its next interval.
    pub fn take_due_pings(&mut self, now: Instant) -> Vec<usize> {
        let mut due = Vec::new();
        for (i, (t, h)) in self.trunks.iter().zip(self.health.iter_mut()).enumerate() {
            if let (Some(every), Some(at)) = (t.keepalive, h.next_ping) {
                if at <= now {
                    due.push(i);
                    h.next_ping = Some(now + every);
                }
            }
        }
        due
    }

    /// When the next ping is due (None: no trunk pings).
    pub fn next_ping(&self) -> Option<Instant> {
        self.health.iter().filter_map(|h| h.next_ping).min()
    }
}

/// The trunks of the configuration (`config::SipSection::trunk_list`) as the shell
/// keeps them.
pub fn from_config(sections: &[crate::config::trunks::TrunkSection]) -> Vec<Trunk> {
    sections
        .iter()
        .map(|t| Trunk {
            name: t.name.clone(),
            uri: t.uri.clone(),
            transport: transport_of(&t.transport, &t.uri),
            priority: t.priority,
            weight: t.weight.max(1),
            prefixes: t.prefixes.clone(),
            credentials: Credentials {
                from: t.from.clone(),
                username: t.username.clone(),
                password: t.password.clone(),
                realm: t.realm.clone(),
            },
            keepalive: (t.keepalive_s > 0).then(|| Duration::from_secs(t.keepalive_s.into())),
            retry: Duration::from_secs(t.retry_s.max(1).into()),
        })
        .collect()
}

/// A trunk's transport: `transport = "tcp"` or `"tls"` in its entry, else what its URI
/// names (`sips:`, `;transport=`), else UDP.
fn transport_of(configured: &str, uri: &str) -> Transport {
    match Transport::from_name(configured) {
        Some(t @ (Transport::Tcp | Transport::Tls)) => t,
        _ => {
            let uri = uri.replace("{number}", "0");
            ezk_sip_types::uri::SipUri::from_str(uri.trim())
                .ok()
                .and_then(|u| Transport::of_uri(&u))
                .unwrap_or_default()
        }
    }
}

/// Whether a call's end on one trunk moves it to the next and marks that trunk down:
/// 503 (the trunk is overloaded or out of service, RFC 3261 21.5.4), no answer at all
/// (Timer B), or a transport failure. Anything else (busy, declined, not found) is the
/// callee's answer, which another trunk would only repeat.
pub fn is_trunk_failure(code: u16, cause: super::EndCause) -> bool {
    use super::EndCause;
    match cause {
        EndCause::NoAnswer | EndCause::TransportError => true,
        EndCause::Rejected => code == 503,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn trunk(name: &str, priority: u32, weight: u32, prefixes: &[&str]) -> Trunk {
        Trunk {
            name: name.into(),
            transport: Transport::Udp,
            uri: format!("sip:{{number}}@{name}.example"),
            priority,
            weight,
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            credentials: Credentials::default(),
            keepalive: Some(Duration::from_secs(30)),
            retry: Duration::from_secs(60),
        }
    }

    #[test]
    fn lower_priority_first_down_trunks_last_prefixes_filter() {
        let now = Instant::now();
        let mut t = TrunkTable::new(
            vec![
                trunk("backup", 2, 1, &[]),
                trunk("primary", 1, 1, &[]),
                trunk("china", 1, 1, &["+86"]),
            ],
            now,
        );
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(t.plan("+1555", now, &mut rng), vec![1, 0]);
        let p = t.plan("+8610", now, &mut rng);
        assert_eq!(p.len(), 3);
        assert_eq!(p[2], 0);
        assert!(t.mark_down(1, now, "503 Service Unavailable"));
        assert!(!t.mark_down(1, now, "again"), "already down");
        assert_eq!(t.plan("+1555", now, &mut rng), vec![0, 1]);
        assert_eq!(t.down_reason(1, now), Some("again"));
        // The retry period passes: first again.
        let later = now + Duration::from_secs(61);
        assert_eq!(t.plan("+1555", later, &mut rng), vec![1, 0]);
        // Or a ping is answered sooner.
        t.mark_down(1, now, "no answer");
        assert!(t.mark_up(1, now));
        assert_eq!(t.plan("+1555", now, &mut rng), vec![1, 0]);
    }

    #[test]
    fn equal_priorities_share_calls_by_weight() {
        let now = Instant::now();
        let t = TrunkTable::new(vec![trunk("a", 1, 3, &[]), trunk("b", 1, 1, &[])], now);
        let mut rng = StdRng::seed_from_u64(7);
        let firsts = (0..4000)
            .filter(|_| t.plan("1", now, &mut rng)[0] == 0)
            .count();
        // 3:1 → about 3000 of 4000.
        assert!((2800..3200).contains(&firsts), "{firsts}");
    }

    #[test]
    fn pings_come_due_per_trunk() {
        let now = Instant::now();
        let mut quiet = trunk("quiet", 1, 1, &[]);
        quiet.keepalive = None;
        let mut t = TrunkTable::new(vec![trunk("a", 1, 1, &[]), quiet], now);
        assert_eq!(t.take_due_pings(now), vec![0]);
        assert!(t.take_due_pings(now).is_empty());
        assert_eq!(t.next_ping(), Some(now + Duration::from_secs(30)));
        assert_eq!(t.take_due_pings(now + Duration::from_secs(30)), vec![0]);
    }

    #[test]
    fn only_503_timeouts_and_transport_errors_are_trunk_failures() {
        use crate::sip::EndCause;
        assert!(is_trunk_failure(503, EndCause::Rejected));
        assert!(is_trunk_failure(408, EndCause::NoAnswer));
        assert!(is_trunk_failure(503, EndCause::TransportError));
        assert!(!is_trunk_failure(486, EndCause::Rejected));
        assert!(!is_trunk_failure(404, EndCause::Rejected));
        assert!(!is_trunk_failure(487, EndCause::Cancelled));
    }
}
