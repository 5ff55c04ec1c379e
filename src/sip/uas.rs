//! One inbound call as the callee (RFC 3261 §13.3 on the UAS side): the caller's INVITE
//! is answered 100 at once, then 180 or 183 with early media when the call layer says,
//! 200 with our SDP answer when someone picks up (retransmitted until the ACK, BYE when
//! none comes), or a final refusal; the caller's CANCEL gets 200 and the INVITE 487; BYE
//! either way. Requests inside the dialog are served as for our own calls (`in_dialog`).

use super::dialog::{uri_addr, Dialog};
use super::endpoint::{CallKey, EndCause, Shared, SipEvent};
use super::in_dialog::{report_end, send_bye, serve_in_dialog, InDialog, Session};
use super::message::{CommonHeaders, Request, Response};
use super::register::uri_user;
use super::sdp::{LocalMedia, NegotiatedMedia, SdpError};
use super::transaction::TxKey;
use super::transport::Transport;
use super::uac::Role;
use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{Contact, ContentType, Routing};
use ezk_sip_types::Name;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// INVITE received, 100 sent.
    Incoming,
    /// 180 or 183 sent.
    Ringing,
    /// 200 sent, waiting for its ACK.
    Answered,
    /// ACK received.
    Confirmed,
    /// Our BYE is out.
    Terminating,
    /// Terminated has been emitted; the call lingers to answer stray requests.
    Done,
}

/// The caller's INVITE as the call layer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    /// The call in the user agent.
    pub call: CallKey,
    /// The Request-URI's user part: the number the caller dialled.
    pub called: String,
    /// The From URI's user part (the caller's number), empty when it has none.
    pub caller: String,
    /// Where the INVITE came from.
    pub source: SocketAddr,
    /// What it came over.
    pub transport: Transport,
}

pub(crate) struct UasCall {
    key: CallKey,
    call_id: String,
    invite: Request,
    invite_tx: TxKey,
    source: SocketAddr,
    transport: Transport,
    local_tag: String,
    /// The caller's offer (empty: a late offer, which this user agent refuses).
    offer: Bytes,
    session: Session,
    state: State,
    dialog: Option<Dialog>,
    linger_until: Option<Instant>,
}

impl UasCall {
    /// Takes an INVITE: 100 Trying goes out, the call layer hears of it as `Incoming`.
    pub(crate) fn accept(
        sh: &mut Shared,
        now: Instant,
        key: CallKey,
        tx: TxKey,
        invite: Request,
        (source, transport): (SocketAddr, Transport),
    ) -> Self {
        let local_tag = sh.token(16);
        let trying = Response::for_request(&invite, 100, "Trying", None);
        sh.tx.send_response(now, tx, trying);
        let raw = |name: &Name| {
            invite
                .headers
                .get_raw(name)
                .next()
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        let start_line = String::from_utf8_lossy(&invite.to_bytes()[..]).to_string();
        let request_uri = start_line
            .split("\r\n")
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or("")
            .to_string();
        sh.events.push_back(SipEvent::Incoming(IncomingCall {
            call: key,
            called: uri_user(&request_uri).unwrap_or("").to_string(),
            caller: uri_user(&raw(&Name::FROM)).unwrap_or("").to_string(),
            source,
            transport,
        }));
        let dialog = dialog_from_invite(&invite, &local_tag, source, transport);
        UasCall {
            key,
            call_id: invite.call_id().unwrap_or_default(),
            offer: invite.sdp().unwrap_or_default(),
            invite,
            invite_tx: tx,
            source,
            transport,
            local_tag,
            // What we receive is known once the call layer has media ports for the call:
            // it comes with the 183 or the 200.
            session: Session {
                local_sdp: Bytes::new(),
                local_media: LocalMedia {
                    ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                    rtp_port: 0,
                    codecs: Vec::new(),
                    telephone_event: false,
                    session_id: 0,
                    session_version: 0,
                },
            },
            state: State::Incoming,
            dialog,
            linger_until: None,
        }
    }

    pub(crate) fn destinations(&self) -> impl Iterator<Item = IpAddr> {
        std::iter::once(self.source.ip())
    }

    /// Where the INVITE came from: the caller's RTP is trusted from this IP.
    pub(crate) fn source(&self) -> SocketAddr {
        self.source
    }

    pub(crate) fn linger_until(&self) -> Option<Instant> {
        self.linger_until
    }

    pub(crate) fn matches(&self, req: &Request) -> bool {
        self.dialog.as_ref().is_some_and(|d| d.matches(req))
    }

    /// Whether `tx` is this call's INVITE (a CANCEL names it).
    pub(crate) fn is_invite(&self, tx: TxKey) -> bool {
        self.invite_tx == tx
    }

    fn respond(&mut self, sh: &mut Shared, now: Instant, code: u16, reason: &str, body: Bytes) {
        let mut resp = Response::for_request(&self.invite, code, reason, Some(&self.local_tag));
        let contact = (101..300).contains(&code).then_some(self.transport);
        sh.local.decorate_response(&mut resp, contact);
        if let Ok(rr) = self.invite.headers.get::<Vec<Routing>>(Name::RECORD_ROUTE) {
            if !rr.is_empty() && (101..300).contains(&code) {
                resp.headers.insert_type(Name::RECORD_ROUTE, &rr);
            }
        }
        if !body.is_empty() {
            resp.headers
                .insert_named(&ContentType(BytesStr::from_static("application/sdp")));
            resp.body = body;
        }
        sh.tx.send_response(now, self.invite_tx, resp);
    }

    /// 180 Ringing (the caller plays its own ringback).
    pub(crate) fn ring(&mut self, sh: &mut Shared, now: Instant) {
        if self.state != State::Incoming {
            return;
        }
        self.respond(sh, now, 180, "Ringing", Bytes::new());
        self.state = State::Ringing;
        sh.events.push_back(SipEvent::Progress {
            call: self.key,
            code: 180,
            reason: "Ringing".into(),
            media: None,
        });
    }

    /// Our answer to the caller's offer, kept for the 183 and the 200 alike.
    fn answer_offer(&mut self) -> Result<(Bytes, NegotiatedMedia), SdpError> {
        if self.offer.is_empty() {
            return Err(SdpError::Malformed(
                "INVITE without SDP offer (late offer is not supported)".into(),
            ));
        }
        let offer = self.offer.clone();
        self.session
            .answer_for(&offer)
            .ok_or(SdpError::NoCommonCodec)
    }

    /// 183 Session Progress with our SDP answer: what the call layer sends (the room's
    /// audio, or a ringback tone) is heard before the answer.
    pub(crate) fn early_media(&mut self, sh: &mut Shared, now: Instant, media: LocalMedia) {
        if !matches!(self.state, State::Incoming | State::Ringing) {
            return;
        }
        self.session.local_media = media;
        let media = self.answer_offer();
        let body = self.session.local_sdp.clone();
        if media.is_ok() {
            self.respond(sh, now, 183, "Session Progress", body);
            self.state = State::Ringing;
        }
        sh.events.push_back(SipEvent::Progress {
            call: self.key,
            code: 183,
            reason: "Session Progress".into(),
            media: Some(media.map(|(_, m)| m)),
        });
    }

    /// 200 OK with our SDP answer (the same as in the 183, if one went out); Confirmed
    /// follows with the ACK.
    pub(crate) fn answer(&mut self, sh: &mut Shared, now: Instant, media: LocalMedia) {
        if !matches!(self.state, State::Incoming | State::Ringing) {
            return;
        }
        if self.session.local_sdp.is_empty() {
            self.session.local_media = media;
        }
        let media = if self.session.local_sdp.is_empty() {
            self.answer_offer().map(|(_, m)| m)
        } else {
            let offer = self.offer.clone();
            super::sdp::answer_offer(&offer, &self.session.local_media).map(|(_, m)| m)
        };
        let body = self.session.local_sdp.clone();
        match &media {
            Ok(_) => {
                self.respond(sh, now, 200, "OK", body);
                self.state = State::Answered;
                sh.owners.insert(self.invite_tx, (self.key, Role::Invite));
            }
            Err(_) => {
                self.respond(sh, now, 488, "Not Acceptable Here", Bytes::new());
                self.terminate(
                    sh,
                    now,
                    488,
                    "Not Acceptable Here".into(),
                    EndCause::LocalReject,
                );
                return;
            }
        }
        sh.events.push_back(SipEvent::Answered {
            call: self.key,
            code: 200,
            reason: "OK".into(),
            media: Some(media),
        });
    }

    /// Ends the call: a final refusal before the answer (`refusal`, else 480), BYE after.
    pub(crate) fn hangup(&mut self, sh: &mut Shared, now: Instant, refusal: Option<(u16, String)>) {
        match self.state {
            State::Incoming | State::Ringing => {
                let (code, reason) =
                    refusal.unwrap_or((480, "Temporarily Unavailable".to_string()));
                let code = if (300..700).contains(&code) {
                    code
                } else {
                    480
                };
                self.respond(sh, now, code, &reason, Bytes::new());
                self.terminate(sh, now, code, reason, EndCause::LocalReject);
            }
            State::Answered | State::Confirmed => self.send_bye(sh, now),
            State::Terminating | State::Done => {}
        }
    }

    /// An INFO in the confirmed dialog (DTMF relay); false before the ACK.
    pub(crate) fn send_info(
        &mut self,
        sh: &mut Shared,
        now: Instant,
        content_type: &str,
        body: Bytes,
    ) -> bool {
        let confirmed = self.state == State::Confirmed;
        let dialog = self.dialog.as_mut();
        super::in_dialog::send_info(sh, now, dialog, confirmed, self.key, (content_type, body))
    }

    fn send_bye(&mut self, sh: &mut Shared, now: Instant) {
        let Some(d) = self.dialog.as_mut() else {
            return;
        };
        send_bye(sh, now, d, self.key);
        self.state = State::Terminating;
    }

    /// The caller's CANCEL (already answered 200): the INVITE gets 487.
    pub(crate) fn on_cancel(&mut self, sh: &mut Shared, now: Instant) {
        if matches!(self.state, State::Incoming | State::Ringing) {
            self.respond(sh, now, 487, "Request Terminated", Bytes::new());
            self.terminate(
                sh,
                now,
                487,
                "caller hung up before the answer".into(),
                EndCause::RemoteCancel,
            );
        }
    }

    fn terminate(
        &mut self,
        sh: &mut Shared,
        now: Instant,
        code: u16,
        reason: String,
        cause: EndCause,
    ) {
        if self.state == State::Done {
            return;
        }
        self.state = State::Done;
        let until = report_end(sh, now, self.key, &self.call_id, (code, reason), cause);
        self.linger_until = Some(until);
    }

    pub(crate) fn on_timeout(&mut self, sh: &mut Shared, now: Instant, role: Role) {
        match role {
            // No ACK for our 200 (RFC 3261 13.3.1.4): end the dialog with BYE.
            Role::Invite if self.state == State::Answered => {
                log::warn!(
                    "SIP inbound call {}: no ACK for our 200, sending BYE",
                    self.call_id
                );
                self.send_bye(sh, now);
            }
            Role::Bye => self.terminate(
                sh,
                now,
                200,
                "Normal call clearing (local BYE, no answer to it)".into(),
                EndCause::LocalBye,
            ),
            _ => {}
        }
    }

    pub(crate) fn on_response(
        &mut self,
        sh: &mut Shared,
        now: Instant,
        role: Role,
        resp: &Response,
    ) {
        if role == Role::Bye && resp.code() >= 200 {
            self.terminate(
                sh,
                now,
                200,
                "Normal call clearing (local BYE)".into(),
                EndCause::LocalBye,
            );
        }
    }

    pub(crate) fn on_transport_error(
        &mut self,
        sh: &mut Shared,
        now: Instant,
        (to, transport): (SocketAddr, Transport),
    ) {
        if self.state == State::Terminating
            && self
                .dialog
                .as_ref()
                .is_some_and(|d| d.next_hop() == to && d.hop_transport() == transport)
        {
            self.terminate(
                sh,
                now,
                503,
                "SIP transport error".into(),
                EndCause::TransportError,
            );
        }
    }

    /// A request of the caller inside the dialog (ACK, BYE, re-INVITE, INFO…).
    pub(crate) fn on_request(&mut self, sh: &mut Shared, now: Instant, tx: TxKey, req: Request) {
        let is_ack = *req.method() == ezk_sip_types::Method::ACK;
        let Some(dialog) = self.dialog.as_mut() else {
            return;
        };
        let done = self.state == State::Done;
        let served = serve_in_dialog(sh, now, tx, req, dialog, &mut self.session, self.key, done);
        if is_ack && self.state == State::Answered {
            self.state = State::Confirmed;
            sh.owners.remove(&self.invite_tx);
            sh.events.push_back(SipEvent::Confirmed { call: self.key });
        }
        if served == InDialog::Bye {
            self.terminate(sh, now, 200, "caller hung up".into(), EndCause::RemoteBye);
        }
    }
}

/// The dialog our answer to `invite` creates (RFC 3261 12.1.1): our tag in To, the
/// caller's Contact as the remote target, Record-Route as is; over the transport the
/// INVITE came on.
fn dialog_from_invite(
    invite: &Request,
    local_tag: &str,
    source: SocketAddr,
    transport: Transport,
) -> Option<Dialog> {
    let mut local = invite.to()?;
    local.tag = Some(BytesStr::from(local_tag.to_string()));
    let remote = invite.from()?;
    let remote_tag = remote.tag.as_ref()?.to_string();
    let route_set = invite
        .headers
        .get::<Vec<Routing>>(Name::RECORD_ROUTE)
        .unwrap_or_default();
    let remote_target = invite
        .headers
        .get_named::<Vec<Contact>>()
        .ok()
        .and_then(|c| c.into_iter().next())
        .map(|c| c.uri.uri)?;
    // A caller that names a private address it cannot be reached at is answered where it
    // sent from (as for registered devices, see `shell::next_hop`).
    let fallback = match uri_addr(&remote_target) {
        Some(a) if a.ip() == source.ip() => a,
        _ => source,
    };
    Some(Dialog {
        call_id: invite.call_id()?,
        local,
        remote,
        remote_tag,
        local_cseq: 0,
        remote_cseq: invite.cseq().map(|c| c.cseq),
        route_set,
        remote_target,
        fallback,
        transport,
    })
}
