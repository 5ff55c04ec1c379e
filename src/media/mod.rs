//! Media: RTP, the jitter buffer, codecs and the per-call bridge between the phone leg and the room.

pub mod frame;

pub use frame::{PcmFrame, FRAME_MS, MAX_FRAME_SAMPLES};
