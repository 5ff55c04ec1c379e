//! Media: RTP, the jitter buffer, codecs and the per-call bridge between the phone leg and the room.

pub mod analysis;
pub mod bridge;
pub mod codec;
pub mod conceal;
pub mod dtmf;
pub mod frame;
pub mod g711;
pub mod g722;
#[cfg(feature = "g729")]
pub mod g729;
pub mod jitter;
pub mod opus;
pub mod pcm_path;
pub mod resample;
pub mod ringback;
pub mod rtcp;
pub mod rtp;
pub mod tone;
pub mod transcode;
pub mod wav;

pub use analysis::tone_snr_db;
pub use bridge::{BridgeConfig, LineStats, MediaBridge, MediaEvent, MediaSnapshot, MediaStats};
pub use codec::Codec;
pub use frame::{PcmFrame, FRAME_MS, MAX_FRAME_SAMPLES};
pub use jitter::{JitterBuffer, JitterConfig, JitterStats, Playout, PushOutcome};
pub use pcm_path::PcmPath;
pub use resample::Resampler;
pub use rtp::{RtpError, RtpHeader, RtpPacket};
pub use tone::ToneGenerator;
pub use wav::{read_wav_mono16, WavWriter};
