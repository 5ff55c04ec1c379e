//! The core of a call whose phone leg is a sound-device line (`alsa:<line>`), as a state
//! machine without I/O, beside [`super::core::CallCore`] for SIP calls.
//!
//! It speaks the same language as the SIP call core — the same [`CallMachine`] states
//! and reasons, the same [`Action`]s for the shell (state lines, leave the room,
//! statistics), the same TTL rule — so the API, the call log, webhooks and `callstats`
//! cannot tell the two apart except by the line's own figures. What differs is the leg:
//! there is no one to answer (CALLING, then CONFIRMED once both PCMs run), no RTP, no
//! SIP teardown to wait for, and the device's samples come and go through two rings
//! that absorb the card's clock drift against the 20 ms media clock (`alsa::ring`).
//! From 20 ms of PCM on, the road to and from the room is the SIP leg's:
//! [`PcmPath`]'s resamplers and the same waveform concealment when the card falls short.

use super::core::{Action, STATS_EVERY};
use super::state::{CallMachine, CallState, HangupCause};
use crate::alsa::ring::{adjust_playback, frames_per_period, Adjust, Ring};
use crate::media::conceal::WaveformConcealer;
use crate::media::{LineStats, MediaSnapshot, PcmFrame, PcmPath};
use crate::room::RoomEvent;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Periods the capture ring aims to hold before a take: one in hand, one of headroom
/// for a card whose period boundary falls just after the tick.
const CAPTURE_TARGET_PERIODS: usize = 2;

/// Periods the playback side keeps queued in the card, so a late tick does not
/// underrun it.
const PLAYBACK_CUSHION_PERIODS: usize = 2;

/// What a line call needs to know about itself, fixed at startup.
#[derive(Debug, Clone)]
pub struct LineCallConfig {
    /// The gateway's call id, for logs.
    pub id: String,
    /// The line's name (`alsa:<name>`), for logs and reasons.
    pub line: String,
    /// When the startup request arrived: the TTL counts from here.
    pub started_at: Instant,
    /// How long the call may last in all.
    pub ttl: Duration,
    /// The line's sample rate.
    pub rate: u32,
    /// The line's period.
    pub period_ms: u32,
    /// The room's sample rate.
    pub room_rate: u32,
}

/// Where the call stands with its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoomPresence {
    NotEntered,
    Entered,
    Left,
}

/// One line call, from its startup request to its DISCONNCTD line.
pub struct LineCore {
    cfg: LineCallConfig,
    machine: CallMachine,
    room: RoomPresence,
    ttl_at: Option<Instant>,
    stats_at: Option<Instant>,
    last_now: Instant,
    actions: VecDeque<Action>,
    /// Samples per period at the line's rate.
    period: usize,
    capture: Ring,
    /// Capture is taken from only once the ring first reached its target (a clean start
    /// instead of a string of padded periods).
    capture_primed: bool,
    path: PcmPath,
    concealer: WaveformConcealer,
    /// Scratch for one period each way, reused every tick.
    capture_period: Vec<i16>,
    playback_period: Vec<i16>,
    /// The period (± a sample) the shell writes to the card this tick.
    playback_pending: bool,
    room_audio: Option<PcmFrame>,
    stats: LineStats,
}

impl LineCore {
    /// A line call whose startup request arrived at `cfg.started_at`; its TTL is armed.
    pub fn new(now: Instant, cfg: LineCallConfig) -> Self {
        let period = frames_per_period(cfg.rate, cfg.period_ms).max(1);
        let target = period * CAPTURE_TARGET_PERIODS;
        LineCore {
            ttl_at: Some(cfg.started_at + cfg.ttl),
            stats_at: None,
            machine: CallMachine::new(),
            room: RoomPresence::NotEntered,
            last_now: now,
            actions: VecDeque::new(),
            period,
            capture: Ring::new(period, target, period / 2),
            capture_primed: false,
            path: PcmPath::new(),
            concealer: WaveformConcealer::new(cfg.rate),
            capture_period: Vec::with_capacity(period + 1),
            playback_period: vec![0; period + 1],
            playback_pending: false,
            room_audio: None,
            stats: LineStats {
                rate: cfg.rate,
                ..LineStats::default()
            },
            cfg,
        }
    }

    // ----- getters -----

    /// True once DISCONNCTD is out and every action has been taken.
    pub fn is_done(&self) -> bool {
        self.machine.is_done() && self.actions.is_empty()
    }

    /// The call's state as last recorded.
    pub fn state(&self) -> Option<CallState> {
        self.machine.state()
    }

    /// The next deadline; `None` when nothing is armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.ttl_at, self.stats_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How many capture samples the shell should read this tick (at most): what keeps
    /// the ring at its target plus one period, so an unpaced device is read in real
    /// time and a fast card's surplus shows as a full ring.
    pub fn capture_wanted(&self) -> usize {
        if self.machine.is_done() {
            0
        } else {
            self.capture.room()
        }
    }

    /// The line's figures so far.
    pub fn line_stats(&self) -> LineStats {
        let mut s = self.stats;
        s.capture_dropped = self.capture.dropped;
        s.capture_stretched = self.capture.stretched;
        s.capture_underruns = self.capture.underruns;
        s
    }

    // ----- set-up -----

    /// The room accepted us: the call's end leaves it.
    pub fn room_entered(&mut self, now: Instant) {
        self.clock(now);
        if self.room == RoomPresence::NotEntered {
            self.room = RoomPresence::Entered;
        }
        self.machine.invite_sent();
        self.flush_machine();
    }

    /// Both PCMs are open and running: CONFIRMED.
    pub fn devices_open(&mut self, now: Instant) {
        let now = self.clock(now);
        self.machine
            .line_open(&format!("line {} open", self.cfg.line));
        self.publish_stats();
        self.stats_at = Some(now + STATS_EVERY);
        self.flush_machine();
    }

    /// The call could not be set up (room refused, device missing, line busy).
    pub fn setup_failed(&mut self, now: Instant, code: u16, reason: impl Into<String>) {
        self.clock(now);
        if self.machine.is_done() {
            return;
        }
        self.machine.fail(code, reason);
        self.flush_machine();
    }

    // ----- inputs -----

    /// A command from the API or the gateway. Touch tones mean nothing on a line (the API
    /// refuses them before they get here).
    pub fn handle_command(&mut self, now: Instant, cmd: super::core::Control) {
        let now = self.clock(now);
        match cmd {
            super::core::Control::Hangup(cause) => self.hangup(now, cause),
            super::core::Control::Dtmf(digits) => {
                log::warn!(
                    "call={} DTMF {digits} ignored: a line has no keypad",
                    self.cfg.id
                )
            }
        }
        self.flush_machine();
    }

    /// The room did something on its own.
    pub fn handle_room_event(&mut self, now: Instant, ev: RoomEvent) {
        let now = self.clock(now);
        match ev {
            RoomEvent::Closed { reason } => {
                self.leave_room();
                self.hangup(now, HangupCause::Room(reason));
            }
            RoomEvent::RemoteUserEntered { user } => {
                log::info!("call={} {user} entered the room", self.cfg.id);
            }
            RoomEvent::Dtmf { digit } => {
                log::info!(
                    "call={} DTMF {digit} from the room, not played on a line",
                    self.cfg.id
                );
                self.push(Action::RoomDtmf(digit));
            }
        }
        self.flush_machine();
    }

    /// Samples read from the capture device.
    pub fn handle_capture(&mut self, now: Instant, samples: &[i16]) {
        self.clock(now);
        if !self.machine.is_done() && !samples.is_empty() {
            self.capture.push(samples);
        }
    }

    /// The device reported an xrun and recovered from it.
    pub fn handle_xrun(&mut self, now: Instant) {
        self.clock(now);
        self.stats.xruns += 1;
        log::warn!(
            "call={} line {}: xrun recovered",
            self.cfg.id,
            self.cfg.line
        );
    }

    /// Playback samples the device could not take.
    pub fn handle_playback_short(&mut self, now: Instant, samples: usize) {
        self.clock(now);
        self.stats.playback_overflowed += samples as u64;
    }

    /// The device failed for good: the call ends with `reason` (which names it).
    pub fn handle_device_gone(&mut self, now: Instant, reason: String) {
        let now = self.clock(now);
        log::warn!("call={} {reason}", self.cfg.id);
        self.hangup(now, HangupCause::Device(reason));
        self.flush_machine();
    }

    /// The 20 ms tick with the room's frame, if it had one, and how much the playback
    /// device still has queued: the line's frame for the room
    /// ([`LineCore::poll_room_audio`]) and the period for the card
    /// ([`LineCore::poll_playback`]) are made here.
    pub fn handle_media_tick(
        &mut self,
        now: Instant,
        room_frame: Option<&PcmFrame>,
        queued: usize,
    ) {
        self.clock(now);
        if self.machine.state() != Some(CallState::Confirmed)
            || self.machine.hangup_cause().is_some()
        {
            return;
        }
        let rate = self.cfg.rate;
        // Line → room.
        if !self.capture_primed && self.capture.len() >= self.period * CAPTURE_TARGET_PERIODS {
            self.capture_primed = true;
        }
        let mut pcm = std::mem::take(&mut self.capture_period);
        if self.capture_primed {
            match self.capture.take_period(&mut pcm) {
                Adjust::Underrun => {
                    self.concealer.conceal(&mut pcm);
                }
                _ => self.concealer.good_frame(&mut pcm),
            }
        } else {
            pcm.clear();
            pcm.resize(self.period, 0);
        }
        self.room_audio = Some(self.path.to_room(&pcm, rate, self.cfg.room_rate));
        self.capture_period = pcm;
        // Room → line.
        let silence = PcmFrame::silence(rate);
        let frame = room_frame.unwrap_or(&silence);
        self.playback_period.resize(self.period, 0);
        self.path.from_room(frame, rate, &mut self.playback_period);
        let target = self.period * PLAYBACK_CUSHION_PERIODS;
        match adjust_playback(&mut self.playback_period, queued, target, self.period / 2) {
            Adjust::Dropped => self.stats.playback_dropped += 1,
            Adjust::Stretched => self.stats.playback_stretched += 1,
            _ => {}
        }
        self.playback_pending = true;
    }

    /// Acts on every deadline that has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock(now);
        if self.ttl_at.is_some_and(|at| at <= now) {
            self.ttl_at = None;
            self.hangup(now, HangupCause::Ttl);
        }
        if self.stats_at.is_some_and(|at| at <= now) {
            self.publish_stats();
            self.stats_at = Some(now + STATS_EVERY);
        }
        self.flush_machine();
    }

    // ----- outputs -----

    /// The next thing the shell must do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The line's last 20 ms for the room.
    pub fn poll_room_audio(&mut self) -> Option<PcmFrame> {
        self.room_audio.take()
    }

    /// The samples to write to the playback device this tick.
    pub fn poll_playback(&mut self) -> Option<&[i16]> {
        if !self.playback_pending {
            return None;
        }
        self.playback_pending = false;
        Some(&self.playback_period)
    }

    /// Silence for the card's cushion, written once when the line opens so the first
    /// late tick does not underrun it.
    pub fn playback_cushion(&self) -> Vec<i16> {
        vec![0; self.period * PLAYBACK_CUSHION_PERIODS]
    }

    // ----- the rules -----

    fn clock(&mut self, now: Instant) -> Instant {
        if now > self.last_now {
            self.last_now = now;
        }
        self.last_now
    }

    fn push(&mut self, action: Action) {
        if self.actions.len() < 64 {
            self.actions.push_back(action);
        }
    }

    /// The first cause wins. A line has no far end to wait for: the call ends at once,
    /// with the gateway's cause (503 for a device that went away).
    fn hangup(&mut self, _now: Instant, cause: HangupCause) {
        let reason = cause.reason();
        if !self.machine.hangup(cause) {
            return;
        }
        log::info!(
            "call={} hanging up line {}: {reason}",
            self.cfg.id,
            self.cfg.line
        );
        self.machine.give_up();
    }

    fn publish_stats(&mut self) {
        let snapshot = MediaSnapshot {
            codec: crate::media::Codec::Pcmu,
            counters: crate::media::MediaStats::default(),
            telephone_event: None,
            line: Some(self.line_stats()),
        };
        self.push(Action::Stats(Box::new(snapshot)));
    }

    fn leave_room(&mut self) {
        if self.room == RoomPresence::Entered {
            self.room = RoomPresence::Left;
            self.push(Action::LeaveRoom);
        }
    }

    /// As the SIP core: before DISCONNCTD the room is left and the last figures published;
    /// after it nothing more happens.
    fn flush_machine(&mut self) {
        while let Some(change) = self.machine.poll_change() {
            if change.state == CallState::Disconnected {
                self.leave_room();
                if self.stats_at.is_some() {
                    self.publish_stats();
                }
                self.ttl_at = None;
                self.stats_at = None;
                self.room_audio = None;
                self.playback_pending = false;
            }
            self.push(Action::Record(change));
        }
    }
}

#[cfg(test)]
#[path = "line_core_tests.rs"]
mod tests;
