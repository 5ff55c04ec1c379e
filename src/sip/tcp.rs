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
//! Bounded, since any host may connect: at most [`MAX_CONNECTIONS`] at once (more are
//! closed at accept), each with at most [`MAX_QUEUED`] messages waiting to be written and
//! closed after [`IDLE_TIMEOUT`] without a whole message either way (bytes that never
//! make a message do not keep it open). A framing error (no Content-Length, a message
//! over 64 KiB) closes the connection. A connection that cannot be opened, or a message
//! that cannot be written, is reported so the core can fail its transactions at once
//! (and trunk failover move on) instead of waiting for Timer B.
//!
//! Each connection is a task on a small executor of the SIP run loop's own (a
//! `LocalExecutor` driven inside the loop's future, so still the gateway's one thread).

use super::framing::StreamFramer;
use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
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
        /// The message, as the framer cut it.
        data: Vec<u8>,
    },
    /// Messages for `peer` could not leave (connecting failed, or writing did).
    Failed {
        /// The peer address.
        peer: SocketAddr,
        /// Why, for the log.
        why: String,
    },
}

/// One live connection as the senders see it.
struct Conn {
    id: u64,
    out: Sender<Bytes>,
}

/// What the connection tasks and the senders share.
struct State {
    conns: RefCell<HashMap<SocketAddr, Conn>>,
    next_id: Cell<u64>,
    events: Sender<TcpEvent>,
}

impl State {
    /// Forgets connection `id` of `peer` (a newer one to the same peer stays).
    fn remove(&self, peer: SocketAddr, id: u64) {
        let mut conns = self.conns.borrow_mut();
        if conns.get(&peer).is_some_and(|c| c.id == id) {
            conns.remove(&peer);
        }
    }

    /// Registers a connection to `peer` and returns its id and the receiver of what is
    /// to be written on it.
    fn register(&self, peer: SocketAddr) -> (u64, Receiver<Bytes>) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (out, rx) = smol::channel::bounded(MAX_QUEUED);
        self.conns.borrow_mut().insert(peer, Conn { id, out });
        (id, rx)
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
        let state = Rc::new(State {
            conns: RefCell::new(HashMap::new()),
            next_id: Cell::new(1),
            events,
        });
        let ex = Rc::new(LocalExecutor::new());
        ex.spawn(accept_loop(listener, state.clone(), ex.clone()))
            .detach();
        (Tcp { state, ex }, rx)
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
            return Err(format!("{MAX_CONNECTIONS} TCP connections open already"));
        }
        let (id, rx) = self.state.register(to);
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
                if state.conns.borrow().len() >= MAX_CONNECTIONS {
                    log::debug!("SIP: TCP connection from {peer} refused (too many open)");
                    continue;
                }
                log::debug!("SIP: TCP connection from {peer}");
                let (id, rx) = state.register(peer);
                ex.spawn(connection(state.clone(), peer, id, Some(stream), rx))
                    .detach();
            }
            Err(e) => {
                // Out of descriptors and the like: wait instead of spinning.
                log::warn!("SIP: TCP accept failed: {e}");
                async_io::Timer::after(Duration::from_millis(200)).await;
            }
        }
    }
}

/// One connection's life: opened (when `stream` is None) or accepted, then read and
/// written until either side ends it, a framing error, or idleness.
async fn connection(
    state: Rc<State>,
    peer: SocketAddr,
    id: u64,
    stream: Option<TcpStream>,
    out: Receiver<Bytes>,
) {
    let stream = match stream {
        Some(s) => s,
        None => {
            let connect = async { Some(TcpStream::connect(peer).await) };
            let timeout = async {
                async_io::Timer::after(CONNECT_TIMEOUT).await;
                None
            };
            match connect.or(timeout).await {
                Some(Ok(s)) => {
                    log::debug!("SIP: TCP connection to {peer} open");
                    s
                }
                Some(Err(e)) => {
                    state.remove(peer, id);
                    fail(&state, peer, format!("cannot connect over TCP: {e}")).await;
                    return;
                }
                None => {
                    state.remove(peer, id);
                    fail(&state, peer, "TCP connect timed out".into()).await;
                    return;
                }
            }
        }
    };
    let _ = stream.set_nodelay(true);
    let last = Cell::new(Instant::now());
    let reader = async {
        let mut framer = StreamFramer::new();
        let mut buf = vec![0u8; READ_CHUNK];
        let mut rd = stream.clone();
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
                        let event = TcpEvent::Message { from: peer, data };
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
        let mut wr = stream.clone();
        while let Ok(bytes) = out.recv().await {
            if let Err(e) = wr.write_all(&bytes).await {
                return Some(format!("write: {e}"));
            }
            last.set(Instant::now());
        }
        // Removed from the table (replaced or dropped): close.
        None
    };
    let idle = async {
        loop {
            let due = last.get() + IDLE_TIMEOUT;
            async_io::Timer::at(due).await;
            if last.get() + IDLE_TIMEOUT <= Instant::now() {
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
    let ended = read_or_idle.or(writer).await;
    state.remove(peer, id);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    match ended {
        Ok(None) => log::debug!("SIP: TCP connection with {peer} closed"),
        Ok(Some(why)) => log::debug!("SIP: TCP connection with {peer} closed: {why}"),
        Err(why) => fail(&state, peer, why).await,
    }
}

/// Tells the run loop that messages for `peer` were lost.
async fn fail(state: &State, peer: SocketAddr, why: String) {
    let _ = state.events.send(TcpEvent::Failed { peer, why }).await;
}
