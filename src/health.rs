//! Whether the gateway is fit to serve calls, as one answer that every observer shares:
//! the systemd watchdog feeds only while it says ok, and `/healthz` asks the same
//! question, so the box is never "healthy" to one and "broken" to the other.
//!
//! Two kinds of trouble: a part that must run forever ended ([`Health::fail`], kept for
//! good), and a part that is running but not keeping up, found by asking it each time
//! ([`Health::watch`]: the media clock late, the SIP loop not polling, the room backend
//! unusable). Single-threaded like the rest of the gateway (`Rc` + `Cell`).

use std::cell::{Cell, RefCell};
use std::time::Instant;

/// One part of the gateway that is not well, and why: what `/healthz` names in its 503.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwell {
    /// Short stable name of the part (`sip`, `media_clock`, `room`, `http`, `gateway`),
    /// for monitors to match on.
    pub part: &'static str,
    /// What is wrong, in words for people.
    pub reason: String,
}

impl std::fmt::Display for Unwell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.part, self.reason)
    }
}

/// Asks a running part whether it keeps up at `now`; None when it does.
type Probe = Box<dyn Fn(Instant) -> Option<String>>;

/// The gateway's health: starting until every listener is up, then ok until it is
/// stopping, a part that must run forever has ended, or a watched part says it lags.
#[derive(Default)]
pub struct Health {
    ready: Cell<bool>,
    stopping: Cell<bool>,
    failure: RefCell<Option<Unwell>>,
    probes: RefCell<Vec<(&'static str, Probe)>>,
}

impl Health {
    /// A gateway that is still starting (not healthy yet).
    pub fn new() -> Health {
        Health::default()
    }

    /// Every listener is up: from now on the gateway is healthy unless something fails.
    pub fn set_ready(&self) {
        self.ready.set(true);
    }

    /// SIGTERM/SIGINT arrived: calls are being hung up and no new ones are taken.
    pub fn set_stopping(&self) {
        self.stopping.set(true);
    }

    /// A part the gateway cannot serve without has stopped (the first reason is kept,
    /// because later failures are usually its consequences).
    pub fn fail(&self, part: &'static str, why: impl Into<String>) {
        let mut failure = self.failure.borrow_mut();
        if failure.is_none() {
            *failure = Some(Unwell {
                part,
                reason: why.into(),
            });
        }
    }

    /// Asks `probe` at every health check whether `part` keeps up (Some(why) when not).
    pub fn watch(&self, part: &'static str, probe: impl Fn(Instant) -> Option<String> + 'static) {
        self.probes.borrow_mut().push((part, Box::new(probe)));
    }

    /// Every part that is unwell at `now`, the gravest first; empty when all is well.
    pub fn check(&self, now: Instant) -> Vec<Unwell> {
        let mut out: Vec<Unwell> = self.failure.borrow().iter().cloned().collect();
        let gateway = |reason: &str| Unwell {
            part: "gateway",
            reason: reason.into(),
        };
        if self.stopping.get() {
            out.push(gateway("stopping"));
        } else if !self.ready.get() {
            out.push(gateway("starting"));
        }
        for (part, probe) in self.probes.borrow().iter() {
            if let Some(reason) = probe(now) {
                out.push(Unwell { part, reason });
            }
        }
        out
    }

    /// Ok when the gateway serves calls; otherwise its gravest trouble, in words for a
    /// status line (the watchdog is fed only on Ok).
    pub fn healthy(&self) -> Result<(), String> {
        match self.check(Instant::now()).first() {
            None => Ok(()),
            Some(unwell) => Err(unwell.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Health, Unwell};
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    #[test]
    fn starting_then_ready_then_stopping() {
        let h = Health::new();
        assert_eq!(h.healthy(), Err("gateway: starting".into()));
        h.set_ready();
        assert_eq!(h.healthy(), Ok(()));
        h.set_stopping();
        assert_eq!(h.healthy(), Err("gateway: stopping".into()));
    }

    #[test]
    fn the_first_failure_is_kept_and_wins() {
        let h = Health::new();
        h.set_ready();
        h.fail("sip", "the SIP loop ended");
        h.fail("http", "the HTTP server ended");
        assert_eq!(h.healthy(), Err("sip: the SIP loop ended".into()));
    }

    #[test]
    fn a_watched_part_that_lags_is_named_while_it_lags() {
        let h = Health::new();
        h.set_ready();
        let late = Rc::new(Cell::new(false));
        let probe = late.clone();
        h.watch("media_clock", move |_| {
            probe.get().then(|| "late by 300 ms".to_string())
        });
        assert!(h.check(Instant::now()).is_empty());
        late.set(true);
        assert_eq!(
            h.check(Instant::now()),
            vec![Unwell {
                part: "media_clock",
                reason: "late by 300 ms".into()
            }]
        );
        assert_eq!(h.healthy(), Err("media_clock: late by 300 ms".into()));
        late.set(false);
        assert_eq!(h.healthy(), Ok(()));
    }

    #[test]
    fn probes_are_asked_at_the_time_given() {
        let h = Health::new();
        h.set_ready();
        let since = Instant::now();
        h.watch("sip", move |now| {
            (now.duration_since(since) > Duration::from_secs(5)).then(|| "stale".to_string())
        });
        assert!(h.check(since + Duration::from_secs(1)).is_empty());
        assert_eq!(h.check(since + Duration::from_secs(6))[0].part, "sip");
    }
}
