//! The task that carries one call from its INVITE to its end: it feeds SIP events to
//! the call state machine, moves audio between the RTP socket and the room on a 20 ms
//! clock, and enforces the TTL and the no-RTP timeout. Protocol decisions live in the
//! cores (`sip`, `media::bridge`, `calls::state`); this is the I/O shell around them.

use super::clock::MediaClock;
use super::registry::{Control, Registry, SharedStats};
use super::rtp_ports::RtpSockets;
use super::state::{CallMachine, HangupCause};
use crate::media::bridge::{BridgeConfig, MediaBridge, MediaEvent};
use crate::media::dtmf;
use crate::room::Room;
use crate::sip::sdp::{self, LocalMedia, NegotiatedMedia};
use crate::sip::{CallKey, SipEvent, SipService};
use bytes::Bytes;
use futures_lite::future::{or, pending};
use futures_lite::StreamExt;
use smol::channel::Receiver;
use smol::LocalExecutor;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Largest datagram the media sockets read; RTP on a LAN fits easily.
const MEDIA_DATAGRAM: usize = 2048;

/// RTCP is read only to be dropped; a longer datagram is truncated, which is harmless.
const RTCP_DATAGRAM: usize = 1500;

/// How long the gateway waits for the SIP leg to confirm a hang-up (487 to a CANCEL,
/// 200 to a BYE) before it writes the call's end anyway.
const TEARDOWN_GRACE: Duration = Duration::from_secs(4);

/// Everything one call task needs, gathered by the startup handler.
pub struct CallTask {
    /// The gateway's call id.
    pub id: String,
    /// Where state lines go.
    pub registry: Rc<RefCell<Registry>>,
    /// The SIP user agent.
    pub sip: SipService,
    /// This call in the SIP user agent.
    pub sip_call: CallKey,
    /// SIP events of this call.
    pub sip_events: Receiver<SipEvent>,
    /// Commands from the API (shutdown) and the gateway (stopping).
    pub control: Receiver<Control>,
    /// The call's room.
    pub room: Box<dyn Room>,
    /// The call's media sockets.
    pub sockets: RtpSockets,
    /// What we offered.
    pub local_media: LocalMedia,
    /// The state machine, with CALLING already recorded.
    pub machine: CallMachine,
    /// When the TTL ends the call.
    pub ttl_deadline: Instant,
    /// Hang up an answered call after this long without RTP.
    pub no_rtp_timeout: Duration,
    /// Jitter buffer depth in frames.
    pub jitter_frames: u8,
    /// G.722 level convention (`[sip] g722_level`), handed to the media bridge.
    pub g722_level: crate::media::g722::G722Level,
    /// False while the phone has put the call on hold (it sends no RTP then).
    pub phone_sends: bool,
    /// The gateway's shared 20 ms media clock.
    pub clock: MediaClock,
    /// The executor the call runs on; its socket loops run beside it as tasks.
    pub executor: Rc<LocalExecutor<'static>>,
    /// Sample rate the room runs at; the bridge resamples when the codec's differs.
    pub room_rate: u32,
    /// Where the task publishes its media statistics.
    pub stats: SharedStats,
}

/// Media statistics are republished every this many ticks (one second).
const STATS_EVERY_TICKS: u32 = 50;

enum Wake {
    Sip(Option<SipEvent>),
    Control(Option<Control>),
    Tick,
    Ttl,
}

/// The call's media core, shared by the receive task and the tick (never borrowed
/// across an await).
type SharedBridge = Rc<RefCell<Option<Box<MediaBridge>>>>;

impl CallTask {
    /// Runs the call to its end; the DISCONNCTD line is recorded before this returns.
    ///
    /// A call is three tasks: RTP reception and RTCP draining run as tasks of their
    /// own beside this one (SIP, control, TTL and the 20 ms tick of the shared
    /// [`MediaClock`]). They must not share a task: async-io's socket futures treat any
    /// wake-up of their task as readiness, so each wake-up for another reason costs them
    /// a `recvfrom` and an `epoll_ctl` (measured: 5 `recvfrom` and 4 `epoll_ctl` per
    /// call every 20 ms when they shared one, 2 and 1 apart, as for a plain relay).
    ///
    /// [`MediaClock`]: super::clock::MediaClock
    pub async fn run(mut self) {
        let bridge: SharedBridge = Rc::new(RefCell::new(None));
        let receive = {
            let (rtp, bridge, id) = (self.sockets.rtp.clone(), bridge.clone(), self.id.clone());
            self.executor.spawn(async move {
                let mut buf = [0u8; MEDIA_DATAGRAM];
                loop {
                    match rtp.recv_from(&mut buf).await {
                        Ok((n, from)) => {
                            if let Some(bridge) = bridge.borrow_mut().as_mut() {
                                if let Err(e) = bridge.handle_rtp(Instant::now(), from, &buf[..n]) {
                                    log::debug!("call {id}: RTP from {from} dropped: {e:?}");
                                }
                            }
                        }
                        Err(e) => log::debug!("call {id}: RTP socket: {e}"),
                    }
                }
            })
        };
        let drain_rtcp = {
            let (rtcp, bridge, id) = (self.sockets.rtcp.clone(), bridge.clone(), self.id.clone());
            self.executor.spawn(async move {
                let mut buf = [0u8; RTCP_DATAGRAM];
                loop {
                    match rtcp.recv_from(&mut buf).await {
                        Ok((n, from)) => {
                            if let Some(bridge) = bridge.borrow_mut().as_mut() {
                                if let Err(e) = bridge.handle_rtcp(Instant::now(), from, &buf[..n])
                                {
                                    log::debug!("call {id}: RTCP from {from} dropped: {e:?}");
                                }
                            }
                        }
                        Err(e) => log::debug!("call {id}: RTCP socket: {e}"),
                    }
                }
            })
        };
        self.call_loop(&bridge).await;
        // Dropping a task cancels it.
        drop(receive);
        drop(drain_rtcp);

        self.room.leave();
        self.sip.hangup(self.sip_call);
        let bridge = bridge.borrow();
        self.publish_stats(&bridge);
        if let Some(bridge) = bridge.as_ref() {
            log::info!("call {}: media {}", self.id, bridge.call_stats().to_json());
            log::info!("call {}: media counters {:?}", self.id, bridge.stats());
        }
    }

    fn publish_stats(&self, bridge: &Option<Box<MediaBridge>>) {
        if let Some(bridge) = bridge {
            *self.stats.borrow_mut() = Some(bridge.call_stats().to_json());
        }
    }

    /// A touch tone from the phone: to the webhook and to the room.
    fn on_dtmf(&mut self, digit: char) {
        log::info!("call {}: DTMF {digit} from the phone", self.id);
        self.registry
            .borrow_mut()
            .notify_dtmf(&self.id, digit, "phone");
        self.room.send_dtmf(digit);
    }

    // --- issue 17 hook, for the call core to port: a digit an app user keyed in the
    // room goes to the phone (RFC 4733 when negotiated, SIP INFO otherwise) and to the
    // webhook with "from":"room". Called from `on_tick` for `RoomEvent::Dtmf`.
    fn on_room_dtmf(&mut self, bridge: &SharedBridge, digit: char) {
        log::info!("call {}: DTMF {digit} from the room", self.id);
        self.registry
            .borrow_mut()
            .notify_dtmf(&self.id, digit, "room");
        self.send_dtmf(&mut bridge.borrow_mut(), &digit.to_string());
    }

    /// Touch tones to the phone: RFC 4733 events when the phone negotiated them, SIP
    /// INFO (application/dtmf-relay) otherwise.
    fn send_dtmf(&mut self, bridge: &mut Option<Box<MediaBridge>>, digits: &str) {
        if let Some(bridge) = bridge {
            if bridge.send_dtmf(digits) > 0 {
                return;
            }
        }
        for digit in digits.chars() {
            let Some(body) = dtmf::dtmf_relay_body(digit, 100) else {
                continue;
            };
            if !self
                .sip
                .send_info(self.sip_call, "application/dtmf-relay", Bytes::from(body))
            {
                log::warn!(
                    "call {}: DTMF {digits} not sent: the call is not answered",
                    self.id
                );
                return;
            }
        }
    }

    /// Everything but the media sockets: SIP, control, TTL, and the 20 ms tick.
    async fn call_loop(&mut self, bridge: &SharedBridge) {
        let mut ticks = self.clock.subscribe();
        let mut ttl = async_io::Timer::at(self.ttl_deadline);
        let mut ttl_pending = true;
        let mut sip_open = true;
        let mut confirmed_at: Option<Instant> = None;
        let mut give_up_at: Option<Instant> = None;
        let mut out = [0u8; MEDIA_DATAGRAM];
        let mut tick_count: u32 = 0;
        // The channels move into inboxes (closed placeholders stay behind).
        let mut sip_events = Inbox::new(std::mem::replace(
            &mut self.sip_events,
            smol::channel::bounded(1).1,
        ));
        let mut control = Inbox::new(std::mem::replace(
            &mut self.control,
            smol::channel::bounded(1).1,
        ));

        while !self.machine.is_done() {
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
                let control = async { Wake::Control(control_next.await) };
                let tick = async {
                    ticks.tick().await;
                    Wake::Tick
                };
                let ttl_fired = async {
                    if ttl_pending {
                        (&mut ttl).await;
                        Wake::Ttl
                    } else {
                        pending().await
                    }
                };
                or(sip, or(control, or(tick, ttl_fired))).await
            };
            let now = Instant::now();
            match wake {
                Wake::Sip(None) => sip_open = false,
                Wake::Sip(Some(event)) => {
                    self.on_sip_event(event, &mut bridge.borrow_mut(), &mut confirmed_at, now);
                }
                Wake::Control(Some(Control::Hangup(cause))) => self.hangup(cause),
                Wake::Control(Some(Control::Dtmf(digits))) => {
                    self.send_dtmf(&mut bridge.borrow_mut(), &digits)
                }
                Wake::Control(None) => self.hangup(HangupCause::GatewayStopping),
                Wake::Ttl => {
                    ttl_pending = false;
                    self.hangup(HangupCause::Ttl);
                }
                Wake::Tick => {
                    self.on_tick(now, bridge, confirmed_at, &mut out).await;
                    tick_count = tick_count.wrapping_add(1);
                    if tick_count.is_multiple_of(STATS_EVERY_TICKS) {
                        self.publish_stats(&bridge.borrow());
                    }
                }
            }
            if self.machine.hangup_cause().is_some() && give_up_at.is_none() {
                give_up_at = Some(now + TEARDOWN_GRACE);
            }
            if give_up_at.is_some_and(|at| now >= at) && !self.machine.is_done() {
                log::warn!(
                    "call {}: SIP leg did not confirm the hang-up in time",
                    self.id
                );
                self.machine.give_up();
            }
            self.flush_changes();
        }
    }

    fn hangup(&mut self, cause: HangupCause) {
        log::info!("call {}: hanging up: {}", self.id, cause.reason());
        if self.machine.hangup(cause) {
            self.sip.hangup(self.sip_call);
        }
    }

    fn flush_changes(&mut self) {
        while let Some(change) = self.machine.poll_change() {
            if change.state == super::state::CallState::Disconnected {
                // Leave first, so the room's side (a recording, the SDK) is complete
                // by the time a client sees the call done.
                self.room.leave();
            }
            self.registry.borrow_mut().record(&self.id, &change);
        }
    }

    fn on_sip_event(
        &mut self,
        event: SipEvent,
        bridge: &mut Option<Box<MediaBridge>>,
        confirmed_at: &mut Option<Instant>,
        now: Instant,
    ) {
        match event {
            SipEvent::Progress {
                code, reason, sdp, ..
            } => {
                self.machine.provisional(code, &reason);
                if let Some(sdp) = sdp {
                    // Early media: the room hears the ringback. A bad early SDP is not fatal.
                    if let Ok(media) = sdp::parse_answer(&sdp, &self.local_media.codecs) {
                        self.start_media(bridge, &media);
                    }
                }
            }
            SipEvent::Answered {
                code, reason, sdp, ..
            } => {
                self.machine.answered(code, &reason);
                match sdp
                    .as_deref()
                    .map(|s| sdp::parse_answer(s, &self.local_media.codecs))
                {
                    Some(Ok(media)) => {
                        self.note_direction(&media, confirmed_at, now);
                        self.start_media(bridge, &media);
                    }
                    Some(Err(e)) => {
                        log::warn!("call {}: answer SDP unusable: {e:?}", self.id);
                        self.hangup(HangupCause::NoCommonCodec);
                    }
                    None if bridge.is_some() => {} // the early answer stands
                    None => {
                        log::warn!("call {}: 2xx without SDP answer", self.id);
                        self.hangup(HangupCause::NoCommonCodec);
                    }
                }
            }
            SipEvent::Confirmed { .. } => {
                self.machine.confirmed();
                *confirmed_at = Some(now);
            }
            SipEvent::RemoteOffer { sdp, .. } => match sdp::answer_offer(&sdp, &self.local_media) {
                Ok((_answer, media)) => {
                    self.note_direction(&media, confirmed_at, now);
                    self.start_media(bridge, &media);
                }
                Err(e) => log::warn!("call {}: re-offer unusable: {e:?}", self.id),
            },
            SipEvent::Info {
                content_type, body, ..
            } => {
                let text = String::from_utf8_lossy(&body);
                let content_type = content_type.to_ascii_lowercase();
                let digit = if content_type.starts_with("application/dtmf-relay") {
                    dtmf::parse_dtmf_relay(&text)
                } else if content_type.starts_with("application/dtmf") {
                    text.trim()
                        .chars()
                        .next()
                        .filter(|c| c.is_ascii_digit() || "*#ABCDabcd".contains(*c))
                } else {
                    None
                };
                if let Some(digit) = digit {
                    self.on_dtmf(digit.to_ascii_uppercase());
                }
            }
            SipEvent::Terminated {
                code,
                reason,
                cause,
                ..
            } => {
                self.machine.sip_terminated(code, &reason, cause);
            }
        }
    }

    /// Follows whether the phone sends audio at all: on hold (sendonly from our side,
    /// inactive) silence is expected, so the no-RTP clock only runs while it sends, and
    /// restarts when it resumes.
    fn note_direction(
        &mut self,
        media: &NegotiatedMedia,
        confirmed_at: &mut Option<Instant>,
        now: Instant,
    ) {
        let sends = media.we_receive();
        if sends && !self.phone_sends && confirmed_at.is_some() {
            *confirmed_at = Some(now);
        }
        self.phone_sends = sends;
    }

    /// Creates the media bridge for a negotiated session, or points the existing one at
    /// the (possibly moved) remote address.
    fn start_media(&mut self, bridge: &mut Option<Box<MediaBridge>>, media: &NegotiatedMedia) {
        if let Some(existing) = bridge {
            if existing.remote() != Some(media.remote) {
                existing.set_remote(media.remote);
            }
            let config = existing.config();
            if config.codec != media.codec || config.payload_type != media.payload_type {
                existing.reconfigure(media.codec, media.payload_type, media.telephone_event_pt);
            }
            existing.set_telephone_event_clock(media.telephone_event_clock);
            return;
        }
        log::info!(
            "call {}: media {} pt {} to {} (local {})",
            self.id,
            media.codec.name(),
            media.payload_type,
            media.remote,
            self.sockets.addr
        );
        let mut config = BridgeConfig::new(media.codec, rand::random());
        config.payload_type = media.payload_type;
        config.telephone_event_pt = media.telephone_event_pt;
        config.telephone_event_clock = media.telephone_event_clock;
        config.remote = Some(media.remote);
        config.jitter_depth_frames = self.jitter_frames;
        // `[rtp] jitter_frames` is also the floor the adaptive buffer may drain to, so a
        // LAN box configured for 0 runs at the least delay.
        config.jitter_min_frames = config.jitter_min_frames.min(self.jitter_frames);
        config.initial_sequence = rand::random();
        config.initial_timestamp = rand::random();
        config.room_rate = self.room_rate;
        config.rtcp_mux = media.rtcp_mux;
        config.opus_dtx = media.fmtp_param("usedtx") == Some("1");
        config.g722_level = self.g722_level;
        *bridge = Some(Box::new(MediaBridge::new(config)));
        self.publish_stats(bridge);
    }

    async fn on_tick(
        &mut self,
        now: Instant,
        bridge: &SharedBridge,
        confirmed_at: Option<Instant>,
        out: &mut [u8],
    ) {
        match self.room.poll_event(now) {
            Some(crate::room::RoomEvent::Closed { reason }) => {
                self.room.leave();
                self.hangup(HangupCause::Room(reason));
            }
            Some(crate::room::RoomEvent::Dtmf { digit }) => self.on_room_dtmf(bridge, digit),
            None => {}
        }
        let room_frame = self.room.poll_audio();
        let mut rtcp: heapless::Vec<(heapless::Vec<u8, RTCP_DATAGRAM>, SocketAddr, bool), 2> =
            heapless::Vec::new();
        let mut events: heapless::Vec<MediaEvent, 8> = heapless::Vec::new();
        let send = {
            let mut guard = bridge.borrow_mut();
            let Some(bridge) = guard.as_mut() else { return };
            while events.len() < events.capacity() {
                let Some(event) = bridge.poll_event() else {
                    break;
                };
                let _ = events.push(event);
            }
            let mut report = [0u8; RTCP_DATAGRAM];
            while rtcp.len() < rtcp.capacity() {
                let Some(n) = bridge.poll_rtcp(now, &mut report) else {
                    break;
                };
                let Some(to) = bridge.rtcp_remote() else {
                    break;
                };
                let bytes = heapless::Vec::from_slice(&report[..n]).unwrap_or_default();
                let _ = rtcp.push((bytes, to, bridge.config().rtcp_mux));
            }
            let phone_frame = bridge.pull_phone_audio(now);
            self.room.send_audio(&phone_frame);
            let mut send = None;
            if let (Some(frame), Some(remote)) = (room_frame, bridge.remote()) {
                match bridge.push_room_audio(&frame, out) {
                    Ok(n) => send = Some((n, remote)),
                    Err(e) => log::debug!("call {}: room frame not sent: {e:?}", self.id),
                }
            }
            if let Some(confirmed) = confirmed_at.filter(|_| self.phone_sends) {
                let heard = bridge.last_rx().map_or(confirmed, |t| t.max(confirmed));
                if self.machine.hangup_cause().is_none()
                    && now.duration_since(heard) >= self.no_rtp_timeout
                {
                    self.hangup(HangupCause::NoRtp(self.no_rtp_timeout.as_secs() as u32));
                }
            }
            send
        };
        for event in events {
            match event {
                MediaEvent::Dtmf { digit } => self.on_dtmf(digit),
                MediaEvent::RtcpBye => log::info!("call {}: the phone sent RTCP BYE", self.id),
            }
        }
        if let Some((n, remote)) = send {
            if let Err(e) = self.sockets.rtp.send_to(&out[..n], remote).await {
                log::debug!("call {}: RTP send to {remote}: {e}", self.id);
            }
        }
        for (report, to, mux) in rtcp {
            let socket = if mux {
                &self.sockets.rtp
            } else {
                &self.sockets.rtcp
            };
            if let Err(e) = socket.send_to(&report, to).await {
                log::debug!("call {}: RTCP send to {to}: {e}", self.id);
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

/// The SDP the SIP layer re-sends when the phone re-offers; kept beside the call so a
/// later issue can bump its version on hold/resume.
pub fn offer_body(local: &LocalMedia) -> Bytes {
    Bytes::from(sdp::build_offer(local))
}
