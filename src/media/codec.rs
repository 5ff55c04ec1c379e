//! The phone leg's audio codecs behind one small enum.
//!
//! SDP negotiation, the jitter buffer and the bridge all need to ask "how many RTP ticks
//! is a frame", "what is the silence byte", "encode this"; keeping the answers here means
//! adding G.722 or Opus later touches one match per question instead of every caller.

use super::g711;

/// A payload format the phone leg can negotiate and transcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// Every codec this build supports, in the gateway's default preference order.
    pub const ALL: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    /// RTP clock rate (the unit of RTP timestamps and the SDP rtpmap rate).
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
        }
    }

    /// Rate of the PCM the codec consumes and produces (differs from the RTP clock for
    /// G.722, which is why both exist).
    pub fn sample_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
        }
    }

    /// Encoding name as written in an SDP rtpmap.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The static payload type from RFC 3551, if the codec has one.
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
        }
    }

    /// Finds a codec from an rtpmap encoding name (case-insensitive) and clock rate.
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

    /// The payload byte that decodes to silence; the jitter buffer fills gaps with it.
    pub fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => g711::ULAW_SILENCE,
            Codec::Pcma => g711::ALAW_SILENCE,
        }
    }

    /// Encodes PCM at [`Codec::sample_rate`] into `out`; returns the payload length.
    /// Never writes past either slice.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> usize {
        match self {
            Codec::Pcmu => g711::encode_ulaw(pcm, out),
            Codec::Pcma => g711::encode_alaw(pcm, out),
        }
    }

    /// Decodes a payload into PCM at [`Codec::sample_rate`]; returns the sample count.
    /// Never writes past either slice.
    pub fn decode(self, payload: &[u8], out: &mut [i16]) -> usize {
        match self {
            Codec::Pcmu => g711::decode_ulaw(payload, out),
            Codec::Pcma => g711::decode_alaw(payload, out),
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
        assert_eq!(Codec::from_rtpmap("opus", 48000), None);
        assert_eq!(Codec::from_static_payload_type(0), Some(Codec::Pcmu));
        assert_eq!(Codec::from_static_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_static_payload_type(18), None);
        assert_eq!(Codec::Pcmu.frame_ticks(), 160);
        assert_eq!(Codec::Pcma.frame_samples(), 160);
    }

    #[test]
    fn silence_byte_decodes_quietly() {
        for c in Codec::ALL {
            let mut out = [1i16; 1];
            c.decode(&[c.silence_byte()], &mut out);
            assert!(out[0].abs() <= 8);
        }
    }
}
