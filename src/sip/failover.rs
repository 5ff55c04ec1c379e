//! One call through the trunk list: when the trunk it went to fails (see
//! [`is_trunk_failure`]) before anyone answered, the call moves on to the next trunk of
//! its plan, and the call layer sees one call throughout, with a provisional line that
//! says which trunk failed, why, and which comes next. Decisions only, no I/O: the shell
//! feeds each leg's events in, starts the next leg and marks trunks up and down.
//!
//! The numbers called "trunk" here are the shell's attempts: a trunk at one of its
//! addresses (RFC 3263 4.3 tries a host's next address before the next trunk).

use super::endpoint::{CallKey, EndCause, SipEvent};
use super::fork::renamed;
use super::trunks::is_trunk_failure;
use std::collections::VecDeque;

/// What to do after one event of a trunk call.
#[derive(Debug, Default)]
pub struct FailoverStep {
    /// The event as the call layer should see it (under the group's key), if at all.
    pub forward: Option<SipEvent>,
    /// A trunk that failed, and why: passed over for its retry period.
    pub trunk_failed: Option<(usize, String)>,
    /// A trunk that answered: up.
    pub trunk_answered: Option<usize>,
    /// The trunk to send the call to now (then [`Failover::started`] or
    /// [`Failover::start_failed`]).
    pub try_next: Option<usize>,
}

/// A call's journey through its trunks.
#[derive(Debug)]
pub struct Failover {
    /// The key the call layer knows the call by (the first leg's).
    pub group: CallKey,
    current: CallKey,
    trunk: usize,
    rest: VecDeque<usize>,
    answered: bool,
    ending: bool,
}

/// Why a leg's end counts against its trunk, in words for the state line.
fn failure_words(code: u16, reason: &str, cause: EndCause) -> String {
    match cause {
        EndCause::NoAnswer => "no answer".to_string(),
        EndCause::TransportError => "transport error".to_string(),
        _ => format!("{code} {reason}"),
    }
}

/// The provisional line of a call that moves on: `trunk primary: 503 Service
/// Unavailable, trying backup` (code 0: no SIP response says this).
pub fn moved_on(group: CallKey, from: &str, why: &str, to: &str) -> SipEvent {
    SipEvent::Progress {
        call: group,
        code: 0,
        reason: format!("trunk {from}: {why}, trying {to}"),
        media: None,
    }
}

impl Failover {
    /// A call whose first leg `leg` went to trunk `trunk`; `rest` are the trunks after it.
    pub fn new(leg: CallKey, trunk: usize, rest: Vec<usize>) -> Failover {
        Failover {
            group: leg,
            current: leg,
            trunk,
            rest: rest.into(),
            answered: false,
            ending: false,
        }
    }

    /// The leg the call is on now (hang-ups and in-call requests go to it).
    pub fn current(&self) -> CallKey {
        self.current
    }

    /// The trunk the call is on now.
    pub fn trunk(&self) -> usize {
        self.trunk
    }

    /// The call layer hangs up: no further trunk is tried.
    pub fn hang_up(&mut self) -> CallKey {
        self.ending = true;
        self.current
    }

    /// The next leg is out, on the trunk `try_next` named.
    pub fn started(&mut self, leg: CallKey, trunk: usize) {
        self.current = leg;
        self.trunk = trunk;
    }

    /// The next leg could not even be sent to `trunk` (no address for its host): that
    /// trunk has failed too.
    pub fn start_failed(&mut self, trunk: usize, why: String) -> FailoverStep {
        self.trunk = trunk;
        let end = SipEvent::Terminated {
            call: self.group,
            code: 503,
            reason: why.clone(),
            cause: EndCause::TransportError,
        };
        self.after_failure(why, end)
    }

    /// One event of leg `leg`.
    pub fn on_event(&mut self, leg: CallKey, ev: SipEvent) -> FailoverStep {
        let mut step = FailoverStep::default();
        if leg != self.current {
            return step; // a leg already given up on
        }
        match &ev {
            SipEvent::Terminated {
                code,
                reason,
                cause,
                ..
            } if !self.answered && is_trunk_failure(*code, *cause) => {
                let why = failure_words(*code, reason, *cause);
                return self.after_failure(why, renamed(ev, self.group));
            }
            SipEvent::Terminated {
                cause: EndCause::Rejected,
                ..
            } => step.trunk_answered = Some(self.trunk),
            SipEvent::Answered { .. } => {
                self.answered = true;
                step.trunk_answered = Some(self.trunk);
            }
            SipEvent::Progress { .. } => step.trunk_answered = Some(self.trunk),
            _ => {}
        }
        step.forward = Some(renamed(ev, self.group));
        step
    }

    /// The current trunk failed with `why`: the next one, or the end of the call with
    /// `end` (the last trunk's own word).
    fn after_failure(&mut self, why: String, end: SipEvent) -> FailoverStep {
        let mut step = FailoverStep {
            trunk_failed: Some((self.trunk, why.clone())),
            ..FailoverStep::default()
        };
        match self.rest.pop_front() {
            Some(next) if !self.ending => step.try_next = Some(next),
            _ => step.forward = Some(end),
        }
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(call: u64, code: u16, cause: EndCause) -> SipEvent {
        SipEvent::Terminated {
            call: CallKey(call),
            code,
            reason: "Service Unavailable".into(),
            cause,
        }
    }

    #[test]
    fn a_503_moves_the_call_on_and_the_last_failure_ends_it() {
        let mut f = Failover::new(CallKey(1), 0, vec![1, 2]);
        let step = f.on_event(CallKey(1), end(1, 503, EndCause::Rejected));
        assert!(step.forward.is_none());
        assert_eq!(
            step.trunk_failed,
            Some((0, "503 Service Unavailable".into()))
        );
        assert_eq!(step.try_next, Some(1));
        f.started(CallKey(2), 1);
        // The old leg's strays change nothing.
        assert!(f
            .on_event(CallKey(1), end(1, 503, EndCause::Rejected))
            .forward
            .is_none());
        let step = f.on_event(CallKey(2), end(2, 408, EndCause::NoAnswer));
        assert_eq!(step.trunk_failed, Some((1, "no answer".into())));
        assert_eq!(step.try_next, Some(2));
        let step = f.start_failed(2, "cannot resolve h".into());
        assert_eq!(step.trunk_failed, Some((2, "cannot resolve h".into())));
        match step.forward {
            Some(SipEvent::Terminated {
                call, code, cause, ..
            }) => {
                assert_eq!(
                    (call, code, cause),
                    (CallKey(1), 503, EndCause::TransportError)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_callees_answers_pass_through_and_mark_the_trunk_up() {
        let mut f = Failover::new(CallKey(5), 3, vec![4]);
        let step = f.on_event(CallKey(5), end(5, 486, EndCause::Rejected));
        assert_eq!(step.trunk_answered, Some(3));
        assert!(step.try_next.is_none());
        assert!(matches!(
            step.forward,
            Some(SipEvent::Terminated { code: 486, .. })
        ));
    }

    #[test]
    fn after_a_hang_up_or_an_answer_nothing_moves_on() {
        let mut f = Failover::new(CallKey(1), 0, vec![1]);
        assert_eq!(f.hang_up(), CallKey(1));
        let step = f.on_event(CallKey(1), end(1, 503, EndCause::Rejected));
        assert!(step.try_next.is_none());
        assert!(step.forward.is_some());

        let mut f = Failover::new(CallKey(1), 0, vec![1]);
        let answered = SipEvent::Answered {
            call: CallKey(1),
            code: 200,
            reason: "OK".into(),
            media: None,
        };
        assert!(f.on_event(CallKey(1), answered).forward.is_some());
        let step = f.on_event(CallKey(1), end(1, 0, EndCause::TransportError));
        assert!(step.try_next.is_none());
        assert!(step.forward.is_some());
    }

    #[test]
    fn the_line_names_both_trunks() {
        match moved_on(CallKey(1), "primary", "503 Service Unavailable", "backup") {
            SipEvent::Progress { code, reason, .. } => {
                assert_eq!(code, 0);
                assert_eq!(
                    reason,
                    "trunk primary: 503 Service Unavailable, trying backup"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
