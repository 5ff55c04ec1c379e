//! RTP packet view and writer (RFC 3550 section 5.1), without I/O.
//!
//! The phone leg receives datagrams from anyone on the network, so [`parse`] treats every
//! byte as hostile: it checks each length before it reads and reports an [`RtpError`]
//! instead of panicking. RTCP that a rtcp-mux peer sends to the RTP port is recognised
//! ([`is_rtcp`]) so the caller can set it aside instead of mistaking it for audio.

use std::fmt;

/// Size of the fixed RTP header; nothing shorter can be RTP.
pub const RTP_HEADER_LEN: usize = 12;

/// The only RTP version in use (RFC 3550); anything else is not ours.
pub const RTP_VERSION: u8 = 2;

/// Why a datagram was not accepted as RTP (or could not be written as one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    /// Fewer bytes than the fixed header.
    TooShort,
    /// The version bits are not 2.
    BadVersion(u8),
    /// The padding bit is set but the padding count is 0 or longer than the packet.
    BadPadding,
    /// The CSRC count points past the end of the packet.
    CsrcOverrun,
    /// The header extension (or its length field) points past the end of the packet.
    ExtensionOverrun,
    /// The packet is RTCP (payload type byte 200..=204), not RTP.
    Rtcp,
    /// The caller's output buffer cannot hold the packet.
    BufferTooSmall,
    /// A payload type above 127 cannot be written (the marker bit shares the byte).
    BadPayloadType(u8),
    /// The codec produced no payload for the frame (its library failed or is missing);
    /// nothing to send this tick.
    Unencodable,
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtpError::TooShort => f.write_str("packet shorter than the RTP header"),
            RtpError::BadVersion(v) => write!(f, "RTP version {v}, expected 2"),
            RtpError::BadPadding => f.write_str("bad RTP padding"),
            RtpError::CsrcOverrun => f.write_str("CSRC list runs past the packet"),
            RtpError::ExtensionOverrun => f.write_str("header extension runs past the packet"),
            RtpError::Rtcp => f.write_str("packet is RTCP"),
            RtpError::BufferTooSmall => f.write_str("output buffer too small"),
            RtpError::BadPayloadType(pt) => write!(f, "payload type {pt} out of range"),
            RtpError::Unencodable => f.write_str("codec produced no payload"),
        }
    }
}

impl std::error::Error for RtpError {}

/// The header fields the gateway reads and writes. CSRCs and extensions are only read
/// (see [`RtpPacket`]): the gateway is a single-source endpoint and never sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader {
    /// Marker bit: for audio, the first packet of a talk spurt.
    pub marker: bool,
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// Sequence number; wraps at 65535.
    pub sequence: u16,
    /// Media timestamp in the codec's RTP clock; wraps at 2^32.
    pub timestamp: u32,
    /// Synchronisation source of the stream.
    pub ssrc: u32,
}

/// A header extension (RFC 3550 section 5.3.1) as found in a received packet. The
/// gateway does not interpret it, but must skip it correctly to find the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    /// The "defined by profile" field (0xBEDE for RFC 8285 one-byte headers).
    pub profile: u16,
    /// The extension words, without the 4-byte extension header.
    pub data: &'a [u8],
}

/// A received RTP packet, borrowing the datagram: parsing costs no copy and no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The fixed header fields.
    pub header: RtpHeader,
    /// Raw CSRC list (4 bytes each); see [`RtpPacket::csrcs`].
    pub csrc: &'a [u8],
    /// Header extension, when the X bit is set.
    pub extension: Option<RtpExtension<'a>>,
    /// Number of padding bytes that were stripped from the end.
    pub padding_len: u8,
    /// The media payload, without padding.
    pub payload: &'a [u8],
}

impl RtpPacket<'_> {
    /// The contributing sources, for logging mixers upstream.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + '_ {
        self.csrc
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }
}

/// True when the datagram looks like RTCP (version 2, packet type 200..=204 in the second
/// byte, RFC 5761 section 4): peers using rtcp-mux send it to the RTP port and it must not
/// be played as audio.
pub fn is_rtcp(packet: &[u8]) -> bool {
    packet.len() >= 2 && packet[0] >> 6 == RTP_VERSION && (200..=204).contains(&packet[1])
}

/// Parses an untrusted datagram as RTP. RTCP is reported as [`RtpError::Rtcp`] so that no
/// caller can accidentally decode it as media.
pub fn parse(packet: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    if packet.len() < RTP_HEADER_LEN {
        return Err(RtpError::TooShort);
    }
    let b0 = packet[0];
    let version = b0 >> 6;
    if version != RTP_VERSION {
        return Err(RtpError::BadVersion(version));
    }
    if is_rtcp(packet) {
        return Err(RtpError::Rtcp);
    }
    let has_padding = b0 & 0x20 != 0;
    let has_extension = b0 & 0x10 != 0;
    let csrc_count = usize::from(b0 & 0x0f);
    let b1 = packet[1];
    let header = RtpHeader {
        marker: b1 & 0x80 != 0,
        payload_type: b1 & 0x7f,
        sequence: u16::from_be_bytes([packet[2], packet[3]]),
        timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
        ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
    };

    // Strip padding first: it is counted from the end of the datagram.
    let mut end = packet.len();
    let mut padding_len = 0u8;
    if has_padding {
        padding_len = packet[end - 1];
        let pad = usize::from(padding_len);
        if pad == 0 || pad > end - RTP_HEADER_LEN {
            return Err(RtpError::BadPadding);
        }
        end -= pad;
    }

    let mut pos = RTP_HEADER_LEN;
    let csrc_end = pos + 4 * csrc_count;
    if csrc_end > end {
        return Err(RtpError::CsrcOverrun);
    }
    let csrc = &packet[pos..csrc_end];
    pos = csrc_end;

    let mut extension = None;
    if has_extension {
        if pos + 4 > end {
            return Err(RtpError::ExtensionOverrun);
        }
        let profile = u16::from_be_bytes([packet[pos], packet[pos + 1]]);
        let words = usize::from(u16::from_be_bytes([packet[pos + 2], packet[pos + 3]]));
        let data_start = pos + 4;
        let data_end = data_start + 4 * words;
        if data_end > end {
            return Err(RtpError::ExtensionOverrun);
        }
        extension = Some(RtpExtension {
            profile,
            data: &packet[data_start..data_end],
        });
        pos = data_end;
    }

    Ok(RtpPacket {
        header,
        csrc,
        extension,
        padding_len,
        payload: &packet[pos..end],
    })
}

/// Writes a plain RTP packet (no CSRC, no extension, no padding) into `out` and returns
/// its length, so the media path can build packets in a reused buffer without allocating.
pub fn write(header: &RtpHeader, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
    if header.payload_type > 0x7f {
        return Err(RtpError::BadPayloadType(header.payload_type));
    }
    let len = RTP_HEADER_LEN + payload.len();
    if out.len() < len {
        return Err(RtpError::BufferTooSmall);
    }
    out[0] = RTP_VERSION << 6;
    out[1] = (u8::from(header.marker) << 7) | header.payload_type;
    out[2..4].copy_from_slice(&header.sequence.to_be_bytes());
    out[4..8].copy_from_slice(&header.timestamp.to_be_bytes());
    out[8..12].copy_from_slice(&header.ssrc.to_be_bytes());
    out[RTP_HEADER_LEN..len].copy_from_slice(payload);
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> RtpHeader {
        RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 0xfffe,
            timestamp: 0xdead_beef,
            ssrc: 0x1234_5678,
        }
    }

    #[test]
    fn write_then_parse_round_trips() {
        let mut buf = [0u8; 64];
        let n = write(&header(), &[1, 2, 3, 4], &mut buf).unwrap();
        assert_eq!(n, 16);
        assert_eq!(buf[0], 0x80);
        assert_eq!(buf[1], 0x88);
        let p = parse(&buf[..n]).unwrap();
        assert_eq!(p.header, header());
        assert_eq!(p.payload, &[1, 2, 3, 4]);
        assert!(p.extension.is_none());
        assert_eq!(p.csrcs().count(), 0);
    }

    #[test]
    fn write_rejects_small_buffer_and_bad_pt() {
        let mut buf = [0u8; 13];
        assert_eq!(
            write(&header(), &[1, 2], &mut buf),
            Err(RtpError::BufferTooSmall)
        );
        let h = RtpHeader {
            payload_type: 128,
            ..header()
        };
        assert_eq!(
            write(&h, &[], &mut [0u8; 20]),
            Err(RtpError::BadPayloadType(128))
        );
    }

    #[test]
    fn parses_csrc_extension_and_padding() {
        let mut p = vec![0x80 | 0x20 | 0x10 | 2, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9];
        p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]); // two CSRCs
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0]); // one extension word
        p.extend_from_slice(&[7, 7, 7]); // payload
        p.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let r = parse(&p).unwrap();
        assert_eq!(r.csrcs().collect::<Vec<_>>(), vec![1, 2]);
        let ext = r.extension.unwrap();
        assert_eq!(ext.profile, 0xbede);
        assert_eq!(ext.data, &[0x10, 0xaa, 0, 0]);
        assert_eq!(r.padding_len, 3);
        assert_eq!(r.payload, &[7, 7, 7]);
        assert_eq!(r.header.timestamp, 160);
        assert_eq!(r.header.ssrc, 9);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse(&[]), Err(RtpError::TooShort));
        assert_eq!(parse(&[0x80; 11]), Err(RtpError::TooShort));
        assert_eq!(parse(&[0x40; 12]), Err(RtpError::BadVersion(1)));
        // padding count 0
        let mut p = [0u8; 13];
        p[0] = 0xa0;
        assert_eq!(parse(&p), Err(RtpError::BadPadding));
        // padding longer than the packet body
        p[12] = 2;
        assert_eq!(parse(&p), Err(RtpError::BadPadding));
        // 15 CSRCs announced, none present
        let mut p = [0u8; 16];
        p[0] = 0x8f;
        assert_eq!(parse(&p), Err(RtpError::CsrcOverrun));
        // extension header missing
        let mut p = [0u8; 14];
        p[0] = 0x90;
        assert_eq!(parse(&p), Err(RtpError::ExtensionOverrun));
        // extension length overruns
        let mut p = [0u8; 20];
        p[0] = 0x90;
        p[14] = 0xff;
        p[15] = 0xff;
        assert_eq!(parse(&p), Err(RtpError::ExtensionOverrun));
        // padding eating into the CSRC list
        let mut p = [0u8; 20];
        p[0] = 0x80 | 0x20 | 2;
        p[19] = 4;
        assert_eq!(parse(&p), Err(RtpError::CsrcOverrun));
    }

    #[test]
    fn recognises_rtcp() {
        // RTCP receiver report header: V=2, RC=0, PT=201, length 1
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
        assert!(is_rtcp(&rr));
        let mut sr = [0u8; 28];
        sr[0] = 0x80;
        sr[1] = 200;
        assert!(is_rtcp(&sr));
        assert_eq!(parse(&sr), Err(RtpError::Rtcp));
        let mut buf = [0u8; 20];
        let n = write(&header(), &[0; 4], &mut buf).unwrap();
        assert!(!is_rtcp(&buf[..n]));
        assert!(!is_rtcp(&[0x80]));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A small deterministic fuzz: every short length, pseudo-random contents.
        let mut x: u32 = 0x1234_5678;
        for len in 0..80 {
            for _ in 0..200 {
                let mut buf = vec![0u8; len];
                for b in buf.iter_mut() {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    *b = x as u8;
                }
                if let Some(b) = buf.first_mut() {
                    *b = (*b & 0x3f) | 0x80;
                }
                if let Ok(p) = parse(&buf) {
                    assert!(p.payload.len() <= len);
                }
            }
        }
    }
}
