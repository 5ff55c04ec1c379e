//! Opus (RFC 6716, RTP per RFC 7587) through the system's libopus.
//!
//! Opus is what modern PBXs and WebRTC-facing trunks prefer, and it is the only codec on
//! the phone leg with a real loss concealment (PLC) and in-band forward error correction
//! (LBRR): a lost packet can be rebuilt from the redundancy carried in the next one. The
//! gateway runs it as 16 kHz mono voice; the RTP clock is always 48 kHz (RFC 7587).
//! A tiny FFI over libopus (Debian `libopus-dev`) keeps the dependency to the C library
//! itself; every call is checked and errors come back as values.

use std::os::raw::{c_int, c_void};
use std::ptr::NonNull;

/// PCM rate the gateway runs Opus at (wideband voice).
pub const OPUS_PCM_RATE: u32 = 16000;
/// RTP clock of Opus, whatever the audio bandwidth (RFC 7587 section 4.1).
pub const OPUS_RTP_CLOCK: u32 = 48000;
/// Largest Opus packet (RFC 6716 section 3.4).
pub const OPUS_MAX_PACKET: usize = 1275;
/// Bit rate we encode at: transparent wideband voice with room for FEC.
const OPUS_BITRATE: c_int = 32000;
/// Loss the encoder plans its FEC for (percent).
const OPUS_EXPECTED_LOSS_PERC: c_int = 10;

const OPUS_OK: c_int = 0;
const OPUS_APPLICATION_VOIP: c_int = 2048;
const OPUS_SET_BITRATE_REQUEST: c_int = 4002;
const OPUS_SET_MAX_BANDWIDTH_REQUEST: c_int = 4004;
const OPUS_SET_COMPLEXITY_REQUEST: c_int = 4010;
const OPUS_SET_INBAND_FEC_REQUEST: c_int = 4012;
const OPUS_SET_PACKET_LOSS_PERC_REQUEST: c_int = 4014;
const OPUS_SET_DTX_REQUEST: c_int = 4016;
const OPUS_SET_SIGNAL_REQUEST: c_int = 4024;
const OPUS_BANDWIDTH_WIDEBAND: c_int = 1103;
const OPUS_SIGNAL_VOICE: c_int = 3001;

#[link(name = "opus")]
extern "C" {
    fn opus_encoder_create(
        fs: i32,
        channels: c_int,
        application: c_int,
        error: *mut c_int,
    ) -> *mut c_void;
    fn opus_encode(
        st: *mut c_void,
        pcm: *const i16,
        frame_size: c_int,
        data: *mut u8,
        max_data_bytes: i32,
    ) -> i32;
    fn opus_encoder_ctl(st: *mut c_void, request: c_int, ...) -> c_int;
    fn opus_encoder_destroy(st: *mut c_void);
    fn opus_decoder_create(fs: i32, channels: c_int, error: *mut c_int) -> *mut c_void;
    fn opus_decode(
        st: *mut c_void,
        data: *const u8,
        len: i32,
        pcm: *mut i16,
        frame_size: c_int,
        decode_fec: c_int,
    ) -> c_int;
    fn opus_decoder_destroy(st: *mut c_void);
    fn opus_packet_get_nb_samples(packet: *const u8, len: i32, fs: i32) -> c_int;
}

/// A libopus error code (negative), for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusError(pub i32);

impl std::fmt::Display for OpusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "libopus error {}", self.0)
    }
}

impl std::error::Error for OpusError {}

/// Encoder settings that come from the negotiation (RFC 7587 fmtp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusEncoderConfig {
    /// Put in-band FEC (LBRR) into our packets (the peer said `useinbandfec=1`).
    pub inband_fec: bool,
    /// Discontinuous transmission: tiny packets in silence (the peer said `usedtx=1`).
    pub dtx: bool,
    /// Target bit rate in bit/s.
    pub bitrate: i32,
}

impl Default for OpusEncoderConfig {
    fn default() -> Self {
        OpusEncoderConfig {
            inband_fec: true,
            dtx: false,
            bitrate: OPUS_BITRATE,
        }
    }
}

/// One direction's Opus encoder (16 kHz mono voice).
pub struct OpusEncoder {
    st: NonNull<c_void>,
}

// SAFETY: the libopus state is plain memory owned by this value; it is never shared, so
// moving it to another thread is sound.
unsafe impl Send for OpusEncoder {}

impl OpusEncoder {
    /// A voice encoder at [`OPUS_PCM_RATE`], wideband, with the given settings.
    pub fn new(cfg: OpusEncoderConfig) -> Result<Self, OpusError> {
        let mut err: c_int = 0;
        // SAFETY: valid arguments; the returned pointer is checked.
        let st = unsafe {
            opus_encoder_create(OPUS_PCM_RATE as i32, 1, OPUS_APPLICATION_VOIP, &mut err)
        };
        let st = NonNull::new(st).ok_or(OpusError(err))?;
        let enc = OpusEncoder { st };
        enc.ctl(OPUS_SET_BITRATE_REQUEST, cfg.bitrate.clamp(6000, 510_000))?;
        enc.ctl(OPUS_SET_MAX_BANDWIDTH_REQUEST, OPUS_BANDWIDTH_WIDEBAND)?;
        enc.ctl(OPUS_SET_SIGNAL_REQUEST, OPUS_SIGNAL_VOICE)?;
        enc.ctl(OPUS_SET_COMPLEXITY_REQUEST, 5)?;
        enc.ctl(OPUS_SET_INBAND_FEC_REQUEST, c_int::from(cfg.inband_fec))?;
        enc.ctl(OPUS_SET_PACKET_LOSS_PERC_REQUEST, OPUS_EXPECTED_LOSS_PERC)?;
        enc.ctl(OPUS_SET_DTX_REQUEST, c_int::from(cfg.dtx))?;
        Ok(enc)
    }

    fn ctl(&self, request: c_int, value: c_int) -> Result<(), OpusError> {
        // SAFETY: every request used here takes one opus_int32 argument.
        let r = unsafe { opus_encoder_ctl(self.st.as_ptr(), request, value) };
        if r == OPUS_OK {
            Ok(())
        } else {
            Err(OpusError(r))
        }
    }

    /// Encodes one frame (2.5–60 ms of 16 kHz PCM; the gateway uses 20 ms = 320 samples)
    /// into `out`; returns the packet length. With DTX on, a packet of 1–2 bytes means
    /// "silence, need not be sent".
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, OpusError> {
        let max = i32::try_from(out.len().min(OPUS_MAX_PACKET)).unwrap_or(0);
        let frame = c_int::try_from(pcm.len()).map_err(|_| OpusError(-1))?;
        // SAFETY: pcm holds `frame` samples and out at least `max` bytes.
        let n =
            unsafe { opus_encode(self.st.as_ptr(), pcm.as_ptr(), frame, out.as_mut_ptr(), max) };
        usize::try_from(n).map_err(|_| OpusError(n))
    }
}

impl Drop for OpusEncoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_encoder_create, destroyed once.
        unsafe { opus_encoder_destroy(self.st.as_ptr()) }
    }
}

/// One direction's Opus decoder (16 kHz mono; stereo packets are downmixed by libopus).
pub struct OpusDecoder {
    st: NonNull<c_void>,
}

// SAFETY: as for the encoder.
unsafe impl Send for OpusDecoder {}

impl OpusDecoder {
    /// A decoder producing [`OPUS_PCM_RATE`] mono.
    pub fn new() -> Result<Self, OpusError> {
        let mut err: c_int = 0;
        // SAFETY: valid arguments; the returned pointer is checked.
        let st = unsafe { opus_decoder_create(OPUS_PCM_RATE as i32, 1, &mut err) };
        NonNull::new(st)
            .map(|st| OpusDecoder { st })
            .ok_or(OpusError(err))
    }

    fn run(
        &mut self,
        packet: Option<&[u8]>,
        out: &mut [i16],
        fec: bool,
    ) -> Result<usize, OpusError> {
        let frame = c_int::try_from(out.len()).map_err(|_| OpusError(-1))?;
        let (ptr, len) = match packet {
            Some(p) => (
                p.as_ptr(),
                i32::try_from(p.len()).map_err(|_| OpusError(-1))?,
            ),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: `packet` (or null for PLC) is valid for `len` bytes; `out` holds `frame`
        // samples, and libopus never writes more than frame_size samples per channel.
        let n = unsafe {
            opus_decode(
                self.st.as_ptr(),
                ptr,
                len,
                out.as_mut_ptr(),
                frame,
                c_int::from(fec),
            )
        };
        usize::try_from(n).map_err(|_| OpusError(n))
    }

    /// Decodes a packet into `out` (room for the packet's duration); returns the samples.
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        if packet.is_empty() {
            return self.conceal(out);
        }
        self.run(Some(packet), out, false)
    }

    /// Packet loss concealment: synthesises `out.len()` samples (a multiple of 2.5 ms)
    /// continuing the signal.
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<usize, OpusError> {
        self.run(None, out, false)
    }

    /// Rebuilds the lost frame *before* `next` from the FEC data `next` carries (falls
    /// back to PLC inside libopus when it carries none); `out.len()` is the lost duration.
    pub fn recover(&mut self, next: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        self.run(Some(next), out, true)
    }

    /// Samples at [`OPUS_PCM_RATE`] a packet decodes to, without decoding it.
    pub fn packet_samples(packet: &[u8]) -> Option<usize> {
        let len = i32::try_from(packet.len()).ok()?;
        if len == 0 {
            return None;
        }
        // SAFETY: `packet` is valid for `len` bytes.
        let n = unsafe { opus_packet_get_nb_samples(packet.as_ptr(), len, OPUS_PCM_RATE as i32) };
        usize::try_from(n).ok()
    }
}

impl Drop for OpusDecoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_decoder_create, destroyed once.
        unsafe { opus_decoder_destroy(self.st.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::tone_snr_db;
    use crate::media::tone::ToneGenerator;

    #[test]
    fn tone_round_trip_keeps_frequency_and_level() {
        for freq in [440.0f32, 1000.0, 3000.0, 6000.0] {
            let mut enc = OpusEncoder::new(OpusEncoderConfig::default()).unwrap();
            let mut dec = OpusDecoder::new().unwrap();
            let mut gen = ToneGenerator::new(freq, 16000, 10000);
            let (mut input, mut output) = (vec![], vec![]);
            for _ in 0..100 {
                let f = gen.next_frame();
                let mut pkt = [0u8; OPUS_MAX_PACKET];
                let n = enc.encode(f.pcm(), &mut pkt).unwrap();
                assert!(n > 2 && n < 200, "{n}");
                assert_eq!(OpusDecoder::packet_samples(&pkt[..n]), Some(320));
                let mut pcm = [0i16; 320];
                assert_eq!(dec.decode(&pkt[..n], &mut pcm).unwrap(), 320);
                input.extend_from_slice(f.pcm());
                output.extend_from_slice(&pcm);
            }
            let (_, _, rms_in) = tone_snr_db(&input[3200..], 16000, f64::from(freq));
            let (peak, snr, rms) = tone_snr_db(&output[3200..], 16000, f64::from(freq));
            assert!((peak - f64::from(freq)).abs() < 10.0, "{freq}: {peak}");
            assert!(snr > 20.0, "{freq}: snr {snr}");
            assert!((rms - rms_in).abs() < 2.0, "{freq}: {rms} vs {rms_in}");
        }
    }

    #[test]
    fn plc_and_fec_fill_a_lost_frame() {
        let mut enc = OpusEncoder::new(OpusEncoderConfig::default()).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut gen = ToneGenerator::new(500.0, 16000, 10000);
        let packets: Vec<Vec<u8>> = (0..50)
            .map(|_| {
                let mut pkt = [0u8; OPUS_MAX_PACKET];
                let n = enc.encode(gen.next_frame().pcm(), &mut pkt).unwrap();
                pkt[..n].to_vec()
            })
            .collect();
        let mut out = vec![];
        for (i, p) in packets.iter().enumerate() {
            let mut pcm = [0i16; 320];
            match i {
                20 => dec.conceal(&mut pcm).unwrap(),
                30 => dec.recover(&packets[31], &mut pcm).unwrap(),
                _ => dec.decode(p, &mut pcm).unwrap(),
            };
            out.extend_from_slice(&pcm);
        }
        let (peak, snr, _) = tone_snr_db(&out[3200..], 16000, 500.0);
        assert!((peak - 500.0).abs() < 10.0 && snr > 15.0, "{peak} {snr}");
        // garbage never panics
        let mut pcm = [0i16; 320];
        let _ = dec.decode(&[0xff, 0xff, 0xff], &mut pcm);
        let _ = dec.decode(&[0u8; 3], &mut pcm[..7]);
        assert_eq!(OpusDecoder::packet_samples(&[]), None);
    }
}
