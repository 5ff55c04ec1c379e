//! One outbound call as the caller (RFC 3261 sections 13–15 on the UAC side): INVITE, provisional
//! answers, the 2xx and its end-to-end ACK, forks, 3xx, digest retries, CANCEL (with its races),
//! BYE either way, and the requests the peer sends inside the dialog.

use super::auth::Auth;
use super::dialog::{uri_addr, Dialog};
use super::endpoint::{CallKey, EndCause, Shared, SipEvent};
use super::in_dialog::{report_end, send_bye, serve_in_dialog, InDialog, Session};
use super::message::{CommonHeaders, Request, Response};
use super::sdp::{self, LocalMedia, NegotiatedMedia};
use super::transaction::TxKey;
use super::transport::{prepare, Transport};
use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{
    Allow, CSeq, CallID, Contact, ContentType, FromTo, MaxForwards, Routing,
};
use ezk_sip_types::msg::RequestLine;
use ezk_sip_types::uri::{NameAddr, SipUri};
use ezk_sip_types::{Headers, Method, Name};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// What a client transaction is for, so its answer reaches the right handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Invite,
    Cancel,
    Bye,
    /// BYE to an extra dialog of a forked 2xx (or to a 2xx that crossed our CANCEL).
    ExtraBye,
    /// INFO we sent in the dialog (DTMF relay); its answer changes nothing.
    Info,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// INVITE sent, nothing heard.
    Calling,
    /// A provisional answer arrived.
    Proceeding,
    /// 2xx ACKed.
    Confirmed,
    /// Our BYE is out.
    Terminating,
    /// Terminated has been emitted; the call lingers to re-ACK stray 2xx.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancel {
    None,
    /// Hang-up before any provisional: CANCEL waits for one (RFC 3261 9.1).
    Pending,
    Sent,
}

/// An ACK we sent for a 2xx, resent when that 2xx is retransmitted.
struct SentAck {
    remote_tag: String,
    to: SocketAddr,
    transport: Transport,
    bytes: Bytes,
}

pub(crate) struct UacCall {
    key: CallKey,
    call_id: String,
    from: FromTo,
    to: FromTo,
    request_uri: SipUri,
    dest: SocketAddr,
    /// What the call's requests go over (a UDP INVITE too large for a datagram still
    /// switches to TCP on its own, see `transport::prepare`).
    transport: Transport,
    cseq: u32,
    /// Our side of the session: the last SDP we sent and what we can receive.
    session: Session,
    invite_tx: Option<TxKey>,
    state: State,
    cancel: Cancel,
    dialog: Option<Dialog>,
    acks: Vec<SentAck>,
    auth: Auth,
    redirected: bool,
    /// The trunk: the first request URI's host and where the first INVITE went. Only
    /// it gets our credentials, and only it may be redirected to.
    trunk_uri: SipUri,
    trunk_dest: SocketAddr,
    linger_until: Option<Instant>,
}

impl UacCall {
    /// Build and send the first INVITE.
    pub(crate) fn start(
        sh: &mut Shared,
        now: Instant,
        key: CallKey,
        (request_uri, dest, transport): (SipUri, SocketAddr, Transport),
        from_addr: NameAddr,
        auth: Auth,
        media: LocalMedia,
    ) -> Self {
        let tag = sh.token(16);
        let call_id = format!("{}@{}", sh.token(24), sh.local.addr.ip());
        let mut call = UacCall {
            key,
            call_id,
            from: FromTo::new(from_addr, Some(BytesStr::from(tag))),
            to: FromTo::new(NameAddr::uri(request_uri.clone()), None),
            trunk_uri: request_uri.clone(),
            trunk_dest: dest,
            request_uri,
            dest,
            transport,
            cseq: 0,
            session: Session {
                local_sdp: Bytes::from(sdp::build_offer(&media)),
                local_media: media,
            },
            invite_tx: None,
            state: State::Calling,
            cancel: Cancel::None,
            dialog: None,
            acks: Vec::new(),
            auth,
            redirected: false,
            linger_until: None,
        };
        call.send_invite(sh, now);
        call
    }

    /// Whether `uri` names the trunk's own host: the same host as the first request URI,
    /// or the address the first INVITE went to.
    fn is_trunk_host(&self, uri: &SipUri) -> bool {
        let host = &uri.host_port.host;
        *host == self.trunk_uri.host_port.host
            || uri_addr(uri).is_some_and(|a| a.ip() == self.trunk_dest.ip())
    }

    /// Where this call's INVITEs went (the first, and a redirect's): trusted sources while
    /// the call lives, as the trunk may answer or call back from there.
    pub(crate) fn destinations(&self) -> impl Iterator<Item = IpAddr> {
        [self.trunk_dest.ip(), self.dest.ip()].into_iter()
    }

    /// Where the first INVITE went (the trunk): the call layer trusts RTP from its IP.
    pub(crate) fn trunk_dest(&self) -> SocketAddr {
        self.trunk_dest
    }

    pub(crate) fn linger_until(&self) -> Option<Instant> {
        self.linger_until
    }

    /// The phone's answer (in a provisional or the 2xx) read against our offer.
    fn read_answer(&self, resp: &Response) -> Option<Result<NegotiatedMedia, sdp::SdpError>> {
        resp.sdp()
            .map(|body| sdp::parse_answer(&body, &self.session.local_media.codecs))
    }

    pub(crate) fn matches(&self, req: &Request) -> bool {
        self.dialog.as_ref().is_some_and(|d| d.matches(req))
    }

    fn send_invite(&mut self, sh: &mut Shared, now: Instant) {
        self.cseq += 1;
        let branch = sh.branch();
        let mut headers = Headers::with_capacity(14);
        headers.insert_named(&sh.local.via(&branch));
        headers.insert_named(&MaxForwards(70));
        headers.insert_type(Name::FROM, &self.from);
        headers.insert_type(Name::TO, &self.to);
        headers.insert_named(&CallID::new(self.call_id.clone()));
        headers.insert_named(&CSeq::new(self.cseq, Method::INVITE));
        headers.insert_named(&sh.local.contact_on(self.transport));
        headers.insert_named(
            &super::dialog::ALLOWED
                .iter()
                .cloned()
                .map(Allow)
                .collect::<Vec<_>>(),
        );
        if !sh.local.user_agent.is_empty() {
            headers.insert(Name::USER_AGENT, sh.local.user_agent.clone());
        }
        if !self.session.local_sdp.is_empty() {
            headers.insert_named(&ContentType(BytesStr::from_static("application/sdp")));
        }
        self.auth.authorize(&mut headers);
        let req = Request {
            line: RequestLine {
                method: Method::INVITE,
                uri: self.request_uri.clone(),
            },
            headers,
            body: self.session.local_sdp.clone(),
        };
        let tx = sh.tx.send_request(now, self.dest, self.transport, req);
        sh.owners.insert(tx, (self.key, Role::Invite));
        self.invite_tx = Some(tx);
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

    pub(crate) fn hangup(&mut self, sh: &mut Shared, now: Instant) {
        match self.state {
            State::Calling => {
                if self.cancel == Cancel::None {
                    self.cancel = Cancel::Pending;
                }
            }
            State::Proceeding => {
                if self.cancel != Cancel::Sent {
                    self.send_cancel(sh, now);
                }
            }
            State::Confirmed => self.send_bye(sh, now),
            State::Terminating | State::Done => {}
        }
    }

    fn send_cancel(&mut self, sh: &mut Shared, now: Instant) {
        let Some(invite_tx) = self.invite_tx else {
            return;
        };
        let Some(invite) = sh.tx.client_request(invite_tx) else {
            return;
        };
        // RFC 3261 9.1: same request-URI, Call-ID, From, To, CSeq number and top Via as the INVITE.
        let mut headers = Headers::with_capacity(8);
        if let Some(via) = invite.top_via() {
            headers.insert_named(&via);
        }
        headers.insert_named(&MaxForwards(70));
        headers.insert_type(Name::FROM, &self.from);
        headers.insert_type(Name::TO, &self.to);
        headers.insert_named(&CallID::new(self.call_id.clone()));
        headers.insert_named(&CSeq::new(self.cseq, Method::CANCEL));
        if let Ok(routes) = invite.headers.get::<Vec<Routing>>(Name::ROUTE) {
            if !routes.is_empty() {
                headers.insert_type(Name::ROUTE, &routes);
            }
        }
        if !sh.local.user_agent.is_empty() {
            headers.insert(Name::USER_AGENT, sh.local.user_agent.clone());
        }
        let cancel = Request {
            line: RequestLine {
                method: Method::CANCEL,
                uri: invite.line.uri.clone(),
            },
            headers,
            body: Bytes::new(),
        };
        let dest = sh.tx.client_dest(invite_tx).unwrap_or(self.dest);
        // RFC 3261 9.1: the CANCEL takes the INVITE's way (and its Via says so).
        let transport = sh.tx.client_transport(invite_tx).unwrap_or(self.transport);
        let tx = sh.tx.send_request(now, dest, transport, cancel);
        sh.owners.insert(tx, (self.key, Role::Cancel));
        sh.tx.start_cancel_deadline(now, invite_tx);
        self.cancel = Cancel::Sent;
    }

    /// Sends an INFO with `body` inside the confirmed dialog (DTMF relay for phones that
    /// negotiated no telephone-event). False when there is no confirmed dialog.
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

    pub(crate) fn on_transport_error(
        &mut self,
        sh: &mut Shared,
        now: Instant,
        (to, transport): (SocketAddr, Transport),
    ) {
        let invite_over = self
            .invite_tx
            .and_then(|tx| sh.tx.client_transport(tx))
            .unwrap_or(self.transport);
        match self.state {
            State::Calling | State::Proceeding if self.dest == to && invite_over == transport => {
                if let Some(tx) = self.invite_tx {
                    sh.tx.abandon(tx);
                }
                self.terminate(
                    sh,
                    now,
                    503,
                    format!("Service Unavailable (cannot send to {to})"),
                    EndCause::TransportError,
                )
            }
            State::Terminating
                if self
                    .dialog
                    .as_ref()
                    .map(|d| (d.next_hop(), d.hop_transport()))
                    == Some((to, transport)) =>
            {
                self.terminate(
                    sh,
                    now,
                    200,
                    "Normal call clearing (local BYE could not be sent)".into(),
                    EndCause::LocalBye,
                )
            }
            _ => {}
        }
    }

    pub(crate) fn on_timeout(&mut self, sh: &mut Shared, now: Instant, _tx: TxKey, role: Role) {
        match role {
            Role::Invite => {
                if self.cancel != Cancel::None {
                    self.terminate(
                        sh,
                        now,
                        487,
                        "Request Terminated (cancelled, no final response from peer)".into(),
                        EndCause::Cancelled,
                    );
                } else {
                    self.terminate(
                        sh,
                        now,
                        408,
                        "Request Timeout (no answer from peer)".into(),
                        EndCause::NoAnswer,
                    );
                }
            }
            Role::Bye => self.terminate(
                sh,
                now,
                200,
                "Normal call clearing (local BYE, no answer to it)".into(),
                EndCause::LocalBye,
            ),
            Role::Cancel | Role::ExtraBye => {}
            Role::Info => log::debug!("SIP: INFO in {} not answered", self.call_id),
        }
    }

    pub(crate) fn on_response(
        &mut self,
        sh: &mut Shared,
        now: Instant,
        tx: TxKey,
        role: Role,
        resp: Response,
    ) {
        match role {
            Role::Invite => self.on_invite_response(sh, now, tx, resp),
            Role::Bye => {
                if resp.code() >= 200 {
                    self.terminate(
                        sh,
                        now,
                        200,
                        "Normal call clearing (local BYE)".into(),
                        EndCause::LocalBye,
                    );
                }
            }
            Role::Cancel => {
                if resp.code() >= 300 {
                    log::debug!("SIP: CANCEL answered {} {}", resp.code(), resp.reason());
                }
            }
            Role::ExtraBye => {}
            Role::Info => {
                if resp.code() >= 300 {
                    log::info!(
                        "SIP: INFO in {} refused: {} {}",
                        self.call_id,
                        resp.code(),
                        resp.reason()
                    );
                }
            }
        }
    }

    fn on_invite_response(&mut self, sh: &mut Shared, now: Instant, tx: TxKey, resp: Response) {
        let code = resp.code();
        match code {
            100..=199 => {
                if self.state == State::Calling {
                    self.state = State::Proceeding;
                }
                if self.cancel == Cancel::Pending {
                    self.send_cancel(sh, now);
                    return;
                }
                if code != 100 && self.cancel == Cancel::None && self.state == State::Proceeding {
                    sh.events.push_back(SipEvent::Progress {
                        call: self.key,
                        code,
                        reason: resp.reason(),
                        media: self.read_answer(&resp),
                    });
                }
            }
            200..=299 => self.on_2xx(sh, now, tx, resp),
            _ => self.on_failure(sh, now, tx, resp),
        }
    }

    fn on_2xx(&mut self, sh: &mut Shared, now: Instant, tx: TxKey, resp: Response) {
        let remote_tag = resp
            .to()
            .and_then(|t| t.tag.map(|t| t.to_string()))
            .unwrap_or_default();
        if let Some(ack) = self.acks.iter().find(|a| a.remote_tag == remote_tag) {
            // Retransmitted 2xx: our ACK got lost, send it again.
            sh.tx
                .send_stateless(ack.to, ack.transport, ack.bytes.clone());
            return;
        }
        let Some(invite) = sh.tx.client_request(tx).cloned() else {
            return;
        };
        let Some(mut dialog) = Dialog::from_response(&invite, &resp, self.dest, self.transport)
        else {
            log::warn!(
                "SIP: 2xx without To tag or usable headers for {}",
                self.call_id
            );
            return;
        };
        // RFC 3261 13.2.2.4: the ACK is a request of the dialog with the INVITE's CSeq number
        // (and its credentials).
        let branch = sh.branch();
        let mut ack = dialog.request(Method::ACK, Some(dialog.local_cseq), &sh.local, &branch);
        for name in [Name::AUTHORIZATION, Name::PROXY_AUTHORIZATION] {
            for v in invite.headers.get_raw(&name) {
                ack.headers.insert(name.clone(), v.clone());
            }
        }
        let to = dialog.next_hop();
        let (transport, bytes) = prepare(&mut ack, dialog.hop_transport());
        sh.tx.send_stateless(to, transport, bytes.clone());
        self.acks.push(SentAck {
            remote_tag,
            to,
            transport,
            bytes,
        });

        if self.dialog.is_some() || self.state == State::Done {
            // A second dialog from a fork (or a 2xx after the call ended): ACK and BYE it.
            log::info!(
                "SIP: extra 2xx for {} (forked or late), sending BYE",
                self.call_id
            );
            self.bye_extra(sh, now, &mut dialog);
            return;
        }
        if self.cancel != Cancel::None {
            // The 2xx crossed our CANCEL: the call exists now, end it with BYE.
            self.bye_extra(sh, now, &mut dialog);
            self.dialog = Some(dialog);
            self.terminate(
                sh,
                now,
                487,
                "Request Terminated (cancelled; the 200 OK that crossed the CANCEL was ended with BYE)"
                    .into(),
                EndCause::Cancelled,
            );
            return;
        }
        self.dialog = Some(dialog);
        self.state = State::Confirmed;
        sh.events.push_back(SipEvent::Answered {
            call: self.key,
            code: resp.code(),
            reason: resp.reason(),
            media: self.read_answer(&resp),
        });
        sh.events.push_back(SipEvent::Confirmed { call: self.key });
    }

    fn bye_extra(&mut self, sh: &mut Shared, now: Instant, dialog: &mut Dialog) {
        let branch = sh.branch();
        let bye = dialog.request(Method::BYE, None, &sh.local, &branch);
        let tx = sh
            .tx
            .send_request(now, dialog.next_hop(), dialog.hop_transport(), bye);
        sh.owners.insert(tx, (self.key, Role::ExtraBye));
    }

    fn on_failure(&mut self, sh: &mut Shared, now: Instant, tx: TxKey, resp: Response) {
        if matches!(
            self.state,
            State::Done | State::Confirmed | State::Terminating
        ) {
            // A stale INVITE transaction failing after the answer changes nothing.
            return;
        }
        let code = resp.code();
        let reason = resp.reason();
        if self.cancel != Cancel::None {
            self.terminate(sh, now, code, reason, EndCause::Cancelled);
            return;
        }
        match code {
            300..=399 if !self.redirected => {
                let target = resp
                    .headers
                    .get_named::<Vec<Contact>>()
                    .ok()
                    .and_then(|c| c.into_iter().next());
                let target = target.filter(|t| {
                    let ok = sh.follow_redirects && self.is_trunk_host(&t.uri.uri);
                    if !ok {
                        log::warn!(
                            "SIP: {} redirect ({code}) to {:?} not followed ({})",
                            self.call_id,
                            t.uri.uri,
                            if sh.follow_redirects {
                                "not the trunk's host"
                            } else {
                                "[sip.outbound] follow_redirects is off"
                            }
                        );
                    }
                    ok
                });
                if let Some(target) = target {
                    self.redirected = true;
                    // No Authorization header travels to a redirected target.
                    self.auth.forget();
                    log::info!(
                        "SIP: {} redirected ({code}) to {:?}",
                        self.call_id,
                        target.uri.uri
                    );
                    self.request_uri = target.uri.uri;
                    if let Some(t) = Transport::of_uri(&self.request_uri) {
                        self.transport = t;
                    }
                    if let Some(addr) = uri_addr(&self.request_uri) {
                        self.dest = addr;
                    } else {
                        let port = self.request_uri.host_port.port.unwrap_or(5060);
                        self.dest = SocketAddr::new(self.trunk_dest.ip(), port);
                    }
                    self.state = State::Calling;
                    self.send_invite(sh, now);
                    return;
                }
                self.terminate(sh, now, code, reason, EndCause::Rejected);
            }
            401 | 407 => {
                let Some(invite) = sh.tx.client_request(tx).cloned() else {
                    return;
                };
                let from_trunk = !self.redirected
                    && sh
                        .response_from
                        .is_some_and(|from| from.ip() == self.trunk_dest.ip());
                let answered = if from_trunk {
                    self.auth.on_challenge(&invite, &resp)
                } else {
                    Err(super::auth::AuthError::Refused(
                        "challenge not from the trunk's host".into(),
                    ))
                };
                match answered {
                    Ok(()) => {
                        self.state = State::Calling;
                        self.send_invite(sh, now);
                    }
                    Err(e) => {
                        log::warn!("SIP: authentication for {} failed: {e}", self.call_id);
                        self.terminate(sh, now, code, reason, EndCause::AuthFailed);
                    }
                }
            }
            _ => self.terminate(sh, now, code, reason, EndCause::Rejected),
        }
    }

    /// A request of the peer inside our dialog.
    pub(crate) fn on_request(&mut self, sh: &mut Shared, now: Instant, tx: TxKey, req: Request) {
        let Some(dialog) = self.dialog.as_mut() else {
            if *req.method() == Method::ACK {
                let cseq = req.cseq().map(|c| c.cseq).unwrap_or(0);
                sh.tx.ack_2xx(now, &self.call_id, cseq);
            }
            return;
        };
        let done = self.state == State::Done;
        let served = serve_in_dialog(sh, now, tx, req, dialog, &mut self.session, self.key, done);
        if served == InDialog::Bye {
            self.terminate(
                sh,
                now,
                200,
                "Normal call clearing (remote BYE)".into(),
                EndCause::RemoteBye,
            );
        }
    }
}
