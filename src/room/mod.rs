//! The room leg: what the gateway needs from a TRTC room, whatever carries it.
//!
//! A call drives its room from its own 20 ms media tick, so the trait is poll-based:
//! the backend buffers what arrives between ticks (on its own threads, for the SDK)
//! and hands it over when asked. Nothing here blocks the executor.

pub mod dtmf_msg;
pub mod sim;
pub mod trtc;

use crate::media::PcmFrame;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

pub use crate::room_id::RoomId;

/// Everything a backend needs to enter a room for one call.
#[derive(Clone)]
pub struct RoomParams {
    /// The gateway's call id, for logs and recordings.
    pub call_id: String,
    /// TRTC application id.
    pub sdk_app_id: u32,
    /// TRTC user the phone appears as.
    pub user_id: String,
    /// Signature of `user_id`. Never logged.
    pub user_sig: String,
    /// The room.
    pub room: RoomId,
    /// Sample rate the call's phone leg runs at; backends deliver and accept frames at it.
    pub sample_rate: u32,
}

impl std::fmt::Debug for RoomParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomParams")
            .field("call_id", &self.call_id)
            .field("sdk_app_id", &self.sdk_app_id)
            .field("user_id", &self.user_id)
            .field("user_sig", &"<redacted>")
            .field("room", &self.room)
            .field("sample_rate", &self.sample_rate)
            .finish()
    }
}

/// Why a room could not be entered: the SDK's numeric code and its meaning, so the
/// 502 reply and the call log can say exactly what went wrong.
#[derive(Debug, Clone)]
pub struct RoomError {
    /// TRTC error code (negative), or 0 when the gateway itself gave up.
    pub code: i32,
    /// Human explanation.
    pub message: String,
}

impl std::fmt::Display for RoomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.code != 0 {
            write!(f, "{} ({})", self.message, self.code)
        } else {
            f.write_str(&self.message)
        }
    }
}

/// Something the room did on its own that matters to the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    /// The room is gone for this user (dismissed, kicked, connection lost for good):
    /// the phone must be hung up with this reason.
    Closed {
        /// Reason written to the call log, e.g. "room closed".
        reason: String,
    },
    /// An app user in the room keyed a touch tone (a custom message on the DTMF command
    /// id, see [`dtmf_msg`]): the call keys it to the phone (RFC 4733, or SIP INFO when
    /// the phone negotiated no events) and reports a `dtmf` webhook with
    /// `"from":"room"`.
    Dtmf {
        /// `0-9 * # A-D`.
        digit: char,
    },
    /// Another user entered the room (the SDK's `onRemoteUserEnterRoom`): for an
    /// inbound call, the callee picked up in the app.
    RemoteUserEntered {
        /// Their TRTC user id.
        user: String,
    },
}

/// One call's presence in a room.
pub trait Room {
    /// Hands the room 20 ms of what the phone said.
    fn send_audio(&mut self, frame: &PcmFrame);
    /// Takes the next 20 ms of what the room's other users said (mixed), if any.
    fn poll_audio(&mut self) -> Option<PcmFrame>;
    /// Takes the next event, if the room did something on its own.
    fn poll_event(&mut self, now: Instant) -> Option<RoomEvent>;
    /// Passes a touch tone from the phone to the room (a TRTC custom message where
    /// the backend supports one); backends without such a channel ignore it.
    fn send_dtmf(&mut self, _digit: char) {}
    /// Leaves the room and frees what it holds; further calls do nothing.
    fn leave(&mut self);
}

/// A future that yields an entered room, or why entry failed.
pub type EnterFuture = Pin<Box<dyn Future<Output = Result<Box<dyn Room>, RoomError>>>>;

/// A way of entering rooms (the simulated room, or Tencent's SDK).
pub trait RoomBackend {
    /// Enters a room; resolves once the backend has confirmed entry.
    fn enter(&self, params: RoomParams) -> EnterFuture;

    /// Why the backend cannot serve calls right now (`/healthz` names it as `room`), or
    /// None when it can. Backends with nothing that can wedge keep the default.
    fn unwell(&self, _now: Instant) -> Option<String> {
        None
    }

    /// Rooms left but not yet torn down (the SDK's teardown runs off the executor): a
    /// clean stop waits for these before the process exits.
    fn teardowns_pending(&self) -> usize {
        0
    }
}
