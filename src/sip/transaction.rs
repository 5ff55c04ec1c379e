//! RFC 3261 section 17 transactions over UDP and TCP, without I/O: retransmissions, absorbing
//! the peer's retransmissions, and the timers that bound every exchange. The dialog layer above only sees
//! each answer once (2xx to INVITE excepted: those reach it every time, so it can re-ACK).
//!
//! Client INVITE: A (retransmit, doubling from T1), B (64*T1 without any response), D (absorb
//! retransmitted non-2xx finals, 32 s) and RFC 6026's Accepted state (M = 64*T1) that passes every
//! 2xx up. Client non-INVITE: E (doubling, capped at T2), F (64*T1), K (T4).
//! Server INVITE: G (retransmit the final, doubling to T2), H (64*T1 waiting for ACK), I (T4);
//! a 2xx is retransmitted here too until the dialog layer reports its ACK via [`Transactions::ack_2xx`].
//! Server non-INVITE: J (64*T1 answering retransmissions).
//!
//! Over a reliable transport ([`Transport::is_reliable`]) nothing is retransmitted: Timers
//! A, E and G (and the 2xx retransmission) are not armed, B, F, H and M still bound the
//! exchange, and D, I, J and K are zero (RFC 3261 17.1.1.2, 17.1.2.2, 17.2.1, 17.2.2).
//! Responses go back on the transport (and so, for TCP, the connection) their request
//! came on (RFC 3261 18.2.2).
//!
//! Every datagram is matched here, on the thread that also carries all media, so lookups go
//! through indexes (branch + sent-by + method for server transactions, branch + method for
//! ours) instead of scanning; and the server table is bounded
//! ([`MAX_SERVER_TRANSACTIONS`]): a peer that floods requests cannot grow memory, its
//! excess requests are dropped unanswered and counted.

use super::message::{CommonHeaders, Request, Response};
use super::transport::{prepare, Transport};
use bytes::Bytes;
use ezk_sip_types::header::typed::{CSeq, CallID, MaxForwards, Routing, Via};
use ezk_sip_types::print::{AppendCtx, PrintCtx};
use ezk_sip_types::{Headers, Method, Name};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A message the shell must send; every output of the SIP cores has this shape.
#[derive(Debug, Clone)]
pub struct Transmit {
    /// Destination address (for TCP: the peer of the connection to use or open).
    pub to: SocketAddr,
    /// Datagram or stream.
    pub transport: Transport,
    /// The serialised message.
    pub bytes: Bytes,
}

/// RFC 3261 timer base values; configurable so tests and odd networks can shorten or stretch them.
/// `Default` holds RFC 3261's values, the one place the gateway's defaults come from.
#[derive(Debug, Clone, Copy)]
pub struct TimerConfig {
    /// Round-trip estimate (default 500 ms).
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests and INVITE responses (default 4 s).
    pub t2: Duration,
    /// Longest time a message stays in the network (default 5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// Handle of one transaction, so the layer above can answer a request or match a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxKey(u64);

/// What the transaction layer hands to the layer above.
#[derive(Debug)]
pub enum TxEvent {
    /// A response to one of our requests (never a retransmission, except 2xx to INVITE).
    Response {
        /// Our client transaction.
        tx: TxKey,
        /// The response.
        response: Response,
    },
    /// A new request from the peer; answer it with [`Transactions::send_response`].
    Request {
        /// The server transaction (for ACK to a 2xx: a throw-away key, nothing to answer).
        tx: TxKey,
        /// The request.
        request: Request,
        /// Where it came from; responses go back there.
        from: SocketAddr,
        /// What it came over; responses go back on it.
        transport: Transport,
    },
    /// Timer B or F (or the CANCEL deadline) fired: the request got no final answer; or
    /// Timer H: our final answer to an INVITE got no ACK.
    Timeout {
        /// The transaction, now gone.
        tx: TxKey,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    Calling,
    Proceeding,
    Completed,
    Accepted,
}

struct ClientTx {
    branch: String,
    method: Method,
    dest: SocketAddr,
    transport: Transport,
    request: Request,
    bytes: Bytes,
    state: ClientState,
    retransmit_at: Option<Instant>,
    interval: Duration,
    timeout_at: Option<Instant>,
    cancel_deadline: Option<Instant>,
    end_at: Option<Instant>,
    ack: Option<Bytes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    Trying,
    Proceeding,
    Completed,
    Accepted,
    Confirmed,
}

struct ServerTx {
    branch: String,
    sent_by: String,
    method: Method,
    source: SocketAddr,
    transport: Transport,
    call_id: String,
    cseq: u32,
    state: ServerState,
    last_response: Option<Bytes>,
    retransmit_at: Option<Instant>,
    interval: Duration,
    timeout_at: Option<Instant>,
    end_at: Option<Instant>,
}

/// Most server transactions alive at once. A server transaction lives up to 64*T1 (32 s)
/// after its answer, so this allows a sustained 32 new requests a second, far beyond what a
/// gateway's trunk and phones send; beyond it new requests are dropped without state or
/// answer (retransmissions of live ones are still absorbed). 1024 transactions cost well
/// under a megabyte.
pub const MAX_SERVER_TRANSACTIONS: usize = 1024;

/// What identifies a server transaction (RFC 3261 17.2.3): the top Via's branch and sent-by,
/// and the method (ACK matching INVITE).
type ServerId = (String, String, Method);

/// What identifies a client transaction (RFC 3261 17.1.3): the branch we chose, and the
/// CSeq method (CANCEL reuses its INVITE's branch).
type ClientId = (String, Method);

/// All transactions of one socket.
pub struct Transactions {
    timers: TimerConfig,
    next_key: u64,
    clients: HashMap<TxKey, ClientTx>,
    servers: HashMap<TxKey, ServerTx>,
    /// Index of `clients`, kept in step by `insert_client`/`remove_client`.
    client_index: HashMap<ClientId, TxKey>,
    /// Index of `servers` (those with a branch), kept in step by `insert_server`/`remove_server`.
    server_index: HashMap<ServerId, TxKey>,
    out: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
    retransmissions: u64,
    stray_responses: u64,
    table_full: u64,
}

/// Timer D for UDP (RFC 3261 17.1.1.2: at least 32 s).
const TIMER_D: Duration = Duration::from_secs(32);

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn due(t: Option<Instant>, now: Instant) -> bool {
    matches!(t, Some(t) if t <= now)
}

fn sent_by(via: &Via) -> String {
    via.sent_by.print_ctx(PrintCtx::default()).to_string()
}

impl Transactions {
    /// An empty layer with the given timer values.
    pub fn new(timers: TimerConfig) -> Self {
        Transactions {
            timers,
            next_key: 1,
            clients: HashMap::new(),
            servers: HashMap::new(),
            client_index: HashMap::new(),
            server_index: HashMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            retransmissions: 0,
            stray_responses: 0,
            table_full: 0,
        }
    }

    fn insert_client(&mut self, key: TxKey, tx: ClientTx) {
        self.client_index
            .insert((tx.branch.clone(), tx.method.clone()), key);
        self.clients.insert(key, tx);
    }

    fn remove_client(&mut self, key: TxKey) {
        if let Some(tx) = self.clients.remove(&key) {
            let id = (tx.branch, tx.method);
            if self.client_index.get(&id) == Some(&key) {
                self.client_index.remove(&id);
            }
        }
    }

    fn insert_server(&mut self, key: TxKey, tx: ServerTx) {
        // Without a branch (RFC 2543 peers) retransmissions cannot be matched: not indexed.
        if !tx.branch.is_empty() {
            self.server_index.insert(
                (tx.branch.clone(), tx.sent_by.clone(), tx.method.clone()),
                key,
            );
        }
        self.servers.insert(key, tx);
    }

    fn remove_server(&mut self, key: TxKey) {
        if let Some(tx) = self.servers.remove(&key) {
            let id = (tx.branch, tx.sent_by, tx.method);
            if self.server_index.get(&id) == Some(&key) {
                self.server_index.remove(&id);
            }
        }
    }

    /// The live server transaction `id` names, if any.
    fn find_server(&self, id: &ServerId) -> Option<TxKey> {
        if id.0.is_empty() {
            return None;
        }
        self.server_index.get(id).copied()
    }

    fn key(&mut self) -> TxKey {
        let k = TxKey(self.next_key);
        self.next_key += 1;
        k
    }

    fn timeout_64(&self) -> Duration {
        self.timers.t1 * 64
    }

    /// Start a client transaction: sends the request now and retransmits it as RFC 3261 says.
    /// The request must carry a unique Via branch. ACK must go through [`Transactions::send_stateless`].
    /// `transport` is the one asked for; a UDP request too large for a datagram goes over
    /// TCP instead (see [`prepare`]), its Via saying so.
    pub fn send_request(
        &mut self,
        now: Instant,
        dest: SocketAddr,
        transport: Transport,
        mut request: Request,
    ) -> TxKey {
        let key = self.key();
        let (transport, bytes) = prepare(&mut request, transport);
        self.out.push_back(Transmit {
            to: dest,
            transport,
            bytes: bytes.clone(),
        });
        let tx = ClientTx {
            branch: request.branch().unwrap_or_default(),
            method: request.method().clone(),
            dest,
            transport,
            request,
            bytes,
            // "Calling" stands for RFC 3261's Trying as well: both wait for the first answer.
            state: ClientState::Calling,
            // Timers A and E: only where the network may lose the request.
            retransmit_at: (!transport.is_reliable()).then(|| now + self.timers.t1),
            interval: self.timers.t1,
            timeout_at: Some(now + self.timeout_64()),
            cancel_deadline: None,
            end_at: None,
            ack: None,
        };
        self.insert_client(key, tx);
        key
    }

    /// Send something outside any transaction (ACK to a 2xx, stateless replies).
    pub fn send_stateless(&mut self, to: SocketAddr, transport: Transport, bytes: Bytes) {
        self.out.push_back(Transmit {
            to,
            transport,
            bytes,
        });
    }

    /// The request a client transaction was started with (to build CANCEL, or to authenticate).
    pub fn client_request(&self, tx: TxKey) -> Option<&Request> {
        self.clients.get(&tx).map(|t| &t.request)
    }

    /// Where a client transaction sends to.
    pub fn client_dest(&self, tx: TxKey) -> Option<SocketAddr> {
        self.clients.get(&tx).map(|t| t.dest)
    }

    /// What a client transaction's request went over (a CANCEL follows its INVITE).
    pub fn client_transport(&self, tx: TxKey) -> Option<Transport> {
        self.clients.get(&tx).map(|t| t.transport)
    }

    /// Whether an INVITE client transaction has seen a provisional response (CANCEL allowed).
    pub fn is_proceeding(&self, tx: TxKey) -> bool {
        matches!(self.clients.get(&tx), Some(t) if t.state == ClientState::Proceeding)
    }

    /// Drop a client transaction without waiting for its timers (its destination is unreachable).
    pub fn abandon(&mut self, tx: TxKey) {
        self.remove_client(tx);
    }

    /// After a CANCEL: give the INVITE 64*T1 more to produce its final answer (RFC 3261 9.1),
    /// then report a [`TxEvent::Timeout`].
    pub fn start_cancel_deadline(&mut self, now: Instant, tx: TxKey) {
        let deadline = now + self.timeout_64();
        if let Some(t) = self.clients.get_mut(&tx) {
            t.cancel_deadline = Some(deadline);
            if t.state == ClientState::Proceeding {
                t.timeout_at = Some(deadline);
            }
        }
    }

    /// Feed a response from the wire. Returns false when no transaction matches (dropped).
    pub fn on_response(&mut self, now: Instant, response: Response) -> bool {
        let (Some(branch), Some(cseq)) = (response.branch(), response.cseq()) else {
            self.stray_responses += 1;
            return false;
        };
        let key = self.client_index.get(&(branch, cseq.method)).copied();
        let Some(key) = key else {
            self.stray_responses += 1;
            return false;
        };
        let code = response.code();
        let t4 = self.timers.t4;
        let m = self.timeout_64();
        let Some(tx) = self.clients.get_mut(&key) else {
            return false;
        };
        let is_invite = tx.method == Method::INVITE;
        let deliver = match (tx.state, code) {
            (ClientState::Calling | ClientState::Proceeding, 100..=199) => {
                tx.state = ClientState::Proceeding;
                if is_invite {
                    tx.retransmit_at = None;
                    tx.timeout_at = tx.cancel_deadline;
                }
                true
            }
            (ClientState::Calling | ClientState::Proceeding, 200..=299) if is_invite => {
                tx.state = ClientState::Accepted;
                tx.retransmit_at = None;
                tx.timeout_at = None;
                tx.end_at = Some(now + m);
                true
            }
            (ClientState::Calling | ClientState::Proceeding, _) => {
                tx.state = ClientState::Completed;
                tx.retransmit_at = None;
                tx.timeout_at = None;
                if is_invite {
                    let ack = build_ack_for_non_2xx(&tx.request, &response).to_bytes();
                    self.out.push_back(Transmit {
                        to: tx.dest,
                        transport: tx.transport,
                        bytes: ack.clone(),
                    });
                    tx.ack = Some(ack);
                    // Timer D: zero over a reliable transport (no retransmitted finals).
                    tx.end_at = Some(if tx.transport.is_reliable() {
                        now
                    } else {
                        now + TIMER_D.max(m / 2)
                    });
                } else {
                    // Timer K.
                    tx.end_at = Some(if tx.transport.is_reliable() {
                        now
                    } else {
                        now + t4
                    });
                }
                true
            }
            (ClientState::Accepted, 200..=299) => true,
            (ClientState::Completed, 300..=699) if is_invite => {
                if let Some(ack) = &tx.ack {
                    self.out.push_back(Transmit {
                        to: tx.dest,
                        transport: tx.transport,
                        bytes: ack.clone(),
                    });
                    self.retransmissions += 1;
                }
                false
            }
            _ => false,
        };
        if deliver {
            self.events
                .push_back(TxEvent::Response { tx: key, response });
        }
        true
    }

    /// Feed a request from the wire (that came over `transport`): retransmissions are
    /// answered here, new requests become [`TxEvent::Request`].
    pub fn on_request(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        request: Request,
    ) {
        let via = request.top_via();
        let branch = request.branch().unwrap_or_default();
        let sent_by = via.as_ref().map(sent_by).unwrap_or_default();
        let method = request.method().clone();
        let match_method = if method == Method::ACK {
            Method::INVITE
        } else {
            method.clone()
        };
        let id: ServerId = (branch, sent_by, match_method);
        let found = self.find_server(&id);
        let t4 = self.timers.t4;
        if let Some(key) = found {
            let Some(s) = self.servers.get_mut(&key) else {
                return;
            };
            if method == Method::ACK {
                match s.state {
                    ServerState::Completed => {
                        s.state = ServerState::Confirmed;
                        s.retransmit_at = None;
                        s.timeout_at = None;
                        // Timer I.
                        s.end_at = Some(if s.transport.is_reliable() {
                            now
                        } else {
                            now + t4
                        });
                        return;
                    }
                    ServerState::Confirmed => return,
                    // An ACK to a 2xx that reused the INVITE's branch: the dialog must see it.
                    _ => {}
                }
            } else {
                if let Some(resp) = &s.last_response {
                    self.out.push_back(Transmit {
                        to: s.source,
                        transport: s.transport,
                        bytes: resp.clone(),
                    });
                    self.retransmissions += 1;
                }
                return;
            }
        }
        if method != Method::ACK && self.servers.len() >= MAX_SERVER_TRANSACTIONS {
            // No room: no state, no answer; the peer's retransmission may find room later.
            self.table_full += 1;
            return;
        }
        let key = self.key();
        if method != Method::ACK {
            let cseq = request.cseq().map(|c| c.cseq).unwrap_or(0);
            let (branch, sent_by, match_method) = id;
            self.insert_server(
                key,
                ServerTx {
                    branch,
                    sent_by,
                    method: match_method,
                    source: from,
                    transport,
                    call_id: request.call_id().unwrap_or_default(),
                    cseq,
                    state: if method == Method::INVITE {
                        ServerState::Proceeding
                    } else {
                        ServerState::Trying
                    },
                    last_response: None,
                    retransmit_at: None,
                    interval: self.timers.t1,
                    timeout_at: None,
                    end_at: None,
                },
            );
        }
        self.events.push_back(TxEvent::Request {
            tx: key,
            request,
            from,
            transport,
        });
    }

    /// Answer a request of a server transaction (sent to where, and over what, the request
    /// came from).
    pub fn send_response(&mut self, now: Instant, tx: TxKey, response: Response) {
        let t1 = self.timers.t1;
        let m = self.timeout_64();
        let Some(s) = self.servers.get_mut(&tx) else {
            return;
        };
        let code = response.code();
        let bytes = response.to_bytes();
        self.out.push_back(Transmit {
            to: s.source,
            transport: s.transport,
            bytes: bytes.clone(),
        });
        s.last_response = Some(bytes);
        let reliable = s.transport.is_reliable();
        if code < 200 {
            if s.state == ServerState::Trying {
                s.state = ServerState::Proceeding;
            }
            return;
        }
        if s.method == Method::INVITE {
            s.state = if code < 300 {
                ServerState::Accepted
            } else {
                ServerState::Completed
            };
            // Timer G (and the 2xx's retransmission): only where it may be lost. Timer H
            // runs either way.
            s.retransmit_at = (!reliable).then(|| now + t1);
            s.interval = t1;
            s.timeout_at = Some(now + m);
        } else {
            s.state = ServerState::Completed;
            // Timer J.
            s.end_at = Some(if reliable { now } else { now + m });
        }
    }

    /// The dialog layer saw the ACK for a 2xx we sent to an INVITE: stop retransmitting it.
    /// Returns whether such a transaction was waiting.
    ///
    /// A scan, not an index: the ACK of a 2xx is a new transaction (its branch differs from
    /// the INVITE's), so only Call-ID and CSeq tie it to its INVITE; it is called once per
    /// accepted re-INVITE, and the table it scans is bounded by [`MAX_SERVER_TRANSACTIONS`].
    pub fn ack_2xx(&mut self, now: Instant, call_id: &str, cseq: u32) -> bool {
        let m = self.timeout_64();
        for s in self.servers.values_mut() {
            if s.method == Method::INVITE
                && s.state == ServerState::Accepted
                && s.call_id == call_id
                && s.cseq == cseq
            {
                s.state = ServerState::Confirmed;
                s.retransmit_at = None;
                s.timeout_at = None;
                // Keep absorbing retransmitted INVITEs for a while.
                s.end_at = Some(now + m);
                return true;
            }
        }
        false
    }

    /// The server INVITE transaction a CANCEL refers to (same branch and sent-by).
    pub fn find_server_invite(&self, request: &Request) -> Option<TxKey> {
        let branch = request.branch()?;
        let sent_by = sent_by(&request.top_via()?);
        self.find_server(&(branch, sent_by, Method::INVITE))
    }

    /// Run the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let t2 = self.timers.t2;
        let mut gone = Vec::new();
        for (key, tx) in self.clients.iter_mut() {
            if due(tx.timeout_at, now) {
                self.events.push_back(TxEvent::Timeout { tx: *key });
                gone.push(*key);
                continue;
            }
            if due(tx.end_at, now) {
                gone.push(*key);
                continue;
            }
            if due(tx.retransmit_at, now) {
                self.out.push_back(Transmit {
                    to: tx.dest,
                    transport: tx.transport,
                    bytes: tx.bytes.clone(),
                });
                self.retransmissions += 1;
                if tx.method == Method::INVITE {
                    tx.interval *= 2;
                } else if tx.state == ClientState::Proceeding {
                    tx.interval = t2;
                } else {
                    tx.interval = (tx.interval * 2).min(t2);
                }
                tx.retransmit_at = Some(now + tx.interval);
            }
        }
        for key in gone.drain(..) {
            self.remove_client(key);
        }
        for (key, s) in self.servers.iter_mut() {
            if due(s.timeout_at, now) {
                log::warn!(
                    "SIP: no ACK for our final response to INVITE (Call-ID {}), giving up",
                    s.call_id
                );
                // Timer H: the layer above ends a call whose 200 was never ACKed
                // (RFC 3261 13.3.1.4).
                self.events.push_back(TxEvent::Timeout { tx: *key });
                gone.push(*key);
                continue;
            }
            if due(s.end_at, now) {
                gone.push(*key);
                continue;
            }
            if due(s.retransmit_at, now) {
                if let Some(resp) = &s.last_response {
                    self.out.push_back(Transmit {
                        to: s.source,
                        transport: s.transport,
                        bytes: resp.clone(),
                    });
                    self.retransmissions += 1;
                }
                s.interval = (s.interval * 2).min(t2);
                s.retransmit_at = Some(now + s.interval);
            }
        }
        for key in gone {
            self.remove_server(key);
        }
    }

    /// The earliest deadline of any transaction.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = None;
        for t in self.clients.values() {
            next = min_opt(next, t.retransmit_at);
            next = min_opt(next, t.timeout_at);
            next = min_opt(next, t.end_at);
        }
        for s in self.servers.values() {
            next = min_opt(next, s.retransmit_at);
            next = min_opt(next, s.timeout_at);
            next = min_opt(next, s.end_at);
        }
        next
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// Next event for the layer above.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    /// Datagrams sent again because of a timer or a peer's retransmission.
    pub fn retransmissions(&self) -> u64 {
        self.retransmissions
    }

    /// Responses that matched no transaction.
    pub fn stray_responses(&self) -> u64 {
        self.stray_responses
    }

    /// New requests dropped unanswered because the server table was full.
    pub fn table_full(&self) -> u64 {
        self.table_full
    }

    /// Live transactions (client, server), for stats and leak checks.
    pub fn counts(&self) -> (usize, usize) {
        (self.clients.len(), self.servers.len())
    }
}

/// RFC 3261 17.1.1.3: the ACK for a non-2xx final answer belongs to the INVITE transaction.
fn build_ack_for_non_2xx(invite: &Request, response: &Response) -> Request {
    let mut headers = Headers::with_capacity(8);
    if let Some(via) = invite.top_via() {
        headers.insert_named(&via);
    }
    headers.insert_named(&MaxForwards(70));
    for v in invite.headers.get_raw(&Name::FROM) {
        headers.insert(Name::FROM, v.clone());
    }
    for v in response.headers.get_raw(&Name::TO) {
        headers.insert(Name::TO, v.clone());
    }
    if let Some(id) = invite.call_id() {
        headers.insert_named(&CallID::new(id));
    }
    let num = invite.cseq().map(|c| c.cseq).unwrap_or(1);
    headers.insert_named(&CSeq::new(num, Method::ACK));
    if let Ok(routes) = invite.headers.get::<Vec<Routing>>(Name::ROUTE) {
        if !routes.is_empty() {
            headers.insert_type(Name::ROUTE, &routes);
        }
    }
    Request {
        line: ezk_sip_types::msg::RequestLine {
            method: Method::ACK,
            uri: invite.line.uri.clone(),
        },
        headers,
        body: Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{parse, Message};

    fn options(n: usize) -> Request {
        let text = format!(
            "OPTIONS sip:gw@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKflood{n}\r\n\
From: <sip:x@10.0.0.2>;tag=f{n}\r\nTo: <sip:gw@10.0.0.1>\r\nCall-ID: c{n}\r\nCSeq: 1 OPTIONS\r\n\r\n"
        );
        match parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn from() -> SocketAddr {
        "10.0.0.2:5060".parse().unwrap()
    }

    /// Answers every pending request with 200 and returns how many there were.
    fn answer_all(t: &mut Transactions, now: Instant) -> usize {
        let mut n = 0;
        while let Some(ev) = t.poll_event() {
            if let TxEvent::Request { tx, request, .. } = ev {
                t.send_response(now, tx, Response::for_request(&request, 200, "OK", None));
                n += 1;
            }
        }
        n
    }

    #[test]
    fn the_server_table_is_bounded_and_its_index_follows_it() {
        let mut t = Transactions::new(TimerConfig::default());
        let now = Instant::now();
        for n in 0..MAX_SERVER_TRANSACTIONS + 50 {
            t.on_request(now, from(), Transport::Udp, options(n));
        }
        assert_eq!(answer_all(&mut t, now), MAX_SERVER_TRANSACTIONS);
        assert_eq!(t.counts(), (0, MAX_SERVER_TRANSACTIONS));
        assert_eq!(t.server_index.len(), MAX_SERVER_TRANSACTIONS);
        assert_eq!(t.table_full(), 50);
        while t.poll_transmit().is_some() {}
        // Full, yet a retransmission of a live transaction finds its cached answer by index.
        t.on_request(now, from(), Transport::Udp, options(7));
        let again = t.poll_transmit().expect("the cached 200 is resent");
        assert!(String::from_utf8_lossy(&again.bytes).contains("Call-ID: c7\r\n"));
        assert!(t.poll_event().is_none());
        assert_eq!(t.retransmissions(), 1);
        // Timer J ends them all; table and index empty together, and there is room again.
        t.handle_timeout(now + Duration::from_secs(33));
        assert_eq!(t.counts(), (0, 0));
        assert!(t.server_index.is_empty());
        t.on_request(now, from(), Transport::Udp, options(99_999));
        assert_eq!(answer_all(&mut t, now), 1);
    }

    #[test]
    fn client_responses_are_found_by_branch_and_method() {
        let mut t = Transactions::new(TimerConfig::default());
        let now = Instant::now();
        let mut keys = Vec::new();
        for n in 0..100 {
            keys.push(t.send_request(now, from(), Transport::Udp, options(n)));
        }
        assert_eq!(t.client_index.len(), 100);
        // A response for request 42: its branch and CSeq method pick transaction 42.
        let resp = Response::for_request(&options(42), 200, "OK", Some("x"));
        assert!(t.on_response(now, resp));
        match t.poll_event() {
            Some(TxEvent::Response { tx, .. }) => assert_eq!(tx, keys[42]),
            other => panic!("{other:?}"),
        }
        // Same branch, another method: no match.
        let mut other = Response::for_request(&options(43), 200, "OK", Some("x"));
        other.headers.remove(&Name::CSEQ);
        other.headers.insert_named(&CSeq::new(1, Method::INVITE));
        assert!(!t.on_response(now, other));
        assert_eq!(t.stray_responses(), 1);
        t.abandon(keys[0]);
        assert_eq!(t.client_index.len(), 99);
        t.handle_timeout(now + Duration::from_secs(40));
        assert_eq!(t.counts(), (0, 0));
        assert!(t.client_index.is_empty());
    }
}
