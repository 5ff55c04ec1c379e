//! One call to several devices at once (a registered user with more than one contact):
//! every contact gets its own INVITE, the first to answer wins, the others are cancelled,
//! and the call layer sees a single call. Decisions only, no I/O: the shell feeds each
//! leg's events in and carries out what comes back.

use super::endpoint::{CallKey, SipEvent};
use std::collections::HashSet;

/// What to do with one leg's event.
#[derive(Debug, Default)]
pub struct ForkStep {
    /// The event as the call layer should see it (under the group's key), if at all.
    pub forward: Option<SipEvent>,
    /// Legs to hang up now (the losers, once one leg answered).
    pub hang_up: Vec<CallKey>,
}

/// A forked call: its legs and which one answered.
#[derive(Debug)]
pub struct Fork {
    /// The key the call layer knows the call by (the first leg's).
    pub group: CallKey,
    live: HashSet<CallKey>,
    winner: Option<CallKey>,
}

/// The same event, told under another call's key.
pub fn renamed(ev: SipEvent, key: CallKey) -> SipEvent {
    match ev {
        SipEvent::Progress {
            code,
            reason,
            media,
            ..
        } => SipEvent::Progress {
            call: key,
            code,
            reason,
            media,
        },
        SipEvent::Answered {
            code,
            reason,
            media,
            ..
        } => SipEvent::Answered {
            call: key,
            code,
            reason,
            media,
        },
        SipEvent::Confirmed { .. } => SipEvent::Confirmed { call: key },
        SipEvent::RemoteOffer { media, .. } => SipEvent::RemoteOffer { call: key, media },
        SipEvent::Info {
            content_type, body, ..
        } => SipEvent::Info {
            call: key,
            content_type,
            body,
        },
        SipEvent::Terminated {
            code,
            reason,
            cause,
            ..
        } => SipEvent::Terminated {
            call: key,
            code,
            reason,
            cause,
        },
        other @ SipEvent::Incoming(_) => other,
    }
}

impl Fork {
    /// A fork over `legs`, known to the call layer as `group` (one of them).
    pub fn new(group: CallKey, legs: &[CallKey]) -> Fork {
        Fork {
            group,
            live: legs.iter().copied().collect(),
            winner: None,
        }
    }

    /// The leg that answered, or the legs still trying (for a hang-up before the answer).
    pub fn legs_to_end(&self) -> Vec<CallKey> {
        match self.winner {
            Some(w) => vec![w],
            None => self.live.iter().copied().collect(),
        }
    }

    /// The leg requests inside the call go to (INFO): the winner, once there is one.
    pub fn winner(&self) -> Option<CallKey> {
        self.winner
    }

    /// Whether every leg has ended (the fork can be forgotten).
    pub fn is_over(&self) -> bool {
        self.live.is_empty()
    }

    /// One event of leg `leg`.
    pub fn on_event(&mut self, leg: CallKey, ev: SipEvent) -> ForkStep {
        let mut step = ForkStep::default();
        if !self.live.contains(&leg) {
            return step;
        }
        match (&ev, self.winner) {
            (SipEvent::Terminated { .. }, _) => {
                self.live.remove(&leg);
                // The call ends with the winner's end, or with the last loser's when
                // nobody answered.
                if self.winner == Some(leg) || (self.winner.is_none() && self.live.is_empty()) {
                    step.forward = Some(renamed(ev, self.group));
                }
            }
            (SipEvent::Answered { .. }, None) => {
                self.winner = Some(leg);
                step.hang_up = self.live.iter().copied().filter(|l| *l != leg).collect();
                step.forward = Some(renamed(ev, self.group));
            }
            // A second answer (both picked up at once): that one is hung up.
            (SipEvent::Answered { .. }, Some(w)) if w != leg => step.hang_up.push(leg),
            (_, Some(w)) if w != leg => {}
            _ => step.forward = Some(renamed(ev, self.group)),
        }
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::EndCause;

    fn answered(k: u64) -> SipEvent {
        SipEvent::Answered {
            call: CallKey(k),
            code: 200,
            reason: "OK".into(),
            media: None,
        }
    }

    fn ended(k: u64, code: u16) -> SipEvent {
        SipEvent::Terminated {
            call: CallKey(k),
            code,
            reason: String::new(),
            cause: EndCause::Rejected,
        }
    }

    #[test]
    fn the_first_answer_wins_and_the_others_are_hung_up() {
        let mut f = Fork::new(CallKey(1), &[CallKey(1), CallKey(2), CallKey(3)]);
        let ringing = SipEvent::Progress {
            call: CallKey(2),
            code: 180,
            reason: "Ringing".into(),
            media: None,
        };
        let step = f.on_event(CallKey(2), ringing);
        assert!(matches!(
            step.forward,
            Some(SipEvent::Progress {
                call: CallKey(1),
                ..
            })
        ));
        let step = f.on_event(CallKey(3), answered(3));
        assert!(matches!(
            step.forward,
            Some(SipEvent::Answered {
                call: CallKey(1),
                ..
            })
        ));
        let mut losers = step.hang_up.clone();
        losers.sort();
        assert_eq!(losers, vec![CallKey(1), CallKey(2)]);
        assert_eq!(f.winner(), Some(CallKey(3)));
        // The losers' ends (487 to our CANCEL) are not the call's.
        assert!(f.on_event(CallKey(1), ended(1, 487)).forward.is_none());
        let late = f.on_event(CallKey(2), answered(2));
        assert_eq!(late.hang_up, vec![CallKey(2)]);
        assert!(late.forward.is_none());
        assert!(f.on_event(CallKey(2), ended(2, 200)).forward.is_none());
        let end = f.on_event(CallKey(3), ended(3, 200));
        assert!(matches!(
            end.forward,
            Some(SipEvent::Terminated {
                call: CallKey(1),
                ..
            })
        ));
        assert!(f.is_over());
    }

    #[test]
    fn nobody_answering_ends_with_the_last_leg() {
        let mut f = Fork::new(CallKey(1), &[CallKey(1), CallKey(2)]);
        assert!(f.on_event(CallKey(1), ended(1, 486)).forward.is_none());
        let end = f.on_event(CallKey(2), ended(2, 480));
        assert!(matches!(
            end.forward,
            Some(SipEvent::Terminated {
                call: CallKey(1),
                code: 480,
                ..
            })
        ));
        assert_eq!(f.legs_to_end(), Vec::<CallKey>::new());
    }
}
