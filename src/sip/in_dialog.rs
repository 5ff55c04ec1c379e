//! What either side of a call does with the peer's requests inside an established dialog
//! (RFC 3261 §12.2.2, §14 and RFC 3311): ACK, BYE, re-INVITE and UPDATE with or without
//! an offer, INFO, OPTIONS. Shared by the call we place (`uac.rs`) and the call we take
//! (`uas.rs`): once the dialog exists, who called whom no longer matters.

use super::dialog::Dialog;
use super::endpoint::{CallKey, Shared, SipEvent};
use super::message::{CommonHeaders, Request, Response};
use super::sdp::{self, LocalMedia, NegotiatedMedia};
use super::transaction::TxKey;
use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sip_types::header::typed::ContentType;
use ezk_sip_types::Method;
use std::time::Instant;

/// Our side of a call's session: what we can receive and the last SDP we sent.
pub(crate) struct Session {
    /// The last SDP we sent (our offer or our latest answer).
    pub(crate) local_sdp: Bytes,
    /// What we can receive: answers are read against it, and later offers of the phone
    /// get a real answer (direction mirrored for hold, codec chosen).
    pub(crate) local_media: LocalMedia,
}

impl Session {
    /// The body answering a peer's offer and what it agrees to (RFC 3264: mirrored
    /// direction, the peer's preferred common codec, the session version bumped only when
    /// the description changes). None when nothing in the offer is acceptable (the request
    /// then gets 488).
    pub(crate) fn answer_for(&mut self, offer: &[u8]) -> Option<(Bytes, NegotiatedMedia)> {
        let media = &mut self.local_media;
        let (mut answer, mut agreed) = sdp::answer_offer(offer, media).ok()?;
        if !self.local_sdp.is_empty()
            && without_origin(answer.as_bytes()) != without_origin(&self.local_sdp)
        {
            media.session_version += 1;
            (answer, agreed) = sdp::answer_offer(offer, media).ok()?;
        }
        self.local_sdp = Bytes::from(answer);
        Some((self.local_sdp.clone(), agreed))
    }
}

/// What a request inside the dialog did, beyond being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InDialog {
    /// Answered (or absorbed); the call goes on.
    Served,
    /// The peer hung up with BYE (already answered 200).
    Bye,
}

/// Answers one request of the peer inside `dialog`; media changes and INFO bodies become
/// events of call `key`. `done`: the call has ended (only a BYE is still welcome).
#[allow(clippy::too_many_arguments)]
pub(crate) fn serve_in_dialog(
    sh: &mut Shared,
    now: Instant,
    tx: TxKey,
    req: Request,
    dialog: &mut Dialog,
    session: &mut Session,
    key: CallKey,
    done: bool,
) -> InDialog {
    let method = req.method().clone();
    let cseq = req.cseq().map(|c| c.cseq).unwrap_or(0);
    if method == Method::ACK {
        sh.tx.ack_2xx(now, &dialog.call_id, cseq);
        // SDP in an ACK answers the offer we made in a 2xx to a re-INVITE without one.
        let agreed = req
            .sdp()
            .and_then(|body| sdp::answer_offer(&body, &session.local_media).ok());
        if let Some((_, media)) = agreed {
            sh.events
                .push_back(SipEvent::RemoteOffer { call: key, media });
        }
        return InDialog::Served;
    }
    if done && method != Method::BYE {
        let resp = Response::for_request(&req, 481, "Call/Transaction Does Not Exist", None);
        sh.tx.send_response(now, tx, resp);
        return InDialog::Served;
    }
    if !dialog.accept_remote_cseq(cseq) {
        let resp = Response::for_request(&req, 500, "CSeq Out of Order", None);
        sh.tx.send_response(now, tx, resp);
        return InDialog::Served;
    }
    let mut resp = Response::for_request(&req, 200, "OK", None);
    match method {
        Method::BYE => {
            sh.local.decorate_response(&mut resp, None);
            sh.tx.send_response(now, tx, resp);
            return InDialog::Bye;
        }
        Method::INVITE | Method::UPDATE => {
            dialog.refresh_target(&req);
            let offer = req.sdp();
            sh.local
                .decorate_response(&mut resp, Some(dialog.transport));
            // Re-INVITE always gets our SDP (answer, or offer when the peer sent none);
            // UPDATE only when it carried an offer.
            let (body, agreed) = match &offer {
                Some(offer) => match session.answer_for(offer) {
                    Some((body, agreed)) => (Some(body), Some(agreed)),
                    None => (None, None),
                },
                None if method == Method::INVITE => (Some(session.local_sdp.clone()), None),
                None => (Some(Bytes::new()), None),
            };
            let Some(body) = body else {
                // Nothing acceptable: the session stays as it was (RFC 3264 section 8).
                let mut resp = Response::for_request(&req, 488, "Not Acceptable Here", None);
                sh.local.decorate_response(&mut resp, None);
                sh.tx.send_response(now, tx, resp);
                return InDialog::Served;
            };
            if !body.is_empty() {
                resp.headers
                    .insert_named(&ContentType(BytesStr::from_static("application/sdp")));
            }
            resp.body = body;
            sh.tx.send_response(now, tx, resp);
            if let Some(media) = agreed {
                sh.events
                    .push_back(SipEvent::RemoteOffer { call: key, media });
            }
        }
        Method::OPTIONS => {
            sh.local.decorate_response(&mut resp, None);
            sh.tx.send_response(now, tx, resp);
        }
        Method::INFO => {
            sh.local.decorate_response(&mut resp, None);
            sh.tx.send_response(now, tx, resp);
            if !req.body.is_empty() {
                let content_type = req.content_type().unwrap_or_default();
                sh.events.push_back(SipEvent::Info {
                    call: key,
                    content_type,
                    body: req.body.clone(),
                });
            }
        }
        _ => {
            let mut resp = Response::for_request(&req, 501, "Not Implemented", None);
            sh.local.decorate_response(&mut resp, None);
            sh.tx.send_response(now, tx, resp);
        }
    }
    InDialog::Served
}

/// Sends an INFO with `body` inside `dialog` (DTMF relay for phones that negotiated no
/// telephone-event); its answer changes nothing. False (nothing sent) when the call is
/// not `confirmed` or has no dialog.
pub(crate) fn send_info(
    sh: &mut Shared,
    now: Instant,
    dialog: Option<&mut Dialog>,
    confirmed: bool,
    key: CallKey,
    (content_type, body): (&str, Bytes),
) -> bool {
    let Some(dialog) = dialog.filter(|_| confirmed) else {
        return false;
    };
    let branch = sh.branch();
    let mut info = dialog.request(Method::INFO, None, &sh.local, &branch);
    info.headers
        .insert_named(&ContentType(BytesStr::from(content_type.to_string())));
    info.body = body;
    let tx = sh
        .tx
        .send_request(now, dialog.next_hop(), dialog.hop_transport(), info);
    sh.owners.insert(tx, (key, super::uac::Role::Info));
    true
}

/// Sends BYE inside `dialog` for call `key` (its answer, or its timeout, ends the call).
pub(crate) fn send_bye(sh: &mut Shared, now: Instant, dialog: &mut Dialog, key: CallKey) {
    let branch = sh.branch();
    let bye = dialog.request(Method::BYE, None, &sh.local, &branch);
    let tx = sh
        .tx
        .send_request(now, dialog.next_hop(), dialog.hop_transport(), bye);
    sh.owners.insert(tx, (key, super::uac::Role::Bye));
}

/// Reports the end of call `key` (logged, `Terminated` queued) and returns until when the
/// call lingers to absorb stray requests and retransmissions (64·T1).
pub(crate) fn report_end(
    sh: &mut Shared,
    now: Instant,
    key: CallKey,
    call_id: &str,
    (code, reason): (u16, String),
    cause: super::endpoint::EndCause,
) -> Instant {
    log::info!("SIP call {key:?} ({call_id}) ended: {code} {reason} ({cause:?})");
    sh.events.push_back(SipEvent::Terminated {
        call: key,
        code,
        reason,
        cause,
    });
    now + sh.timers.t1 * 64
}

/// An SDP body without its `o=` line, to tell whether a description changed.
fn without_origin(sdp: &[u8]) -> Vec<&[u8]> {
    sdp.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.starts_with(b"o="))
        .collect()
}
