//! The task that carries one call: the I/O shell around its [`CallCore`]. It moves SIP
//! events, commands, room events and audio, datagrams and the 20 ms tick into the core,
//! and carries out what the core asks (state lines, SIP requests, the room, sockets).
//! Every decision about the call is in `core.rs`; there is no timer here other than the
//! shared media tick, which also serves the core's deadlines.

use super::clock::MediaClock;
use super::core::{Action, CallCore, Control, MediaSocket, MAX_DATAGRAM};
use super::inbound::Decision;
use super::registry::{Registry, SharedStats};
use super::rtp_ports::RtpSockets;
use super::state::HangupCause;
use crate::http::callstats::callstats_json;
use crate::media::MediaSnapshot;
use crate::room::Room;
use crate::sip::{CallKey, SipEvent, SipService};
use bytes::Bytes;
use futures_lite::future::{or, pending};
use futures_lite::StreamExt;
use smol::channel::Receiver;
use smol::net::UdpSocket;
use smol::LocalExecutor;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

/// Largest datagram the media sockets read: an Ethernet MTU, which any RTP packet a
/// phone sends fits in (the largest Opus frame is 1275 bytes); a longer one is
/// truncated and then fails to parse, which is harmless. Each call's two receive tasks
/// hold one each.
const MEDIA_DATAGRAM: usize = 1500;

/// The call's core, shared by the call task and its two receive tasks (never borrowed
/// across an await).
type SharedCore = Rc<RefCell<CallCore>>;

/// Everything one call task needs, gathered by the startup handler.
pub struct CallTask {
    /// The gateway's call id.
    pub id: String,
    /// Where state lines, webhooks and DTMF notifications go.
    pub registry: Rc<RefCell<Registry>>,
    /// The SIP user agent.
    pub sip: SipService,
    /// This call in the SIP user agent.
    pub sip_call: CallKey,
    /// SIP events of this call.
    pub sip_events: Receiver<SipEvent>,
    /// Commands from the API (shutdown, DTMF) and the gateway (stopping).
    pub control: Receiver<Control>,
    /// The call's room.
    pub room: Box<dyn Room>,
    /// The call's media sockets.
    pub sockets: RtpSockets,
    /// The call's core, with CALLING already recorded.
    pub core: CallCore,
    /// The gateway's shared 20 ms media clock.
    pub clock: MediaClock,
    /// The executor the call runs on; its socket loops run beside it as tasks.
    pub executor: Rc<LocalExecutor<'static>>,
    /// Where the task publishes its media statistics.
    pub stats: SharedStats,
    /// For a call into the box: ringback and when to answer.
    pub inbound: Option<super::inbound::InboundLeg>,
}

enum Wake {
    Sip(Option<SipEvent>),
    Control(Option<Control>),
    Tick,
}

/// The task's I/O: what the core's actions and datagrams are carried out with.
struct Shell {
    id: String,
    registry: Rc<RefCell<Registry>>,
    sip: SipService,
    sip_call: CallKey,
    room: Box<dyn Room>,
    sockets: RtpSockets,
    clock: MediaClock,
    executor: Rc<LocalExecutor<'static>>,
    stats: SharedStats,
    inbound: Option<super::inbound::InboundLeg>,
}

impl CallTask {
    /// Runs the call to its end; the DISCONNCTD line is recorded before this returns.
    ///
    /// A call is three tasks: RTP and RTCP reception run as tasks of their own beside
    /// this one (SIP, control and the 20 ms tick of the shared [`MediaClock`]). They must
    /// not share a task: async-io's socket futures treat any wake-up of their task as
    /// readiness, so each wake-up for another reason costs them a `recvfrom` and an
    /// `epoll_ctl` (measured: 5 `recvfrom` and 4 `epoll_ctl` per call every 20 ms when
    /// they shared one, 2 and 1 apart, as for a plain relay).
    ///
    /// Not an `async fn`: one would keep `self` in its state beside the pieces taken
    /// out of it, about 3 KiB more per call for the call's whole life.
    pub fn run(self) -> impl std::future::Future<Output = ()> {
        let CallTask {
            id,
            registry,
            sip,
            sip_call,
            sip_events,
            control,
            room,
            sockets,
            core,
            clock,
            executor,
            stats,
            inbound,
        } = self;
        let mut shell = Shell {
            id,
            registry,
            sip,
            sip_call,
            room,
            sockets,
            clock,
            executor,
            stats,
            inbound,
        };
        let core: SharedCore = Rc::new(RefCell::new(core));
        async move {
            let receive_rtp =
                shell.spawn_receive(&core, shell.sockets.rtp.clone(), MediaSocket::Rtp);
            let receive_rtcp =
                shell.spawn_receive(&core, shell.sockets.rtcp.clone(), MediaSocket::Rtcp);
            let last_stats = shell.call_loop(&core, sip_events, control).await;
            // Dropping a task cancels it.
            drop(receive_rtp);
            drop(receive_rtcp);
            if let Some(snapshot) = last_stats {
                log::info!("call={} media {}", shell.id, callstats_json(&snapshot));
                log::info!("call={} media counters {:?}", shell.id, snapshot.counters);
            }
        }
    }
}

impl Shell {
    /// Reads one media socket into the core until the task is dropped.
    fn spawn_receive(
        &self,
        core: &SharedCore,
        socket: UdpSocket,
        which: MediaSocket,
    ) -> smol::Task<()> {
        let (core, id) = (core.clone(), self.id.clone());
        self.executor.spawn(async move {
            let mut buf = [0u8; MEDIA_DATAGRAM];
            loop {
                match socket.recv_from(&mut buf).await {
                    Ok((n, from)) => {
                        let mut core = core.borrow_mut();
                        match which {
                            MediaSocket::Rtp => core.handle_rtp(Instant::now(), from, &buf[..n]),
                            MediaSocket::Rtcp => core.handle_rtcp(Instant::now(), from, &buf[..n]),
                        }
                    }
                    Err(e) => log::debug!("call={id} {which:?} socket: {e}"),
                }
            }
        })
    }

    /// Feeds the core until it is done; returns the last statistics it published.
    async fn call_loop(
        &mut self,
        core: &SharedCore,
        sip_events: Receiver<SipEvent>,
        control: Receiver<Control>,
    ) -> Option<MediaSnapshot> {
        let mut ticks = self.clock.subscribe();
        let mut out = [0u8; MAX_DATAGRAM];
        let mut last_stats = None;
        let (mut sip_open, mut control_open) = (true, true);
        let mut sip_events = Inbox::new(sip_events);
        let mut control = Inbox::new(control);
        loop {
            self.drain(core, &mut out, &mut last_stats).await;
            if core.borrow().is_done() {
                return last_stats;
            }
            let wake = {
                let sip_next = sip_events.recv();
                let control_next = control.recv();
                let sip = async {
                    if sip_open {
                        Wake::Sip(sip_next.await)
                    } else {
                        pending().await
                    }
                };
                let control = async {
                    if control_open {
                        Wake::Control(control_next.await)
                    } else {
                        pending().await
                    }
                };
                let tick = async {
                    ticks.tick().await;
                    Wake::Tick
                };
                or(sip, or(control, tick)).await
            };
            let now = Instant::now();
            let mut c = core.borrow_mut();
            match wake {
                Wake::Sip(Some(event)) => c.handle_sip_event(now, event),
                Wake::Sip(None) => sip_open = false,
                Wake::Control(Some(command)) => c.handle_command(now, command),
                Wake::Control(None) => {
                    // The gateway dropped its end: it is stopping.
                    control_open = false;
                    c.handle_command(now, Control::Hangup(HangupCause::GatewayStopping));
                }
                Wake::Tick => {
                    let event = self.room.poll_event(now);
                    if let Some(inbound) = self.inbound.as_mut() {
                        match inbound.decide(now, event.as_ref()) {
                            Decision::Ring => {}
                            Decision::Answer => {
                                self.sip.answer(self.sip_call, inbound.local_media.clone())
                            }
                            Decision::Refuse(cause) => {
                                c.handle_command(now, Control::Hangup(cause))
                            }
                        }
                    }
                    if let Some(event) = event {
                        c.handle_room_event(now, event);
                    }
                    let mut frame = self.room.poll_audio();
                    if let Some(inbound) = self.inbound.as_mut() {
                        frame = inbound.caller_frame(frame);
                    }
                    c.handle_media_tick(now, frame.as_ref());
                }
            }
            if c.poll_timeout().is_some_and(|at| at <= now) {
                c.handle_timeout(now);
            }
        }
    }

    /// Carries out what the core asked: actions in order, the phone's audio to the room,
    /// then the datagrams for the phone.
    async fn drain(
        &mut self,
        core: &SharedCore,
        out: &mut [u8],
        last_stats: &mut Option<MediaSnapshot>,
    ) {
        loop {
            let action = core.borrow_mut().poll_action();
            let Some(action) = action else { break };
            self.apply(action, last_stats);
        }
        let frame = core.borrow_mut().poll_room_audio();
        if let Some(frame) = frame {
            self.room.send_audio(&frame);
        }
        loop {
            let transmit = core.borrow_mut().poll_transmit(out);
            let Some(t) = transmit else { break };
            let socket = match t.socket {
                MediaSocket::Rtp => &self.sockets.rtp,
                MediaSocket::Rtcp => &self.sockets.rtcp,
            };
            if let Err(e) = socket.send_to(&out[..t.len], t.to).await {
                log::debug!("call={} {:?} send to {}: {e}", self.id, t.socket, t.to);
            }
        }
    }

    fn apply(&mut self, action: Action, last_stats: &mut Option<MediaSnapshot>) {
        match action {
            Action::Record(change) => self.registry.borrow_mut().record(&self.id, &change),
            Action::SipHangup(refusal) => self.sip.hangup_with(self.sip_call, refusal),
            Action::SipInfo { content_type, body } => {
                if !self
                    .sip
                    .send_info(self.sip_call, content_type, Bytes::from(body))
                {
                    log::warn!("call={} INFO not sent: no confirmed dialog", self.id);
                }
            }
            Action::PhoneDtmf(digit) => {
                self.registry
                    .borrow_mut()
                    .notify_dtmf(&self.id, digit, "phone");
                self.room.send_dtmf(digit);
            }
            Action::RoomDtmf(digit) => {
                self.registry
                    .borrow_mut()
                    .notify_dtmf(&self.id, digit, "room");
            }
            Action::LeaveRoom => self.room.leave(),
            Action::Stats(snapshot) => {
                *self.stats.borrow_mut() = Some(*snapshot);
                *last_stats = Some(*snapshot);
            }
        }
    }
}

/// A channel receiver that is only polled when it may hold something.
///
/// The call task wakes about 100 times a second for media; polling an idle
/// `async-channel` receiver on each of those wake-ups locks its listener every time
/// (4 % of the gateway's CPU at 200 calls, seen with `perf`). Once a listener is armed
/// (the receiver returned `Pending`), it wakes the task when a message or the close
/// arrives, so until then the receiver is skipped unless it is visibly non-empty or closed.
struct Inbox<T> {
    rx: std::pin::Pin<Box<Receiver<T>>>,
    armed: bool,
}

impl<T> Inbox<T> {
    fn new(rx: Receiver<T>) -> Self {
        Inbox {
            rx: Box::pin(rx),
            armed: false,
        }
    }

    /// The next message, or `None` once the channel is closed and empty.
    fn recv(&mut self) -> impl std::future::Future<Output = Option<T>> + '_ {
        std::future::poll_fn(move |cx| {
            if self.armed && self.rx.is_empty() && !self.rx.is_closed() {
                return std::task::Poll::Pending;
            }
            let polled = self.rx.as_mut().poll_next(cx);
            self.armed = polled.is_pending();
            polled
        })
    }
}
