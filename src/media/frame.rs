//! The unit of audio that crosses every boundary inside the gateway.

/// Most samples a 20 ms mono frame can hold: 20 ms at 48 kHz.
pub const MAX_FRAME_SAMPLES: usize = 960;

/// Length of every frame on the media path, in milliseconds.
pub const FRAME_MS: u32 = 20;

/// 20 ms of mono PCM s16 at some sample rate, in a fixed-size buffer so the media path
/// never allocates. The phone leg, the room leg and the codecs all trade in these.
#[derive(Clone, Copy)]
pub struct PcmFrame {
    /// Samples per second of `samples` (8000, 16000 or 48000).
    pub rate: u32,
    /// How many leading entries of `samples` are valid (rate / 50 for a full frame).
    pub len: usize,
    /// Sample storage; only `samples[..len]` is meaningful.
    pub samples: [i16; MAX_FRAME_SAMPLES],
}

impl PcmFrame {
    /// A frame of silence, full length for `rate`. Rates above 48 kHz are clamped to fit.
    pub fn silence(rate: u32) -> Self {
        let len = ((rate * FRAME_MS / 1000) as usize).min(MAX_FRAME_SAMPLES);
        PcmFrame {
            rate,
            len,
            samples: [0; MAX_FRAME_SAMPLES],
        }
    }

    /// The valid samples.
    pub fn pcm(&self) -> &[i16] {
        &self.samples[..self.len]
    }

    /// The valid samples, writable.
    pub fn pcm_mut(&mut self) -> &mut [i16] {
        &mut self.samples[..self.len]
    }
}

impl std::fmt::Debug for PcmFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PcmFrame({} Hz, {} samples)", self.rate, self.len)
    }
}
