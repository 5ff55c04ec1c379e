//! `SipCore`: the whole SIP user agent of one UDP socket as a state machine without I/O.
//! Datagrams, timer ticks and commands (invite, hangup) go in stamped with `now`; datagrams to
//! send, call events and the next deadline come out. The async shell (`shell.rs`) only moves bytes.

use super::dialog::Local;
use super::message::{parse, CommonHeaders, Message, ParseError, Request, Response};
use super::sdp::{LocalMedia, NegotiatedMedia, SdpError};
use super::transaction::{TimerConfig, Transactions, TxEvent, TxKey};
use super::uac::{Role, UacCall};
use bytes::Bytes;
use ezk_sip_types::uri::{NameAddr, SipUri};
use ezk_sip_types::{Method, Name};
use rand::distributions::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Instant;

pub use super::transaction::Transmit;

/// Settings of the user agent; the lead fills them from the gateway config.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// What we advertise in Via/Contact (never 0.0.0.0: the shell substitutes a real address).
    pub local_addr: SocketAddr,
    /// From URI of our calls; default `sip:<username or trtc-sipgw>@<local ip>`.
    pub from: Option<String>,
    /// Digest user name (also the default From user).
    pub username: Option<String>,
    /// Digest password; without it 401/407 end the call.
    pub password: Option<String>,
    /// `[sip.outbound] realm`: when set, only challenges of this realm are answered, so
    /// the trunk password's digest goes to no one else.
    pub realm: Option<String>,
    /// `[sip.outbound] follow_redirects`: a 3xx is followed (once) only when true, and
    /// then only to the trunk's own host; otherwise the call ends with the 3xx.
    pub follow_redirects: bool,
    /// User-Agent / Server header value.
    pub user_agent: String,
    /// RFC 3261 T1, T2 and T4.
    pub timers: TimerConfig,
}

impl SipConfig {
    /// Defaults of RFC 3261 and our product name, for one advertised address.
    pub fn new(local_addr: SocketAddr) -> Self {
        SipConfig {
            local_addr,
            from: None,
            username: None,
            password: None,
            realm: None,
            follow_redirects: false,
            user_agent: crate::USER_AGENT.to_string(),
            timers: TimerConfig::default(),
        }
    }
}

/// Handle of one outbound call, the key the call layer keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub u64);

/// What happens to a call, in order; `Terminated` comes exactly once and is the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipEvent {
    /// A provisional answer other than 100 (180 Ringing, 183 Session Progress…), maybe with
    /// early-media SDP.
    Progress {
        /// The call.
        call: CallKey,
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
        /// Early media: the phone's SDP answer read against our offer, if the response
        /// carried one (an unusable early answer is not fatal: the 2xx may fix it).
        media: Option<Result<NegotiatedMedia, SdpError>>,
    },
    /// The first 2xx: the phone answered. The ACK follows at once (then `Confirmed`).
    Answered {
        /// The call.
        call: CallKey,
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
        /// The phone's SDP answer read against our offer; None when the 2xx had no body
        /// (the early answer then stands), an error when nothing in it is usable.
        media: Option<Result<NegotiatedMedia, SdpError>>,
    },
    /// The ACK for the 2xx has been sent: media flows both ways.
    Confirmed {
        /// The call.
        call: CallKey,
    },
    /// The peer sent a new offer (re-INVITE/UPDATE, or SDP in an ACK) and we accepted it
    /// (an unacceptable one got 488 and changes nothing): media follows what was agreed.
    RemoteOffer {
        /// The call.
        call: CallKey,
        /// What our answer agreed to (codec, remote address, direction for hold).
        media: NegotiatedMedia,
    },
    /// The peer sent an INFO with a body (e.g. `application/dtmf-relay`); already answered 200.
    Info {
        /// The call.
        call: CallKey,
        /// Its Content-Type, lowercase as sent.
        content_type: String,
        /// Its body.
        body: Bytes,
    },
    /// The call is over.
    Terminated {
        /// The call.
        call: CallKey,
        /// Final SIP code (200 for a hang-up after answer).
        code: u16,
        /// Reason phrase, saying who ended it when that is not obvious.
        reason: String,
        /// Why the call ended.
        cause: EndCause,
    },
}

/// Why a call ended; drives the call layer's wording and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCause {
    /// The peer sent BYE.
    RemoteBye,
    /// The peer answered with a 3xx–6xx final response.
    Rejected,
    /// Timer B: no response at all to the INVITE.
    NoAnswer,
    /// We cancelled before an answer.
    Cancelled,
    /// We sent BYE after the answer.
    LocalBye,
    /// The network refused to carry our messages.
    TransportError,
    /// A 401/407 we could not (or no longer) answer.
    AuthFailed,
}

/// Errors of commands; a call that started fine reports its end through events instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipError {
    /// The request URI is not a usable `sip:` URI.
    BadUri(String),
    /// The configured From URI is unusable.
    BadFrom(String),
    /// The URI's host could not be resolved (shell only).
    Resolve(String),
    /// The service's run loop has stopped (shell only).
    Stopped,
}

impl std::fmt::Display for SipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SipError::BadUri(u) => write!(f, "bad SIP URI: {u}"),
            SipError::BadFrom(u) => write!(f, "bad From URI in config: {u}"),
            SipError::Resolve(h) => write!(f, "cannot resolve {h}"),
            SipError::Stopped => f.write_str("SIP service stopped"),
        }
    }
}

impl std::error::Error for SipError {}

/// Counters for metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SipStats {
    /// Datagrams that were not SIP (ignored).
    pub garbage: u64,
    /// CRLF keep-alives (ignored).
    pub keepalives: u64,
    /// Datagrams we sent again (timers or the peer's retransmissions).
    pub retransmissions: u64,
    /// Responses matching none of our transactions (dropped).
    pub stray_responses: u64,
    /// Requests answered outside any call (OPTIONS, INVITE 480, 481/405…).
    pub out_of_dialog_requests: u64,
    /// Calls the core still tracks.
    pub calls: usize,
    /// Live client and server transactions.
    pub transactions: usize,
}

/// Everything a call needs from the endpoint besides its own state.
pub(crate) struct Shared {
    pub(crate) tx: Transactions,
    pub(crate) events: VecDeque<SipEvent>,
    pub(crate) rng: StdRng,
    pub(crate) local: Local,
    pub(crate) owners: HashMap<TxKey, (CallKey, Role)>,
    pub(crate) timers: TimerConfig,
    pub(crate) default_user: String,
    pub(crate) password: Option<String>,
    pub(crate) realm: Option<String>,
    pub(crate) follow_redirects: bool,
    /// Where the response being handled came from (set for the length of one
    /// `handle_datagram`): challenges are answered only when it is the trunk's host.
    pub(crate) response_from: Option<SocketAddr>,
}

impl Shared {
    pub(crate) fn token(&mut self, n: usize) -> String {
        (&mut self.rng)
            .sample_iter(Alphanumeric)
            .take(n)
            .map(char::from)
            .collect()
    }

    pub(crate) fn branch(&mut self) -> String {
        format!("z9hG4bK{}", self.token(20))
    }
}

/// The user agent of one socket: transactions plus the calls built on them.
pub struct SipCore {
    shared: Shared,
    calls: HashMap<CallKey, UacCall>,
    from: Option<String>,
    next_call: u64,
    garbage: u64,
    keepalives: u64,
    out_of_dialog: u64,
}

impl SipCore {
    /// A core for one socket; `seed` makes tags, branches and Call-IDs reproducible in tests.
    pub fn new(config: SipConfig, seed: u64) -> Self {
        let timers = config.timers;
        let default_user = config
            .username
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "trtc-sipgw".to_string());
        SipCore {
            shared: Shared {
                tx: Transactions::new(timers),
                events: VecDeque::new(),
                rng: StdRng::seed_from_u64(seed),
                local: Local {
                    addr: config.local_addr,
                    user_agent: config.user_agent.clone(),
                },
                owners: HashMap::new(),
                timers,
                default_user,
                password: config.password.clone(),
                realm: config.realm.clone(),
                follow_redirects: config.follow_redirects,
                response_from: None,
            },
            calls: HashMap::new(),
            from: config.from.clone().filter(|f| !f.trim().is_empty()),
            next_call: 1,
            garbage: 0,
            keepalives: 0,
            out_of_dialog: 0,
        }
    }

    /// Start an outbound call: the INVITE, carrying the offer built from `media`, leaves with
    /// the next `poll_transmit`. The call keeps `media`, so every answer and later offer of
    /// the phone is negotiated here, once, and reaches the call layer as [`NegotiatedMedia`].
    pub fn invite(
        &mut self,
        now: Instant,
        request_uri: &str,
        destination: SocketAddr,
        media: LocalMedia,
    ) -> Result<CallKey, SipError> {
        let uri = SipUri::from_str(request_uri.trim())
            .map_err(|_| SipError::BadUri(request_uri.to_string()))?;
        if uri.sips {
            // sips: needs TLS, which this UDP user agent does not offer.
            return Err(SipError::BadUri(format!(
                "{request_uri} (sips: not supported)"
            )));
        }
        let from = match &self.from {
            Some(f) => NameAddr::from_str(f.trim()).map_err(|_| SipError::BadFrom(f.clone()))?,
            None => {
                let text = format!(
                    "sip:{}@{}",
                    self.shared.default_user,
                    ezk_sip_types::host::Host::from(self.shared.local.addr.ip())
                );
                NameAddr::from_str(&text).map_err(|_| SipError::BadFrom(text.clone()))?
            }
        };
        let key = CallKey(self.next_call);
        self.next_call += 1;
        let call = UacCall::start(&mut self.shared, now, key, uri, from, destination, media);
        self.calls.insert(key, call);
        Ok(key)
    }

    /// End a call: CANCEL before the answer (deferred until a provisional arrives), BYE after.
    /// Idempotent; unknown or finished calls are ignored.
    pub fn hangup(&mut self, now: Instant, call: CallKey) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.hangup(&mut self.shared, now);
        }
        self.pump(now);
    }

    /// Where the call's INVITE went (redirects are only followed to that host): the media
    /// layer accepts a NAT-ed phone's RTP from this IP only. None for an unknown call.
    pub fn signalling_peer(&self, call: CallKey) -> Option<SocketAddr> {
        self.calls.get(&call).map(|c| c.trunk_dest())
    }

    /// Sends an INFO inside the call's confirmed dialog; false when the call has none.
    pub fn send_info(
        &mut self,
        now: Instant,
        call: CallKey,
        content_type: &str,
        body: Bytes,
    ) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        c.send_info(&mut self.shared, now, content_type, body)
    }

    /// A datagram arrived. Anything that is not SIP is counted and dropped.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        match parse(data) {
            Err(ParseError::Empty) => self.keepalives += 1,
            Err(e) => {
                self.garbage += 1;
                log::debug!("SIP: ignored {} bytes from {from}: {e}", data.len());
            }
            Ok(Message::Response(r)) => {
                self.shared.response_from = Some(from);
                self.shared.tx.on_response(now, r);
            }
            Ok(Message::Request(r)) => self.shared.tx.on_request(now, from, r),
        }
        self.pump(now);
        self.shared.response_from = None;
    }

    /// The shell could not send to `to`: calls still waiting there for an answer end with 503
    /// (RFC 3261 8.1.3.1), a BYE that cannot leave ends its call.
    pub fn handle_transport_error(&mut self, now: Instant, to: SocketAddr) {
        for c in self.calls.values_mut() {
            c.on_transport_error(&mut self.shared, now, to);
        }
        self.pump(now);
    }

    /// Run the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.shared.tx.handle_timeout(now);
        self.pump(now);
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.shared.tx.poll_transmit()
    }

    /// Next call event.
    pub fn poll_event(&mut self) -> Option<SipEvent> {
        self.shared.events.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.shared.tx.poll_timeout();
        for c in self.calls.values() {
            if let Some(t) = c.linger_until() {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        }
        next
    }

    /// Counters.
    pub fn stats(&self) -> SipStats {
        let (c, s) = self.shared.tx.counts();
        SipStats {
            garbage: self.garbage,
            keepalives: self.keepalives,
            retransmissions: self.shared.tx.retransmissions(),
            stray_responses: self.shared.tx.stray_responses(),
            out_of_dialog_requests: self.out_of_dialog,
            calls: self.calls.len(),
            transactions: c + s,
        }
    }

    /// Route transaction events to calls, then forget calls that are over and quiet.
    fn pump(&mut self, now: Instant) {
        while let Some(ev) = self.shared.tx.poll_event() {
            match ev {
                TxEvent::Response { tx, response } => {
                    let Some((key, role)) = self.shared.owners.get(&tx).copied() else {
                        continue;
                    };
                    if let Some(c) = self.calls.get_mut(&key) {
                        c.on_response(&mut self.shared, now, tx, role, response);
                    }
                }
                TxEvent::Timeout { tx } => {
                    let Some((key, role)) = self.shared.owners.remove(&tx) else {
                        continue;
                    };
                    if let Some(c) = self.calls.get_mut(&key) {
                        c.on_timeout(&mut self.shared, now, tx, role);
                    }
                }
                TxEvent::Request { tx, request, from } => self.on_request(now, tx, request, from),
            }
        }
        let gone: Vec<CallKey> = self
            .calls
            .iter()
            .filter(|(_, c)| matches!(c.linger_until(), Some(t) if t <= now))
            .map(|(k, _)| *k)
            .collect();
        if !gone.is_empty() {
            for k in &gone {
                self.calls.remove(k);
            }
            self.shared.owners.retain(|_, (k, _)| !gone.contains(k));
        }
    }

    fn on_request(&mut self, now: Instant, tx: TxKey, req: Request, _from: SocketAddr) {
        let method = req.method().clone();
        if method == Method::CANCEL {
            // We answer every INVITE at once, so a CANCEL only needs its own 200 (or 481).
            let (code, reason) = if self.shared.tx.find_server_invite(&req).is_some() {
                (200, "OK")
            } else {
                (481, "Call/Transaction Does Not Exist")
            };
            let resp = Response::for_request(&req, code, reason, None);
            self.shared.tx.send_response(now, tx, resp);
            return;
        }
        let has_to_tag = req.to().map(|t| t.tag.is_some()).unwrap_or(false);
        if has_to_tag {
            if let Some(c) = self.calls.values_mut().find(|c| c.matches(&req)) {
                c.on_request(&mut self.shared, now, tx, req);
                return;
            }
            if method == Method::ACK {
                return;
            }
            self.out_of_dialog += 1;
            let resp = Response::for_request(&req, 481, "Call/Transaction Does Not Exist", None);
            self.shared.tx.send_response(now, tx, resp);
            return;
        }
        if method == Method::ACK {
            return;
        }
        self.out_of_dialog += 1;
        let tag = self.shared.token(16);
        let mut resp = match method {
            Method::OPTIONS => {
                let mut r = Response::for_request(&req, 200, "OK", Some(&tag));
                r.headers.insert(Name::ACCEPT, "application/sdp");
                r
            }
            Method::INVITE => {
                Response::for_request(&req, 480, "Inbound calls not enabled", Some(&tag))
            }
            Method::BYE | Method::INFO | Method::UPDATE | Method::PRACK | Method::NOTIFY => {
                Response::for_request(&req, 481, "Call/Transaction Does Not Exist", Some(&tag))
            }
            _ => Response::for_request(&req, 405, "Method Not Allowed", Some(&tag)),
        };
        self.shared.local.decorate_response(&mut resp, false);
        self.shared.tx.send_response(now, tx, resp);
    }
}
