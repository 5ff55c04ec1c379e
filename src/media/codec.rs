//! The phone leg's audio codecs behind one small enum.
//!
//! SDP negotiation, the jitter buffer and the bridge all need to ask "how many RTP ticks
//! is a frame", "what is the silence byte", "encode this"; keeping the answers here means
//! adding a codec touches one match per question instead of every caller. The stateful
//! per-call coders (G.722's ADPCM predictors, libopus, bcg729) live in
//! [`crate::media::transcode`]; the one-shot [`Codec::encode`]/[`Codec::decode`] here
//! are for stateless use (tests, tools).

use super::g711;
use super::g722::{G722Decoder, G722Encoder};
use super::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig};

/// A payload format the phone leg can negotiate and transcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// G.722 64 kbit/s, static payload type 9: 16 kHz audio, RTP clock 8000.
    G722,
    /// Opus (RFC 7587), dynamic payload type, RTP clock 48000, run as 16 kHz mono voice.
    Opus,
    /// G.729 Annex A (Annex B SID frames understood), static payload type 18. Only
    /// usable when built with the `g729` feature (see [`Codec::is_available`]).
    G729,
}

impl Codec {
    /// Every codec this build supports, in the gateway's default preference order.
    #[cfg(not(feature = "g729"))]
    pub const ALL: [Codec; 4] = [Codec::Opus, Codec::G722, Codec::Pcmu, Codec::Pcma];
    /// Every codec this build supports, in the gateway's default preference order.
    #[cfg(feature = "g729")]
    pub const ALL: [Codec; 5] = [
        Codec::Opus,
        Codec::G722,
        Codec::Pcmu,
        Codec::Pcma,
        Codec::G729,
    ];

    /// Whether this build can transcode the codec (G.729 needs the `g729` feature).
    pub fn is_available(self) -> bool {
        !matches!(self, Codec::G729) || cfg!(feature = "g729")
    }

    /// Parses a name from the configuration (`[sip] codecs = ["opus", "g722", "pcmu",
    /// "pcma", "g729"]`, case-insensitive; `g711u`/`ulaw` and `g711a`/`alaw` also work).
    /// `None` for unknown names and for codecs this build lacks, so a config check can
    /// name the bad entry.
    pub fn from_config_name(name: &str) -> Option<Codec> {
        let c = match name.trim().to_ascii_lowercase().as_str() {
            "pcmu" | "g711u" | "ulaw" | "g711-ulaw" => Codec::Pcmu,
            "pcma" | "g711a" | "alaw" | "g711-alaw" => Codec::Pcma,
            "g722" | "g.722" => Codec::G722,
            "opus" => Codec::Opus,
            "g729" | "g.729" | "g729a" => Codec::G729,
            _ => return None,
        };
        c.is_available().then_some(c)
    }

    /// The name used in configuration files (inverse of [`Codec::from_config_name`]).
    pub fn config_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "pcmu",
            Codec::Pcma => "pcma",
            Codec::G722 => "g722",
            Codec::Opus => "opus",
            Codec::G729 => "g729",
        }
    }

    /// RTP clock rate (the unit of RTP timestamps and the SDP rtpmap rate).
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 | Codec::G729 => 8000,
            Codec::Opus => 48000,
        }
    }

    /// Rate of the PCM the codec consumes and produces (differs from the RTP clock for
    /// G.722 and Opus, which is why both exist).
    pub fn sample_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G729 => 8000,
            Codec::G722 | Codec::Opus => 16000,
        }
    }

    /// Encoding name as written in an SDP rtpmap.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
            Codec::Opus => "opus",
            Codec::G729 => "G729",
        }
    }

    /// The rtpmap value after the payload type: `PCMU/8000`, `opus/48000/2` (RFC 7587
    /// requires the channel count 2 in the rtpmap even for mono).
    pub fn rtpmap(self) -> String {
        match self {
            Codec::Opus => format!("{}/{}/2", self.name(), self.clock_rate()),
            _ => format!("{}/{}", self.name(), self.clock_rate()),
        }
    }

    /// The `a=fmtp` parameters we declare for the codec, if any.
    pub fn fmtp(self) -> Option<&'static str> {
        match self {
            Codec::Opus => {
                Some("useinbandfec=1; maxplaybackrate=16000; sprop-maxcapturerate=16000")
            }
            _ => None,
        }
    }

    /// The static payload type from RFC 3551, if the codec has one.
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            Codec::G722 => Some(9),
            Codec::G729 => Some(18),
            Codec::Opus => None,
        }
    }

    /// Finds an available codec from an rtpmap encoding name (case-insensitive) and
    /// clock rate.
    pub fn from_rtpmap(name: &str, clock_rate: u32) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name) && c.clock_rate() == clock_rate)
    }

    /// Finds the codec a static payload type stands for when no rtpmap says otherwise.
    pub fn from_static_payload_type(pt: u8) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.static_payload_type() == Some(pt))
    }

    /// RTP timestamp ticks in one 20 ms frame.
    pub fn frame_ticks(self) -> u32 {
        self.clock_rate() / 50
    }

    /// PCM samples in one 20 ms frame.
    pub fn frame_samples(self) -> usize {
        (self.sample_rate() / 50) as usize
    }

    /// Whether payloads are opaque packets (Opus, G.729) rather than one byte per RTP
    /// tick (G.711, G.722): the jitter buffer stores them whole, one per 20 ms slot.
    pub fn is_packetized(self) -> bool {
        matches!(self, Codec::Opus | Codec::G729)
    }

    /// The payload byte that decodes to (near) silence; the jitter buffer fills gaps
    /// inside byte-per-tick frames with it. Meaningless for packetised codecs.
    pub fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => g711::ULAW_SILENCE,
            Codec::Pcma => g711::ALAW_SILENCE,
            // low band code 63 (-136/32768 of the step), high band code 3
            Codec::G722 => 0xff,
            Codec::Opus | Codec::G729 => 0,
        }
    }

    /// Encodes one 20 ms frame of PCM at [`Codec::sample_rate`] into `out`; returns the
    /// payload length (0 if the codec is unavailable). Never writes past either slice.
    /// Stateful codecs start from a fresh state on every call: per-call streams use
    /// [`crate::media::transcode::Encoder`].
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> usize {
        match self {
            Codec::Pcmu => g711::encode_ulaw(pcm, out),
            Codec::Pcma => g711::encode_alaw(pcm, out),
            Codec::G722 => G722Encoder::new().encode(pcm, out),
            Codec::Opus => OpusEncoder::new(OpusEncoderConfig::default())
                .and_then(|mut e| e.encode(pcm, out))
                .unwrap_or(0),
            Codec::G729 => super::transcode::Encoder::new(self)
                .map(|mut e| e.encode(pcm, out))
                .unwrap_or(0),
        }
    }

    /// Decodes a payload into PCM at [`Codec::sample_rate`]; returns the sample count.
    /// Never writes past either slice. Fresh state per call, as for [`Codec::encode`].
    pub fn decode(self, payload: &[u8], out: &mut [i16]) -> usize {
        match self {
            Codec::Pcmu => g711::decode_ulaw(payload, out),
            Codec::Pcma => g711::decode_alaw(payload, out),
            Codec::G722 => G722Decoder::new().decode(payload, out),
            Codec::Opus => OpusDecoder::new()
                .and_then(|mut d| d.decode(payload, out))
                .unwrap_or(0),
            Codec::G729 => super::transcode::Decoder::new(self)
                .map(|mut d| d.decode(payload, out))
                .unwrap_or(0),
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(Codec::from_rtpmap("pcmu", 8000), Some(Codec::Pcmu));
        assert_eq!(Codec::from_rtpmap("PCMA", 8000), Some(Codec::Pcma));
        assert_eq!(Codec::from_rtpmap("PCMA", 16000), None);
        assert_eq!(Codec::from_rtpmap("opus", 48000), Some(Codec::Opus));
        assert_eq!(Codec::from_rtpmap("OPUS", 16000), None);
        assert_eq!(Codec::from_rtpmap("g722", 8000), Some(Codec::G722));
        assert_eq!(Codec::from_rtpmap("G722", 16000), None);
        assert_eq!(Codec::from_static_payload_type(0), Some(Codec::Pcmu));
        assert_eq!(Codec::from_static_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_static_payload_type(9), Some(Codec::G722));
        assert_eq!(
            Codec::from_static_payload_type(18),
            cfg!(feature = "g729").then_some(Codec::G729)
        );
        assert_eq!(Codec::from_static_payload_type(3), None);
        assert_eq!(Codec::Pcmu.frame_ticks(), 160);
        assert_eq!(Codec::Pcma.frame_samples(), 160);
        assert_eq!(
            (Codec::G722.frame_ticks(), Codec::G722.frame_samples()),
            (160, 320)
        );
        assert_eq!(
            (Codec::Opus.frame_ticks(), Codec::Opus.frame_samples()),
            (960, 320)
        );
        assert_eq!(Codec::Opus.rtpmap(), "opus/48000/2");
        assert_eq!(Codec::G722.rtpmap(), "G722/8000");
    }

    #[test]
    fn config_names() {
        for c in Codec::ALL {
            assert_eq!(Codec::from_config_name(c.config_name()), Some(c));
        }
        assert_eq!(Codec::from_config_name(" OPUS "), Some(Codec::Opus));
        assert_eq!(Codec::from_config_name("ulaw"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_config_name("gsm"), None);
        assert_eq!(
            Codec::from_config_name("g729"),
            cfg!(feature = "g729").then_some(Codec::G729)
        );
    }

    #[test]
    fn silence_byte_decodes_quietly() {
        for c in [Codec::Pcmu, Codec::Pcma, Codec::G722] {
            let mut out = [1i16; 320];
            let n = c.decode(&[c.silence_byte(); 160], &mut out);
            assert!(n >= 160);
            assert!(
                out[..n].iter().all(|s| s.abs() <= 64),
                "{c}: {:?}",
                &out[..8]
            );
        }
    }

    #[test]
    fn one_shot_coders_work_for_every_codec() {
        for c in Codec::ALL {
            let pcm = [1000i16; 320];
            let mut bytes = [0u8; 400];
            let n = c.encode(&pcm[..c.frame_samples()], &mut bytes);
            assert!(n > 0, "{c}");
            let mut out = [0i16; 960];
            assert_eq!(c.decode(&bytes[..n], &mut out), c.frame_samples(), "{c}");
        }
    }
}
