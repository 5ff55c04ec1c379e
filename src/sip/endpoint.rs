//! `SipCore`: the whole SIP user agent of the box as a state machine without I/O.
//! Messages (each tagged with the [`Transport`] it came over), timer ticks and commands
//! (invite, hangup) go in stamped with `now`; messages to send (tagged with theirs), call
//! events and the next deadline come out. The async shell (`shell.rs`, `tcp.rs`) only
//! moves bytes.
//!
//! Who may make the core do work: a request is handled only when its source is trusted
//! (`[sip] trusted`, the trunk's resolved addresses, the destination of every live call) or
//! when it belongs to a live call's dialog (Call-ID and both tags, which a stranger cannot
//! guess; carriers send in-dialog requests from other proxies). Anything else is dropped
//! before a transaction exists: no state, no answer, a counter and a rate-limited log line.
//! REGISTER is no exception yet (there is no registrar).

use super::auth::Auth;
use super::dialog::Local;
use super::leg::Leg;
use super::message::{parse, CommonHeaders, Message, ParseError, Request, Response};
use super::register::{register_request, register_response};
use super::registrar::{Contact, RegisterOutcome, Registrar, RegistrarConfig};
use super::sdp::{LocalMedia, NegotiatedMedia, SdpError};
use super::transaction::{TimerConfig, Transactions, TxEvent, TxKey};
use super::transport::Transport;
use super::uac::{Role, UacCall};
use super::uas::{IncomingCall, UasCall};
use crate::net::{net_contains, IpNet};
use bytes::Bytes;
use ezk_sip_types::uri::{NameAddr, SipUri};
use ezk_sip_types::{Method, Name};
use rand::distributions::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

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
    /// `[sip] trusted`: sources whose out-of-dialog requests are handled; requests from
    /// anywhere else cost nothing (see the module doc). Default: loopback only
    /// ([`default_trusted`]).
    pub trusted: Vec<IpNet>,
    /// `[registrar]`: devices may REGISTER with these credentials; None answers REGISTER
    /// 405 and keeps dropping strangers' requests unread.
    pub registrar: Option<RegistrarConfig>,
    /// Signs the registrar's nonces (random per boot: old nonces then turn stale).
    pub registrar_secret: Vec<u8>,
    /// Take calls: INVITEs from trusted sources become [`SipEvent::Incoming`]; without
    /// this they are answered 480.
    pub inbound: bool,
}

/// The trusted sources when `[sip] trusted` is not set: 127.0.0.1 and ::1 only (not all of
/// 127/8, so another loopback address is as much a stranger as a LAN host).
pub fn default_trusted() -> Vec<IpNet> {
    vec![
        IpNet::from(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        IpNet::from(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ]
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
            trusted: default_trusted(),
            registrar: None,
            registrar_secret: Vec::new(),
            inbound: false,
        }
    }
}

/// Who the box is on one trunk: the From, the digest credentials and the realm they
/// answer. A call through `[[sip.trunks]]` carries its trunk's; without them a call uses
/// `SipConfig`'s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Caller id (From URI); `sip:<user>@<local ip>` when not set.
    pub from: Option<String>,
    /// Digest user name (also the From user).
    pub username: Option<String>,
    /// Digest password. Never logged.
    pub password: Option<String>,
    /// Answer only challenges of this realm.
    pub realm: Option<String>,
}

/// The answer to an OPTIONS ping: the final status code, or why none came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingOutcome {
    /// The number [`SipCore::ping`] returned.
    pub ping: u64,
    /// The final response's code, or Err with what went wrong (no answer, transport).
    pub result: Result<u16, String>,
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
    /// Someone calls us: an INVITE from a trusted source, answered 100 Trying. The call
    /// layer rings (`ring`, `early_media`), answers or refuses it.
    Incoming(IncomingCall),
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
    /// We refused an inbound call before answering it.
    LocalReject,
    /// The caller cancelled its INVITE before we answered.
    RemoteCancel,
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
    /// No trunk takes this number (their `prefixes`), or none could be reached.
    NoRoute(String),
}

impl std::fmt::Display for SipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SipError::BadUri(u) => write!(f, "bad SIP URI: {u}"),
            SipError::BadFrom(u) => write!(f, "bad From URI in config: {u}"),
            SipError::Resolve(h) => write!(f, "cannot resolve {h}"),
            SipError::Stopped => f.write_str("SIP service stopped"),
            SipError::NoRoute(n) => write!(f, "no trunk takes {n}"),
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
    /// Requests from untrusted sources outside any live dialog: dropped, unanswered.
    pub untrusted_dropped: u64,
    /// Requests dropped unanswered because an answer would reflect too much of them
    /// (more than `message::MAX_VIAS` Via entries).
    pub oversized_dropped: u64,
    /// New requests dropped unanswered because the transaction table was full.
    pub table_full_dropped: u64,
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

/// Whether a datagram starts like a request (a start line that is not a status line),
/// without parsing it; leading CRLFs (keep-alives) are skipped as the parser does.
fn looks_like_request(data: &[u8]) -> bool {
    let start = data
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(data.len());
    let head = data.get(start..).unwrap_or_default();
    head.first().is_some_and(u8::is_ascii_uppercase) && !head.starts_with(b"SIP/")
}

/// How often at most the core logs that it dropped requests from untrusted sources: a
/// flood must not become a flood of log lines.
const UNTRUSTED_LOG_EVERY: Duration = Duration::from_secs(10);

/// The user agent of one socket: transactions plus the calls built on them.
pub struct SipCore {
    shared: Shared,
    calls: HashMap<CallKey, Leg>,
    from: Option<String>,
    next_call: u64,
    garbage: u64,
    keepalives: u64,
    out_of_dialog: u64,
    trusted: Vec<IpNet>,
    /// The trunk's addresses as the shell resolved `[sip.outbound] uri`.
    trunk: Vec<IpAddr>,
    untrusted_dropped: u64,
    oversized_dropped: u64,
    /// When the last "dropped untrusted" line was logged, and the drops since then.
    untrusted_logged_at: Option<Instant>,
    untrusted_unlogged: u64,
    /// Devices registered to the box, when `[registrar]` is configured.
    registrar: Option<Registrar>,
    /// An instant and the Unix time at it: the registrar's bindings outlive the process,
    /// so they are kept in wall-clock seconds.
    wall: (Instant, u64),
    /// A REGISTER changed the bindings since the shell last saved them.
    bindings_changed: bool,
    /// INVITEs become inbound calls (`SipConfig::inbound`).
    inbound: bool,
    /// The newest `now` the core was given (a registered source is trusted while its
    /// binding lives at this time).
    last_seen: Instant,
    /// OPTIONS pings in flight, by transaction, and their answers not yet taken.
    pings: HashMap<TxKey, u64>,
    ping_outcomes: VecDeque<PingOutcome>,
    next_ping: u64,
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
                    tls_port: None,
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
            trusted: config.trusted.clone(),
            trunk: Vec::new(),
            untrusted_dropped: 0,
            oversized_dropped: 0,
            untrusted_logged_at: None,
            untrusted_unlogged: 0,
            registrar: config
                .registrar
                .clone()
                .map(|r| Registrar::new(r, config.registrar_secret.clone())),
            wall: (Instant::now(), 0),
            bindings_changed: false,
            inbound: config.inbound,
            last_seen: Instant::now(),
            pings: HashMap::new(),
            ping_outcomes: VecDeque::new(),
            next_ping: 1,
        }
    }

    /// The port of the TLS listener, once the shell has one: Contact in dialogs over TLS
    /// names it, so the peer's new connections reach a TLS socket.
    pub fn set_tls_port(&mut self, port: Option<u16>) {
        self.shared.local.tls_port = port;
    }

    /// Pins the wall clock: `unix` seconds at `now`. The shell calls it at start (tests
    /// with a fake clock pin their own); the registrar's expiries are in Unix seconds.
    pub fn set_wall_clock(&mut self, now: Instant, unix: u64) {
        self.wall = (now, unix);
        self.last_seen = now;
    }

    fn unix_at(&self, now: Instant) -> u64 {
        self.wall.1 + now.saturating_duration_since(self.wall.0).as_secs()
    }

    /// The live contacts of registered user `user`, newest registration last: where a
    /// call to that user goes instead of the trunk. Empty without a registrar.
    pub fn registered_contacts(&self, now: Instant, user: &str) -> Vec<Contact> {
        let unix = self.unix_at(now);
        self.registrar
            .as_ref()
            .map(|r| r.contacts(user, unix))
            .unwrap_or_default()
    }

    /// Restores bindings saved by an earlier run (lapsed ones and unknown users dropped).
    pub fn restore_bindings(&mut self, now: Instant, bindings: HashMap<String, Vec<Contact>>) {
        let unix = self.unix_at(now);
        if let Some(r) = self.registrar.as_mut() {
            r.restore(bindings, unix);
        }
    }

    /// The bindings, when a REGISTER changed them since the last call: for the shell to
    /// save (so registered devices stay reachable across a restart).
    pub fn take_changed_bindings(&mut self) -> Option<HashMap<String, Vec<Contact>>> {
        if !std::mem::take(&mut self.bindings_changed) {
            return None;
        }
        self.registrar.as_ref().map(|r| r.bindings().clone())
    }

    /// The trunk's addresses (the `[sip.outbound] uri` host as the shell resolved it):
    /// always trusted, whatever `[sip] trusted` says, so the trunk can always reach us.
    pub fn set_trunk_addrs(&mut self, addrs: Vec<IpAddr>) {
        self.trunk = addrs.into_iter().map(|ip| ip.to_canonical()).collect();
    }

    /// Whether requests from `ip` are handled even outside a dialog: `[sip] trusted`, the
    /// trunk, or where a live call's INVITE went (while that call lives).
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted.iter().any(|n| net_contains(n, ip))
            || self.trunk.contains(&ip)
            || self.registrar.as_ref().is_some_and(|r| {
                let unix = self.unix_at(self.last_seen);
                r.bindings().values().flatten().any(|c| {
                    c.expires_at > unix && c.source.is_some_and(|s| s.ip().to_canonical() == ip)
                })
            })
            || self
                .calls
                .values()
                .any(|c| c.destinations().iter().any(|d| d.to_canonical() == ip))
    }

    /// Whether a request may reach the transaction layer (see the module doc). Checked
    /// before any transaction exists, so a refused request leaves no trace but a counter.
    fn admit(&mut self, now: Instant, from: SocketAddr, req: &Request) -> bool {
        let allowed = self.is_trusted(from.ip())
            || (self.registrar.is_some() && *req.method() == Method::REGISTER)
            || (req.to().is_some_and(|t| t.tag.is_some())
                && self.calls.values().any(|c| c.matches(req)));
        if !allowed {
            self.drop_untrusted(now, from);
            return false;
        }
        if !req.echo_is_bounded() {
            self.oversized_dropped += 1;
            return false;
        }
        true
    }

    /// Counts a request dropped for its source, and logs at most one line per
    /// [`UNTRUSTED_LOG_EVERY`] with the drops since the last one.
    fn drop_untrusted(&mut self, now: Instant, from: SocketAddr) {
        self.untrusted_dropped += 1;
        self.untrusted_unlogged += 1;
        let due = self
            .untrusted_logged_at
            .is_none_or(|t| now.saturating_duration_since(t) >= UNTRUSTED_LOG_EVERY);
        if due {
            log::warn!(
                "SIP: dropped {} request(s) from untrusted sources (latest from {from}); \
                 see [sip] trusted",
                self.untrusted_unlogged
            );
            self.untrusted_logged_at = Some(now);
            self.untrusted_unlogged = 0;
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
        self.invite_as(now, request_uri, destination, media, None)
    }

    /// As [`SipCore::invite`], as the box is known on one trunk (its From and digest
    /// credentials); `None` uses `SipConfig`'s.
    pub fn invite_as(
        &mut self,
        now: Instant,
        request_uri: &str,
        destination: SocketAddr,
        media: LocalMedia,
        credentials: Option<&Credentials>,
    ) -> Result<CallKey, SipError> {
        let transport = SipUri::from_str(request_uri.trim())
            .ok()
            .and_then(|u| Transport::of_uri(&u))
            .unwrap_or_default();
        self.invite_over(
            now,
            request_uri,
            (destination, transport),
            media,
            credentials,
        )
    }

    /// As [`SipCore::invite_as`], over `transport` whatever the URI says (a trunk
    /// configured with `transport = "tcp"`).
    pub fn invite_over(
        &mut self,
        now: Instant,
        request_uri: &str,
        (destination, transport): (SocketAddr, Transport),
        media: LocalMedia,
        credentials: Option<&Credentials>,
    ) -> Result<CallKey, SipError> {
        let uri = SipUri::from_str(request_uri.trim())
            .map_err(|_| SipError::BadUri(request_uri.to_string()))?;
        if uri.sips && transport != Transport::Tls {
            // sips: means TLS on every hop (RFC 3261 26.2.2); never downgraded.
            return Err(SipError::BadUri(format!("{request_uri} (sips: needs TLS)")));
        }
        let user = credentials
            .and_then(|c| c.username.clone())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| self.shared.default_user.clone());
        let from_text = match credentials {
            Some(c) => c.from.clone().filter(|f| !f.trim().is_empty()),
            None => self.from.clone(),
        };
        let from = match from_text {
            Some(f) => NameAddr::from_str(f.trim()).map_err(|_| SipError::BadFrom(f.clone()))?,
            None => {
                let text = format!(
                    "sip:{user}@{}",
                    ezk_sip_types::host::Host::from(self.shared.local.addr.ip())
                );
                NameAddr::from_str(&text).map_err(|_| SipError::BadFrom(text.clone()))?
            }
        };
        let auth = match credentials {
            Some(c) => Auth::new(&user, c.password.as_deref(), c.realm.as_deref()),
            None => Auth::new(
                &user,
                self.shared.password.as_deref(),
                self.shared.realm.as_deref(),
            ),
        };
        let key = CallKey(self.next_call);
        self.next_call += 1;
        let call = UacCall::start(
            &mut self.shared,
            now,
            key,
            (uri, destination, transport),
            from,
            auth,
            media,
        );
        self.calls.insert(key, Leg::Out(Box::new(call)));
        Ok(key)
    }

    /// Sends an OPTIONS to `request_uri` at `destination` (a trunk's keep-alive); its
    /// answer comes out of [`SipCore::poll_ping`] under the returned number. It goes over
    /// what the URI's `;transport=` names, else UDP.
    pub fn ping(
        &mut self,
        now: Instant,
        request_uri: &str,
        destination: SocketAddr,
    ) -> Result<u64, SipError> {
        self.ping_over(now, request_uri, destination, None)
    }

    /// As [`SipCore::ping`]; `transport` (a trunk's) wins over the URI's.
    pub fn ping_over(
        &mut self,
        now: Instant,
        request_uri: &str,
        destination: SocketAddr,
        transport: Option<Transport>,
    ) -> Result<u64, SipError> {
        let uri = SipUri::from_str(request_uri.trim())
            .map_err(|_| SipError::BadUri(request_uri.to_string()))?;
        let transport = transport
            .or_else(|| Transport::of_uri(&uri))
            .unwrap_or_default();
        let branch = self.shared.branch();
        let tag = self.shared.token(16);
        let call_id = format!("{}@{}", self.shared.token(24), self.shared.local.addr.ip());
        let text = format!(
            "sip:{}@{}",
            self.shared.default_user,
            ezk_sip_types::host::Host::from(self.shared.local.addr.ip())
        );
        let from = NameAddr::from_str(&text).map_err(|_| SipError::BadFrom(text.clone()))?;
        let request = super::ping::options_request(
            &self.shared.local,
            (uri, transport),
            from,
            tag,
            &branch,
            call_id,
        );
        let tx = self
            .shared
            .tx
            .send_request(now, destination, transport, request);
        let ping = self.next_ping;
        self.next_ping += 1;
        self.pings.insert(tx, ping);
        Ok(ping)
    }

    /// The next answer to a [`SipCore::ping`].
    pub fn poll_ping(&mut self) -> Option<PingOutcome> {
        self.ping_outcomes.pop_front()
    }

    /// End a call: CANCEL before the answer (deferred until a provisional arrives), BYE after.
    /// Idempotent; unknown or finished calls are ignored.
    pub fn hangup(&mut self, now: Instant, call: CallKey) {
        self.hangup_with(now, call, None);
    }

    /// As [`SipCore::hangup`]; an inbound call not answered yet gets `refusal` as its
    /// final response (480 Temporarily Unavailable without one).
    pub fn hangup_with(&mut self, now: Instant, call: CallKey, refusal: Option<(u16, String)>) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.hangup(&mut self.shared, now, refusal);
        }
        self.pump(now);
    }

    /// 180 Ringing to an inbound call's caller.
    pub fn ring(&mut self, now: Instant, call: CallKey) {
        if let Some(c) = self.calls.get_mut(&call).and_then(Leg::inbound) {
            c.ring(&mut self.shared, now);
        }
        self.pump(now);
    }

    /// 183 with our SDP answer (receiving at `media`) to an inbound call's caller: what
    /// we send before the answer (ringback, the room) is heard. `Progress` reports the
    /// media agreed.
    pub fn early_media(&mut self, now: Instant, call: CallKey, media: LocalMedia) {
        if let Some(c) = self.calls.get_mut(&call).and_then(Leg::inbound) {
            c.early_media(&mut self.shared, now, media);
        }
        self.pump(now);
    }

    /// 200 OK with our SDP answer to an inbound call (`Answered`, then `Confirmed` with
    /// the caller's ACK).
    pub fn answer(&mut self, now: Instant, call: CallKey, media: LocalMedia) {
        if let Some(c) = self.calls.get_mut(&call).and_then(Leg::inbound) {
            c.answer(&mut self.shared, now, media);
        }
        self.pump(now);
    }

    /// Where the call's INVITE went (redirects are only followed to that host): the media
    /// layer accepts a NAT-ed phone's RTP from this IP only. None for an unknown call.
    pub fn signalling_peer(&self, call: CallKey) -> Option<SocketAddr> {
        self.calls.get(&call).map(|c| c.signalling_peer())
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

    /// A datagram arrived on the UDP socket. Anything that is not SIP is counted and dropped.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.handle_message(now, from, Transport::Udp, data);
    }

    /// A message arrived over `transport` from `from` (for TCP: one whole message the
    /// shell's framer cut from the connection with that peer; answers go back on it).
    /// Anything that is not SIP is counted and dropped.
    pub fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        data: &[u8],
    ) {
        self.last_seen = self.last_seen.max(now);
        if self.calls.is_empty()
            && looks_like_request(data)
            && !(self.registrar.is_some() && data.starts_with(b"REGISTER "))
            && !self.is_trusted(from.ip())
        {
            // No live dialog it could belong to: dropped before it is even parsed, so a
            // stranger's flood costs an address comparison per datagram.
            self.drop_untrusted(now, from);
            return;
        }
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
            Ok(Message::Request(r)) => {
                if self.admit(now, from, &r) {
                    self.shared.tx.on_request(now, from, transport, r);
                }
            }
        }
        self.pump(now);
        self.shared.response_from = None;
    }

    /// The shell could not send to `to` over UDP: see [`SipCore::handle_transport_error_on`].
    pub fn handle_transport_error(&mut self, now: Instant, to: SocketAddr) {
        self.handle_transport_error_on(now, to, Transport::Udp);
    }

    /// The shell could not send to `to` over `transport` (a refused TCP connection): calls
    /// still waiting there for an answer over it end with 503 (RFC 3261 8.1.3.1), a BYE
    /// that cannot leave ends its call. What goes to the same address over the other
    /// transport is not touched.
    pub fn handle_transport_error_on(
        &mut self,
        now: Instant,
        to: SocketAddr,
        transport: Transport,
    ) {
        let failed: Vec<TxKey> = self
            .pings
            .keys()
            .copied()
            .filter(|tx| {
                self.shared.tx.client_dest(*tx) == Some(to)
                    && self.shared.tx.client_transport(*tx) == Some(transport)
            })
            .collect();
        for tx in failed {
            self.shared.tx.abandon(tx);
            if let Some(ping) = self.pings.remove(&tx) {
                self.ping_outcomes.push_back(PingOutcome {
                    ping,
                    result: Err("transport error".into()),
                });
            }
        }
        for c in self.calls.values_mut() {
            c.on_transport_error(&mut self.shared, now, (to, transport));
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
            untrusted_dropped: self.untrusted_dropped,
            oversized_dropped: self.oversized_dropped,
            table_full_dropped: self.shared.tx.table_full(),
            calls: self.calls.len(),
            transactions: c + s,
        }
    }

    /// Route transaction events to calls, then forget calls that are over and quiet.
    fn pump(&mut self, now: Instant) {
        while let Some(ev) = self.shared.tx.poll_event() {
            match ev {
                TxEvent::Response { tx, response } if self.pings.contains_key(&tx) => {
                    let code = response.code();
                    if code >= 200 {
                        if let Some(ping) = self.pings.remove(&tx) {
                            self.ping_outcomes.push_back(PingOutcome {
                                ping,
                                result: Ok(code),
                            });
                        }
                    }
                }
                TxEvent::Timeout { tx } if self.pings.contains_key(&tx) => {
                    if let Some(ping) = self.pings.remove(&tx) {
                        self.ping_outcomes.push_back(PingOutcome {
                            ping,
                            result: Err("no answer".into()),
                        });
                    }
                }
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
                TxEvent::Request {
                    tx,
                    request,
                    from,
                    transport,
                } => self.on_request(now, tx, request, (from, transport)),
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

    fn on_request(
        &mut self,
        now: Instant,
        tx: TxKey,
        req: Request,
        (from, transport): (SocketAddr, Transport),
    ) {
        let method = req.method().clone();
        if method == Method::REGISTER && self.registrar.is_some() {
            self.on_register(now, tx, &req, from);
            return;
        }
        if method == Method::CANCEL {
            // We answer every INVITE at once, so a CANCEL only needs its own 200 (or 481).
            let invite = self.shared.tx.find_server_invite(&req);
            let (code, reason) = if invite.is_some() {
                (200, "OK")
            } else {
                (481, "Call/Transaction Does Not Exist")
            };
            let resp = Response::for_request(&req, code, reason, None);
            self.shared.tx.send_response(now, tx, resp);
            if let Some(invite) = invite {
                let call = self
                    .calls
                    .values_mut()
                    .find_map(|c| c.inbound_with_invite(invite));
                if let Some(call) = call {
                    call.on_cancel(&mut self.shared, now);
                }
            }
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
        if method == Method::INVITE && self.inbound {
            let key = CallKey(self.next_call);
            self.next_call += 1;
            let call = UasCall::accept(&mut self.shared, now, key, tx, req, (from, transport));
            self.calls.insert(key, Leg::In(Box::new(call)));
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
        self.shared.local.decorate_response(&mut resp, None);
        self.shared.tx.send_response(now, tx, resp);
    }

    /// A REGISTER, with a registrar configured: answered from the registrar core.
    fn on_register(&mut self, now: Instant, tx: TxKey, req: &Request, from: SocketAddr) {
        let unix = self.unix_at(now);
        let Some(registrar) = self.registrar.as_mut() else {
            return;
        };
        let outcome = registrar.register(&register_request(req, from), unix);
        match &outcome {
            RegisterOutcome::Ok(contacts) => {
                log::info!(
                    "SIP: REGISTER from {from}: {} binding(s) now",
                    contacts.len()
                );
                self.bindings_changed = true;
            }
            RegisterOutcome::Refused(code, reason) => {
                log::warn!("SIP: REGISTER from {from} refused: {code} {reason}")
            }
            _ => {}
        }
        let tag = self.shared.token(16);
        let mut resp = register_response(req, &outcome, &tag);
        self.shared.local.decorate_response(&mut resp, None);
        self.shared.tx.send_response(now, tx, resp);
    }
}
