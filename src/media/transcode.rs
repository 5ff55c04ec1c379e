//! Per-stream codec state for the phone leg.
//!
//! G.711 is stateless, but G.722 (ADPCM predictors), Opus and G.729 carry state from
//! frame to frame, so a call needs one encoder and one decoder that live as long as the
//! stream. These wrap the codec-specific coders behind one interface, and give each
//! codec its own loss concealment: Opus rebuilds a lost frame from the next packet's FEC
//! or by its PLC, G.729 by its decoder's erasure handling; for G.711/G.722 the bridge
//! repeats the last waveform with a fade ([`Decoder::conceal`] answers `None`).

use super::codec::Codec;
use super::g722::{G722Decoder, G722Encoder, G722Level};
use super::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig};

/// Largest PCM a decoded packet may expand to (120 ms at 16 kHz, Opus's longest packet).
const MAX_DECODED: usize = 1920;

/// Why a coder could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecError {
    /// The codec is not in this build (G.729 without the `g729` feature).
    Unavailable(Codec),
    /// The codec library refused (out of memory, bad parameters).
    Library(Codec),
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodecError::Unavailable(c) => write!(f, "{c} is not available in this build"),
            CodecError::Library(c) => write!(f, "{c}: codec library error"),
        }
    }
}

impl std::error::Error for CodecError {}

#[allow(clippy::large_enum_variant)] // one per call, never moved on the media path
enum Enc {
    Pcmu,
    Pcma,
    G722(G722Encoder),
    Opus(Box<OpusEncoder>),
    #[cfg(feature = "g729")]
    G729(super::g729::G729Encoder),
}

/// The encoder of one outgoing stream.
pub struct Encoder {
    codec: Codec,
    enc: Enc,
}

impl Encoder {
    /// An encoder with the gateway's defaults (Opus: FEC on, DTX off).
    pub fn new(codec: Codec) -> Result<Self, CodecError> {
        Self::with_opus(codec, OpusEncoderConfig::default())
    }

    /// An encoder; `opus` applies when `codec` is Opus (settings from the peer's fmtp).
    pub fn with_opus(codec: Codec, opus: OpusEncoderConfig) -> Result<Self, CodecError> {
        let enc = match codec {
            Codec::Pcmu => Enc::Pcmu,
            Codec::Pcma => Enc::Pcma,
            Codec::G722 => Enc::G722(G722Encoder::new()),
            Codec::Opus => Enc::Opus(Box::new(
                OpusEncoder::new(opus).map_err(|_| CodecError::Library(codec))?,
            )),
            #[cfg(feature = "g729")]
            Codec::G729 => {
                Enc::G729(super::g729::G729Encoder::new().map_err(|_| CodecError::Library(codec))?)
            }
            #[cfg(not(feature = "g729"))]
            Codec::G729 => return Err(CodecError::Unavailable(codec)),
        };
        Ok(Encoder { codec, enc })
    }

    /// The codec encoded.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Switches a G.722 encoder to a level convention (`[sip] g722_level`); other
    /// codecs have one level and ignore it. Resets the G.722 state, so call it before
    /// the first frame.
    pub fn set_g722_level(&mut self, level: G722Level) {
        if let Enc::G722(e) = &mut self.enc {
            *e = G722Encoder::with_level(level);
        }
    }

    /// Encodes one 20 ms frame at the codec's PCM rate; returns the payload length
    /// (0 = nothing to send, e.g. an encoder error, logged).
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        match &mut self.enc {
            Enc::Pcmu => super::g711::encode_ulaw(pcm, out),
            Enc::Pcma => super::g711::encode_alaw(pcm, out),
            Enc::G722(e) => e.encode(pcm, out),
            Enc::Opus(e) => match e.encode(pcm, out) {
                Ok(n) => n,
                Err(err) => {
                    log::debug!("opus encode: {err}");
                    0
                }
            },
            #[cfg(feature = "g729")]
            Enc::G729(e) => e.encode(pcm, out),
        }
    }
}

#[allow(clippy::large_enum_variant)] // one per call, never moved on the media path
enum Dec {
    Pcmu,
    Pcma,
    G722(G722Decoder),
    Opus(Box<OpusDecoder>),
    #[cfg(feature = "g729")]
    G729(super::g729::G729Decoder),
}

/// The decoder of one incoming stream.
pub struct Decoder {
    codec: Codec,
    dec: Dec,
}

impl Decoder {
    /// A decoder in its initial state.
    pub fn new(codec: Codec) -> Result<Self, CodecError> {
        let dec = match codec {
            Codec::Pcmu => Dec::Pcmu,
            Codec::Pcma => Dec::Pcma,
            Codec::G722 => Dec::G722(G722Decoder::new()),
            Codec::Opus => Dec::Opus(Box::new(
                OpusDecoder::new().map_err(|_| CodecError::Library(codec))?,
            )),
            #[cfg(feature = "g729")]
            Codec::G729 => {
                Dec::G729(super::g729::G729Decoder::new().map_err(|_| CodecError::Library(codec))?)
            }
            #[cfg(not(feature = "g729"))]
            Codec::G729 => return Err(CodecError::Unavailable(codec)),
        };
        Ok(Decoder { codec, dec })
    }

    /// The codec decoded.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Switches a G.722 decoder to a level convention (`[sip] g722_level`); other
    /// codecs ignore it. Resets the G.722 state, so call it before the first packet.
    pub fn set_g722_level(&mut self, level: G722Level) {
        if let Dec::G722(d) = &mut self.dec {
            *d = G722Decoder::with_level(level);
        }
    }

    /// Decodes one payload into `out` (one 20 ms frame at the codec's rate); returns the
    /// samples written. An Opus packet longer than `out` is decoded whole and cut.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> usize {
        match &mut self.dec {
            Dec::Pcmu => super::g711::decode_ulaw(payload, out),
            Dec::Pcma => super::g711::decode_alaw(payload, out),
            Dec::G722(d) => d.decode(payload, out),
            Dec::Opus(d) => {
                let want = OpusDecoder::packet_samples(payload).unwrap_or(out.len());
                let res = if want <= out.len() {
                    d.decode(payload, out)
                } else {
                    let mut big = [0i16; MAX_DECODED];
                    d.decode(payload, &mut big).map(|n| {
                        let n = n.min(out.len());
                        out[..n].copy_from_slice(&big[..n]);
                        n
                    })
                };
                match res {
                    Ok(n) => n,
                    Err(err) => {
                        log::debug!("opus decode: {err}");
                        0
                    }
                }
            }
            #[cfg(feature = "g729")]
            Dec::G729(d) => d.decode(payload, out),
        }
    }

    /// Codec-native concealment of one lost frame into `out`: Opus uses the FEC in
    /// `next` (the packet after the lost one) when given, else its PLC; G.729 its erasure
    /// concealment. `None` for G.711/G.722, where the caller repeats the waveform.
    pub fn conceal(&mut self, next: Option<&[u8]>, out: &mut [i16]) -> Option<usize> {
        match &mut self.dec {
            Dec::Pcmu | Dec::Pcma | Dec::G722(_) => None,
            Dec::Opus(d) => {
                let r = match next {
                    Some(p) if !p.is_empty() => d.recover(p, out),
                    _ => d.conceal(out),
                };
                r.ok()
            }
            #[cfg(feature = "g729")]
            Dec::G729(d) => Some(d.conceal(out)),
        }
    }

    /// Whether [`Decoder::conceal`] has a codec-native answer.
    pub fn has_native_concealment(&self) -> bool {
        !matches!(self.dec, Dec::Pcmu | Dec::Pcma | Dec::G722(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::tone_snr_db;
    use crate::media::tone::ToneGenerator;

    /// Tone through encoder and decoder per codec: frequency and level kept.
    #[test]
    fn every_codec_round_trips_a_tone() {
        for codec in Codec::ALL {
            let rate = codec.sample_rate();
            let mut enc = Encoder::new(codec).unwrap();
            let mut dec = Decoder::new(codec).unwrap();
            assert_eq!((enc.codec(), dec.codec()), (codec, codec));
            let mut gen = ToneGenerator::new(800.0, rate, 10000);
            let (mut input, mut output) = (vec![], vec![]);
            for _ in 0..100 {
                let f = gen.next_frame();
                let mut bytes = [0u8; 1500];
                let n = enc.encode(f.pcm(), &mut bytes);
                assert!(n > 0, "{codec}");
                let mut pcm = [0i16; 960];
                let m = dec.decode(&bytes[..n], &mut pcm[..codec.frame_samples()]);
                assert_eq!(m, codec.frame_samples(), "{codec}");
                input.extend_from_slice(f.pcm());
                output.extend_from_slice(&pcm[..m]);
            }
            let skip = rate as usize / 5;
            let (_, _, lin) = tone_snr_db(&input[skip..], rate, 800.0);
            let (peak, snr, lout) = tone_snr_db(&output[skip..], rate, 800.0);
            eprintln!(
                "{codec}: peak {peak:.1} Hz, snr {snr:.1} dB, level {lout:.1} vs {lin:.1} dB"
            );
            assert!((peak - 800.0).abs() < 10.0, "{codec}: {peak}");
            assert!(snr > 15.0, "{codec}: {snr}");
            assert!((lout - lin).abs() < 3.0, "{codec}: {lout} vs {lin}");
        }
    }

    #[test]
    fn native_concealment_only_where_the_codec_has_it() {
        let mut pcm = [0i16; 320];
        for codec in Codec::ALL {
            let mut dec = Decoder::new(codec).unwrap();
            let n = dec.conceal(None, &mut pcm[..codec.frame_samples()]);
            assert_eq!(n.is_some(), dec.has_native_concealment());
            assert_eq!(
                dec.has_native_concealment(),
                matches!(codec, Codec::Opus | Codec::G729)
            );
        }
        #[cfg(not(feature = "g729"))]
        assert_eq!(
            Decoder::new(Codec::G729).err(),
            Some(CodecError::Unavailable(Codec::G729))
        );
    }
}
