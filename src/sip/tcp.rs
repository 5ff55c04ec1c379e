//! The shell's SIP over TCP (RFC 3261 section 18): the listener on `[sip] listen`, the
//! connections it accepts and those the box opens on demand, each read through a
//! [`StreamFramer`] into whole messages that go to the core like datagrams do (tagged
//! [`Transport::Tcp`](super::Transport::Tcp)). Only bytes move here; what to send, where,
//! and over which transport is the core's decision.
//!
//! One connection per peer address, reused both ways (RFC 5923's idea without its
//! `alias` parameter): a message for an address goes on the connection accepted from or
//! opened to that address, and a new one is opened only when there is none. So answers
//! go back on the connection their request came on (RFC 3261 18.2.2).
//!
//! Bounded, since any host may connect: at most [`MAX_CONNECTIONS`] at once, of which
//! peers may open at most [`MAX_ACCEPTED`] (more are closed at accept, so strangers can
//! never take the connections the box needs for its own calls); each with at most
//! [`MAX_QUEUED`] messages waiting to be written, and closed after [`IDLE_TIMEOUT`]
//! without a whole message either way (bytes that never make a message do not keep it
//! open; a connection accepted gets only [`FIRST_MESSAGE_TIMEOUT`] for its first). A framing error (no Content-Length, a message
//! over 64 KiB) closes the connection. A connection that cannot be opened, or a message
//! that cannot be written, is reported so the core can fail its transactions at once
//! (and trunk failover move on) instead of waiting for Timer B.
//!
//! Each connection is a task on a small executor of the SIP run loop's own (a
//! `LocalExecutor` driven inside the loop's future, so still the gateway's one thread).

use super::framing::StreamFramer;
use super::tls::SipTls;
use super::transport::Transport;
use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use rustls::pki_types::ServerName;
use smol::channel::{Receiver, Sender, TrySendError};
use smol::net::{TcpListener, TcpStream};
use smol::LocalExecutor;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Most TCP connections open at once (accepted and opened together). A gateway talks to
/// a few trunks and phones; the bound keeps a flood of connections from costing more
/// than this many small buffers.
pub const MAX_CONNECTIONS: usize = 128;
/// Most of [`MAX_CONNECTIONS`] that peers may open to the box; the rest are kept for the
/// connections the box opens itself (to its trunks).
pub const MAX_ACCEPTED: usize = 96;
/// An accepted connection that has not delivered a whole message this long after it
/// opened is closed (a peer that connects and says nothing holds a slot for nothing).
pub const FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages waiting to be written on one connection; a peer that does not read gets its
/// connection closed rather than the box buffering for it.
pub const MAX_QUEUED: usize = 32;
/// A connection with no whole message either way for this long is closed (Kamailio's
/// default lifetime is 120 s; a peer with more to say opens a new one).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(180);
/// How long opening a connection may take before the peer counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read at a time.
const READ_CHUNK: usize = 16 * 1024;

/// What the connections tell the run loop.
#[derive(Debug)]
pub enum TcpEvent {
    /// A whole message from `from` (the peer of its connection).
    Message {
        /// The connection's peer address.
        from: SocketAddr,
        /// TCP, or TLS over it.
        transport: Transport,
        /// The message, as the framer cut it.
        data: Vec<u8>,
    },
    /// Messages for `peer` could not leave (connecting failed, or writing did).
    Failed {
        /// The peer address.
        peer: SocketAddr,
        /// The transport of the connection that failed.
        transport: Transport,
        /// Why, for the log.
        why: String,
    },
}

/// One live connection as the senders see it.
struct Conn {
    id: u64,
    out: Sender<Bytes>,
    /// The peer opened it.
    accepted: bool,
}

/// What the connection tasks and the senders share.
struct State {
    conns: RefCell<HashMap<SocketAddr, Conn>>,
    next_id: Cell<u64>,
    events: Sender<TcpEvent>,
    /// TCP, or TLS (then `tls` is set).
    transport: Transport,
    tls: Option<Rc<SipTls>>,
    /// The host name a TLS peer is verified against (SNI), by address; an address
    /// without one is verified against its IP.
    names: RefCell<HashMap<SocketAddr, String>>,
}

impl State {
    /// The name `peer`'s certificate must carry.
    fn server_name(&self, peer: SocketAddr) -> ServerName<'static> {
        self.names
            .borrow()
            .get(&peer)
            .and_then(|n| ServerName::try_from(n.clone()).ok())
            .unwrap_or_else(|| ServerName::IpAddress(peer.ip().into()))
    }

    /// Forgets connection `id` of `peer` (a newer one to the same peer stays).
    fn remove(&self, peer: SocketAddr, id: u64) {
        let mut conns = self.conns.borrow_mut();
        if conns.get(&peer).is_some_and(|c| c.id == id) {
            conns.remove(&peer);
        }
    }

    /// Registers a connection to `peer` and returns its id and the receiver of what is
    /// to be written on it.
    fn register(&self, peer: SocketAddr, accepted: bool) -> (u64, Receiver<Bytes>) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (out, rx) = smol::channel::bounded(MAX_QUEUED);
        self.conns
            .borrow_mut()
            .insert(peer, Conn { id, out, accepted });
        (id, rx)
    }

    /// Connections the peers opened.
    fn accepted(&self) -> usize {
        self.conns.borrow().values().filter(|c| c.accepted).count()
    }
}

/// The TCP side of the SIP shell: owns the connection tasks (dropping it closes them all).
pub struct Tcp {
    state: Rc<State>,
    ex: Rc<LocalExecutor<'static>>,
}

impl Tcp {
    /// Starts accepting on `listener`; returns the shell's handle and the events of all
    /// connections. Nothing runs until [`Tcp::run`] drives it.
    pub fn new(listener: TcpListener) -> (Tcp, Receiver<TcpEvent>) {
        let (events, rx) = smol::channel::bounded(64);
        let ex = Rc::new(LocalExecutor::new());
        let tcp = Tcp::pool(ex, events, Transport::Tcp, None, Some(listener));
        (tcp, rx)
    }

    /// A TLS pool beside this TCP one: the same executor (so [`Tcp::run`] drives both)
    /// and events; it accepts on `listener` when given (with `tls.server`).
    pub fn tls(&self, tls: SipTls, listener: Option<TcpListener>) -> Tcp {
        let events = self.state.events.clone();
        Tcp::pool(self.ex.clone(), events, Transport::Tls, Some(tls), listener)
    }

    fn pool(
        ex: Rc<LocalExecutor<'static>>,
        events: Sender<TcpEvent>,
        transport: Transport,
        tls: Option<SipTls>,
        listener: Option<TcpListener>,
    ) -> Tcp {
        let state = Rc::new(State {
            conns: RefCell::new(HashMap::new()),
            next_id: Cell::new(1),
            events,
            transport,
            tls: tls.map(Rc::new),
            names: RefCell::new(HashMap::new()),
        });
        if let Some(listener) = listener {
            ex.spawn(accept_loop(listener, state.clone(), ex.clone()))
                .detach();
        }
        Tcp { state, ex }
    }

    /// Verifies the TLS server at `addr` as `host` (its URI's host name, also sent as
    /// SNI) from now on.
    pub fn set_name(&self, addr: SocketAddr, host: &str) {
        self.state
            .names
            .borrow_mut()
            .insert(addr, host.trim_matches(['[', ']']).to_string());
    }

    /// Runs `fut` while driving the connections' tasks.
    pub async fn run<T>(&self, fut: impl std::future::Future<Output = T>) -> T {
        self.ex.run(fut).await
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.state.conns.borrow().len()
    }

    /// Queues `bytes` for `to`: on the connection with that peer, or a new one. Err when
    /// it cannot even be queued (too many connections, or the peer does not read); the
    /// caller reports a transport error. A connection that fails later says so through
    /// [`TcpEvent::Failed`].
    pub fn send(&self, to: SocketAddr, bytes: Bytes) -> Result<(), String> {
        let queued = self
            .state
            .conns
            .borrow()
            .get(&to)
            .map(|c| (c.id, c.out.try_send(bytes.clone())));
        match queued {
            Some((_, Ok(()))) => return Ok(()),
            Some((id, Err(TrySendError::Full(_)))) => {
                self.state.remove(to, id);
                return Err(format!("{to} does not read what we send"));
            }
            // The connection is going away: open a new one.
            Some((id, Err(TrySendError::Closed(_)))) => self.state.remove(to, id),
            None => {}
        }
        if self.connections() >= MAX_CONNECTIONS {
            return Err(format!(
                "{MAX_CONNECTIONS} {} connections open already",
                self.state.transport
            ));
        }
        let (id, rx) = self.state.register(to, false);
        if let Some(c) = self.state.conns.borrow().get(&to) {
            let _ = c.out.try_send(bytes);
        }
        self.ex
            .spawn(connection(self.state.clone(), to, id, None, rx))
            .detach();
        Ok(())
    }
}

/// Accepts connections while there is room; the rest are closed at once.
async fn accept_loop(listener: TcpListener, state: Rc<State>, ex: Rc<LocalExecutor<'static>>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let what = state.transport;
                if state.accepted() >= MAX_ACCEPTED || state.conns.borrow().len() >= MAX_CONNECTIONS
                {
                    log::debug!("SIP: {what} connection from {peer} refused (too many open)");
                    continue;
                }
                log::debug!("SIP: {what} connection from {peer}");
                let (id, rx) = state.register(peer, true);
                ex.spawn(connection(state.clone(), peer, id, Some(stream), rx))
                    .detach();
            }
            Err(e) => {
                // Out of descriptors and the like: wait instead of spinning.
                log::warn!("SIP: {} accept failed: {e}", state.transport);
                async_io::Timer::after(Duration::from_millis(200)).await;
            }
        }
    }
}

/// One connection's life: opened (when `stream` is None) or accepted, secured with TLS
/// for a TLS pool, then read and written until either side ends it, a framing error, or
/// idleness.
async fn connection(
    state: Rc<State>,
    peer: SocketAddr,
    id: u64,
    stream: Option<TcpStream>,
    out: Receiver<Bytes>,
) {
    let what = state.transport;
    let accepted = stream.is_some();
    let tcp = match stream {
        Some(s) => s,
        None => {
            let connect = async { Some(TcpStream::connect(peer).await) };
            let timeout = async {
                async_io::Timer::after(CONNECT_TIMEOUT).await;
                None
            };
            match connect.or(timeout).await {
                Some(Ok(s)) => {
                    log::debug!("SIP: {what} connection to {peer} open");
                    s
                }
                Some(Err(e)) => {
                    state.remove(peer, id);
                    fail(&state, peer, format!("cannot connect over {what}: {e}")).await;
                    return;
                }
                None => {
                    state.remove(peer, id);
                    fail(&state, peer, format!("{what} connect timed out")).await;
                    return;
                }
            }
        }
    };
    let _ = tcp.set_nodelay(true);
    let ended = match state.tls.clone() {
        None => serve(&state, peer, accepted, tcp.clone(), &out).await,
        Some(tls) => {
            let handshake = async {
                if accepted {
                    match tls.server.clone() {
                        Some(server) => futures_rustls::TlsAcceptor::from(server)
                            .accept(tcp.clone())
                            .await
                            .map(futures_rustls::TlsStream::Server),
                        None => Err(std::io::Error::other("no certificate to serve")),
                    }
                } else {
                    futures_rustls::TlsConnector::from(tls.client.clone())
                        .connect(state.server_name(peer), tcp.clone())
                        .await
                        .map(futures_rustls::TlsStream::Client)
                }
            };
            let timeout = async {
                async_io::Timer::after(CONNECT_TIMEOUT).await;
                Err(std::io::Error::other("timed out"))
            };
            match handshake.or(timeout).await {
                Ok(stream) => serve(&state, peer, accepted, stream, &out).await,
                Err(e) if accepted => Ok(Some(format!("TLS handshake failed: {e}"))),
                Err(e) => {
                    let name = state.server_name(peer).to_str().into_owned();
                    log::warn!("SIP: TLS to {peer} (as {name}): handshake failed: {e}");
                    Err(format!("TLS handshake failed: {e}"))
                }
            }
        }
    };
    state.remove(peer, id);
    let _ = tcp.shutdown(std::net::Shutdown::Both);
    match ended {
        Ok(None) => log::debug!("SIP: {what} connection with {peer} closed"),
        Ok(Some(why)) => log::debug!("SIP: {what} connection with {peer} closed: {why}"),
        Err(why) => fail(&state, peer, why).await,
    }
}

/// Reads and writes one open connection (a TCP stream, or TLS over one) until either
/// side ends it, a framing error, or idleness: Ok(why it closed quietly), or Err(why
/// messages were lost).
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    state: &State,
    peer: SocketAddr,
    accepted: bool,
    stream: S,
    out: &Receiver<Bytes>,
) -> Result<Option<String>, String> {
    let (mut rd, mut wr) = futures_lite::io::split(stream);
    // Until its first whole message, an accepted connection gets FIRST_MESSAGE_TIMEOUT.
    let limit = Cell::new(if accepted {
        FIRST_MESSAGE_TIMEOUT
    } else {
        IDLE_TIMEOUT
    });
    let last = Cell::new(Instant::now());
    let reader = async {
        let mut framer = StreamFramer::new();
        let mut buf = vec![0u8; READ_CHUNK];
        let mut keepalives = 0;
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) => return None,
                Ok(n) => n,
                Err(e) => return Some(format!("read: {e}")),
            };
            framer.push(buf.get(..n).unwrap_or_default());
            if framer.keepalives() != keepalives {
                keepalives = framer.keepalives();
                last.set(Instant::now());
            }
            loop {
                match framer.next_message() {
                    Ok(Some(data)) => {
                        last.set(Instant::now());
                        limit.set(IDLE_TIMEOUT);
                        let event = TcpEvent::Message {
                            from: peer,
                            transport: state.transport,
                            data,
                        };
                        if state.events.send(event).await.is_err() {
                            return None;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return Some(e.to_string()),
                }
            }
        }
    };
    let writer = async {
        while let Ok(bytes) = out.recv().await {
            let written = async {
                wr.write_all(&bytes).await?;
                wr.flush().await
            };
            if let Err(e) = written.await {
                return Some(format!("write: {e}"));
            }
            last.set(Instant::now());
        }
        // Removed from the table (replaced or dropped): close.
        None
    };
    let idle = async {
        loop {
            let due = last.get() + limit.get();
            async_io::Timer::at(due).await;
            if last.get() + limit.get() <= Instant::now() {
                return Some("idle".to_string());
            }
        }
    };
    let writer = async {
        match writer.await {
            Some(why) => Err(why),
            None => Ok(None),
        }
    };
    let read_or_idle = async { Ok::<_, String>(reader.or(idle).await) };
    read_or_idle.or(writer).await
}

/// Tells the run loop that messages for `peer` were lost.
async fn fail(state: &State, peer: SocketAddr, why: String) {
    let transport = state.transport;
    let _ = state
        .events
        .send(TcpEvent::Failed {
            peer,
            transport,
            why,
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{SipConfig, SipService};

    fn options(branch: &str) -> String {
        format!(
            "OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK{branch}\r\n\
From: <sip:probe@127.0.0.1>;tag=p{branch}\r\nTo: <sip:gw@127.0.0.1>\r\nCall-ID: {branch}@probe\r\n\
CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    }

    /// Reads from `s` until `want` shows up, the peer closes (None) or 5 s pass.
    async fn read_until(s: &mut TcpStream, want: &str) -> Option<String> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let read = async { Some(s.read(&mut buf).await) };
            let timeout = async {
                async_io::Timer::at(deadline).await;
                None
            };
            match read.or(timeout).await {
                Some(Ok(n)) if n > 0 => {
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).into_owned();
                    if text.contains(want) {
                        return Some(text);
                    }
                }
                Some(_) => return None,
                None => panic!("nothing within 5 s: {}", String::from_utf8_lossy(&got)),
            }
        }
    }

    #[test]
    fn requests_over_tcp_are_answered_on_their_connection_and_bad_streams_are_closed() {
        let ex = LocalExecutor::new();
        smol::block_on(ex.run(async {
            let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
            let (sip, run) = SipService::bind(addr, None, SipConfig::new(addr))
                .await
                .unwrap();
            let _running = ex.spawn(run);
            let gw = sip.local_addr();

            // A keep-alive, then a request cut in two reads: one answer, on this
            // connection, its Via still saying TCP.
            let mut c = TcpStream::connect(gw).await.unwrap();
            let req = options("one");
            let (a, b) = req.split_at(40);
            c.write_all(b"\r\n\r\n").await.unwrap();
            c.write_all(a.as_bytes()).await.unwrap();
            async_io::Timer::after(Duration::from_millis(50)).await;
            c.write_all(b.as_bytes()).await.unwrap();
            let answer = read_until(&mut c, "\r\n\r\n").await.expect("an answer");
            assert!(answer.starts_with("SIP/2.0 200 OK\r\n"), "{answer}");
            assert!(answer.contains("Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKone"));

            // Bytes that are not SIP but framed: counted as garbage, the connection
            // stays and the next request is answered.
            c.write_all(b"junk that is no SIP\r\nContent-Length: 3\r\n\r\nabc")
                .await
                .unwrap();
            c.write_all(options("two").as_bytes()).await.unwrap();
            let answer = read_until(&mut c, "z9hG4bKtwo").await.expect("an answer");
            assert!(answer.contains("SIP/2.0 200 OK"), "{answer}");
            assert!(sip.stats().garbage >= 1);

            // A message without Content-Length breaks the stream: closed.
            c.write_all(b"BYE sip:x@y SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")
                .await
                .unwrap();
            assert_eq!(read_until(&mut c, "never").await, None, "closed");
            // So does a head that is not even text.
            let mut c = TcpStream::connect(gw).await.unwrap();
            c.write_all(b"\xff\xfe\x00\r\nContent-Length: 3\r\n\r\nabc")
                .await
                .unwrap();
            assert_eq!(read_until(&mut c, "never").await, None, "closed");

            // Connections are bounded: beyond the limit they are closed at accept.
            let mut open = Vec::new();
            for _ in 0..MAX_ACCEPTED {
                open.push(TcpStream::connect(gw).await.unwrap());
            }
            let mut extra = TcpStream::connect(gw).await.unwrap();
            assert_eq!(read_until(&mut extra, "never").await, None, "refused");
            // The ones within the limit still work.
            let first = open.first_mut().unwrap();
            first.write_all(options("three").as_bytes()).await.unwrap();
            assert!(read_until(first, "z9hG4bKthree").await.is_some());
        }));
    }
}
