//! Whether the gateway is fit to serve calls, as one answer that every observer shares:
//! the systemd watchdog feeds only while it says ok, and `/healthz` can ask the same
//! question, so the box is never "healthy" to one and "broken" to the other.
//!
//! Single-threaded like the rest of the gateway (`Rc` + `Cell`): the parts that can
//! fail (SIP loop, HTTP server, the executor itself) report here from the executor.

use std::cell::{Cell, RefCell};

/// The gateway's health: starting until every listener is up, then ok until it is
/// stopping or a part that must run forever has ended.
#[derive(Debug, Default)]
pub struct Health {
    ready: Cell<bool>,
    stopping: Cell<bool>,
    failure: RefCell<Option<String>>,
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
    pub fn fail(&self, why: impl Into<String>) {
        let mut failure = self.failure.borrow_mut();
        if failure.is_none() {
            *failure = Some(why.into());
        }
    }

    /// Ok when the gateway serves calls; otherwise why not, in words for a status line.
    pub fn healthy(&self) -> Result<(), String> {
        if let Some(why) = self.failure.borrow().as_ref() {
            return Err(why.clone());
        }
        if self.stopping.get() {
            return Err("stopping".into());
        }
        if !self.ready.get() {
            return Err("starting".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Health;

    #[test]
    fn starting_then_ready_then_stopping() {
        let h = Health::new();
        assert_eq!(h.healthy(), Err("starting".into()));
        h.set_ready();
        assert_eq!(h.healthy(), Ok(()));
        h.set_stopping();
        assert_eq!(h.healthy(), Err("stopping".into()));
    }

    #[test]
    fn the_first_failure_is_kept_and_wins() {
        let h = Health::new();
        h.set_ready();
        h.fail("SIP loop ended");
        h.fail("HTTP server ended");
        assert_eq!(h.healthy(), Err("SIP loop ended".into()));
    }
}
