//! The call state machine of SPEC section 1: which state lines a call writes, and with
//! which code and reason it ends. Pure: it is told what happened (SIP events, the
//! gateway's own decisions) and answers with state changes; the call task records them.

use crate::sip::EndCause;
use std::collections::VecDeque;

/// The SIPx/pjsip call states, numbered as the API reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// INVITE sent.
    Calling = 1,
    /// Reserved for inbound calls.
    Incoming = 2,
    /// A provisional response worth telling.
    Early = 3,
    /// 2xx received, ACK not yet sent.
    Connecting = 4,
    /// ACK sent: media flows both ways.
    Confirmed = 5,
    /// The end, exactly once.
    Disconnected = 6,
}

impl CallState {
    /// The number clients see in callstate lines and webhooks.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The text clients see; `DISCONNCTD` is SIPx's spelling and stays.
    pub fn text(self) -> &'static str {
        match self {
            CallState::Calling => "CALLING",
            CallState::Incoming => "INCOMING",
            CallState::Early => "EARLY",
            CallState::Connecting => "CONNECTING",
            CallState::Confirmed => "CONFIRMED",
            CallState::Disconnected => "DISCONNCTD",
        }
    }
}

/// One state change before it is stamped with the time and recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The new state.
    pub state: CallState,
    /// SIP status code, 0 when there is none.
    pub code: u16,
    /// SIP reason phrase or the gateway's explanation; may be empty.
    pub reason: String,
}

/// Why the gateway itself decided to end a call. The reason text is what users read
/// in the DISCONNCTD line, so each says who ended the call and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HangupCause {
    /// `/trtc/shutdown` was called.
    Shutdown,
    /// The call's TTL ran out.
    Ttl,
    /// The room ended the call (dismissed, user removed, connection lost).
    Room(String),
    /// The phone stopped sending RTP for this many seconds.
    NoRtp(u32),
    /// The phone's answer had no codec in common with our offer.
    NoCommonCodec,
    /// The gateway is shutting down.
    GatewayStopping,
    /// A sound-device line failed for good (unplugged); the text names the device.
    Device(String),
    /// An inbound call refused before its answer, with this final response to the
    /// caller (603 every callee declined, 486 all busy, 480 no answer, 503 Call Engine).
    Refused(u16, String),
}

impl HangupCause {
    /// The reason phrase of the DISCONNCTD line.
    pub fn reason(&self) -> String {
        match self {
            HangupCause::Shutdown => "shutdown requested".into(),
            HangupCause::Ttl => "ttl expired".into(),
            HangupCause::Room(reason) => reason.clone(),
            HangupCause::NoRtp(secs) => format!("no RTP for {secs} s"),
            HangupCause::NoCommonCodec => "no common codec".into(),
            HangupCause::GatewayStopping => "gateway stopping".into(),
            HangupCause::Device(reason) => reason.clone(),
            HangupCause::Refused(_, reason) => reason.clone(),
        }
    }
}

/// The state of one call as the API tells it.
#[derive(Debug)]
pub struct CallMachine {
    state: Option<CallState>,
    answer: Option<(u16, String)>,
    cause: Option<HangupCause>,
    changes: VecDeque<StateChange>,
}

impl Default for CallMachine {
    fn default() -> Self {
        Self::new()
    }
}

impl CallMachine {
    /// A call that has not sent its INVITE yet.
    pub fn new() -> Self {
        CallMachine {
            state: None,
            answer: None,
            cause: None,
            changes: VecDeque::new(),
        }
    }

    /// The current state, None before the INVITE.
    pub fn state(&self) -> Option<CallState> {
        self.state
    }

    /// True once DISCONNCTD has been emitted.
    pub fn is_done(&self) -> bool {
        self.state == Some(CallState::Disconnected)
    }

    /// True once the phone answered.
    pub fn is_answered(&self) -> bool {
        self.answer.is_some()
    }

    /// The cause the gateway gave when it decided to hang up, if it did.
    pub fn hangup_cause(&self) -> Option<&HangupCause> {
        self.cause.as_ref()
    }

    fn emit(&mut self, state: CallState, code: u16, reason: impl Into<String>) {
        if self.is_done() {
            return;
        }
        self.state = Some(state);
        self.changes.push_back(StateChange {
            state,
            code,
            reason: reason.into(),
        });
    }

    /// Someone called the box: INCOMING.
    pub fn incoming(&mut self) {
        if self.state.is_none() {
            self.emit(CallState::Incoming, 0, "");
        }
    }

    /// The INVITE went out.
    pub fn invite_sent(&mut self) {
        self.invite_sent_via("");
    }

    /// The INVITE went out by `route` (the CALLING line's reason).
    pub fn invite_sent_via(&mut self, route: &str) {
        if self.state.is_none() {
            self.emit(CallState::Calling, 0, route);
        }
    }

    /// A provisional response (other than 100) arrived.
    pub fn provisional(&mut self, code: u16, reason: &str) {
        if matches!(
            self.state,
            Some(CallState::Calling | CallState::Incoming | CallState::Early)
        ) {
            self.emit(CallState::Early, code, reason);
        }
    }

    /// The first 2xx arrived.
    pub fn answered(&mut self, code: u16, reason: &str) {
        if matches!(
            self.state,
            Some(CallState::Calling | CallState::Incoming | CallState::Early)
        ) {
            self.answer = Some((code, reason.to_string()));
            self.emit(CallState::Connecting, code, reason);
        }
    }

    /// The ACK for the 2xx went out.
    pub fn confirmed(&mut self) {
        if self.state == Some(CallState::Connecting) {
            let (code, reason) = self.answer.clone().unwrap_or((200, "OK".into()));
            self.emit(CallState::Confirmed, code, reason);
        }
    }

    /// A sound-device line is open and running: there is no one to answer, so the call
    /// goes from CALLING straight to CONFIRMED.
    pub fn line_open(&mut self, reason: &str) {
        if self.state == Some(CallState::Calling) {
            self.answer = Some((200, reason.to_string()));
            self.emit(CallState::Confirmed, 200, reason);
        }
    }

    /// The gateway decides to end the call. Returns true when this is the first such
    /// decision, i.e. when the SIP leg must now be hung up.
    pub fn hangup(&mut self, cause: HangupCause) -> bool {
        if self.cause.is_some() || self.is_done() {
            return false;
        }
        self.cause = Some(cause);
        true
    }

    /// The SIP leg ended. The line says what happened: the gateway's cause when it
    /// hung up, otherwise what the phone or the network did.
    pub fn sip_terminated(&mut self, code: u16, reason: &str, how: EndCause) {
        let (code, reason) = match (&self.cause, how) {
            (Some(HangupCause::Ttl), _) if !self.is_answered() => {
                (408, "ttl expired, no answer".to_string())
            }
            (Some(HangupCause::NoCommonCodec), _) => (488, HangupCause::NoCommonCodec.reason()),
            // We refused an inbound call: the code we answered with, our reason.
            (Some(cause), EndCause::LocalReject) => (code, cause.reason()),
            // The phone hung up or refused before our CANCEL/BYE took effect: its word wins.
            (Some(_), EndCause::RemoteBye) => (200, "phone hung up".to_string()),
            (Some(_), EndCause::Rejected) if code != 487 => (code, phrase_or_default(code, reason)),
            (Some(cause), _) => (if code == 0 { 200 } else { code }, cause.reason()),
            (None, EndCause::RemoteBye) => (200, "phone hung up".to_string()),
            (None, EndCause::NoAnswer) => (408, "no response from the phone".to_string()),
            (None, EndCause::AuthFailed) => (
                code,
                format!("authentication failed: {}", phrase_or_default(code, reason)),
            ),
            (None, EndCause::TransportError) => (503, "SIP transport error".to_string()),
            (None, _) => (code, phrase_or_default(code, reason)),
        };
        self.emit(CallState::Disconnected, code, reason);
    }

    /// The call ends without (further) word from SIP: room entry failed before the
    /// INVITE, the INVITE could not be sent, or the SIP leg did not finish in time.
    pub fn fail(&mut self, code: u16, reason: impl Into<String>) {
        self.emit(CallState::Disconnected, code, reason);
    }

    /// Ends the call with the gateway's own cause when SIP gave no final word in time.
    pub fn give_up(&mut self) {
        let (code, reason) = match &self.cause {
            Some(HangupCause::Ttl) if !self.is_answered() => {
                (408, "ttl expired, no answer".to_string())
            }
            Some(HangupCause::Device(reason)) => (503, reason.clone()),
            Some(cause) => (if self.is_answered() { 200 } else { 487 }, cause.reason()),
            None => (500, "call ended without SIP final response".to_string()),
        };
        self.fail(code, reason);
    }

    /// Takes the next state change to record.
    pub fn poll_change(&mut self) -> Option<StateChange> {
        self.changes.pop_front()
    }
}

/// The peer's reason phrase, or RFC 3261's when it sent none.
fn phrase_or_default(code: u16, reason: &str) -> String {
    if !reason.trim().is_empty() {
        return reason.trim().to_string();
    }
    match code {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(m: &mut CallMachine) -> Vec<(u8, u16, String)> {
        std::iter::from_fn(|| m.poll_change())
            .map(|c| (c.state.number(), c.code, c.reason))
            .collect()
    }

    #[test]
    fn answered_call_hung_up_by_phone() {
        let mut m = CallMachine::new();
        m.invite_sent();
        m.provisional(180, "Ringing");
        m.provisional(183, "Session Progress");
        m.answered(200, "OK");
        m.confirmed();
        m.sip_terminated(200, "OK", EndCause::RemoteBye);
        assert_eq!(
            drain(&mut m),
            vec![
                (1, 0, "".into()),
                (3, 180, "Ringing".into()),
                (3, 183, "Session Progress".into()),
                (4, 200, "OK".into()),
                (5, 200, "OK".into()),
                (6, 200, "phone hung up".into()),
            ]
        );
        assert!(m.is_done());
    }

    #[test]
    fn shutdown_before_answer_keeps_the_487() {
        let mut m = CallMachine::new();
        m.invite_sent();
        m.provisional(180, "Ringing");
        assert!(m.hangup(HangupCause::Shutdown));
        assert!(!m.hangup(HangupCause::Ttl), "only the first cause counts");
        m.sip_terminated(487, "Request Terminated", EndCause::Cancelled);
        let lines = drain(&mut m);
        assert_eq!(
            lines.last().unwrap(),
            &(6, 487, "shutdown requested".into())
        );
    }

    #[test]
    fn ttl_before_answer_is_408() {
        let mut m = CallMachine::new();
        m.invite_sent();
        m.hangup(HangupCause::Ttl);
        m.sip_terminated(487, "Request Terminated", EndCause::Cancelled);
        assert_eq!(
            drain(&mut m).last().unwrap(),
            &(6, 408, "ttl expired, no answer".into())
        );
    }

    #[test]
    fn ttl_after_answer_is_200() {
        let mut m = CallMachine::new();
        m.invite_sent();
        m.answered(200, "OK");
        m.confirmed();
        m.hangup(HangupCause::Ttl);
        m.sip_terminated(200, "OK", EndCause::LocalBye);
        assert_eq!(
            drain(&mut m).last().unwrap(),
            &(6, 200, "ttl expired".into())
        );
    }

    #[test]
    fn busy_keeps_the_phones_phrase() {
        let mut m = CallMachine::new();
        m.invite_sent();
        m.sip_terminated(486, "Busy Here", EndCause::Rejected);
        assert_eq!(drain(&mut m).last().unwrap(), &(6, 486, "Busy Here".into()));
    }

    #[test]
    fn disconnected_is_written_once() {
        let mut m = CallMachine::new();
        m.invite_sent();
        m.sip_terminated(486, "", EndCause::Rejected);
        m.sip_terminated(200, "OK", EndCause::RemoteBye);
        m.give_up();
        let lines = drain(&mut m);
        assert_eq!(lines.iter().filter(|l| l.0 == 6).count(), 1);
        assert_eq!(lines.last().unwrap(), &(6, 486, "Busy Here".into()));
    }

    #[test]
    fn no_common_codec_is_488_even_after_bye() {
        let mut m = CallMachine::new();
        m.invite_sent();
        m.answered(200, "OK");
        m.hangup(HangupCause::NoCommonCodec);
        m.confirmed();
        m.sip_terminated(200, "OK", EndCause::LocalBye);
        assert_eq!(
            drain(&mut m).last().unwrap(),
            &(6, 488, "no common codec".into())
        );
    }

    #[test]
    fn room_closing_says_so() {
        let mut m = CallMachine::new();
        m.invite_sent();
        m.answered(200, "OK");
        m.confirmed();
        m.hangup(HangupCause::Room("room closed".into()));
        m.sip_terminated(200, "OK", EndCause::LocalBye);
        assert_eq!(
            drain(&mut m).last().unwrap(),
            &(6, 200, "room closed".into())
        );
    }

    #[test]
    fn late_states_are_ignored() {
        let mut m = CallMachine::new();
        m.invite_sent();
        m.confirmed(); // no 2xx yet: ignored
        m.answered(200, "OK");
        m.provisional(180, "Ringing"); // after the answer: ignored
        let states: Vec<u8> = drain(&mut m).into_iter().map(|l| l.0).collect();
        assert_eq!(states, vec![1, 4]);
    }
}
