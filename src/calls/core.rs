//! The call core: everything one call does, as a state machine without I/O.
//!
//! Read this file to learn what a call does. It is told what happened — the set-up steps,
//! SIP events, commands from the API, the room's events, RTP and RTCP datagrams, the 20 ms
//! media tick — each stamped with `now`, and it answers through queues the shell drains:
//! [`CallCore::poll_action`] (state lines, hang up the SIP leg, send an INFO, a touch tone
//! for the webhook and the room, leave the room, publish statistics),
//! [`CallCore::poll_room_audio`] (the phone's 20 ms for the room) and
//! [`CallCore::poll_transmit`] (RTP and RTCP datagrams). [`CallCore::poll_timeout`] names
//! the next deadline; [`CallCore::handle_timeout`] acts on it. It never reads a clock, a
//! socket or a random source of its own, so every ending is a unit test with a fake clock.
//!
//! The rules, in one place:
//! - the TTL counts from the startup request; before the answer it ends the call with
//!   `408 ttl expired, no answer`, after it with `200 ttl expired`;
//! - once the call is confirmed, a phone that sends no RTP for `no_rtp_timeout` is hung
//!   up; traffic pushes the deadline back, hold (the phone says it will not send) clears
//!   it, resuming re-arms it from the moment of the resume;
//! - the first cause to end the call wins; the SIP leg then has [`TEARDOWN_GRACE`] to
//!   confirm the hang-up before the call is written off with the gateway's own cause;
//! - the room closing hangs up the phone with the room's reason;
//! - an answer with nothing usable in it ends the call `488 no common codec`;
//! - touch tones from the phone (RFC 4733 or SIP INFO) go to the webhook and the room;
//!   tones for the phone (from the API or keyed by an app user in the room) go as
//!   RFC 4733 events when negotiated, else as SIP INFO, and only once the call is
//!   answered;
//! - the room is left before DISCONNCTD is recorded, so a client that sees the call done
//!   finds the room's side (a recording, the SDK) complete; DISCONNCTD comes exactly once,
//!   after the final statistics, and every input after it does nothing.
//!
//! Modelled on `quinn-proto`'s `Connection` (a timer table, `handle_timeout`, polled
//! queues) and `str0m`'s `Rtc` (time never goes backwards: a `now` older than the last
//! one is taken as the last one).

use super::state::{CallMachine, CallState, HangupCause, StateChange};
use crate::media::bridge::{BridgeConfig, MediaBridge, MediaEvent, MediaSnapshot};
use crate::media::g722::G722Level;
use crate::media::{dtmf, PcmFrame};
use crate::room::RoomEvent;
use crate::sip::sdp::NegotiatedMedia;
use crate::sip::SipEvent;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long the SIP leg has to confirm a hang-up (487 to a CANCEL, 200 to a BYE) before
/// the call's end is written anyway.
pub const TEARDOWN_GRACE: Duration = Duration::from_secs(4);

/// How often the call's media statistics are republished for `/trtc/callstats`.
pub const STATS_EVERY: Duration = Duration::from_secs(1);

/// Largest datagram the core builds; the shell's send buffer must hold this many bytes.
pub const MAX_DATAGRAM: usize = 1500;

/// RTCP reports sent per media tick at most (one is due every few seconds; the bound
/// keeps a burst from costing a tick more than this).
const RTCP_PER_TICK: u8 = 2;

/// Actions waiting for the shell; more are dropped and counted (a well-behaved shell
/// drains after every input, which leaves a handful at most).
const ACTION_QUEUE: usize = 64;

/// How long an INFO touch tone lasts, as its body says.
const INFO_DTMF_MS: u32 = 100;

/// What a call needs to know about itself, fixed at startup.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// The gateway's call id, for logs.
    pub id: String,
    /// When the startup request arrived: the TTL counts from here.
    pub started_at: Instant,
    /// How long the call may last in all.
    pub ttl: Duration,
    /// Hang up a confirmed call after this long without RTP from a phone that sends.
    pub no_rtp_timeout: Duration,
    /// Jitter buffer start depth and floor, in 20 ms frames (`[rtp] jitter_frames`).
    pub jitter_frames: u8,
    /// Sample rate of the room leg; the bridge resamples when the codec's differs.
    pub room_rate: u32,
    /// G.722 level convention (`[sip] g722_level`), handed to the media bridge.
    pub g722_level: G722Level,
    /// Seeds the SSRC and the first RTP sequence number and timestamp (RFC 3550 wants
    /// them random; the shell draws the seed so the core stays deterministic).
    pub seed: u64,
}

/// A command from the API or the gateway to a running call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// End the call for this reason.
    Hangup(HangupCause),
    /// Send these touch tones to the phone.
    Dtmf(String),
}

/// Something the shell must do, in the order the core asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Record a state line (callstate, the call log, the webhook).
    Record(StateChange),
    /// End the SIP leg: CANCEL before the answer, BYE after; an inbound call not
    /// answered yet gets this final response (else 480).
    SipHangup(Option<(u16, String)>),
    /// Send an INFO in the call's dialog.
    SipInfo {
        /// Its Content-Type.
        content_type: &'static str,
        /// Its body.
        body: String,
    },
    /// The phone keyed a digit: tell the webhook (`"from":"phone"`) and pass it to the room.
    PhoneDtmf(char),
    /// An app user keyed a digit in the room: tell the webhook (`"from":"room"`); the core
    /// has already queued it for the phone.
    RoomDtmf(char),
    /// Leave the room (once, before DISCONNCTD).
    LeaveRoom,
    /// Publish these media figures for `/trtc/callstats` (boxed: the snapshot is large
    /// beside the other actions, and comes once a second).
    Stats(Box<MediaSnapshot>),
}

/// Which socket a datagram leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaSocket {
    /// The RTP port (RTP, and RTCP with rtcp-mux).
    Rtp,
    /// The RTCP port (RTP port + 1).
    Rtcp,
}

/// A datagram [`CallCore::poll_transmit`] wrote into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where it goes.
    pub to: SocketAddr,
    /// From which of the call's sockets.
    pub socket: MediaSocket,
    /// Its length at the start of the buffer.
    pub len: usize,
}

/// The call's deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The call's time is up.
    Ttl = 0,
    /// The phone may have stopped sending RTP.
    NoRtp = 1,
    /// The SIP leg did not confirm the hang-up in time.
    Grace = 2,
    /// Time to republish the media statistics.
    Stats = 3,
}

impl Timer {
    const ALL: [Timer; 4] = [Timer::Ttl, Timer::NoRtp, Timer::Grace, Timer::Stats];
}

/// One deadline per [`Timer`], as `quinn-proto`'s `TimerTable`.
#[derive(Debug, Default, Clone, Copy)]
struct Timers([Option<Instant>; 4]);

impl Timers {
    fn set(&mut self, t: Timer, at: Instant) {
        self.0[t as usize] = Some(at);
    }

    fn stop(&mut self, t: Timer) {
        self.0[t as usize] = None;
    }

    fn get(&self, t: Timer) -> Option<Instant> {
        self.0[t as usize]
    }

    /// The earliest deadline and its timer.
    fn next(&self) -> Option<(Instant, Timer)> {
        Timer::ALL
            .iter()
            .filter_map(|&t| self.get(t).map(|at| (at, t)))
            .min_by_key(|&(at, _)| at)
    }
}

/// Where the call stands with its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoomPresence {
    NotEntered,
    Entered,
    Left,
}

/// One call, from its startup request to its DISCONNCTD line.
pub struct CallCore {
    cfg: CallConfig,
    machine: CallMachine,
    timers: Timers,
    rng: StdRng,
    /// The newest `now` seen; older ones are taken as this.
    last_now: Instant,
    room: RoomPresence,
    bridge: Option<Box<MediaBridge>>,
    /// Whether the phone means to send RTP (false on hold).
    phone_sends: bool,
    /// The ACK went out: the no-RTP watchdog may run.
    confirmed: bool,
    /// The watchdog counts silence from here at the earliest (confirmation or resume).
    watch_from: Option<Instant>,
    actions: VecDeque<Action>,
    actions_dropped: u64,
    /// What the phone said in the last tick, for the room.
    room_audio: Option<PcmFrame>,
    /// The RTP packet built in the last tick, waiting for `poll_transmit`.
    rtp_out: Box<[u8; MAX_DATAGRAM]>,
    rtp_pending: Option<(usize, SocketAddr)>,
    /// RTCP reports the current tick may still send (built at `last_now`, the tick's time).
    rtcp_budget: u8,
    /// Where the INVITE went: RTP from this IP may be the phone's behind NAT (see
    /// [`BridgeConfig::signalling_ip`]).
    signalling_ip: Option<IpAddr>,
}

impl CallCore {
    /// A call whose startup request arrived at `cfg.started_at`; its TTL is armed. Nothing
    /// is recorded until [`CallCore::invite_sent`] or [`CallCore::setup_failed`].
    pub fn new(now: Instant, cfg: CallConfig) -> Self {
        let mut timers = Timers::default();
        timers.set(Timer::Ttl, cfg.started_at + cfg.ttl);
        CallCore {
            rng: StdRng::seed_from_u64(cfg.seed),
            cfg,
            machine: CallMachine::new(),
            timers,
            last_now: now,
            room: RoomPresence::NotEntered,
            bridge: None,
            phone_sends: true,
            confirmed: false,
            watch_from: None,
            actions: VecDeque::new(),
            actions_dropped: 0,
            room_audio: None,
            rtp_out: Box::new([0; MAX_DATAGRAM]),
            rtp_pending: None,
            rtcp_budget: 0,
            signalling_ip: None,
        }
    }

    // ----- getters -----

    /// True once DISCONNCTD is out and every action has been taken: the shell may stop.
    pub fn is_done(&self) -> bool {
        self.machine.is_done() && self.actions.is_empty()
    }

    /// The call's state as last recorded.
    pub fn state(&self) -> Option<CallState> {
        self.machine.state()
    }

    /// The next deadline; `None` when nothing is armed (the call is over).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next().map(|(at, _)| at)
    }

    /// Which timer [`CallCore::poll_timeout`] names, for logs and tests.
    pub fn next_timer(&self) -> Option<Timer> {
        self.timers.next().map(|(_, t)| t)
    }

    /// Actions dropped because the shell did not drain (a bug in the shell if not 0).
    pub fn actions_dropped(&self) -> u64 {
        self.actions_dropped
    }

    // ----- set-up, driven by the startup request -----

    /// The room accepted us: from now on the call's end leaves it.
    pub fn room_entered(&mut self, now: Instant) {
        self.clock(now);
        if self.room == RoomPresence::NotEntered {
            self.room = RoomPresence::Entered;
        }
    }

    /// The call could not be placed (room refused, no media port, the INVITE could not be
    /// sent): it ends here with this code and reason.
    pub fn setup_failed(&mut self, now: Instant, code: u16, reason: impl Into<String>) {
        self.clock(now);
        if self.machine.state().is_some() {
            return;
        }
        self.machine.fail(code, reason);
        self.flush_machine();
    }

    /// An inbound call was taken: INCOMING. The caller's media is trusted from
    /// `signalling_ip` (where its INVITE came from) and from its SDP's address.
    pub fn incoming(&mut self, now: Instant, signalling_ip: Option<IpAddr>) {
        self.clock(now);
        self.signalling_ip = signalling_ip;
        self.machine.incoming();
        self.flush_machine();
    }

    /// The INVITE went out, to `signalling_ip` (None when the SIP leg cannot say): CALLING.
    /// The phone's media is then trusted from that IP and from the address its SDP names,
    /// nowhere else.
    pub fn invite_sent(&mut self, now: Instant, signalling_ip: Option<IpAddr>) {
        self.invite_sent_via(now, signalling_ip, "");
    }

    /// As [`CallCore::invite_sent`], with the CALLING line's reason saying the route
    /// (`trunk primary` when the box has a list of trunks).
    pub fn invite_sent_via(&mut self, now: Instant, signalling_ip: Option<IpAddr>, route: &str) {
        self.clock(now);
        self.signalling_ip = signalling_ip;
        self.machine.invite_sent_via(route);
        self.flush_machine();
    }

    // ----- inputs -----

    /// Something happened on the SIP leg.
    pub fn handle_sip_event(&mut self, now: Instant, ev: SipEvent) {
        let now = self.clock(now);
        if self.machine.is_done() {
            return;
        }
        match ev {
            SipEvent::Progress {
                code,
                reason,
                media,
                ..
            } => {
                self.machine.provisional(code, &reason);
                self.flush_machine();
                match media {
                    // Early media: the room hears the ringback.
                    Some(Ok(media)) => self.start_media(now, &media),
                    // A bad early answer is not fatal: the 2xx may bring a good one.
                    Some(Err(e)) => log::debug!("call={} early SDP unusable: {e}", self.cfg.id),
                    None => {}
                }
            }
            SipEvent::Answered {
                code,
                reason,
                media,
                ..
            } => {
                self.machine.answered(code, &reason);
                self.flush_machine();
                match media {
                    Some(Ok(media)) => {
                        self.note_direction(now, &media);
                        self.start_media(now, &media);
                    }
                    Some(Err(e)) => {
                        log::warn!("call={} answer SDP unusable: {e}", self.cfg.id);
                        self.hangup(now, HangupCause::NoCommonCodec);
                    }
                    None if self.bridge.is_some() => {} // the early answer stands
                    None => {
                        log::warn!("call={} 2xx without SDP answer", self.cfg.id);
                        self.hangup(now, HangupCause::NoCommonCodec);
                    }
                }
            }
            SipEvent::Confirmed { .. } => {
                self.machine.confirmed();
                self.confirmed = true;
                self.watch_from = Some(now);
                if self.phone_sends && self.machine.hangup_cause().is_none() {
                    self.timers.set(Timer::NoRtp, now + self.cfg.no_rtp_timeout);
                }
            }
            SipEvent::RemoteOffer { media, .. } => {
                self.note_direction(now, &media);
                self.start_media(now, &media);
            }
            SipEvent::Info {
                content_type, body, ..
            } => {
                if let Some(digit) = dtmf::digit_of_info(&content_type, &body) {
                    self.phone_dtmf(digit);
                }
            }
            SipEvent::Terminated {
                code,
                reason,
                cause,
                ..
            } => self.machine.sip_terminated(code, &reason, cause),
            // The gateway's inbound dispatch takes these, never a call.
            SipEvent::Incoming(_) => {}
        }
        self.flush_machine();
    }

    /// A command from the API (shutdown, touch tones) or the gateway (stopping).
    pub fn handle_command(&mut self, now: Instant, cmd: Control) {
        let now = self.clock(now);
        if self.machine.is_done() {
            return;
        }
        match cmd {
            Control::Hangup(cause) => self.hangup(now, cause),
            Control::Dtmf(digits) => self.dtmf_to_phone(&digits),
        }
        self.flush_machine();
    }

    /// The room did something on its own.
    pub fn handle_room_event(&mut self, now: Instant, ev: RoomEvent) {
        let now = self.clock(now);
        if self.machine.is_done() {
            return;
        }
        match ev {
            RoomEvent::Closed { reason } => {
                // The room is gone: leave at once, then hang up the phone.
                self.leave_room();
                self.hangup(now, HangupCause::Room(reason));
            }
            RoomEvent::RemoteUserEntered { user } => {
                log::info!("call={} {user} entered the room", self.cfg.id);
            }
            RoomEvent::Dtmf { digit } => {
                log::info!("call={} DTMF {digit} from the room", self.cfg.id);
                self.push(Action::RoomDtmf(digit));
                self.dtmf_to_phone(&digit.to_string());
            }
        }
        self.flush_machine();
    }

    /// A datagram on the call's RTP port (RTCP too, with rtcp-mux). Bad or foreign
    /// packets are counted by the media core and dropped.
    pub fn handle_rtp(&mut self, now: Instant, from: SocketAddr, packet: &[u8]) {
        let now = self.clock(now);
        if self.machine.is_done() {
            return;
        }
        if let Some(bridge) = self.bridge.as_mut() {
            if let Err(e) = bridge.handle_rtp(now, from, packet) {
                log::debug!("call={} RTP from {from} dropped: {e:?}", self.cfg.id);
            }
        }
        self.drain_media_events();
    }

    /// A datagram on the call's RTCP port.
    pub fn handle_rtcp(&mut self, now: Instant, from: SocketAddr, packet: &[u8]) {
        let now = self.clock(now);
        if self.machine.is_done() {
            return;
        }
        if let Some(bridge) = self.bridge.as_mut() {
            if let Err(e) = bridge.handle_rtcp(now, from, packet) {
                log::debug!("call={} RTCP from {from} dropped: {e:?}", self.cfg.id);
            }
        }
        self.drain_media_events();
    }

    /// The 20 ms media tick, with the room's next frame if it had one: the phone's frame
    /// for the room ([`CallCore::poll_room_audio`]) and the RTP and RTCP for the phone
    /// ([`CallCore::poll_transmit`]) are made here.
    pub fn handle_media_tick(&mut self, now: Instant, room_frame: Option<&PcmFrame>) {
        let now = self.clock(now);
        if self.machine.is_done() {
            return;
        }
        let Some(bridge) = self.bridge.as_mut() else {
            return;
        };
        self.room_audio = Some(bridge.pull_phone_audio(now));
        self.rtp_pending = None;
        if let (Some(frame), Some(remote)) = (room_frame, bridge.remote()) {
            match bridge.push_room_audio(frame, &mut self.rtp_out[..]) {
                Ok(n) => self.rtp_pending = Some((n, remote)),
                Err(e) => log::debug!("call={} room frame not sent: {e:?}", self.cfg.id),
            }
        }
        self.rtcp_budget = RTCP_PER_TICK;
        self.drain_media_events();
    }

    /// Acts on every deadline that has passed. Calling it early or twice does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock(now);
        for timer in Timer::ALL {
            if self.timers.get(timer).is_none_or(|at| at > now) {
                continue;
            }
            self.timers.stop(timer);
            match timer {
                Timer::Ttl => self.hangup(now, HangupCause::Ttl),
                Timer::NoRtp => self.check_rtp(now),
                Timer::Grace => {
                    log::warn!(
                        "call={} SIP leg did not confirm the hang-up in time",
                        self.cfg.id
                    );
                    self.machine.give_up();
                }
                Timer::Stats => {
                    self.publish_stats();
                    self.timers.set(Timer::Stats, now + STATS_EVERY);
                }
            }
        }
        self.flush_machine();
    }

    // ----- outputs -----

    /// The next thing the shell must do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The phone's last 20 ms for the room (one per tick while media runs).
    pub fn poll_room_audio(&mut self) -> Option<PcmFrame> {
        self.room_audio.take()
    }

    /// Writes the next datagram for the phone into `buf` (at least [`MAX_DATAGRAM`]
    /// bytes): the tick's RTP packet first, then any RTCP report due.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        if let Some((len, to)) = self.rtp_pending.take() {
            let dst = buf.get_mut(..len)?;
            dst.copy_from_slice(&self.rtp_out[..len]);
            return Some(Transmit {
                to,
                socket: MediaSocket::Rtp,
                len,
            });
        }
        if self.rtcp_budget == 0 {
            return None;
        }
        self.rtcp_budget -= 1;
        let bridge = self.bridge.as_mut()?;
        let to = bridge.rtcp_remote()?;
        let len = bridge.poll_rtcp(self.last_now, buf)?;
        let socket = if bridge.config().rtcp_mux {
            MediaSocket::Rtp
        } else {
            MediaSocket::Rtcp
        };
        Some(Transmit { to, socket, len })
    }

    // ----- the rules -----

    /// Time never goes backwards: a stale `now` (read by another task a moment earlier)
    /// counts as the newest one seen.
    fn clock(&mut self, now: Instant) -> Instant {
        if now > self.last_now {
            self.last_now = now;
        }
        self.last_now
    }

    fn push(&mut self, action: Action) {
        if self.actions.len() >= ACTION_QUEUE {
            self.actions_dropped += 1;
            log::warn!("call={} action queue full, {action:?} dropped", self.cfg.id);
            return;
        }
        self.actions.push_back(action);
    }

    /// The first cause to end the call wins: the SIP leg is hung up and given
    /// [`TEARDOWN_GRACE`] to confirm; the call's own deadlines stop.
    fn hangup(&mut self, now: Instant, cause: HangupCause) {
        let reason = cause.reason();
        if !self.machine.hangup(cause) {
            return;
        }
        log::info!("call={} hanging up: {reason}", self.cfg.id);
        self.timers.stop(Timer::Ttl);
        self.timers.stop(Timer::NoRtp);
        self.timers.set(Timer::Grace, now + TEARDOWN_GRACE);
        let refusal = match self.machine.hangup_cause() {
            Some(HangupCause::Refused(code, reason)) => Some((*code, reason.clone())),
            _ => None,
        };
        self.push(Action::SipHangup(refusal));
    }

    /// The no-RTP deadline passed: hang up if the phone has really been silent that long,
    /// else move the deadline to where its last packet puts it.
    fn check_rtp(&mut self, now: Instant) {
        if !self.phone_sends || !self.confirmed {
            return;
        }
        let Some(from) = self.watch_from else {
            return;
        };
        let last_rx = self.bridge.as_ref().and_then(|b| b.last_rx());
        let heard = last_rx.map_or(from, |t| t.max(from));
        let timeout = self.cfg.no_rtp_timeout;
        if now.saturating_duration_since(heard) >= timeout {
            self.hangup(now, HangupCause::NoRtp(timeout.as_secs() as u32));
        } else {
            self.timers.set(Timer::NoRtp, heard + timeout);
        }
    }

    /// Follows whether the phone sends audio at all: on hold (sendonly from its side, or
    /// inactive) silence is expected, so the watchdog stops, and restarts from the resume.
    fn note_direction(&mut self, now: Instant, media: &NegotiatedMedia) {
        let sends = media.we_receive();
        if sends && !self.phone_sends && self.confirmed {
            self.watch_from = Some(now);
            if self.machine.hangup_cause().is_none() {
                self.timers.set(Timer::NoRtp, now + self.cfg.no_rtp_timeout);
            }
        }
        if !sends {
            self.timers.stop(Timer::NoRtp);
        }
        self.phone_sends = sends;
    }

    /// Creates the media bridge for a negotiated session, or points the existing one at
    /// the (possibly moved) remote address and codec.
    fn start_media(&mut self, now: Instant, media: &NegotiatedMedia) {
        if let Some(existing) = self.bridge.as_mut() {
            // Every new SDP unpins: a PBX that moves the media (a transfer, music on
            // hold) says so with one, often with a new SSRC from the same address.
            existing.set_remote(media.remote);
            let config = existing.config();
            if config.codec != media.codec || config.payload_type != media.payload_type {
                existing.reconfigure(media.codec, media.payload_type, media.telephone_event_pt);
            }
            existing.set_telephone_event_clock(media.telephone_event_clock);
            return;
        }
        log::info!(
            "call={} media {} pt {} to {}",
            self.cfg.id,
            media.codec.name(),
            media.payload_type,
            media.remote,
        );
        let mut config = BridgeConfig::new(media.codec, self.rng.gen());
        config.payload_type = media.payload_type;
        config.telephone_event_pt = media.telephone_event_pt;
        config.telephone_event_clock = media.telephone_event_clock;
        config.g722_level = self.cfg.g722_level;
        config.remote = Some(media.remote);
        config.signalling_ip = self.signalling_ip;
        config.jitter_depth_frames = self.cfg.jitter_frames;
        // `[rtp] jitter_frames` is also the floor the adaptive buffer may drain to, so a
        // LAN box configured for 0 runs at the least delay.
        config.jitter_min_frames = config.jitter_min_frames.min(self.cfg.jitter_frames);
        config.initial_sequence = self.rng.gen();
        config.initial_timestamp = self.rng.gen();
        config.room_rate = self.cfg.room_rate;
        config.rtcp_mux = media.rtcp_mux;
        config.opus_dtx = media.fmtp_param("usedtx") == Some("1");
        self.bridge = Some(Box::new(MediaBridge::new(config)));
        self.publish_stats();
        self.timers.set(Timer::Stats, now + STATS_EVERY);
    }

    fn publish_stats(&mut self) {
        if let Some(snapshot) = self.bridge.as_ref().map(|b| b.snapshot()) {
            self.push(Action::Stats(Box::new(snapshot)));
        }
    }

    /// What the media core noticed since the last look.
    fn drain_media_events(&mut self) {
        while let Some(ev) = self.bridge.as_mut().and_then(|b| b.poll_event()) {
            match ev {
                MediaEvent::Dtmf { digit } => self.phone_dtmf(digit),
                MediaEvent::RtcpBye => log::info!("call={} the phone sent RTCP BYE", self.cfg.id),
            }
        }
    }

    fn phone_dtmf(&mut self, digit: char) {
        log::info!("call={} DTMF {digit} from the phone", self.cfg.id);
        self.push(Action::PhoneDtmf(digit));
    }

    /// Touch tones for the phone: RFC 4733 events when negotiated, SIP INFO
    /// (`application/dtmf-relay`) otherwise, and only once the phone answered.
    fn dtmf_to_phone(&mut self, digits: &str) {
        if let Some(bridge) = self.bridge.as_mut() {
            if bridge.send_dtmf(digits) > 0 {
                return;
            }
        }
        if !self.confirmed || self.machine.hangup_cause().is_some() {
            log::warn!(
                "call={} DTMF {digits} not sent: the call is not answered",
                self.cfg.id
            );
            return;
        }
        for digit in digits.chars() {
            if let Some(body) = dtmf::dtmf_relay_body(digit, INFO_DTMF_MS) {
                self.push(Action::SipInfo {
                    content_type: "application/dtmf-relay",
                    body,
                });
            }
        }
    }

    fn leave_room(&mut self) {
        if self.room == RoomPresence::Entered {
            self.room = RoomPresence::Left;
            self.push(Action::LeaveRoom);
        }
    }

    /// Moves the state machine's lines into the action queue. Before DISCONNCTD: leave
    /// the room and publish the final statistics; after it every deadline stops.
    fn flush_machine(&mut self) {
        while let Some(change) = self.machine.poll_change() {
            if change.state == CallState::Disconnected {
                self.leave_room();
                self.publish_stats();
                self.timers = Timers::default();
                self.room_audio = None;
                self.rtp_pending = None;
                self.rtcp_budget = 0;
            }
            self.push(Action::Record(change));
        }
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
