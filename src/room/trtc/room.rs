//! One call's presence in a TRTC room through the SDK: entering (a future woken from SDK
//! threads), the media hand-over on the call's tick, the room closing on its own, and
//! leaving without blocking the executor.

use super::errors::{self, meaning};
use super::sdk::Sdk;
use super::shared::{
    self, Shared, CONNECTION_CONNECTED, PHASE_ENTERED, PHASE_ENTERING, PHASE_FAILED,
};
use crate::media::PcmFrame;
use crate::room::{Room, RoomError, RoomEvent, RoomId, RoomParams};
use std::ffi::{c_void, CString};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Room frames waiting beyond this many means the two clocks drifted or the SDK burst:
/// the oldest are dropped down to [`RX_TARGET_BACKLOG`], keeping the added latency bounded.
pub const RX_MAX_BACKLOG: usize = 5;
/// Frames left queued after trimming a backlog (40 ms of slack for the SDK's jitter).
pub const RX_TARGET_BACKLOG: usize = 2;
/// How long leaving waits for `OnExitRoom` before destroying the instance anyway.
const EXIT_WAIT: Duration = Duration::from_millis(1500);

/// Every teardown of this process still running on the blocking pool.
pub static TEARDOWNS: super::teardowns::Teardowns = super::teardowns::Teardowns::new();

/// An SDK instance and the state its callbacks write; left and destroyed when dropped.
struct Instance {
    sdk: &'static Sdk,
    handle: *mut c_void,
    /// Raw `Arc<Shared>` given to the SDK as the callbacks' `user`: one strong count,
    /// reclaimed once the instance is destroyed.
    user: *const Shared,
}

impl Instance {
    fn create(sdk: &'static Sdk, shared: &Arc<Shared>) -> Option<Instance> {
        let user = Arc::into_raw(shared.clone());
        // SAFETY: `user` stays valid until the teardown reclaims it after destroy.
        let handle = unsafe { sdk.create(&shared::CALLBACKS, user as *mut c_void) };
        if handle.is_null() {
            // SAFETY: the SDK never saw `user`; take back the count.
            unsafe { drop(Arc::from_raw(user)) };
            return None;
        }
        Some(Instance { sdk, handle, user })
    }

    /// Leaves and frees the instance (see the `Drop` impl); spelled out where it matters.
    fn release(self) {
        drop(self);
    }

    /// ExitRoom, a bounded wait for OnExitRoom, DestroyTRTCCloud, then the shared state is
    /// freed. Runs on a blocking-pool thread: the SDK may take a while to stop.
    fn teardown(sdk: &'static Sdk, handle: *mut c_void, user: *const Shared) {
        // SAFETY: `user` holds a strong count until the end of this function.
        let shared = unsafe { &*user };
        shared.exit_requested.store(true, Ordering::Release);
        // SAFETY: the handle is live until destroy below.
        let rc = unsafe { sdk.exit(handle) };
        if rc == 0 {
            let deadline = Instant::now() + EXIT_WAIT;
            while !shared.exited.load(Ordering::Acquire) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // SAFETY: as above; no callback runs for the handle once destroy returns.
        unsafe { sdk.destroy(handle) };
        // SAFETY: reclaims the count taken in `create`; the SDK no longer holds `user`.
        unsafe { drop(Arc::from_raw(user)) };
    }
}

/// Every way an instance goes away (leave, failed or abandoned entry, a panic unwinding)
/// leaves the room and destroys it: nothing can leak an SDK instance.
impl Drop for Instance {
    fn drop(&mut self) {
        let parts = SendParts(self.sdk, self.handle, self.user);
        // Counted from now, not from when a pool thread picks it up, so a stop that
        // follows at once already waits for it.
        let in_flight = TEARDOWNS.start(Instant::now());
        smol::unblock(move || {
            let parts = parts;
            let _in_flight = in_flight;
            Instance::teardown(parts.0, parts.1, parts.2)
        })
        .detach();
    }
}

/// The raw parts of an instance on their way to the teardown thread.
struct SendParts(&'static Sdk, *mut c_void, *const Shared);

// SAFETY: the parts are used by exactly one thread (the teardown) once sent.
unsafe impl Send for SendParts {}

/// What `enter` returns: resolves on `OnEnterRoom` (after opening our audio channel) or on
/// the error that refused entry. Dropped early (the gateway's entry timeout), it leaves the
/// room and frees the instance.
pub struct Entering {
    instance: Option<Instance>,
    shared: Arc<Shared>,
    params: RoomParams,
    reconnect_timeout: Duration,
}

/// What the backend's configuration decides for each room it enters.
#[derive(Debug, Clone, Copy)]
pub struct EntryOptions {
    /// How long the connection may stay down before the call ends.
    pub reconnect_timeout: Duration,
    /// Custom command id that carries DTMF both ways.
    pub dtmf_cmd_id: u32,
}

/// Entry parameters that cannot be sent to the SDK.
fn bad_params(message: String) -> RoomError {
    RoomError {
        code: errors::ERR_INVALID_PARAMETER,
        message,
    }
}

/// The SDK accepts 16 and 48 kHz for encoding; 8 kHz frames are resampled by it.
fn encode_rate(rate: u32) -> u32 {
    if rate >= 48_000 {
        48_000
    } else {
        16_000
    }
}

impl Entering {
    /// Creates the instance and asks to enter; an immediate refusal is returned as is.
    pub fn start(
        sdk: &'static Sdk,
        params: RoomParams,
        options: EntryOptions,
    ) -> Result<Entering, RoomError> {
        let reconnect_timeout = options.reconnect_timeout;
        if !matches!(params.sample_rate, 8000 | 16000 | 48000) {
            return Err(bad_params(format!(
                "room audio rate {} Hz is not supported (8000, 16000 or 48000)",
                params.sample_rate
            )));
        }
        let user_id = CString::new(params.user_id.as_str())
            .map_err(|_| bad_params("userId contains a NUL byte".into()))?;
        let user_sig = CString::new(params.user_sig.as_str())
            .map_err(|_| bad_params("userSig contains a NUL byte".into()))?;
        let (room_id, str_room_id) = match &params.room {
            RoomId::Numeric(0) => return Err(bad_params("roomId 0 is not a room".into())),
            RoomId::Numeric(n) => (*n, None),
            RoomId::Named(s) => (
                0,
                Some(
                    CString::new(s.as_str())
                        .map_err(|_| bad_params("strRoomId contains a NUL byte".into()))?,
                ),
            ),
        };
        let shared = Arc::new(Shared::with_dtmf_cmd_id(
            params.sample_rate,
            options.dtmf_cmd_id,
        ));
        let Some(instance) = Instance::create(sdk, &shared) else {
            return Err(RoomError {
                code: errors::ERR_FAILED,
                message: "the TRTC SDK could not create an instance".into(),
            });
        };
        // SAFETY: the handle is live; the strings outlive the call (the SDK copies them).
        let rc = unsafe {
            sdk.enter(
                instance.handle,
                params.sdk_app_id,
                &user_id,
                &user_sig,
                room_id,
                str_room_id.as_ref(),
                params.sample_rate,
            )
        };
        if rc < 0 {
            instance.release();
            return Err(RoomError {
                code: rc,
                message: meaning(rc).to_string(),
            });
        }
        log::info!(
            "call={} entering TRTC room {:?} as {}",
            params.call_id,
            params.room,
            params.user_id
        );
        Ok(Entering {
            instance: Some(instance),
            shared,
            params,
            reconnect_timeout,
        })
    }
}

impl Drop for Entering {
    fn drop(&mut self) {
        if let Some(instance) = self.instance.take() {
            log::info!("call={} room entry abandoned; leaving", self.params.call_id);
            instance.release();
        }
    }
}

impl Future for Entering {
    type Output = Result<TrtcRoom, RoomError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.shared.waker.register(cx.waker());
        match this.shared.phase.load(Ordering::Acquire) {
            PHASE_ENTERING => Poll::Pending,
            PHASE_FAILED => {
                let code = this.shared.entry_error.load(Ordering::Acquire);
                if let Some(instance) = this.instance.take() {
                    instance.release();
                }
                log::info!(
                    "call={} TRTC refused entry: {} ({code})",
                    this.params.call_id,
                    meaning(code)
                );
                Poll::Ready(Err(RoomError {
                    code,
                    message: meaning(code).to_string(),
                }))
            }
            PHASE_ENTERED => {
                let Some(instance) = this.instance.take() else {
                    return Poll::Ready(Err(RoomError {
                        code: 0,
                        message: "room entry polled after completion".into(),
                    }));
                };
                // SAFETY: the handle is live.
                let rc = unsafe {
                    instance
                        .sdk
                        .create_audio_channel(instance.handle, encode_rate(this.params.sample_rate))
                };
                if rc < 0 {
                    instance.release();
                    return Poll::Ready(Err(RoomError {
                        code: rc,
                        message: format!(
                            "cannot open the audio channel into the room: {}",
                            meaning(rc)
                        ),
                    }));
                }
                log::info!(
                    "call={} entered TRTC room {:?}",
                    this.params.call_id,
                    this.params.room
                );
                Poll::Ready(Ok(TrtcRoom {
                    instance: Some(instance),
                    shared: this.shared.clone(),
                    call_id: this.params.call_id.clone(),
                    reconnect_timeout: this.reconnect_timeout,
                    lost_since: None,
                    closed: false,
                    seen_enters: 0,
                    seen_exits: 0,
                    rx_taken: 0,
                    rx_wait_sum: Duration::ZERO,
                    rx_wait_max: Duration::ZERO,
                    rx_max_depth: 0,
                }))
            }
            _ => Poll::Ready(Err(RoomError {
                code: 0,
                message: "room entry in an unknown state".into(),
            })),
        }
    }
}

/// An entered room.
pub struct TrtcRoom {
    instance: Option<Instance>,
    shared: Arc<Shared>,
    call_id: String,
    reconnect_timeout: Duration,
    /// When the connection was first seen down (by `poll_event`'s clock).
    lost_since: Option<Instant>,
    closed: bool,
    seen_enters: u64,
    seen_exits: u64,
    rx_taken: u64,
    rx_wait_sum: Duration,
    rx_wait_max: Duration,
    rx_max_depth: usize,
}

/// A room's counters: what crossed it, what was dropped and why, how long room audio
/// waited for the call's tick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomStats {
    /// Room frames queued for the phone.
    pub rx_frames: u64,
    /// Room frames dropped because the queue was full.
    pub rx_dropped_full: u64,
    /// Room frames dropped to keep the latency bounded.
    pub rx_dropped_late: u64,
    /// Room frames refused for their format.
    pub rx_bad_format: u64,
    /// Room frames taken by the call.
    pub rx_taken: u64,
    /// Mean time a taken frame waited between its SDK callback and the call's tick.
    pub rx_wait_avg: Duration,
    /// Longest such wait.
    pub rx_wait_max: Duration,
    /// Most frames seen waiting at a tick, after trimming.
    pub rx_max_depth: usize,
    /// Phone frames handed to the SDK.
    pub tx_frames: u64,
    /// Phone frames not sent.
    pub tx_dropped: u64,
    /// Remote users who entered.
    pub remote_enters: u64,
    /// Remote users who left.
    pub remote_exits: u64,
    /// SDK errors after entry.
    pub errors: u64,
}

impl TrtcRoom {
    /// The room's counters so far.
    pub fn stats(&self) -> RoomStats {
        let c = &self.shared.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        RoomStats {
            rx_frames: get(&c.rx_frames),
            rx_dropped_full: get(&c.rx_dropped_full),
            rx_dropped_late: get(&c.rx_dropped_late),
            rx_bad_format: get(&c.rx_bad_format),
            rx_taken: self.rx_taken,
            rx_wait_avg: self.rx_wait_sum / u32::try_from(self.rx_taken.max(1)).unwrap_or(u32::MAX),
            rx_wait_max: self.rx_wait_max,
            rx_max_depth: self.rx_max_depth,
            tx_frames: get(&c.tx_frames),
            tx_dropped: get(&c.tx_dropped),
            remote_enters: get(&c.remote_enters),
            remote_exits: get(&c.remote_exits),
            errors: get(&c.errors),
        }
    }

    /// Logs who came and went; true when someone entered since the last look (for an
    /// inbound call, a callee picked up in the app).
    fn log_user_changes(&mut self) -> bool {
        let c = &self.shared.counters;
        let enters = c.remote_enters.load(Ordering::Relaxed);
        let exits = c.remote_exits.load(Ordering::Relaxed);
        let entered = enters > self.seen_enters;
        if enters != self.seen_enters || exits != self.seen_exits {
            log::info!(
                "call={} remote users entered {} left {} (now {} in the room)",
                self.call_id,
                enters - self.seen_enters,
                exits - self.seen_exits,
                enters.saturating_sub(exits)
            );
            self.seen_enters = enters;
            self.seen_exits = exits;
        }
        entered
    }

    fn close(&mut self, reason: String) -> Option<RoomEvent> {
        self.closed = true;
        log::info!("call={} TRTC room closed: {reason}", self.call_id);
        Some(RoomEvent::Closed { reason })
    }
}

impl Room for TrtcRoom {
    fn send_audio(&mut self, frame: &PcmFrame) {
        let Some(instance) = self.instance.as_ref() else {
            return;
        };
        let c = &self.shared.counters;
        if !self.shared.channel_ready.load(Ordering::Acquire) || frame.len == 0 {
            c.tx_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // SAFETY: the handle is live while `instance` is held.
        let rc = unsafe {
            instance
                .sdk
                .send_audio(instance.handle, frame.pcm(), frame.rate)
        };
        if rc == 0 {
            c.tx_frames.fetch_add(1, Ordering::Relaxed);
        } else {
            c.tx_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn poll_audio(&mut self) -> Option<PcmFrame> {
        self.instance.as_ref()?;
        let stamped = self.shared.take_frame(RX_MAX_BACKLOG, RX_TARGET_BACKLOG)?;
        let waited = stamped.at.elapsed();
        self.rx_taken += 1;
        self.rx_wait_sum += waited;
        self.rx_wait_max = self.rx_wait_max.max(waited);
        self.rx_max_depth = self.rx_max_depth.max(self.shared.rx.len() + 1);
        Some(stamped.frame)
    }

    fn poll_event(&mut self, now: Instant) -> Option<RoomEvent> {
        if self.closed || self.instance.is_none() {
            return None;
        }
        let someone_entered = self.log_user_changes();
        let code = self.shared.room_error.load(Ordering::Acquire);
        if code == errors::ERR_BANNED_BY_SERVER {
            return self.close(format!(
                "room closed: removed from the room by the server (kicked or banned, {code})"
            ));
        }
        if code != 0 {
            return self.close(format!("room closed: {} ({code})", meaning(code)));
        }
        if self.shared.exited.load(Ordering::Acquire)
            && !self.shared.exit_requested.load(Ordering::Acquire)
        {
            return self
                .close("room closed: the room was dismissed or this user was removed".into());
        }
        let connection = self.shared.connection.load(Ordering::Acquire);
        if connection == 0 || connection == CONNECTION_CONNECTED {
            self.lost_since = None;
        } else {
            let since = *self.lost_since.get_or_insert(now);
            if now.duration_since(since) >= self.reconnect_timeout {
                return self.close(format!(
                    "room closed: connection to TRTC lost for {} s",
                    self.reconnect_timeout.as_secs()
                ));
            }
        }
        if someone_entered {
            return Some(RoomEvent::RemoteUserEntered {
                user: "a remote user".into(),
            });
        }
        self.shared
            .digits
            .pop()
            .map(|digit| RoomEvent::Dtmf { digit })
    }

    fn send_dtmf(&mut self, digit: char) {
        let Some(instance) = self.instance.as_ref() else {
            return;
        };
        let Some(body) = crate::room::dtmf_msg::body_for(digit) else {
            return;
        };
        // SAFETY: the handle is live while `instance` is held.
        let rc = unsafe {
            instance.sdk.send_custom_cmd(
                instance.handle,
                self.shared.dtmf_cmd_id,
                body.as_bytes(),
                true,
                true,
            )
        };
        if rc == 0 {
            self.shared.counters.dtmf_tx.fetch_add(1, Ordering::Relaxed);
        } else {
            log::warn!(
                "call={} DTMF {digit} not sent to the room: {}",
                self.call_id,
                meaning(rc)
            );
        }
    }

    fn leave(&mut self) {
        if self.instance.is_none() {
            return;
        }
        log::info!(
            "call={} leaving TRTC room: {:?}",
            self.call_id,
            self.stats()
        );
        if let Some(instance) = self.instance.take() {
            instance.release();
        }
    }
}

impl Drop for TrtcRoom {
    fn drop(&mut self) {
        self.leave();
    }
}
