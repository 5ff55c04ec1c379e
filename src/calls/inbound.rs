//! What an inbound call adds to a call's task while its callees ring: the ringback the
//! caller hears, and the moment the call is answered — the first callee entering the
//! room, or the Call Engine saying one accepted, whichever comes first — or refused:
//! every callee declined (603, 486 when all were busy), nobody answered in the rule's
//! `timeout_s` (480), the Call Engine failed (503).

use super::state::HangupCause;
use crate::media::ringback::Ringback;
use crate::media::PcmFrame;
use crate::room::RoomEvent;
use crate::sip::sdp::LocalMedia;
use smol::channel::Receiver;
use std::time::Instant;

/// How ringing ended, as the Call Engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineOutcome {
    /// A callee accepted.
    Accepted,
    /// Every callee declined; `all_busy` when each was busy in another call.
    Declined {
        /// Every callee was busy.
        all_busy: bool,
    },
    /// Nobody answered before the Call Engine gave up.
    NoAnswer,
    /// The Call Engine failed or could not be reached; the text says how.
    Failed(String),
}

/// What the call's task must do about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Keep ringing.
    Ring,
    /// Answer the caller now (200 with our SDP).
    Answer,
    /// Refuse the caller with this cause (its code is the final response).
    Refuse(HangupCause),
}

/// The inbound part of a call's task.
pub struct InboundLeg {
    /// What we receive, for the 200 (the same SDP as the 183).
    pub local_media: LocalMedia,
    ringback: Ringback,
    answer_by: Instant,
    timeout_s: u32,
    engine: Option<Receiver<EngineOutcome>>,
    decided: bool,
}

impl InboundLeg {
    /// An inbound call whose callees ring until `answer_by` (`timeout_s` after the
    /// INVITE); `engine` brings the Call Engine's word, when there is one.
    pub fn new(
        local_media: LocalMedia,
        ringback: Ringback,
        answer_by: Instant,
        timeout_s: u32,
        engine: Option<Receiver<EngineOutcome>>,
    ) -> Self {
        InboundLeg {
            local_media,
            ringback,
            answer_by,
            timeout_s,
            engine,
            decided: false,
        }
    }

    /// Whether ringing is over (answered or refused).
    pub fn decided(&self) -> bool {
        self.decided
    }

    /// What the caller hears this tick: ringback (or the room, once it has sound) while
    /// the callees ring, the room's frame after.
    pub fn caller_frame(&mut self, room: Option<PcmFrame>) -> Option<PcmFrame> {
        if self.decided {
            room
        } else {
            Some(self.ringback.next_frame(room.as_ref()))
        }
    }

    /// Looks at this tick's room event and the Call Engine's news, and the time.
    pub fn decide(&mut self, now: Instant, room_event: Option<&RoomEvent>) -> Decision {
        if self.decided {
            return Decision::Ring;
        }
        let decision = if let Some(RoomEvent::RemoteUserEntered { user }) = room_event {
            log::info!("inbound: {user} entered the room: answering");
            Decision::Answer
        } else if let Some(outcome) = self.engine.as_ref().and_then(|e| e.try_recv().ok()) {
            match outcome {
                EngineOutcome::Accepted => Decision::Answer,
                EngineOutcome::Declined { all_busy: true } => Decision::Refuse(
                    HangupCause::Refused(486, "Busy Here (every callee is busy)".into()),
                ),
                EngineOutcome::Declined { all_busy: false } => Decision::Refuse(
                    HangupCause::Refused(603, "Decline (every callee declined)".into()),
                ),
                EngineOutcome::NoAnswer => Decision::Refuse(HangupCause::Refused(
                    480,
                    "Temporarily Unavailable (no callee answered)".into(),
                )),
                EngineOutcome::Failed(why) => Decision::Refuse(HangupCause::Refused(
                    503,
                    format!("Service Unavailable (Call Engine: {why})"),
                )),
            }
        } else if now >= self.answer_by {
            Decision::Refuse(HangupCause::Refused(
                480,
                format!(
                    "Temporarily Unavailable (no callee answered within {} s)",
                    self.timeout_s
                ),
            ))
        } else {
            Decision::Ring
        };
        if decision != Decision::Ring {
            self.decided = true;
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::ringback::TonePlan;
    use std::time::Duration;

    fn leg(engine: Option<Receiver<EngineOutcome>>) -> (InboundLeg, Instant) {
        let now = Instant::now();
        let media = LocalMedia {
            ip: "127.0.0.1".parse().unwrap(),
            rtp_port: 20000,
            codecs: vec![crate::media::Codec::Pcmu],
            telephone_event: true,
            session_id: 1,
            session_version: 1,
        };
        let ringback = Ringback::new(TonePlan::default(), 8000);
        (
            InboundLeg::new(media, ringback, now + Duration::from_secs(30), 30, engine),
            now,
        )
    }

    #[test]
    fn a_callee_entering_answers_once() {
        let (mut l, now) = leg(None);
        assert_eq!(l.decide(now, None), Decision::Ring);
        assert!(l.caller_frame(None).is_some(), "ringback while ringing");
        let entered = RoomEvent::RemoteUserEntered {
            user: "alice".into(),
        };
        assert_eq!(l.decide(now, Some(&entered)), Decision::Answer);
        assert_eq!(l.decide(now, Some(&entered)), Decision::Ring, "once");
        assert!(l.caller_frame(None).is_none(), "the room's audio after");
    }

    #[test]
    fn the_call_engines_word_maps_to_the_final_response() {
        for (outcome, code) in [
            (EngineOutcome::Declined { all_busy: false }, 603),
            (EngineOutcome::Declined { all_busy: true }, 486),
            (EngineOutcome::NoAnswer, 480),
            (EngineOutcome::Failed("HTTP 500".into()), 503),
        ] {
            let (tx, rx) = smol::channel::unbounded();
            let (mut l, now) = leg(Some(rx));
            tx.try_send(outcome.clone()).unwrap();
            match l.decide(now, None) {
                Decision::Refuse(HangupCause::Refused(c, _)) => assert_eq!(c, code, "{outcome:?}"),
                other => panic!("{outcome:?}: {other:?}"),
            }
        }
        let (tx, rx) = smol::channel::unbounded();
        let (mut l, now) = leg(Some(rx));
        tx.try_send(EngineOutcome::Accepted).unwrap();
        assert_eq!(l.decide(now, None), Decision::Answer);
    }

    #[test]
    fn nobody_within_the_timeout_is_480_naming_it() {
        let (mut l, now) = leg(None);
        match l.decide(now + Duration::from_secs(30), None) {
            Decision::Refuse(HangupCause::Refused(480, why)) => assert!(why.contains("30 s")),
            other => panic!("{other:?}"),
        }
    }
}
