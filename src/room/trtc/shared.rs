//! The state one room shares between the SDK's threads and the call's executor.
//!
//! SDK callbacks run on threads we do not own and must never block, so they only store
//! into atomics and the lock-free frame queue, and wake the entry future. The executor side
//! reads those in `poll_*`. No lock anywhere.

use super::ring::{FrameRing, PushError};
use super::sdk::Callbacks;
use crate::media::{PcmFrame, MAX_FRAME_SAMPLES};
use atomic_waker::AtomicWaker;
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

/// Frames of room audio the queue holds (320 ms); more than the latency bound allows, so a
/// burst from the SDK is trimmed by the bound rather than refused.
pub const RX_QUEUE_FRAMES: usize = 16;

/// A room frame and when the SDK handed it over, so the wait in the queue can be measured.
#[derive(Clone, Copy)]
pub struct Stamped {
    /// The frame.
    pub frame: PcmFrame,
    /// When its callback ran.
    pub at: Instant,
}

/// Entry phases (`Shared::phase`).
pub const PHASE_ENTERING: u8 = 0;
/// `OnEnterRoom` arrived.
pub const PHASE_ENTERED: u8 = 1;
/// `OnError` arrived before `OnEnterRoom`.
pub const PHASE_FAILED: u8 = 2;

/// `ConnectionState` values from liteav_trtc_cloud.h.
pub const CONNECTION_DISCONNECTED: u8 = 1;
/// Reconnecting (the SDK retries on its own).
pub const CONNECTION_CONNECTING: u8 = 2;
/// Connected.
pub const CONNECTION_CONNECTED: u8 = 3;

/// Digits from the room that may wait for the call's tick.
pub const DIGIT_QUEUE: usize = 32;

/// Counters a room keeps for logs and metrics (all monotonic).
#[derive(Default)]
pub struct Counters {
    /// Room frames queued for the phone.
    pub rx_frames: AtomicU64,
    /// Room frames dropped because the queue was full.
    pub rx_dropped_full: AtomicU64,
    /// Room frames dropped to keep the latency bounded (clock drift, bursts).
    pub rx_dropped_late: AtomicU64,
    /// Room frames refused for an unexpected format (rate, length, codec).
    pub rx_bad_format: AtomicU64,
    /// Phone frames handed to the SDK.
    pub tx_frames: AtomicU64,
    /// Phone frames not sent (channel not open yet, or the SDK refused them).
    pub tx_dropped: AtomicU64,
    /// Remote users who entered / left.
    pub remote_enters: AtomicU64,
    /// Remote users who left.
    pub remote_exits: AtomicU64,
    /// Errors reported after entry.
    pub errors: AtomicU64,
    /// DTMF digits received from the room (custom messages on the DTMF command id).
    pub dtmf_rx: AtomicU64,
    /// DTMF digits sent to the room.
    pub dtmf_tx: AtomicU64,
    /// Custom messages that were not digits: another command id, a body that is not
    /// `{"dtmf":"…"}`, or digits dropped because the queue was full.
    pub custom_ignored: AtomicU64,
}

/// Everything SDK callbacks touch for one room.
pub struct Shared {
    /// Rate the SDK was asked to deliver, and frames are expected at.
    pub rate: u32,
    /// Entry phase.
    pub phase: AtomicU8,
    /// The code of the `OnError` that failed entry.
    pub entry_error: AtomicI32,
    /// The first error after entry (0 = none): ends the call.
    pub room_error: AtomicI32,
    /// `OnExitRoom` arrived.
    pub exited: AtomicBool,
    /// We asked to leave (so an `OnExitRoom` is ours, not the room closing).
    pub exit_requested: AtomicBool,
    /// `OnLocalAudioChannelCreated` arrived (and not yet destroyed).
    pub channel_ready: AtomicBool,
    /// Last `ConnectionState`.
    pub connection: AtomicU8,
    /// Wakes the entry future.
    pub waker: AtomicWaker,
    /// Room audio for the phone.
    pub rx: FrameRing<Stamped, RX_QUEUE_FRAMES>,
    /// Custom command id that carries DTMF (`[room.trtc] dtmf_cmd_id`).
    pub dtmf_cmd_id: u32,
    /// Digits app users keyed, for the phone.
    pub digits: FrameRing<char, DIGIT_QUEUE>,
    /// Counters.
    pub counters: Counters,
}

impl Shared {
    /// Fresh state for a room delivering at `rate`, DTMF on the default command id.
    pub fn new(rate: u32) -> Self {
        Self::with_dtmf_cmd_id(rate, crate::room::dtmf_msg::DEFAULT_DTMF_CMD_ID)
    }

    /// Fresh state for a room delivering at `rate`, DTMF on `dtmf_cmd_id`.
    pub fn with_dtmf_cmd_id(rate: u32, dtmf_cmd_id: u32) -> Self {
        Shared {
            dtmf_cmd_id,
            digits: FrameRing::new('0'),
            rate,
            phase: AtomicU8::new(PHASE_ENTERING),
            entry_error: AtomicI32::new(0),
            room_error: AtomicI32::new(0),
            exited: AtomicBool::new(false),
            exit_requested: AtomicBool::new(false),
            channel_ready: AtomicBool::new(false),
            connection: AtomicU8::new(0),
            waker: AtomicWaker::new(),
            rx: FrameRing::new(Stamped {
                frame: PcmFrame::silence(rate),
                at: Instant::now(),
            }),
            counters: Counters::default(),
        }
    }

    fn on_error(&self, code: i32) {
        let code = if code == 0 {
            super::errors::ERR_FAILED
        } else {
            code
        };
        if self.phase.load(Ordering::Acquire) == PHASE_ENTERING {
            self.entry_error.store(code, Ordering::Relaxed);
            self.phase.store(PHASE_FAILED, Ordering::Release);
        } else {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
            let _ = self
                .room_error
                .compare_exchange(0, code, Ordering::AcqRel, Ordering::Relaxed);
        }
        self.waker.wake();
    }

    fn on_enter(&self) {
        let _ = self.phase.compare_exchange(
            PHASE_ENTERING,
            PHASE_ENTERED,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
        self.waker.wake();
    }

    fn on_exit(&self) {
        self.exited.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Consumer end for the call's tick: the oldest frame, after dropping (and counting)
    /// the oldest ones when more than `max_backlog` wait, down to `target_backlog`, so the
    /// latency the queue adds stays bounded however the two clocks drift.
    pub fn take_frame(&self, max_backlog: usize, target_backlog: usize) -> Option<Stamped> {
        if self.rx.len() > max_backlog {
            let mut dropped = 0;
            while self.rx.len() > target_backlog && self.rx.pop().is_some() {
                dropped += 1;
            }
            self.counters
                .rx_dropped_late
                .fetch_add(dropped, Ordering::Relaxed);
        }
        self.rx.pop()
    }

    /// A custom command message from the room: digits on the DTMF id are queued for the
    /// call's tick; anything else is counted and ignored.
    pub fn on_custom_cmd(&self, cmd_id: i32, body: &[u8]) {
        let digits = if u32::try_from(cmd_id).ok() == Some(self.dtmf_cmd_id) {
            crate::room::dtmf_msg::digits_of(body)
        } else {
            Vec::new()
        };
        if digits.is_empty() {
            self.counters.custom_ignored.fetch_add(1, Ordering::Relaxed);
            return;
        }
        for d in digits {
            match self.digits.push_with(|slot| *slot = d) {
                Ok(()) => self.counters.dtmf_rx.fetch_add(1, Ordering::Relaxed),
                Err(_) => self.counters.custom_ignored.fetch_add(1, Ordering::Relaxed),
            };
        }
    }

    /// Copies one SDK frame (possibly several 20 ms frames long, possibly multi-channel:
    /// the first channel is kept) into the queue as 20 ms frames.
    pub fn on_mixed_audio(&self, pcm: &[i16], samples: usize, rate: u32, channels: usize) {
        let per_frame = (self.rate / 50) as usize;
        let channels = channels.max(1);
        if rate != self.rate
            || per_frame == 0
            || per_frame > MAX_FRAME_SAMPLES
            || !samples.is_multiple_of(per_frame)
        {
            self.counters.rx_bad_format.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if pcm.len() < samples * channels {
            self.counters.rx_bad_format.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let at = Instant::now();
        for chunk in 0..samples / per_frame {
            let base = chunk * per_frame;
            let pushed = self.rx.push_with(|slot: &mut Stamped| {
                slot.at = at;
                let f = &mut slot.frame;
                f.rate = rate;
                f.len = per_frame;
                for (i, s) in f.samples[..per_frame].iter_mut().enumerate() {
                    *s = pcm[(base + i) * channels];
                }
            });
            match pushed {
                Ok(()) => self.counters.rx_frames.fetch_add(1, Ordering::Relaxed),
                Err(PushError::Full) => self
                    .counters
                    .rx_dropped_full
                    .fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}

/// The callback table handed to the shim; `user` is a `*const Shared`.
pub static CALLBACKS: Callbacks = Callbacks {
    on_error: cb_error,
    on_enter_room: cb_enter,
    on_exit_room: cb_exit,
    on_connection_state: cb_connection,
    on_local_audio_channel_created: cb_channel_created,
    on_local_audio_channel_destroyed: cb_channel_destroyed,
    on_remote_user_enter: cb_user_enter,
    on_remote_user_exit: cb_user_exit,
    on_remote_mixed_audio: cb_mixed_audio,
    on_custom_cmd_msg: cb_custom_cmd,
};

/// # Safety
/// `user` is the `Arc<Shared>` pointer given to `Sdk::create`, alive until destroy returns.
unsafe fn shared<'a>(user: *mut c_void) -> Option<&'a Shared> {
    (user as *const Shared).as_ref()
}

extern "C" fn cb_error(user: *mut c_void, code: c_int) {
    // SAFETY: see `shared`.
    if let Some(s) = unsafe { shared(user) } {
        s.on_error(code);
    }
}

extern "C" fn cb_enter(user: *mut c_void) {
    // SAFETY: see `shared`.
    if let Some(s) = unsafe { shared(user) } {
        s.on_enter();
    }
}

extern "C" fn cb_exit(user: *mut c_void) {
    // SAFETY: see `shared`.
    if let Some(s) = unsafe { shared(user) } {
        s.on_exit();
    }
}

extern "C" fn cb_connection(user: *mut c_void, _old: c_int, new: c_int) {
    // SAFETY: see `shared`.
    if let Some(s) = unsafe { shared(user) } {
        s.connection
            .store(u8::try_from(new).unwrap_or(0), Ordering::Release);
    }
}

extern "C" fn cb_channel_created(user: *mut c_void) {
    // SAFETY: see `shared`.
    if let Some(s) = unsafe { shared(user) } {
        s.channel_ready.store(true, Ordering::Release);
    }
}

extern "C" fn cb_channel_destroyed(user: *mut c_void) {
    // SAFETY: see `shared`.
    if let Some(s) = unsafe { shared(user) } {
        s.channel_ready.store(false, Ordering::Release);
    }
}

extern "C" fn cb_user_enter(user: *mut c_void, _user_id: *const c_char) {
    // SAFETY: see `shared`.
    if let Some(s) = unsafe { shared(user) } {
        s.counters.remote_enters.fetch_add(1, Ordering::Relaxed);
    }
}

extern "C" fn cb_user_exit(user: *mut c_void, _user_id: *const c_char, _reason: c_int) {
    // SAFETY: see `shared`.
    if let Some(s) = unsafe { shared(user) } {
        s.counters.remote_exits.fetch_add(1, Ordering::Relaxed);
    }
}

extern "C" fn cb_mixed_audio(
    user: *mut c_void,
    pcm: *const i16,
    samples: usize,
    rate: c_int,
    channels: c_int,
) {
    // SAFETY: see `shared`.
    let Some(s) = (unsafe { shared(user) }) else {
        return;
    };
    let channels = usize::try_from(channels).unwrap_or(1).max(1);
    let Some(total) = samples.checked_mul(channels) else {
        return;
    };
    if pcm.is_null() || total == 0 || total > 48_000 {
        s.counters.rx_bad_format.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // SAFETY: the shim passes the SDK frame's buffer, `samples * channels` s16 values long,
    // valid for the duration of this call.
    let pcm = unsafe { std::slice::from_raw_parts(pcm, total) };
    s.on_mixed_audio(pcm, samples, u32::try_from(rate).unwrap_or(0), channels);
}

extern "C" fn cb_custom_cmd(
    user: *mut c_void,
    _user_id: *const c_char,
    cmd_id: i32,
    data: *const u8,
    length: usize,
) {
    // SAFETY: see `shared`.
    let Some(s) = (unsafe { shared(user) }) else {
        return;
    };
    if data.is_null() || length > crate::room::dtmf_msg::MAX_BODY {
        s.counters.custom_ignored.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // SAFETY: the shim passes the SDK's message buffer, `length` bytes, valid during the call.
    let body = unsafe { std::slice::from_raw_parts(data, length) };
    s.on_custom_cmd(cmd_id, body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_arrive_only_on_the_dtmf_command_id() {
        let s = Shared::with_dtmf_cmd_id(8000, 7);
        s.on_custom_cmd(7, br#"{"dtmf":"5"}"#);
        s.on_custom_cmd(1, br#"{"dtmf":"9"}"#);
        s.on_custom_cmd(7, b"garbage");
        s.on_custom_cmd(-1, b"");
        s.on_custom_cmd(7, br##"{"dtmf":"#*"}"##);
        let got: Vec<char> = std::iter::from_fn(|| s.digits.pop()).collect();
        assert_eq!(got, ['5', '#', '*']);
        assert_eq!(s.counters.dtmf_rx.load(Ordering::Relaxed), 3);
        assert_eq!(s.counters.custom_ignored.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn splits_long_frames_and_keeps_the_first_channel() {
        let s = Shared::new(8000);
        // 40 ms of stereo: left = i, right = -1.
        let mut pcm = Vec::new();
        for i in 0..320i16 {
            pcm.push(i);
            pcm.push(-1);
        }
        s.on_mixed_audio(&pcm, 320, 8000, 2);
        let a = s.rx.pop().unwrap().frame;
        let b = s.rx.pop().unwrap().frame;
        assert_eq!(a.len, 160);
        assert_eq!(a.samples[5], 5);
        assert_eq!(b.samples[0], 160);
        assert!(s.rx.pop().is_none());
        assert_eq!(s.counters.rx_frames.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn refuses_a_rate_it_did_not_ask_for() {
        let s = Shared::new(16000);
        s.on_mixed_audio(&[0; 160], 160, 8000, 1);
        assert!(s.rx.pop().is_none());
        assert_eq!(s.counters.rx_bad_format.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_error_before_entry_fails_it_and_after_entry_closes_the_room() {
        let s = Shared::new(16000);
        s.on_error(-3320);
        assert_eq!(s.phase.load(Ordering::Acquire), PHASE_FAILED);
        assert_eq!(s.entry_error.load(Ordering::Acquire), -3320);

        let s = Shared::new(16000);
        s.on_enter();
        s.on_error(-205);
        s.on_error(-1);
        assert_eq!(s.phase.load(Ordering::Acquire), PHASE_ENTERED);
        assert_eq!(s.room_error.load(Ordering::Acquire), -205);
    }

    #[test]
    fn a_backlog_beyond_the_bound_is_trimmed_to_the_newest_frames() {
        let s = Shared::new(8000);
        for i in 0..8i16 {
            s.on_mixed_audio(&[i; 160], 160, 8000, 1);
        }
        // 8 waiting > 5: the 6 oldest go, leaving 2, of which the older is handed out.
        assert_eq!(s.take_frame(5, 2).map(|f| f.frame.samples[0]), Some(6));
        assert_eq!(s.counters.rx_dropped_late.load(Ordering::Relaxed), 6);
        assert_eq!(s.take_frame(5, 2).map(|f| f.frame.samples[0]), Some(7));
        assert!(s.take_frame(5, 2).is_none());
        // Within the bound nothing is dropped.
        for i in 0..5i16 {
            s.on_mixed_audio(&[i; 160], 160, 8000, 1);
        }
        assert_eq!(s.take_frame(5, 2).map(|f| f.frame.samples[0]), Some(0));
        assert_eq!(s.counters.rx_dropped_late.load(Ordering::Relaxed), 6);
    }

    #[test]
    fn a_full_queue_counts_what_it_drops() {
        let s = Shared::new(8000);
        for _ in 0..RX_QUEUE_FRAMES + 3 {
            s.on_mixed_audio(&[1; 160], 160, 8000, 1);
        }
        assert_eq!(s.counters.rx_dropped_full.load(Ordering::Relaxed), 3);
        assert_eq!(s.rx.len(), RX_QUEUE_FRAMES);
    }
}
