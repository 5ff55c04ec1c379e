//! The async shell around [`SipCore`]: one UDP socket and a TCP listener on the same address
//! (with its connections, `tcp.rs`), one timer, one wake-up channel, on the gateway's
//! single-threaded smol executor. It only moves bytes and events; every decision (which
//! transport included) is in the core.

use super::endpoint::{CallKey, SipConfig, SipCore, SipError, SipEvent};
use super::failover::{moved_on, Failover};
use super::fork::Fork;
use super::target::Target;
use super::tcp::{Tcp, TcpEvent};
use super::tls::SipTls;
use super::transport::Transport;
use super::trunks::{Trunk, TrunkTable};
use super::uas::IncomingCall;
use bytes::Bytes;
use ezk_sip_types::host::Host;
use ezk_sip_types::uri::SipUri;
use futures_lite::FutureExt;
use smol::channel::{Receiver, Sender};
use smol::net::{TcpListener, UdpSocket};
use std::cell::Cell;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Largest datagram we read.
const RECV_BUF: usize = 64 * 1024;
/// The run loop turns at least this often even with nothing to do, so that its
/// heartbeat shows it is still polling (see [`SipService::stalled`]).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A loop that has not turned for this long is not polling: `/healthz` says `sip`.
const STALLED_AFTER: Duration = Duration::from_secs(5);

/// An inbound call as the gateway takes it: the caller's INVITE and the call's events.
pub type Incoming = (IncomingCall, Receiver<SipEvent>);

struct Inner {
    core: RefCell<SipCore>,
    local_addr: SocketAddr,
    calls: RefCell<HashMap<CallKey, Sender<SipEvent>>>,
    /// When the run loop last turned (its heartbeat).
    last_turn: Cell<Instant>,
    /// Where the registrar's bindings are saved, if anywhere.
    bindings_file: RefCell<Option<std::path::PathBuf>>,
    /// Where inbound calls go (each with its own event channel), once someone listens.
    incoming: RefCell<Option<Sender<Incoming>>>,
    /// Forked calls by group key, and each leg's group.
    forks: RefCell<HashMap<CallKey, Fork>>,
    fork_of: RefCell<HashMap<CallKey, CallKey>>,
    /// The trunks and their health.
    trunks: RefCell<TrunkTable>,
    /// Calls through the trunks by group key (with the offer every leg repeats and the
    /// number), and each leg's group.
    trunk_calls: RefCell<HashMap<CallKey, TrunkCall>>,
    trunk_call_of: RefCell<HashMap<CallKey, CallKey>>,
    /// Pings in flight: the core's number and the trunk pinged.
    pings: RefCell<HashMap<u64, usize>>,
    /// RFC 3263 lookups of host names (None: the system's getaddrinfo only).
    dns: RefCell<Option<super::dns::Dns>>,
    /// TLS contexts (and the listener) handed over by [`SipService::start_tls`], taken
    /// by the run loop at its next turn.
    tls_pending: RefCell<Option<(SipTls, Option<TcpListener>)>>,
    /// Test-only fault: the run loop panics at its next turn (see `calls::fault`).
    #[cfg(feature = "fault-injection")]
    panic_next_turn: Cell<bool>,
}

/// A call through the trunk list: its failover state (over `attempts`), and what each
/// new leg repeats.
struct TrunkCall {
    failover: Failover,
    number: String,
    media: super::sdp::LocalMedia,
    attempts: Vec<Attempt>,
}

/// One place a call can go: a trunk at one of its addresses (RFC 3263 4.3: the next
/// address of the same host is tried before the next trunk). `dest` None: the trunk's
/// host has no known address.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    trunk: usize,
    dest: Option<SocketAddr>,
}

/// Addresses of one trunk a call tries before it moves to the next trunk.
const ADDRESSES_PER_TRUNK: usize = 3;

/// The attempts of a call that goes through `plan` (trunk ids in order): each trunk's
/// known addresses, those of the box's own address family first.
fn attempts_of(table: &TrunkTable, plan: &[usize], want_v4: bool) -> Vec<Attempt> {
    let mut out = Vec::new();
    for &trunk in plan {
        let mut addrs = table.addrs(trunk).to_vec();
        addrs.sort_by_key(|a| a.is_ipv4() != want_v4);
        addrs.truncate(ADDRESSES_PER_TRUNK);
        if addrs.is_empty() {
            out.push(Attempt { trunk, dest: None });
        }
        out.extend(addrs.into_iter().map(|a| Attempt {
            trunk,
            dest: Some(a),
        }));
    }
    out
}

/// Cheap handle the call layer clones freely; the run loop stops once every handle is dropped.
#[derive(Clone)]
pub struct SipService {
    inner: Rc<Inner>,
    wake: Sender<()>,
}

impl SipService {
    /// Bind the SIP sockets (UDP, and TCP on the same address and port) and build the run
    /// loop (the caller spawns it on its executor). With a 0.0.0.0 listen address,
    /// `advertise_ip` (or 127.0.0.1) goes into Via/Contact.
    pub async fn bind(
        listen: SocketAddr,
        advertise_ip: Option<IpAddr>,
        mut config: SipConfig,
    ) -> io::Result<(SipService, impl Future<Output = ()>)> {
        let (socket, listener) = bind_udp_and_tcp(listen).await?;
        let bound = socket.local_addr()?;
        let ip = match advertise_ip {
            Some(ip) => ip,
            None if bound.ip().is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            None => bound.ip(),
        };
        let local_addr = SocketAddr::new(ip, bound.port());
        config.local_addr = local_addr;
        let mut core = SipCore::new(config, rand::random());
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        core.set_wall_clock(Instant::now(), unix);
        let inner = Rc::new(Inner {
            core: RefCell::new(core),
            local_addr,
            calls: RefCell::new(HashMap::new()),
            last_turn: Cell::new(Instant::now()),
            bindings_file: RefCell::new(None),
            incoming: RefCell::new(None),
            forks: RefCell::new(HashMap::new()),
            fork_of: RefCell::new(HashMap::new()),
            trunks: RefCell::new(TrunkTable::new(Vec::new(), Instant::now())),
            trunk_calls: RefCell::new(HashMap::new()),
            trunk_call_of: RefCell::new(HashMap::new()),
            pings: RefCell::new(HashMap::new()),
            dns: RefCell::new(None),
            tls_pending: RefCell::new(None),
            #[cfg(feature = "fault-injection")]
            panic_next_turn: Cell::new(false),
        });
        let (wake, wake_rx) = smol::channel::bounded(1);
        let run = run_loop(inner.clone(), socket, listener, wake_rx);
        log::info!("SIP: listening on {bound} (UDP and TCP), advertising {local_addr}");
        Ok((SipService { inner, wake }, run))
    }

    /// SIP over TLS: `tls` verifies servers (and serves the box's certificate), and with
    /// `listen` a TLS listener is bound there (its port goes into Contact of dialogs over
    /// TLS). Returns the listener's address. Without this call a TLS trunk still works,
    /// verified against the system's roots.
    pub async fn start_tls(
        &self,
        tls: SipTls,
        listen: Option<SocketAddr>,
    ) -> io::Result<Option<SocketAddr>> {
        let listener = match listen {
            Some(addr) => {
                if tls.server.is_none() {
                    return Err(io::Error::other(
                        "a TLS listener needs sip.tls.cert_file and key_file",
                    ));
                }
                Some(TcpListener::bind(addr).await?)
            }
            None => None,
        };
        let bound = match &listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        self.inner
            .core
            .borrow_mut()
            .set_tls_port(bound.map(|a| a.port()));
        if let Some(addr) = bound {
            log::info!("SIP: listening on {addr} (TLS)");
        }
        *self.inner.tls_pending.borrow_mut() = Some((tls, listener));
        self.wake();
        Ok(bound)
    }

    /// Inbound calls from now on: each caller's INVITE (already answered 100) with the
    /// channel of that call's events. Calls that arrive while `capacity` wait are
    /// answered 480.
    pub fn take_incoming(&self, capacity: usize) -> Receiver<Incoming> {
        let (tx, rx) = smol::channel::bounded(capacity.max(1));
        *self.inner.incoming.borrow_mut() = Some(tx);
        rx
    }

    /// 180 Ringing to an inbound call's caller.
    pub fn ring(&self, call: CallKey) {
        self.inner.core.borrow_mut().ring(Instant::now(), call);
        self.wake();
    }

    /// 183 with our SDP (receiving at `media`) to an inbound call's caller.
    pub fn early_media(&self, call: CallKey, media: super::sdp::LocalMedia) {
        self.inner
            .core
            .borrow_mut()
            .early_media(Instant::now(), call, media);
        self.wake();
    }

    /// 200 OK with our SDP to an inbound call's caller.
    pub fn answer(&self, call: CallKey, media: super::sdp::LocalMedia) {
        self.inner
            .core
            .borrow_mut()
            .answer(Instant::now(), call, media);
        self.wake();
    }

    /// Ends a call; an inbound call not answered yet gets `refusal` (else 480).
    pub fn hangup_with(&self, call: CallKey, refusal: Option<(u16, String)>) {
        let through_trunks = self
            .inner
            .trunk_calls
            .borrow_mut()
            .get_mut(&call)
            .map(|t| t.failover.hang_up());
        let legs = match (self.inner.forks.borrow().get(&call), through_trunks) {
            (Some(fork), _) => fork.legs_to_end(),
            (None, Some(leg)) => vec![leg],
            (None, None) => vec![call],
        };
        let mut core = self.inner.core.borrow_mut();
        for leg in legs {
            core.hangup_with(Instant::now(), leg, refusal.clone());
        }
        drop(core);
        self.wake();
    }

    /// Keeps the registrar's bindings in `dir` (the state directory): restores what an
    /// earlier run saved, then saves after every change.
    pub fn keep_bindings_in(&self, dir: &std::path::Path) {
        let path = dir.join(super::bindings_file::FILE_NAME);
        let restored = super::bindings_file::load(&path);
        if !restored.is_empty() {
            log::info!(
                "registrar: {} user(s) restored from {}",
                restored.len(),
                path.display()
            );
        }
        self.inner
            .core
            .borrow_mut()
            .restore_bindings(Instant::now(), restored);
        *self.inner.bindings_file.borrow_mut() = Some(path);
    }

    /// Where a call to `user` goes when that user is registered to the box: each live
    /// contact's URI and the address to send the INVITE to (see [`next_hop`]).
    pub fn registered_contacts(&self, user: &str) -> Vec<(String, SocketAddr)> {
        self.inner
            .core
            .borrow()
            .registered_contacts(Instant::now(), user)
            .into_iter()
            .filter_map(|c| next_hop(&c.uri, c.source).map(|to| (c.uri, to)))
            .collect()
    }

    /// The address we advertise (its port is the bound one, also when binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Start a call: resolves the URI's host (default port 5060), sends the INVITE, and returns
    /// the call's events, which end with exactly one `Terminated`.
    pub async fn invite(
        &self,
        request_uri: &str,
        media: super::sdp::LocalMedia,
    ) -> Result<(CallKey, Receiver<SipEvent>), SipError> {
        let addrs = self.resolve(request_uri).await?;
        let want_v4 = self.inner.local_addr.is_ipv4();
        let dest = addrs
            .iter()
            .find(|a| a.is_ipv4() == want_v4)
            .or(addrs.first())
            .copied()
            .ok_or_else(|| SipError::Resolve(request_uri.to_string()))?;
        self.invite_at(request_uri, dest, media)
    }

    /// As [`SipService::invite`], to a known next hop (a registered device's address).
    pub fn invite_at(
        &self,
        request_uri: &str,
        dest: SocketAddr,
        media: super::sdp::LocalMedia,
    ) -> Result<(CallKey, Receiver<SipEvent>), SipError> {
        let key = self
            .inner
            .core
            .borrow_mut()
            .invite(Instant::now(), request_uri, dest, media)?;
        let (tx, rx) = smol::channel::unbounded();
        self.inner.calls.borrow_mut().insert(key, tx);
        self.wake();
        Ok((key, rx))
    }

    /// Looks host names up through `dns` (SRV, then A/AAAA; RFC 3263) from now on,
    /// falling back to the system's getaddrinfo when it finds nothing.
    pub fn set_dns(&self, dns: super::dns::Dns) {
        *self.inner.dns.borrow_mut() = Some(dns);
    }

    /// Every address a request URI's host stands for, in the order to try them.
    async fn resolve(&self, request_uri: &str) -> Result<Vec<SocketAddr>, SipError> {
        self.resolve_over(request_uri, None).await
    }

    /// As [`SipService::resolve`] for requests over `transport` (a trunk's; else what
    /// the URI names): it picks the SRV records asked for.
    async fn resolve_over(
        &self,
        request_uri: &str,
        transport: Option<Transport>,
    ) -> Result<Vec<SocketAddr>, SipError> {
        let dns = self.inner.dns.borrow().clone();
        resolve(dns, request_uri, transport).await
    }

    /// The trunks calls to numbers go through (`[[sip.trunks]]`, or `[sip.outbound]` as
    /// a list of one), all up until they fail; their hosts are resolved by
    /// [`SipService::resolve_trunks`].
    pub fn set_trunks(&self, trunks: Vec<Trunk>) {
        *self.inner.trunks.borrow_mut() = TrunkTable::new(trunks, Instant::now());
        self.wake();
    }

    /// Resolves every trunk's host and trusts all their addresses (requests from a trunk
    /// are handled whatever `[sip] trusted` says). A host that does not resolve keeps its
    /// last addresses; the names of those that failed come back.
    pub async fn resolve_trunks(&self) -> Vec<String> {
        let uris: Vec<(usize, String, String, Transport)> = {
            let table = self.inner.trunks.borrow();
            (0..table.len())
                .filter_map(|i| {
                    table
                        .trunk(i)
                        .map(|t| (i, t.name.clone(), t.request_uri("0"), t.transport))
                })
                .collect()
        };
        let mut failed = Vec::new();
        for (i, name, uri, transport) in uris {
            match self.resolve_over(&uri, Some(transport)).await {
                Ok(addrs) if !addrs.is_empty() => {
                    self.inner.trunks.borrow_mut().set_addrs(i, addrs)
                }
                Ok(_) => failed.push(format!("{name}: no address")),
                Err(e) => failed.push(format!("{name}: {e}")),
            }
        }
        let ips = self
            .inner
            .trunks
            .borrow()
            .all_addrs()
            .iter()
            .map(|a| a.ip())
            .collect();
        self.inner.core.borrow_mut().set_trunk_addrs(ips);
        failed
    }

    /// Calls `number` through the trunks: the first of its plan that can be reached gets
    /// the INVITE, and a trunk failure before the answer moves the call on to the next
    /// (see `sip::failover`). The call layer sees one call.
    pub async fn invite_number(
        &self,
        number: &str,
        media: super::sdp::LocalMedia,
    ) -> Result<(CallKey, Receiver<SipEvent>), SipError> {
        let plan = {
            let mut rng = rand::thread_rng();
            self.inner
                .trunks
                .borrow()
                .plan(number, Instant::now(), &mut rng)
        };
        if plan.is_empty() {
            return Err(SipError::NoRoute(number.to_string()));
        }
        // The first trunk is resolved now, as every call did before there were trunk
        // lists (its addresses may have changed since the last refresh); the others'
        // addresses are those of the last refresh.
        let first = plan.first().copied().unwrap_or_default();
        let uri = self
            .inner
            .trunks
            .borrow()
            .trunk(first)
            .map(|t| (t.request_uri(number), t.transport));
        if let Some((uri, transport)) = uri {
            if let Ok(addrs) = self.resolve_over(&uri, Some(transport)).await {
                if !addrs.is_empty() {
                    self.inner.trunks.borrow_mut().set_addrs(first, addrs);
                }
            }
        }
        let attempts = attempts_of(
            &self.inner.trunks.borrow(),
            &plan,
            self.inner.local_addr.is_ipv4(),
        );
        let mut last_error = None;
        for (n, attempt) in attempts.iter().enumerate() {
            let Some(t) = self.inner.trunks.borrow().trunk(attempt.trunk).cloned() else {
                continue;
            };
            let uri = t.request_uri(number);
            let started = match attempt.dest {
                Some(dest) => self.inner.core.borrow_mut().invite_over(
                    Instant::now(),
                    &uri,
                    (dest, t.transport),
                    media.clone(),
                    Some(&t.credentials),
                ),
                None => Err(SipError::Resolve(uri.clone())),
            };
            let key = match started {
                Ok(key) => key,
                Err(e) => {
                    log::warn!("SIP: trunk {} cannot take the call: {e}", t.name);
                    if let SipError::Resolve(_) = e {
                        self.inner.trunks.borrow_mut().mark_down(
                            attempt.trunk,
                            Instant::now(),
                            &e.to_string(),
                        );
                    }
                    last_error = Some(e);
                    continue;
                }
            };
            let (tx, rx) = smol::channel::unbounded();
            self.inner.calls.borrow_mut().insert(key, tx);
            self.inner.trunk_call_of.borrow_mut().insert(key, key);
            self.inner.trunk_calls.borrow_mut().insert(
                key,
                TrunkCall {
                    failover: Failover::new(key, n, (n + 1..attempts.len()).collect()),
                    number: number.to_string(),
                    media,
                    attempts,
                },
            );
            self.wake();
            return Ok((key, rx));
        }
        Err(last_error.unwrap_or_else(|| SipError::NoRoute(number.to_string())))
    }

    /// Each trunk's name and whether it is up now (for `/metrics` and the status page).
    pub fn trunk_health(&self) -> Vec<(String, bool)> {
        let table = self.inner.trunks.borrow();
        let now = Instant::now();
        (0..table.len())
            .filter_map(|i| {
                table
                    .trunk(i)
                    .map(|t| (t.name.clone(), !table.is_down(i, now)))
            })
            .collect()
    }

    /// The name of the trunk a call is on (None for calls not through the trunk list).
    pub fn trunk_of(&self, call: CallKey) -> Option<String> {
        let calls = self.inner.trunk_calls.borrow();
        let call = calls.get(&call)?;
        let trunk = call.attempts.get(call.failover.trunk())?.trunk;
        self.inner
            .trunks
            .borrow()
            .trunk(trunk)
            .map(|t| t.name.clone())
    }

    /// End a call (CANCEL or BYE as its state requires); idempotent.
    pub fn hangup(&self, call: CallKey) {
        self.hangup_with(call, None);
    }

    /// Calls every `(request URI, next hop)` at once (a registered user's contacts): the
    /// first to answer wins and the others are cancelled; the call layer sees one call.
    pub fn invite_forked(
        &self,
        targets: &[(String, SocketAddr)],
        media: super::sdp::LocalMedia,
    ) -> Result<(CallKey, Receiver<SipEvent>), SipError> {
        let mut legs = Vec::new();
        {
            let mut core = self.inner.core.borrow_mut();
            for (uri, dest) in targets {
                match core.invite(Instant::now(), uri, *dest, media.clone()) {
                    Ok(key) => legs.push(key),
                    Err(e) => log::warn!("SIP: cannot fork to {uri}: {e}"),
                }
            }
        }
        let Some(&group) = legs.first() else {
            return Err(SipError::BadUri("no usable contact".into()));
        };
        let (tx, rx) = smol::channel::unbounded();
        self.inner.calls.borrow_mut().insert(group, tx);
        if legs.len() > 1 {
            let mut fork_of = self.inner.fork_of.borrow_mut();
            for leg in &legs {
                fork_of.insert(*leg, group);
            }
            self.inner
                .forks
                .borrow_mut()
                .insert(group, Fork::new(group, &legs));
        }
        self.wake();
        Ok((group, rx))
    }

    /// The leg of `call` that requests inside the call go to (a fork's winner).
    fn leg_of(&self, call: CallKey) -> CallKey {
        if let Some(t) = self.inner.trunk_calls.borrow().get(&call) {
            return t.failover.current();
        }
        self.inner
            .forks
            .borrow()
            .get(&call)
            .and_then(Fork::winner)
            .unwrap_or(call)
    }

    /// Where the call's INVITE went, for the media layer's NAT latch (see
    /// [`SipCore::signalling_peer`]).
    pub fn signalling_peer(&self, call: CallKey) -> Option<SocketAddr> {
        self.inner.core.borrow().signalling_peer(self.leg_of(call))
    }

    /// Sends an INFO in the call's dialog (DTMF relay); false when it is not confirmed.
    pub fn send_info(&self, call: CallKey, content_type: &str, body: Bytes) -> bool {
        let sent = self.inner.core.borrow_mut().send_info(
            Instant::now(),
            self.leg_of(call),
            content_type,
            body,
        );
        self.wake();
        sent
    }

    /// Counters of the core.
    pub fn stats(&self) -> super::endpoint::SipStats {
        self.inner.core.borrow().stats()
    }

    /// Why the run loop is not polling at `now` (it has not turned for
    /// [`STALLED_AFTER`] though it turns at least every second), or None while it is.
    pub fn stalled(&self, now: Instant) -> Option<String> {
        let quiet = now.saturating_duration_since(self.inner.last_turn.get());
        (quiet > STALLED_AFTER).then(|| {
            format!(
                "the SIP loop has not polled for {:.1} s",
                quiet.as_secs_f64()
            )
        })
    }

    /// Test-only fault: makes the run loop panic at its next turn, as a bug in it would.
    #[cfg(feature = "fault-injection")]
    pub fn inject_loop_panic(&self) {
        self.inner.panic_next_turn.set(true);
        self.wake();
    }

    fn wake(&self) {
        // A full channel already holds a wake-up; nothing to add.
        let _ = self.wake.try_send(());
    }
}

/// Every address a request URI's host stands for: the literal, or for a name what `dns`
/// finds (RFC 3263: SRV when the URI names no port, `_sip._tcp` for `transport` or a URI
/// that says TCP), else what the system resolver says (off the executor's thread) on the
/// URI's port or 5060.
async fn resolve(
    dns: Option<super::dns::Dns>,
    request_uri: &str,
    transport: Option<Transport>,
) -> Result<Vec<SocketAddr>, SipError> {
    let uri = SipUri::from_str(request_uri.trim())
        .map_err(|_| SipError::BadUri(request_uri.to_string()))?;
    let transport = transport
        .or_else(|| Transport::of_uri(&uri))
        .unwrap_or_default();
    let Target { host, port } = Target::of(&uri);
    match &host {
        Host::IP4(ip) => Ok(vec![SocketAddr::new((*ip).into(), port)]),
        Host::IP6(ip) => Ok(vec![SocketAddr::new((*ip).into(), port)]),
        Host::Name(name) => {
            let name = name.to_string();
            if let Some(dns) = dns {
                match dns
                    .sip_targets_over(&name, uri.host_port.port, transport)
                    .await
                {
                    Ok(found) if !found.is_empty() => return Ok(found),
                    Ok(_) => log::debug!("SIP: DNS has no address for {name}"),
                    Err(e) => log::debug!("SIP: DNS lookup of {name}: {e}"),
                }
            }
            let query = name.clone();
            smol::unblock(move || {
                (query.as_str(), port)
                    .to_socket_addrs()
                    .map(|a| a.collect::<Vec<_>>())
            })
            .await
            .map_err(|e| SipError::Resolve(format!("{name}: {e}")))
        }
    }
}

enum Wake {
    Recv(io::Result<(usize, SocketAddr)>),
    Tcp(Option<TcpEvent>),
    Timer,
    Command(bool),
}

/// The call (or leg) an event is about.
fn event_call(ev: &SipEvent) -> CallKey {
    match ev {
        SipEvent::Incoming(i) => i.call,
        SipEvent::Progress { call, .. }
        | SipEvent::Answered { call, .. }
        | SipEvent::Confirmed { call }
        | SipEvent::RemoteOffer { call, .. }
        | SipEvent::Info { call, .. }
        | SipEvent::Terminated { call, .. } => *call,
    }
}

/// Where a registered contact is reached: at the address its URI names when that is the
/// IP the REGISTER came from (a device on the LAN, or one that registers for another
/// socket of its own), else where the REGISTER came from (a device behind NAT names a
/// private address it cannot be reached at; RFC 5626's flow idea, without the outbound
/// extension).
pub fn next_hop(contact: &str, source: Option<SocketAddr>) -> Option<SocketAddr> {
    let named = SipUri::from_str(contact)
        .ok()
        .and_then(|u| super::dialog::uri_addr(&u));
    match (named, source) {
        (Some(n), Some(s)) if n.ip().to_canonical() == s.ip().to_canonical() => Some(n),
        (_, Some(s)) => Some(s),
        (n, None) => n,
    }
}

async fn run_loop(inner: Rc<Inner>, udp: UdpSocket, listener: TcpListener, wake: Receiver<()>) {
    let (tcp, tcp_events) = Tcp::new(listener);
    let sockets = Sockets {
        udp,
        tcp,
        tls: RefCell::new(None),
    };
    sockets
        .tcp
        .run(turn_forever(&inner, &sockets, &tcp_events, &wake))
        .await;
}

/// The run loop proper: sends what the core queued, then waits for a datagram, a TCP
/// message, a timer or a command.
async fn turn_forever(
    inner: &Inner,
    sockets: &Sockets,
    tcp_events: &Receiver<TcpEvent>,
    wake: &Receiver<()>,
) {
    let socket = &sockets.udp;
    let mut buf = vec![0u8; RECV_BUF];
    loop {
        #[cfg(feature = "fault-injection")]
        if inner.panic_next_turn.get() {
            panic!("fault injection: SIP loop panic");
        }
        inner.last_turn.set(Instant::now());
        sockets.take_tls(inner);
        send_due_pings(inner);
        flush(inner, sockets).await;
        let heartbeat = Instant::now() + HEARTBEAT;
        let next_ping = inner.trunks.borrow().next_ping().unwrap_or(heartbeat);
        let deadline = inner
            .core
            .borrow()
            .poll_timeout()
            .map_or(heartbeat, |at| at.min(heartbeat))
            .min(next_ping);
        let recv = async { Wake::Recv(socket.recv_from(&mut buf).await) };
        let timer = async {
            async_io::Timer::at(deadline).await;
            Wake::Timer
        };
        let command = async { Wake::Command(wake.recv().await.is_ok()) };
        let stream = async { Wake::Tcp(tcp_events.recv().await.ok()) };
        match recv.or(stream).or(timer).or(command).await {
            Wake::Recv(Ok((n, from))) => {
                let data = buf.get(..n).unwrap_or(&[]);
                inner
                    .core
                    .borrow_mut()
                    .handle_datagram(Instant::now(), from, data);
            }
            Wake::Tcp(Some(TcpEvent::Message {
                from,
                transport,
                data,
            })) => {
                inner
                    .core
                    .borrow_mut()
                    .handle_message(Instant::now(), from, transport, &data);
            }
            Wake::Tcp(Some(TcpEvent::Failed {
                peer,
                transport,
                why,
            })) => {
                log::warn!("SIP: {transport} to {peer}: {why}");
                inner
                    .core
                    .borrow_mut()
                    .handle_transport_error_on(Instant::now(), peer, transport);
            }
            Wake::Tcp(None) => {}
            Wake::Recv(Err(e)) => {
                // ICMP errors surface here on some systems; nothing to do but go on.
                log::debug!("SIP: recv error: {e}");
            }
            Wake::Timer => {
                let now = Instant::now();
                if inner
                    .core
                    .borrow()
                    .poll_timeout()
                    .is_some_and(|at| at <= now)
                {
                    inner.core.borrow_mut().handle_timeout(now);
                }
            }
            Wake::Command(true) => {}
            Wake::Command(false) => {
                log::info!("SIP: service dropped, run loop ends");
                return;
            }
        }
    }
}

/// The sockets the run loop sends on.
struct Sockets {
    udp: UdpSocket,
    tcp: Tcp,
    /// The TLS pool: made from [`SipService::start_tls`]'s contexts, or (a TLS trunk on
    /// a box without `[sip.tls]`) from the system's roots at the first TLS message.
    tls: RefCell<Option<Tcp>>,
}

impl Sockets {
    /// Sends `bytes` to `to` over TLS, verifying the server as the TLS trunk at that
    /// address names its host (else by its IP).
    fn send_tls(&self, inner: &Inner, to: SocketAddr, bytes: Bytes) -> Result<(), String> {
        if self.tls.borrow().is_none() {
            let tls = SipTls::system().map_err(|e| format!("no TLS: {e}"))?;
            *self.tls.borrow_mut() = Some(self.tcp.tls(tls, None));
        }
        let pool = self.tls.borrow();
        let pool = pool.as_ref().ok_or("no TLS")?;
        if let Some(name) = tls_name_of(&inner.trunks.borrow(), to) {
            pool.set_name(to, &name);
        }
        pool.send(to, bytes)
    }

    /// Takes the TLS contexts [`SipService::start_tls`] left.
    fn take_tls(&self, inner: &Inner) {
        if let Some((tls, listener)) = inner.tls_pending.borrow_mut().take() {
            *self.tls.borrow_mut() = Some(self.tcp.tls(tls, listener));
        }
    }
}

/// The host name of the TLS trunk resolved to `addr`, for SNI and verification; None
/// for a trunk named by IP (then its certificate must carry that IP).
fn tls_name_of(trunks: &TrunkTable, addr: SocketAddr) -> Option<String> {
    (0..trunks.len())
        .filter(|&i| trunks.addrs(i).contains(&addr))
        .filter_map(|i| trunks.trunk(i))
        .filter(|t| t.transport == Transport::Tls)
        .find_map(|t| match Target::parse(&t.request_uri("0"))?.host {
            Host::Name(name) => Some(name.to_string()),
            _ => None,
        })
}

/// Binds UDP on `listen` and TCP on the same address and port. With port 0 the kernel
/// picks the UDP port; should TCP be taken there, another pair is tried.
async fn bind_udp_and_tcp(listen: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    const TRIES: usize = 20;
    let mut tries = 0;
    loop {
        tries += 1;
        let socket = UdpSocket::bind(listen).await?;
        let port = socket.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(listen.ip(), port)).await {
            Ok(listener) => return Ok((socket, listener)),
            Err(_) if listen.port() == 0 && tries < TRIES => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "SIP over TCP on {}: {e}",
                        SocketAddr::new(listen.ip(), port)
                    ),
                ))
            }
        }
    }
}

async fn flush(inner: &Inner, sockets: &Sockets) {
    let changed = inner.core.borrow_mut().take_changed_bindings();
    if let (Some(bindings), Some(path)) = (changed, inner.bindings_file.borrow().as_ref()) {
        super::bindings_file::save(path, &bindings);
    }
    // Until both queues are empty: handling an event (refusing a call) can queue a datagram.
    loop {
        take_ping_outcomes(inner);
        if !flush_once(inner, sockets).await {
            return;
        }
    }
}

/// Sends what is queued and hands out the events; false when there was nothing.
async fn flush_once(inner: &Inner, sockets: &Sockets) -> bool {
    let mut any = false;
    loop {
        let next = inner.core.borrow_mut().poll_transmit();
        let Some(t) = next else { break };
        any = true;
        let sent = match t.transport {
            Transport::Udp => sockets
                .udp
                .send_to(&t.bytes, t.to)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Transport::Tcp => sockets.tcp.send(t.to, t.bytes),
            Transport::Tls => sockets.send_tls(inner, t.to, t.bytes),
        };
        if let Err(e) = sent {
            log::warn!("SIP: send to {} over {} failed: {e}", t.to, t.transport);
            inner
                .core
                .borrow_mut()
                .handle_transport_error_on(Instant::now(), t.to, t.transport);
        }
    }
    loop {
        let next = inner.core.borrow_mut().poll_event();
        let Some(ev) = next else { break };
        any = true;
        if let SipEvent::Incoming(incoming) = ev {
            let (tx, rx) = smol::channel::unbounded();
            let taken = inner
                .incoming
                .borrow()
                .as_ref()
                .is_some_and(|q| q.try_send((incoming.clone(), rx)).is_ok());
            if taken {
                inner.calls.borrow_mut().insert(incoming.call, tx);
            } else {
                // No one takes calls (or too many wait): the caller hears 480 at once.
                inner.core.borrow_mut().hangup_with(
                    Instant::now(),
                    incoming.call,
                    Some((480, "Temporarily Unavailable".into())),
                );
            }
            continue;
        }
        let group = {
            let call = event_call(&ev);
            inner.fork_of.borrow().get(&call).copied()
        };
        let ev = match group {
            None => ev,
            Some(group) => {
                let leg = event_call(&ev);
                let mut forks = inner.forks.borrow_mut();
                let Some(fork) = forks.get_mut(&group) else {
                    continue;
                };
                let step = fork.on_event(leg, ev);
                if fork.is_over() {
                    forks.remove(&group);
                    inner.fork_of.borrow_mut().retain(|_, g| *g != group);
                }
                drop(forks);
                for loser in step.hang_up {
                    inner.core.borrow_mut().hangup(Instant::now(), loser);
                }
                match step.forward {
                    Some(ev) => ev,
                    None => continue,
                }
            }
        };
        let ev = match through_trunks(inner, ev) {
            Some(ev) => ev,
            None => continue,
        };
        let call = event_call(&ev);
        let last = matches!(ev, SipEvent::Terminated { .. });
        let mut calls = inner.calls.borrow_mut();
        if let Some(tx) = calls.get(&call) {
            let _ = tx.try_send(ev);
        }
        if last {
            calls.remove(&call);
        }
    }
    any
}

/// An event of a leg of a call through the trunk list, carried out: trunks marked up or
/// down, the next trunk called when the current one failed. Returns the event the call
/// layer should see, if any (other calls' events pass unchanged).
fn through_trunks(inner: &Inner, ev: SipEvent) -> Option<SipEvent> {
    let leg = event_call(&ev);
    let Some(group) = inner.trunk_call_of.borrow().get(&leg).copied() else {
        return Some(ev);
    };
    let now = Instant::now();
    let mut step = {
        let mut calls = inner.trunk_calls.borrow_mut();
        calls.get_mut(&group)?.failover.on_event(leg, ev)
    };
    loop {
        let mut calls = inner.trunk_calls.borrow_mut();
        let call = calls.get_mut(&group)?;
        let mut table = inner.trunks.borrow_mut();
        let trunk_at = |i: usize| call.attempts.get(i).map(|a| a.trunk);
        if let Some(i) = step.trunk_answered.and_then(trunk_at) {
            if table.mark_up(i, now) {
                log::info!(
                    "SIP: trunk {} is up (it answered a call)",
                    name_of(&table, i)
                );
            }
        }
        let failed = step.trunk_failed.clone().unwrap_or_default();
        let failed_trunk = trunk_at(failed.0).unwrap_or_default();
        let next = step
            .try_next
            .and_then(|n| call.attempts.get(n).copied().map(|a| (n, a)));
        // A trunk is down once the call leaves it: its last address failed too.
        let leaves_trunk = next.is_none_or(|(_, a)| a.trunk != failed_trunk);
        if step.trunk_failed.is_some()
            && leaves_trunk
            && table.mark_down(failed_trunk, now, &failed.1)
        {
            log::warn!(
                "SIP: trunk {} is down: {}",
                name_of(&table, failed_trunk),
                failed.1
            );
        }
        let Some((n, attempt)) = next else { break };
        let Some(t) = table.trunk(attempt.trunk).cloned() else {
            step = call.failover.start_failed(n, "no such trunk".into());
            continue;
        };
        let to = match attempt.dest {
            Some(dest) if !leaves_trunk => format!("{} at {dest}", t.name),
            _ => t.name.clone(),
        };
        log::info!(
            "SIP: call moves from trunk {} ({}) to {to}",
            name_of(&table, failed_trunk),
            failed.1
        );
        let moved = moved_on(group, &name_of(&table, failed_trunk), &failed.1, &to);
        let uri = t.request_uri(&call.number);
        let started = match attempt.dest {
            Some(dest) => inner.core.borrow_mut().invite_over(
                now,
                &uri,
                (dest, t.transport),
                call.media.clone(),
                Some(&t.credentials),
            ),
            None => Err(SipError::Resolve(uri)),
        };
        // The line saying so goes out before anything of the new leg.
        if let Some(tx) = inner.calls.borrow().get(&group) {
            let _ = tx.try_send(moved);
        }
        match started {
            Ok(new_leg) => {
                call.failover.started(new_leg, n);
                inner.trunk_call_of.borrow_mut().insert(new_leg, group);
                return None;
            }
            Err(e) => step = call.failover.start_failed(n, e.to_string()),
        }
    }
    let forward = step.forward?;
    if matches!(forward, SipEvent::Terminated { .. }) {
        inner.trunk_calls.borrow_mut().remove(&group);
        inner.trunk_call_of.borrow_mut().retain(|_, g| *g != group);
    }
    Some(forward)
}

/// OPTIONS to every trunk whose ping is due (those without an address yet are skipped
/// until the next round).
fn send_due_pings(inner: &Inner) {
    let now = Instant::now();
    let due = inner.trunks.borrow_mut().take_due_pings(now);
    for i in due {
        let target = {
            let table = inner.trunks.borrow();
            table
                .trunk(i)
                .map(|t| (t.uri.replace("{number}@", ""), t.transport))
                .zip(table.addr(i, inner.local_addr.is_ipv4()))
        };
        let Some(((uri, transport), dest)) = target else {
            continue;
        };
        match inner
            .core
            .borrow_mut()
            .ping_over(now, &uri, dest, Some(transport))
        {
            Ok(ping) => {
                inner.pings.borrow_mut().insert(ping, i);
            }
            Err(e) => log::warn!("SIP: cannot ping trunk {uri}: {e}"),
        }
    }
}

/// The answers to pings, carried into the trunks' health: any answer but 503 means up.
fn take_ping_outcomes(inner: &Inner) {
    let now = Instant::now();
    loop {
        let next = inner.core.borrow_mut().poll_ping();
        let Some(outcome) = next else { return };
        let Some(i) = inner.pings.borrow_mut().remove(&outcome.ping) else {
            continue;
        };
        let mut table = inner.trunks.borrow_mut();
        match outcome.result {
            Ok(503) => {
                if table.mark_down(i, now, "OPTIONS answered 503") {
                    log::warn!(
                        "SIP: trunk {} is down: OPTIONS answered 503",
                        name_of(&table, i)
                    );
                }
            }
            Ok(code) => {
                // Older pings still unanswered say nothing new: forget them.
                inner.pings.borrow_mut().retain(|_, t| *t != i);
                if table.mark_up(i, now) {
                    log::info!(
                        "SIP: trunk {} is up (OPTIONS answered {code})",
                        name_of(&table, i)
                    );
                }
            }
            Err(why) => {
                let why = format!("OPTIONS: {why}");
                if table.mark_down(i, now, &why) {
                    log::warn!("SIP: trunk {} is down: {why}", name_of(&table, i));
                }
            }
        }
    }
}

/// A trunk's name for logs and state lines.
fn name_of(table: &TrunkTable, i: usize) -> String {
    table
        .trunk(i)
        .map_or_else(|| format!("#{i}"), |t| t.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::endpoint::EndCause;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    /// Kills sipp when the test ends, also on panic.
    struct Sipp(Child);

    impl Drop for Sipp {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// An idle loop still turns (its heartbeat stays fresh); one that is not polled goes
    /// stale and says so.
    #[test]
    fn the_heartbeat_is_fresh_while_the_loop_polls_and_stale_when_it_does_not() {
        let ex = smol::LocalExecutor::new();
        smol::block_on(ex.run(async {
            let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
            let (sip, run) = SipService::bind(addr, None, SipConfig::new(addr))
                .await
                .unwrap();
            let started = Instant::now();
            // Not polled yet: fine now, stale once STALLED_AFTER has passed.
            assert_eq!(sip.stalled(started), None);
            let later = started + STALLED_AFTER + Duration::from_millis(100);
            let why = sip
                .stalled(later)
                .expect("a loop that never ran is stalled");
            assert!(why.contains("SIP loop"), "{why}");
            let _running = ex.spawn(run);
            // Idle (no datagram, no timer of the core): the heartbeat still moves.
            async_io::Timer::after(HEARTBEAT + Duration::from_millis(300)).await;
            assert!(sip.inner.last_turn.get() > started + HEARTBEAT / 2);
            assert_eq!(sip.stalled(Instant::now()), None);
        }));
    }

    fn free_udp_port() -> u16 {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .expect("free port")
    }

    async fn next(rx: &Receiver<SipEvent>, what: &str) -> SipEvent {
        let timeout = async {
            async_io::Timer::after(Duration::from_secs(40)).await;
            None
        };
        match async { rx.recv().await.ok() }.or(timeout).await {
            Some(ev) => ev,
            None => panic!("timed out (40 s) waiting for {what}"),
        }
    }

    /// The shell against a real sipp UAS on loopback: INVITE → 180/200 → ACK, then our BYE.
    #[test]
    fn call_against_sipp_uas() {
        call_against_sipp(false);
    }

    /// The same over TCP (sipp `-t t1`: one connection), the dial URI saying
    /// `;transport=tcp`: sipp only listens on TCP, so the call works only if every
    /// request and the ACK go over TCP.
    #[test]
    fn call_against_sipp_uas_over_tcp() {
        call_against_sipp(true);
    }

    fn call_against_sipp(tcp: bool) {
        if Command::new("sipp").arg("-v").output().is_err() {
            eprintln!("NOTE: sipp not on PATH, skipping call_against_sipp_uas");
            return;
        }
        let port = free_udp_port();
        let mut cmd = Command::new("sipp");
        cmd.args(["-sn", "uas", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .args(["-m", "1", "-nostdin"]);
        if tcp {
            cmd.args(["-t", "t1"]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sipp");
        let mut sipp = Sipp(child);

        let ex = smol::LocalExecutor::new();
        smol::block_on(ex.run(async {
            let cfg = SipConfig::new("127.0.0.1:0".parse().unwrap());
            let (svc, run) = SipService::bind("127.0.0.1:0".parse().unwrap(), None, cfg)
                .await
                .expect("bind");
            ex.spawn(run).detach();
            assert_ne!(svc.local_addr().port(), 0);
            let media = crate::sip::sdp::LocalMedia {
                ip: "127.0.0.1".parse().unwrap(),
                rtp_port: 40000,
                codecs: vec![crate::media::Codec::Pcmu],
                telephone_event: false,
                session_id: 1,
                session_version: 1,
            };
            // sipp may still be starting: Timer A retransmits the INVITE until it listens.
            let param = if tcp { ";transport=tcp" } else { "" };
            let (call, rx) = loop {
                let started = svc
                    .invite(
                        &format!("sip:service@127.0.0.1:{port}{param}"),
                        media.clone(),
                    )
                    .await
                    .expect("invite");
                if !tcp {
                    break started;
                }
                // Over TCP a sipp that is not listening yet refuses the connection: the
                // call ends at once with a transport error, and is placed again.
                match next(&started.1, "first event").await {
                    SipEvent::Terminated {
                        cause: EndCause::TransportError,
                        ..
                    } => async_io::Timer::after(Duration::from_millis(200)).await,
                    first => {
                        assert!(
                            matches!(first, SipEvent::Progress { .. }),
                            "unexpected {first:?}"
                        );
                        break started;
                    }
                };
            };
            let mut answered = false;
            loop {
                match next(&rx, "Answered").await {
                    SipEvent::Progress { code, .. } => assert!((101..200).contains(&code)),
                    SipEvent::Answered { code, media, .. } => {
                        assert_eq!(code, 200);
                        assert!(
                            matches!(media, Some(Ok(_))),
                            "sipp answers with SDP: {media:?}"
                        );
                        answered = true;
                    }
                    SipEvent::Confirmed { .. } => break,
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert!(answered);
            svc.hangup(call);
            match next(&rx, "Terminated").await {
                SipEvent::Terminated { code, cause, .. } => {
                    assert_eq!(code, 200);
                    assert_eq!(cause, EndCause::LocalBye);
                }
                other => panic!("unexpected {other:?}"),
            }
            assert!(rx.recv().await.is_err(), "channel closes after Terminated");
        }));
        // sipp exits 0 when its one call passed.
        let mut status = None;
        for _ in 0..100 {
            if let Ok(Some(s)) = sipp.0.try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let status = status.expect("sipp did not exit within 10 s after the call");
        assert!(status.success(), "sipp reported a failed call: {status:?}");
    }
}
