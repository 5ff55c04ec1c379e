//! Media: RTP, the jitter buffer, codecs and the per-call bridge between the phone leg and the room.

pub mod codec;
pub mod frame;
pub mod g711;
pub mod jitter;
pub mod rtp;

pub use codec::Codec;
pub use frame::{PcmFrame, FRAME_MS, MAX_FRAME_SAMPLES};
pub use jitter::{JitterBuffer, JitterConfig, JitterStats, Playout, PushOutcome};
pub use rtp::{RtpError, RtpHeader, RtpPacket};
