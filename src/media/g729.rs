//! ITU-T G.729 Annex A (with Annex B silence frames) through the system's bcg729.
//!
//! Many carriers, in China above all, still insist on G.729: 8 kbit/s, 10 ms frames of
//! 10 bytes, 2-byte SID frames (Annex B) during silence. bcg729 (Debian `libbcg729-dev`)
//! implements it; this is a minimal FFI behind the cargo feature `g729`, so the default
//! build needs no codec library beyond libopus.

use std::os::raw::c_void;
use std::ptr::NonNull;

/// Bytes of one 10 ms speech frame.
pub const G729_FRAME_BYTES: usize = 10;
/// Samples (8 kHz) of one 10 ms frame.
pub const G729_FRAME_SAMPLES: usize = 80;
/// Bytes of an Annex B SID (comfort noise) frame.
pub const G729_SID_BYTES: usize = 2;

#[link(name = "bcg729")]
extern "C" {
    fn initBcg729EncoderChannel(enable_vad: u8) -> *mut c_void;
    fn closeBcg729EncoderChannel(ctx: *mut c_void);
    fn bcg729Encoder(ctx: *mut c_void, input: *const i16, bitstream: *mut u8, len: *mut u8);
    fn initBcg729DecoderChannel() -> *mut c_void;
    fn closeBcg729DecoderChannel(ctx: *mut c_void);
    fn bcg729Decoder(
        ctx: *mut c_void,
        bitstream: *const u8,
        len: u8,
        erasure: u8,
        sid: u8,
        rfc3389: u8,
        signal: *mut i16,
    );
}

/// bcg729 could not allocate its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct G729Error;

/// One direction's G.729A encoder (VAD/Annex B off: the gateway always sends speech frames).
pub struct G729Encoder {
    ctx: NonNull<c_void>,
}

// SAFETY: the bcg729 context is plain memory owned by this value and never shared.
unsafe impl Send for G729Encoder {}

impl G729Encoder {
    /// A fresh encoder.
    pub fn new() -> Result<Self, G729Error> {
        // SAFETY: plain constructor; the pointer is checked.
        let ctx = unsafe { initBcg729EncoderChannel(0) };
        NonNull::new(ctx)
            .map(|ctx| G729Encoder { ctx })
            .ok_or(G729Error)
    }

    /// Encodes whole 10 ms frames of 8 kHz PCM; returns the bytes written.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        let mut n = 0;
        for frame in pcm.chunks_exact(G729_FRAME_SAMPLES) {
            if out.len() - n < G729_FRAME_BYTES {
                break;
            }
            let mut len: u8 = 0;
            // SAFETY: frame has 80 samples; out has room for a 10-byte frame.
            unsafe {
                bcg729Encoder(
                    self.ctx.as_ptr(),
                    frame.as_ptr(),
                    out[n..].as_mut_ptr(),
                    &mut len,
                )
            };
            n += usize::from(len).min(G729_FRAME_BYTES);
        }
        n
    }
}

impl Drop for G729Encoder {
    fn drop(&mut self) {
        // SAFETY: created by initBcg729EncoderChannel, closed once.
        unsafe { closeBcg729EncoderChannel(self.ctx.as_ptr()) }
    }
}

/// One direction's G.729 decoder, Annex B SID frames understood.
pub struct G729Decoder {
    ctx: NonNull<c_void>,
}

// SAFETY: as for the encoder.
unsafe impl Send for G729Decoder {}

impl G729Decoder {
    /// A fresh decoder.
    pub fn new() -> Result<Self, G729Error> {
        // SAFETY: plain constructor; the pointer is checked.
        let ctx = unsafe { initBcg729DecoderChannel() };
        NonNull::new(ctx)
            .map(|ctx| G729Decoder { ctx })
            .ok_or(G729Error)
    }

    fn frame(&mut self, bits: &[u8], erasure: bool, sid: bool, out: &mut [i16]) {
        let mut buf = [0u8; G729_FRAME_BYTES];
        let n = bits.len().min(G729_FRAME_BYTES);
        buf[..n].copy_from_slice(&bits[..n]);
        // SAFETY: buf holds 10 bytes, out at least 80 samples (checked by callers).
        unsafe {
            bcg729Decoder(
                self.ctx.as_ptr(),
                buf.as_ptr(),
                n as u8,
                u8::from(erasure),
                u8::from(sid),
                0,
                out.as_mut_ptr(),
            )
        };
    }

    /// Decodes a payload of 10-byte speech frames, optionally ending in a 2-byte SID
    /// frame; returns the samples written (80 per frame, within `out`).
    pub fn decode(&mut self, mut payload: &[u8], out: &mut [i16]) -> usize {
        let mut n = 0;
        while out.len() - n >= G729_FRAME_SAMPLES {
            if payload.len() >= G729_FRAME_BYTES {
                self.frame(&payload[..G729_FRAME_BYTES], false, false, &mut out[n..]);
                payload = &payload[G729_FRAME_BYTES..];
            } else if payload.len() >= G729_SID_BYTES {
                self.frame(&payload[..G729_SID_BYTES], false, true, &mut out[n..]);
                payload = &payload[G729_SID_BYTES..];
            } else {
                break;
            }
            n += G729_FRAME_SAMPLES;
        }
        n
    }

    /// Fills `out` (whole 10 ms frames) by the decoder's own concealment, which also
    /// continues comfort noise after a SID frame.
    pub fn conceal(&mut self, out: &mut [i16]) -> usize {
        let mut n = 0;
        while out.len() - n >= G729_FRAME_SAMPLES {
            self.frame(&[], true, false, &mut out[n..]);
            n += G729_FRAME_SAMPLES;
        }
        n
    }
}

impl Drop for G729Decoder {
    fn drop(&mut self) {
        // SAFETY: created by initBcg729DecoderChannel, closed once.
        unsafe { closeBcg729DecoderChannel(self.ctx.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::tone_snr_db;
    use crate::media::tone::ToneGenerator;

    #[test]
    fn tone_round_trip() {
        let mut enc = G729Encoder::new().unwrap();
        let mut dec = G729Decoder::new().unwrap();
        let mut gen = ToneGenerator::new(700.0, 8000, 8000);
        let mut out = vec![];
        for i in 0..100 {
            let f = gen.next_frame();
            let mut bits = [0u8; 20];
            assert_eq!(enc.encode(f.pcm(), &mut bits), 20);
            let mut pcm = [0i16; 160];
            if i == 50 {
                assert_eq!(dec.conceal(&mut pcm), 160);
            } else {
                assert_eq!(dec.decode(&bits, &mut pcm), 160);
            }
            out.extend_from_slice(&pcm);
        }
        let (peak, snr, rms) = tone_snr_db(&out[1600..], 8000, 700.0);
        assert!(
            (peak - 700.0).abs() < 10.0 && snr > 10.0 && rms > -25.0,
            "{peak} {snr} {rms}"
        );
        // SID frame and garbage
        let mut pcm = [0i16; 160];
        assert_eq!(dec.decode(&[0x12, 0x34], &mut pcm), 80);
        assert_eq!(dec.decode(&[0xff; 23], &mut pcm), 160);
        assert_eq!(dec.decode(&[0xff; 5], &mut pcm[..10]), 0);
    }
}
