//! SDP offer/answer (RFC 3264, RFC 4566) for the phone leg.
//!
//! The gateway offers one audio stream (its configured codecs — Opus, G.722, G.711,
//! G.729 — plus RFC 4733 telephone-events) in its INVITE and reads the phone's answer;
//! when the phone makes the offer (re-INVITE, UPDATE, or an INVITE we sent without SDP)
//! it answers with the phone's first codec it supports (the offerer's preference wins).
//! Parsing goes through `ezk-sdp-types`, fed only the lines the phone leg uses, so an odd
//! ICE or crypto attribute in a peer's SDP cannot make a call fail. Bad SDP is an error,
//! never a panic; no usable audio is [`SdpError::NoCommonCodec`] (the SIP layer answers
//! 488 Not Acceptable Here).

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sdp_types::{
    MediaDescription, MediaType, SessionDescription, TaggedAddress, TransportProtocol,
};

use crate::media::Codec;

/// Payload type the gateway offers for telephone-event/8000 (the value most phones use).
/// Events at other clocks (48000 beside Opus) get the next free dynamic type.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// Packet time we ask for: the media path runs on 20 ms frames.
pub const PTIME_MS: u32 = 20;

/// Username and session name in our `o=`/`s=` lines.
const SDP_USER: &str = "trtc-sipgw";

/// The attributes the phone leg reads; every other attribute is dropped before parsing.
const KEPT_ATTRIBUTES: [&str; 8] = [
    "rtpmap", "fmtp", "ptime", "sendrecv", "sendonly", "recvonly", "inactive", "rtcp-mux",
];

/// Media direction as one side declares it (RFC 3264 section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Send and receive (the default).
    #[default]
    SendRecv,
    /// Only send: the side is holding the other.
    SendOnly,
    /// Only receive.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// The attribute name, as written in SDP.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answer mirrors for this offered one (sendonly ↔ recvonly).
    pub fn mirrored(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    fn from_ezk(d: ezk_sdp_types::Direction) -> Self {
        match d {
            ezk_sdp_types::Direction::SendRecv => Direction::SendRecv,
            ezk_sdp_types::Direction::SendOnly => Direction::SendOnly,
            ezk_sdp_types::Direction::RecvOnly => Direction::RecvOnly,
            ezk_sdp_types::Direction::Inactive => Direction::Inactive,
        }
    }
}

/// What the gateway puts into its own SDP for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Address the phone should send RTP to (ours, as the phone can reach it).
    pub ip: IpAddr,
    /// Our RTP port.
    pub rtp_port: u16,
    /// Codecs to offer, most preferred first (empty: every supported codec).
    pub codecs: Vec<Codec>,
    /// Whether to offer/accept RFC 4733 telephone-events (DTMF).
    pub telephone_event: bool,
    /// `o=` session id, fixed for the dialog.
    pub session_id: u64,
    /// `o=` version; the caller increments it for every new offer or answer it sends.
    pub session_version: u64,
}

/// The outcome of a negotiation: everything the media bridge needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// Where the peer wants RTP (may be 0.0.0.0 for an RFC 2543 hold).
    pub remote: SocketAddr,
    /// Codec used in both directions.
    pub codec: Codec,
    /// Payload type of `codec` in this session.
    pub payload_type: u8,
    /// Payload type of telephone-event, when both sides have it: the one at the codec's
    /// RTP clock (RFC 4733 section 2.1), else (interop) one at another clock.
    pub telephone_event_pt: Option<u8>,
    /// Clock rate of that telephone-event (0 when none). Differs from the codec's clock
    /// only when the peer paired its events with another clock.
    pub telephone_event_clock: u32,
    /// The direction the *peer* declared (sendonly = the peer holds us).
    pub direction: Direction,
    /// The peer's `a=ptime`, if given.
    pub ptime_ms: Option<u32>,
    /// The peer's `a=fmtp` parameters for the chosen payload type (Opus: `useinbandfec`,
    /// `usedtx`, `maxplaybackrate`…), verbatim.
    pub fmtp: Option<String>,
    /// The peer multiplexes RTCP on the RTP port (RFC 5761 `a=rtcp-mux`); otherwise
    /// RTCP goes to the RTP port + 1.
    pub rtcp_mux: bool,
}

impl NegotiatedMedia {
    /// The peer does not want our media: it declared sendonly/inactive or gave the
    /// RFC 2543 hold address 0.0.0.0.
    pub fn on_hold(&self) -> bool {
        matches!(self.direction, Direction::SendOnly | Direction::Inactive)
            || self.remote.ip().is_unspecified()
    }

    /// Whether we should send RTP to the peer.
    pub fn we_send(&self) -> bool {
        !self.on_hold()
    }

    /// Whether the peer intends to send RTP to us.
    pub fn we_receive(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::SendOnly)
    }

    /// Where the peer expects our RTCP: the RTP address itself with rtcp-mux, else the
    /// next port up (RFC 3550 section 11).
    pub fn remote_rtcp(&self) -> SocketAddr {
        if self.rtcp_mux {
            self.remote
        } else {
            SocketAddr::new(self.remote.ip(), self.remote.port().wrapping_add(1))
        }
    }

    /// The value of one `name=value` parameter of the peer's fmtp (case-insensitive name).
    pub fn fmtp_param(&self, name: &str) -> Option<&str> {
        fmtp_param(self.fmtp.as_deref()?, name)
    }
}

/// Looks up `name` in an fmtp parameter list such as `useinbandfec=1; usedtx=0`.
pub fn fmtp_param<'a>(fmtp: &'a str, name: &str) -> Option<&'a str> {
    fmtp.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Why an SDP body could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdpError {
    /// Not SDP, or SDP that does not parse (details for the log).
    Malformed(String),
    /// No audio stream with a codec both sides support (or the audio was rejected with
    /// port 0): answer 488.
    NoCommonCodec,
    /// The audio stream has no usable connection address (missing, or a host name).
    NoConnection,
}

impl fmt::Display for SdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SdpError::Malformed(why) => write!(f, "malformed SDP: {why}"),
            SdpError::NoCommonCodec => f.write_str("no common audio codec"),
            SdpError::NoConnection => f.write_str("no usable connection address"),
        }
    }
}

impl std::error::Error for SdpError {}

fn offered_codecs(local: &LocalMedia) -> Vec<Codec> {
    let mut out: Vec<Codec> = Vec::new();
    let wanted: &[Codec] = if local.codecs.is_empty() {
        &Codec::ALL
    } else {
        &local.codecs
    };
    for &c in wanted {
        if c.is_available() && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Payload types for our offer: static ones where they exist, dynamic ones from 96 up
/// (skipping the telephone-event type) for codecs without.
fn assign_payload_types(codecs: &[Codec]) -> Vec<(Codec, u8)> {
    let mut next_dynamic = 96u8;
    codecs
        .iter()
        .map(|&c| {
            let pt = c.static_payload_type().unwrap_or_else(|| {
                if next_dynamic == TELEPHONE_EVENT_PT {
                    next_dynamic += 1;
                }
                let pt = next_dynamic;
                next_dynamic = next_dynamic.saturating_add(1).min(127);
                pt
            });
            (c, pt)
        })
        .collect()
}

fn ip_line(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("IN IP4 {v4}"),
        IpAddr::V6(v6) => format!("IN IP6 {v6}"),
    }
}

fn session_header(local: &LocalMedia) -> String {
    let addr = ip_line(local.ip);
    format!(
        "v=0\r\no={SDP_USER} {} {} {addr}\r\ns={SDP_USER}\r\nc={addr}\r\nt=0 0\r\n",
        local.session_id, local.session_version
    )
}

/// Telephone-events for our offer: one per distinct RTP clock among the offered codecs
/// (RFC 4733 section 2.1: the event clock is the audio's), in codec order. 8000 gets
/// [`TELEPHONE_EVENT_PT`]; other clocks the first dynamic types the codecs left free.
fn offered_events(formats: &[(Codec, u8)]) -> Vec<(u8, u32)> {
    let mut events: Vec<(u8, u32)> = Vec::new();
    let mut next = 96u8;
    for (codec, _) in formats {
        let clock = codec.clock_rate();
        if events.iter().any(|&(_, c)| c == clock) {
            continue;
        }
        let pt = if clock == 8000 {
            TELEPHONE_EVENT_PT
        } else {
            while next < 127
                && (next == TELEPHONE_EVENT_PT
                    || formats.iter().any(|&(_, p)| p == next)
                    || events.iter().any(|&(p, _)| p == next))
            {
                next += 1;
            }
            next
        };
        events.push((pt, clock));
    }
    events
}

/// Appends our audio m-section with the given formats, telephone-events (payload type,
/// clock) and direction.
fn write_audio_section(
    out: &mut String,
    port: u16,
    formats: &[(Codec, u8)],
    events: &[(u8, u32)],
    dir: Direction,
) {
    let _ = write!(out, "m=audio {port} RTP/AVP");
    for (_, pt) in formats {
        let _ = write!(out, " {pt}");
    }
    for (te, _) in events {
        let _ = write!(out, " {te}");
    }
    out.push_str("\r\n");
    for (codec, pt) in formats {
        let _ = write!(out, "a=rtpmap:{pt} {}\r\n", codec.rtpmap());
        if let Some(fmtp) = codec.fmtp() {
            let _ = write!(out, "a=fmtp:{pt} {fmtp}\r\n");
        }
    }
    for (te, clock) in events {
        let _ = write!(
            out,
            "a=rtpmap:{te} telephone-event/{clock}\r\na=fmtp:{te} 0-15\r\n"
        );
    }
    let _ = write!(out, "a=ptime:{PTIME_MS}\r\na={}\r\n", dir.as_str());
}

/// Our offer for an INVITE: one audio stream with every configured codec, sendrecv.
pub fn build_offer(local: &LocalMedia) -> String {
    build_offer_with_direction(local, Direction::SendRecv)
}

/// Our offer with a chosen direction (sendonly to put the phone on hold, sendrecv to
/// resume) for re-INVITEs the gateway starts.
pub fn build_offer_with_direction(local: &LocalMedia, direction: Direction) -> String {
    let formats = assign_payload_types(&offered_codecs(local));
    let events = if local.telephone_event {
        offered_events(&formats)
    } else {
        Vec::new()
    };
    let mut out = session_header(local);
    write_audio_section(&mut out, local.rtp_port, &formats, &events, direction);
    out
}

/// One `m=` line as written, for rejecting it in an answer with the same type, proto
/// and formats.
struct RawMediaLine {
    media_type: String,
    proto: String,
    formats: String,
}

/// Splits untrusted SDP into the lines the parser gets and the raw m-lines; unknown
/// media types (`m=image` for T.38, …) are renamed so the parser accepts them while the
/// raw copy keeps the original for the answer.
fn prepare(sdp: &[u8]) -> Result<(SessionDescription, Vec<RawMediaLine>), SdpError> {
    let text = std::str::from_utf8(sdp).map_err(|_| SdpError::Malformed("not UTF-8".into()))?;
    let mut kept = String::with_capacity(text.len());
    let mut raw_media = Vec::new();
    let (mut has_s, mut has_t, mut has_o) = (false, false, false);
    for line in text
        .split(['\r', '\n'])
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
    {
        let Some((key, value)) = line.split_once('=') else {
            return Err(SdpError::Malformed(format!(
                "not an SDP line: {:.40}",
                line
            )));
        };
        match key {
            "v" | "c" => {}
            "o" => has_o = true,
            "s" => has_s = true,
            "t" => {
                if has_t {
                    continue; // repeated t= lines: the first is enough
                }
                has_t = true;
            }
            "m" => {
                let mut tokens = value.split_ascii_whitespace();
                let media_type = tokens.next().unwrap_or_default().to_string();
                let _port = tokens.next();
                let proto = tokens.next().unwrap_or("RTP/AVP").to_string();
                let formats = tokens.collect::<Vec<_>>().join(" ");
                let known =
                    ["audio", "video", "text", "application"].contains(&media_type.as_str());
                if !known {
                    let rest = value.get(media_type.len()..).unwrap_or_default();
                    kept.push_str("m=application");
                    kept.push_str(rest);
                    kept.push('\n');
                }
                raw_media.push(RawMediaLine {
                    media_type,
                    proto,
                    formats,
                });
                if !known {
                    continue;
                }
            }
            "a" => {
                let name = value.split(':').next().unwrap_or_default();
                if !KEPT_ATTRIBUTES.contains(&name) {
                    continue;
                }
            }
            _ => continue,
        }
        kept.push_str(line);
        kept.push('\n');
    }
    if !has_o || raw_media.is_empty() {
        return Err(SdpError::Malformed("no o= or no m= line".into()));
    }
    // Be lenient with phones that omit the mandatory but useless s= and t= lines.
    let mut prefix = String::new();
    if !has_s {
        prefix.push_str("s=-\n");
    }
    if !has_t {
        prefix.push_str("t=0 0\n");
    }
    let source = BytesStr::from_utf8_bytes(Bytes::from(prefix + &kept))
        .map_err(|_| SdpError::Malformed("not UTF-8".into()))?;
    let session =
        SessionDescription::parse(&source).map_err(|e| SdpError::Malformed(e.to_string()))?;
    if session.media_descriptions.len() != raw_media.len() {
        return Err(SdpError::Malformed("m-lines could not be matched".into()));
    }
    Ok((session, raw_media))
}

/// Whether the transport is plain RTP we can speak (no SRTP, no DTLS).
fn plain_rtp(proto: &TransportProtocol) -> bool {
    matches!(
        proto,
        TransportProtocol::RtpAvp | TransportProtocol::RtpAvpf
    )
}

/// The codec a payload type stands for in this media description.
fn codec_of(md: &MediaDescription, pt: u8) -> Option<Codec> {
    match md.rtpmap.iter().find(|m| m.payload == pt) {
        Some(map) => Codec::from_rtpmap(map.encoding.as_str(), map.clock_rate),
        None => Codec::from_static_payload_type(pt),
    }
}

/// The first format (in the peer's order) whose codec is in `acceptable`.
fn pick_codec(md: &MediaDescription, acceptable: &[Codec]) -> Option<(Codec, u8)> {
    md.media.fmts.iter().find_map(|&pt| {
        codec_of(md, pt)
            .filter(|c| acceptable.contains(c))
            .map(|c| (c, pt))
    })
}

/// The telephone-event listed in this media description for audio at `clock`: the one
/// at that clock (RFC 4733 section 2.1), else the first at another clock (some peers
/// pair telephone-event/8000 with Opus; accepted for interop). (payload type, clock).
fn telephone_event_of(md: &MediaDescription, clock: u32) -> Option<(u8, u32)> {
    let mut events = md.rtpmap.iter().filter(|m| {
        m.encoding.as_str().eq_ignore_ascii_case("telephone-event")
            && m.clock_rate > 0
            && md.media.fmts.contains(&m.payload)
    });
    let first = events.clone().next();
    events
        .find(|m| m.clock_rate == clock)
        .or(first)
        .map(|m| (m.payload, m.clock_rate))
}

fn ptime_of(md: &MediaDescription) -> Option<u32> {
    md.attributes
        .iter()
        .find(|a| a.name.as_str() == "ptime")
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.as_str().trim().parse().ok())
}

fn remote_of(session: &SessionDescription, md: &MediaDescription) -> Result<SocketAddr, SdpError> {
    let conn = md
        .connection
        .as_ref()
        .or(session.connection.as_ref())
        .ok_or(SdpError::NoConnection)?;
    let ip = match &conn.address {
        TaggedAddress::IP4(ip) => IpAddr::V4(*ip),
        TaggedAddress::IP6(ip) => IpAddr::V6(*ip),
        TaggedAddress::IP4FQDN(_) | TaggedAddress::IP6FQDN(_) => {
            return Err(SdpError::NoConnection)
        }
    };
    Ok(SocketAddr::new(ip, md.media.port))
}

fn negotiated(
    session: &SessionDescription,
    md: &MediaDescription,
    codec: Codec,
    payload_type: u8,
    telephone_event: Option<(u8, u32)>,
) -> Result<NegotiatedMedia, SdpError> {
    Ok(NegotiatedMedia {
        remote: remote_of(session, md)?,
        codec,
        payload_type,
        telephone_event_pt: telephone_event.map(|(pt, _)| pt),
        telephone_event_clock: telephone_event.map_or(0, |(_, clock)| clock),
        direction: Direction::from_ezk(md.direction),
        ptime_ms: ptime_of(md),
        fmtp: md
            .fmtp
            .iter()
            .find(|f| f.format == payload_type)
            .map(|f| f.params.as_str().to_string()),
        rtcp_mux: md.rtcp_mux,
    })
}

/// Reads the phone's answer to our offer. `offered` is the codec list we offered; the
/// first of the answer's formats that we offered wins.
pub fn parse_answer(sdp: &[u8], offered: &[Codec]) -> Result<NegotiatedMedia, SdpError> {
    let (session, _) = prepare(sdp)?;
    // The stream accepted: an answer mirrors every offered stream and rejects the ones
    // it does not take with port 0 (RFC 3264 section 6), so skip those.
    let md = session
        .media_descriptions
        .iter()
        .find(|md| {
            md.media.media_type == MediaType::Audio
                && md.media.port != 0
                && plain_rtp(&md.media.proto)
        })
        .ok_or(SdpError::NoCommonCodec)?;
    let acceptable: &[Codec] = if offered.is_empty() {
        &Codec::ALL
    } else {
        offered
    };
    let (codec, pt) = pick_codec(md, acceptable).ok_or(SdpError::NoCommonCodec)?;
    let te = telephone_event_of(md, codec.clock_rate());
    let mut agreed = negotiated(&session, md, codec, pt, te)?;
    // We never offer rtcp-mux, so an answer may not turn it on (RFC 5761 section 5.1.1).
    agreed.rtcp_mux = false;
    Ok(agreed)
}

/// Answers an offer from the phone (re-INVITE, UPDATE, or the 200/ACK exchange of an
/// INVITE we sent without SDP): accepts the first plain-RTP audio stream with the peer's
/// first codec we support, mirrors its direction, and rejects every other stream with
/// port 0. Returns the answer SDP and what was agreed.
pub fn answer_offer(
    offer: &[u8],
    local: &LocalMedia,
) -> Result<(String, NegotiatedMedia), SdpError> {
    let (session, raw) = prepare(offer)?;
    let supported = offered_codecs(local);
    let mut chosen: Option<(usize, NegotiatedMedia)> = None;
    let mut first_error = None;
    for (i, md) in session.media_descriptions.iter().enumerate() {
        if md.media.media_type != MediaType::Audio
            || md.media.port == 0
            || !plain_rtp(&md.media.proto)
        {
            continue;
        }
        let Some((codec, pt)) = pick_codec(md, &supported) else {
            continue;
        };
        let te = if local.telephone_event {
            telephone_event_of(md, codec.clock_rate())
        } else {
            None
        };
        match negotiated(&session, md, codec, pt, te) {
            Ok(n) => {
                chosen = Some((i, n));
                break;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let Some((index, agreed)) = chosen else {
        return Err(first_error.unwrap_or(SdpError::NoCommonCodec));
    };

    // RFC 2543 hold (c=0.0.0.0) means "do not send to me": answer as to sendonly.
    let their_direction =
        if agreed.remote.ip().is_unspecified() && agreed.direction == Direction::SendRecv {
            Direction::SendOnly
        } else {
            agreed.direction
        };
    let mut out = session_header(local);
    for (i, line) in raw.iter().enumerate() {
        if i == index {
            write_audio_section(
                &mut out,
                local.rtp_port,
                &[(agreed.codec, agreed.payload_type)],
                &agreed
                    .telephone_event_pt
                    .map(|pt| vec![(pt, agreed.telephone_event_clock)])
                    .unwrap_or_default(),
                their_direction.mirrored(),
            );
            if agreed.rtcp_mux {
                out.push_str("a=rtcp-mux\r\n");
            }
        } else {
            let _ = write!(out, "m={} 0 {}", line.media_type, line.proto);
            if !line.formats.is_empty() {
                let _ = write!(out, " {}", line.formats);
            }
            out.push_str("\r\n");
        }
    }
    Ok((out, agreed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn local() -> LocalMedia {
        LocalMedia {
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
            rtp_port: 40000,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: true,
            session_id: 4242,
            session_version: 1,
        }
    }

    fn crlf(s: &str) -> Vec<u8> {
        s.lines()
            .map(|l| format!("{}\r\n", l.trim()))
            .collect::<String>()
            .into_bytes()
    }

    fn sock(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Found by the `sdp` fuzz target: an offer whose first audio stream we reject
    /// (bad proto) gets an answer with that stream at port 0 first; reading our own
    /// answer must skip it and find the stream we accepted.
    #[test]
    fn an_answer_whose_first_stream_is_rejected_reads_the_accepted_one() {
        let offer = b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=+-\r\n\
            c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 t=0 0\r\n\
            m=audio 6000 RTP/AVP 0 \r\nm=audio 6000 RTP/RTP/AVP 9 101\r\n\
            a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
            a=fne-event/85\r\na=ptime:20\r\na=sendrecv\r\n";
        let local = local();
        let (answer, agreed) = answer_offer(offer, &local).expect("the PCMU stream is taken");
        assert!(answer.contains("m=audio 0 "), "{answer}");
        let back = parse_answer(answer.as_bytes(), &local.codecs).expect("reads back");
        assert_eq!(back.codec, agreed.codec);
        assert_eq!(back.codec, Codec::Pcmu);
    }

    #[test]
    fn offer_text_is_exact() {
        let expected = "v=0\r\n\
            o=trtc-sipgw 4242 1 IN IP4 192.0.2.10\r\n\
            s=trtc-sipgw\r\n\
            c=IN IP4 192.0.2.10\r\n\
            t=0 0\r\n\
            m=audio 40000 RTP/AVP 0 8 101\r\n\
            a=rtpmap:0 PCMU/8000\r\n\
            a=rtpmap:8 PCMA/8000\r\n\
            a=rtpmap:101 telephone-event/8000\r\n\
            a=fmtp:101 0-15\r\n\
            a=ptime:20\r\n\
            a=sendrecv\r\n";
        assert_eq!(build_offer(&local()), expected);
    }

    #[test]
    fn offer_variants() {
        let mut l = local();
        l.ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
        l.codecs = vec![Codec::Pcma, Codec::Pcma];
        l.telephone_event = false;
        let o = build_offer_with_direction(&l, Direction::SendOnly);
        assert!(o.contains("o=trtc-sipgw 4242 1 IN IP6 ::1\r\n"));
        assert!(o.contains("c=IN IP6 ::1\r\n"));
        assert!(o.contains("m=audio 40000 RTP/AVP 8\r\n"));
        assert!(o.contains("a=sendonly\r\n"));
        assert!(!o.contains("telephone-event"));
        // empty codec list offers everything this build has, Opus on a dynamic type
        l.codecs.clear();
        let all = build_offer(&l);
        let expected = if cfg!(feature = "g729") {
            "RTP/AVP 96 9 0 8 18\r\n"
        } else {
            "RTP/AVP 96 9 0 8\r\n"
        };
        assert!(all.contains(expected), "{all}");
        assert!(all.contains("a=rtpmap:96 opus/48000/2\r\n"));
        assert!(all.contains(
            "a=fmtp:96 useinbandfec=1; maxplaybackrate=16000; sprop-maxcapturerate=16000\r\n"
        ));
        assert!(all.contains("a=rtpmap:9 G722/8000\r\n"));
    }

    #[test]
    fn our_offer_parses_as_an_answer() {
        let n = parse_answer(build_offer(&local()).as_bytes(), &Codec::ALL).unwrap();
        assert_eq!(n.remote, sock("192.0.2.10:40000"));
        assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
        assert_eq!(n.telephone_event_pt, Some(101));
        assert_eq!(n.direction, Direction::SendRecv);
        assert_eq!(n.ptime_ms, Some(20));
        assert!(!n.on_hold() && n.we_send() && n.we_receive());
    }

    #[test]
    fn baresip_answer() {
        let sdp = crlf(
            "v=0
            o=- 2890844526 2890842807 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=audio 10006 RTP/AVP 0 8 101
            b=AS:64
            a=rtpmap:0 PCMU/8000
            a=rtpmap:8 PCMA/8000
            a=rtpmap:101 telephone-event/8000
            a=fmtp:101 0-15
            a=rtcp-mux
            a=sendrecv
            a=label:1
            a=ssrc:1830931316 cname:2b9f6a0e-5b33-4d0e-a81b-1d8b1d7c5f36
            a=rtcp-rsize
            a=ptime:20",
        );
        let n = parse_answer(&sdp, &[Codec::Pcmu, Codec::Pcma]).unwrap();
        assert_eq!(n.remote, sock("127.0.0.1:10006"));
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event_pt),
            (Codec::Pcmu, 0, Some(101))
        );
    }

    #[test]
    fn sipp_uas_media_answer() {
        // as sent by sipp's uas_media.xml: static PCMU only, no telephone-event
        let sdp = crlf(
            "v=0
            o=user1 53655765 2353687637 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=audio 6000 RTP/AVP 0
            a=rtpmap:0 PCMU/8000
            a=sendrecv",
        );
        let n = parse_answer(&sdp, &[Codec::Pcmu, Codec::Pcma]).unwrap();
        assert_eq!(n.remote, sock("127.0.0.1:6000"));
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event_pt, n.ptime_ms),
            (Codec::Pcmu, 0, None, None)
        );
        // static types need no rtpmap, and LF-only line endings are fine
        let n = parse_answer(b"v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\nm=audio 7000 RTP/AVP 8\n", &[Codec::Pcmu, Codec::Pcma]).unwrap();
        assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
    }

    #[test]
    fn dynamic_telephone_event_and_media_level_connection() {
        let sdp = crlf(
            "v=0
            o=- 1 2 IN IP4 198.51.100.1
            s=call
            c=IN IP4 198.51.100.1
            t=0 0
            m=audio 30000 RTP/AVP 8 96
            c=IN IP4 198.51.100.7
            a=rtpmap:8 pcma/8000
            a=rtpmap:96 TELEPHONE-EVENT/8000
            a=fmtp:96 0-16
            a=ptime:30",
        );
        let n = parse_answer(&sdp, &[Codec::Pcmu, Codec::Pcma]).unwrap();
        assert_eq!(n.remote, sock("198.51.100.7:30000"));
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event_pt),
            (Codec::Pcma, 8, Some(96))
        );
        assert_eq!(n.ptime_ms, Some(30));
    }

    #[test]
    fn dynamic_payload_type_for_a_g711_codec() {
        // some gateways map G.711 to a dynamic number; the rtpmap name decides
        let sdp = crlf(
            "v=0
            o=- 1 2 IN IP4 203.0.113.5
            s=-
            t=0 0
            m=audio 5004 RTP/AVP 97 101
            c=IN IP4 203.0.113.5
            a=rtpmap:97 PCMU/8000
            a=rtpmap:101 telephone-event/8000",
        );
        let n = parse_answer(&sdp, &[Codec::Pcmu]).unwrap();
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event_pt),
            (Codec::Pcmu, 97, Some(101))
        );
    }

    #[test]
    fn only_pcma_and_offered_list_is_respected() {
        let sdp = crlf(
            "v=0
            o=- 1 2 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=audio 6000 RTP/AVP 8 0
            a=rtpmap:8 PCMA/8000
            a=rtpmap:0 PCMU/8000",
        );
        assert_eq!(parse_answer(&sdp, &Codec::ALL).unwrap().codec, Codec::Pcma);
        assert_eq!(
            parse_answer(&sdp, &[Codec::Pcmu]).unwrap().codec,
            Codec::Pcmu
        );
    }

    #[test]
    fn no_common_codec() {
        // GSM and iLBC only: nothing we speak
        let gsm = crlf(
            "v=0
            o=- 1 2 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=audio 6000 RTP/AVP 3 97 101
            a=rtpmap:3 GSM/8000
            a=rtpmap:97 iLBC/8000
            a=rtpmap:101 telephone-event/8000",
        );
        assert_eq!(
            parse_answer(&gsm, &Codec::ALL),
            Err(SdpError::NoCommonCodec)
        );
        assert_eq!(
            answer_offer(&gsm, &local()).unwrap_err(),
            SdpError::NoCommonCodec
        );
        // a codec we support but did not offer is refused in an answer
        let g722 = crlf(
            "v=0
            o=- 1 2 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=audio 6000 RTP/AVP 9",
        );
        assert_eq!(
            parse_answer(&g722, &[Codec::Pcmu, Codec::Pcma]),
            Err(SdpError::NoCommonCodec)
        );
        let rejected = crlf(
            "v=0
            o=- 1 2 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=audio 0 RTP/AVP 0",
        );
        assert_eq!(
            parse_answer(&rejected, &Codec::ALL),
            Err(SdpError::NoCommonCodec)
        );
        let video_only = crlf(
            "v=0
            o=- 1 2 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=video 5000 RTP/AVP 96
            a=rtpmap:96 H264/90000",
        );
        assert_eq!(
            parse_answer(&video_only, &Codec::ALL),
            Err(SdpError::NoCommonCodec)
        );
        let srtp = crlf(
            "v=0
            o=- 1 2 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=audio 5000 RTP/SAVP 0
            a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
        );
        assert_eq!(
            answer_offer(&srtp, &local()).unwrap_err(),
            SdpError::NoCommonCodec
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            b"hello world".to_vec(),
            vec![0xff, 0xfe, 0x00, 0x80],
            b"v=0\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n".to_vec(), // no o=
            b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n".to_vec(),  // no m=
            b"v=0\r\no=broken\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n".to_vec(),
            b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 99999 RTP/AVP 0\r\n".to_vec(),
            b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:x\r\n".to_vec(),
            b"=\r\n=\r\n".to_vec(),
            b"o=\xc3\xa9\r\nm=\xc3\xa9".to_vec(),
            b"v=0\no=- 1 1 IN IP4 1.2.3.4\nm=\nm=audio\nm=audio x\n".to_vec(),
        ];
        for c in &cases {
            assert!(
                matches!(parse_answer(c, &Codec::ALL), Err(SdpError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(c)
            );
            assert!(answer_offer(c, &local()).is_err());
        }
        // no connection address anywhere, or a host name
        let no_c = b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 1000 RTP/AVP 0\r\n";
        assert_eq!(parse_answer(no_c, &Codec::ALL), Err(SdpError::NoConnection));
        let fqdn = b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 pbx.example.com\r\nt=0 0\r\nm=audio 1000 RTP/AVP 0\r\n";
        assert_eq!(parse_answer(fqdn, &Codec::ALL), Err(SdpError::NoConnection));
        // a deterministic byte fuzz around a valid SDP
        let base = build_offer(&local()).into_bytes();
        let mut x: u32 = 7;
        for _ in 0..3000 {
            let mut b = base.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let i = x as usize % b.len();
                b[i] = (x >> 8) as u8;
            }
            let _ = parse_answer(&b, &Codec::ALL);
            let _ = answer_offer(&b, &local());
        }
    }

    #[test]
    fn odd_but_harmless_attributes_are_tolerated() {
        let sdp = crlf(
            "v=0
            o=- 1 2 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            a=ice-options:???
            m=audio 6000 RTP/AVP 0
            a=rtcp:not-a-port
            a=candidate:garbage
            a=fingerprint:nonsense
            a=extmap:xyz
            a=rtpmap:0 PCMU/8000",
        );
        assert_eq!(parse_answer(&sdp, &Codec::ALL).unwrap().codec, Codec::Pcmu);
        // missing s= and t= lines are forgiven
        let sloppy =
            b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\nm=audio 1000 RTP/AVP 0\r\n";
        assert_eq!(
            parse_answer(sloppy, &Codec::ALL).unwrap().remote,
            sock("1.2.3.4:1000")
        );
    }

    #[test]
    fn hold_answers() {
        let sendonly = crlf(
            "v=0
            o=- 1 3 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=audio 6000 RTP/AVP 0
            a=sendonly",
        );
        let n = parse_answer(&sendonly, &Codec::ALL).unwrap();
        assert_eq!(n.direction, Direction::SendOnly);
        assert!(n.on_hold() && !n.we_send() && n.we_receive());
        let old_style = crlf(
            "v=0
            o=- 1 3 IN IP4 127.0.0.1
            s=-
            c=IN IP4 0.0.0.0
            t=0 0
            m=audio 6000 RTP/AVP 0",
        );
        let n = parse_answer(&old_style, &Codec::ALL).unwrap();
        assert_eq!(n.remote, sock("0.0.0.0:6000"));
        assert!(n.on_hold());
        // session-level direction applies to the media
        let inactive = crlf(
            "v=0
            o=- 1 3 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            a=inactive
            m=audio 6000 RTP/AVP 0",
        );
        let n = parse_answer(&inactive, &Codec::ALL).unwrap();
        assert_eq!(n.direction, Direction::Inactive);
        assert!(!n.we_send() && !n.we_receive());
    }

    #[test]
    fn answering_a_reinvite_offer() {
        // a PBX offer: G.722 first (unsupported yet), then PCMA, PCMU, dynamic DTMF;
        // plus video and T.38 streams that must be rejected in place
        let offer = crlf(
            "v=0
            o=PBX 1000 1001 IN IP4 198.51.100.2
            s=Talk
            c=IN IP4 198.51.100.2
            t=0 0
            m=audio 16384 RTP/AVP 9 8 0 18 96
            a=rtpmap:9 G722/8000
            a=rtpmap:8 PCMA/8000
            a=rtpmap:0 PCMU/8000
            a=rtpmap:18 G729/8000
            a=fmtp:18 annexb=no
            a=rtpmap:96 telephone-event/8000
            a=fmtp:96 0-16
            a=ptime:20
            a=maxptime:150
            a=sendonly
            m=video 16386 RTP/AVP 99
            a=rtpmap:99 H264/90000
            m=image 16388 udptl t38",
        );
        let (answer, n) = answer_offer(&offer, &local()).unwrap();
        assert_eq!(n.remote, sock("198.51.100.2:16384"));
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event_pt),
            (Codec::Pcma, 8, Some(96))
        );
        assert_eq!(n.direction, Direction::SendOnly);
        let expected = "v=0\r\n\
            o=trtc-sipgw 4242 1 IN IP4 192.0.2.10\r\n\
            s=trtc-sipgw\r\n\
            c=IN IP4 192.0.2.10\r\n\
            t=0 0\r\n\
            m=audio 40000 RTP/AVP 8 96\r\n\
            a=rtpmap:8 PCMA/8000\r\n\
            a=rtpmap:96 telephone-event/8000\r\n\
            a=fmtp:96 0-15\r\n\
            a=ptime:20\r\n\
            a=recvonly\r\n\
            m=video 0 RTP/AVP 99\r\n\
            m=image 0 udptl t38\r\n";
        assert_eq!(answer, expected);
        // our answer is itself valid SDP that the peer's side would read back
        let back = parse_answer(answer.as_bytes(), &[Codec::Pcma]).unwrap();
        assert_eq!(
            (back.codec, back.direction),
            (Codec::Pcma, Direction::RecvOnly)
        );
    }

    #[test]
    fn answer_mirrors_direction_and_respects_local_choices() {
        let offer = |dir: &str, c: &str| {
            crlf(&format!(
                "v=0
                o=- 5 6 IN IP4 127.0.0.1
                s=-
                c=IN IP4 {c}
                t=0 0
                m=audio 7000 RTP/AVP 0 8 101
                a=rtpmap:101 telephone-event/8000
                a={dir}"
            ))
        };
        for (dir, c, ours) in [
            ("sendrecv", "127.0.0.1", "sendrecv"),
            ("sendonly", "127.0.0.1", "recvonly"),
            ("recvonly", "127.0.0.1", "sendonly"),
            ("inactive", "127.0.0.1", "inactive"),
            ("sendrecv", "0.0.0.0", "recvonly"),
        ] {
            let (answer, _) = answer_offer(&offer(dir, c), &local()).unwrap();
            assert!(
                answer.contains(&format!("a={ours}\r\n")),
                "{dir}/{c}: {answer}"
            );
        }
        // local preferences: PCMA only, no DTMF
        let mut l = local();
        l.codecs = vec![Codec::Pcma];
        l.telephone_event = false;
        let (answer, n) = answer_offer(&offer("sendrecv", "127.0.0.1"), &l).unwrap();
        assert_eq!((n.codec, n.telephone_event_pt), (Codec::Pcma, None));
        assert!(answer.contains("m=audio 40000 RTP/AVP 8\r\n"));
        assert!(!answer.contains("telephone-event"));
    }

    #[test]
    fn second_audio_stream_is_rejected() {
        let offer = crlf(
            "v=0
            o=- 5 6 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=audio 0 RTP/AVP 0
            m=audio 7000 RTP/AVP 8
            m=audio 7002 RTP/AVP 0",
        );
        let (answer, n) = answer_offer(&offer, &local()).unwrap();
        assert_eq!(n.remote, sock("127.0.0.1:7000"));
        assert!(
            answer.contains("m=audio 0 RTP/AVP 0\r\nm=audio 40000 RTP/AVP 8\r\n"),
            "{answer}"
        );
        assert!(
            answer.ends_with("a=sendrecv\r\nm=audio 0 RTP/AVP 0\r\n"),
            "{answer}"
        );
    }

    #[test]
    fn one_telephone_event_per_audio_clock() {
        let l = local_with(&[Codec::Opus, Codec::Pcmu, Codec::Pcma]);
        let o = build_offer(&l);
        assert!(o.contains("m=audio 40000 RTP/AVP 96 0 8 97 101\r\n"), "{o}");
        assert!(
            o.contains("a=rtpmap:97 telephone-event/48000\r\na=fmtp:97 0-15\r\n"),
            "{o}"
        );
        assert!(
            o.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"),
            "{o}"
        );
        assert_eq!(o.matches("telephone-event").count(), 2, "{o}");
        // G.722's RTP clock is 8000: one event type serves it and G.711
        let o = build_offer(&local_with(&[Codec::G722, Codec::Pcmu]));
        assert_eq!(o.matches("telephone-event").count(), 1, "{o}");
        assert!(o.contains("a=rtpmap:101 telephone-event/8000\r\n"), "{o}");
        // without Opus no 48000 events
        assert!(!build_offer(&local()).contains("telephone-event/48000"));

        // the answer's event type follows the negotiated codec's clock
        let answer = |codec_line: &str| {
            crlf(&format!(
                "v=0
                o=- 1 2 IN IP4 127.0.0.1
                s=-
                c=IN IP4 127.0.0.1
                t=0 0
                {codec_line}
                a=rtpmap:96 opus/48000/2
                a=rtpmap:97 telephone-event/48000
                a=rtpmap:101 telephone-event/8000"
            ))
        };
        let n = parse_answer(&answer("m=audio 7078 RTP/AVP 96 101 97"), &l.codecs).unwrap();
        assert_eq!(
            (n.codec, n.telephone_event_pt, n.telephone_event_clock),
            (Codec::Opus, Some(97), 48000)
        );
        let n = parse_answer(&answer("m=audio 7078 RTP/AVP 0 97 101"), &l.codecs).unwrap();
        assert_eq!(
            (n.codec, n.telephone_event_pt, n.telephone_event_clock),
            (Codec::Pcmu, Some(101), 8000)
        );
        // a PCMU answer that pairs events with 48000 only is taken as it is
        let n = parse_answer(&answer("m=audio 7078 RTP/AVP 0 97"), &l.codecs).unwrap();
        assert_eq!(
            (n.codec, n.telephone_event_pt, n.telephone_event_clock),
            (Codec::Pcmu, Some(97), 48000)
        );

        // a phone's offer with both: our answer carries only the event at Opus' clock
        let (text, n) = answer_offer(&answer("m=audio 7078 RTP/AVP 96 101 97"), &l).unwrap();
        assert_eq!(
            (n.telephone_event_pt, n.telephone_event_clock),
            (Some(97), 48000)
        );
        assert!(text.contains("m=audio 40000 RTP/AVP 96 97\r\n"), "{text}");
        assert!(
            text.contains("a=rtpmap:97 telephone-event/48000\r\n"),
            "{text}"
        );
        assert!(!text.contains("telephone-event/8000"), "{text}");
    }

    fn local_with(codecs: &[Codec]) -> LocalMedia {
        LocalMedia {
            codecs: codecs.to_vec(),
            ..local()
        }
    }

    #[test]
    fn configured_order_is_offered_and_opus_skips_the_dtmf_type() {
        let l = local_with(&[Codec::G722, Codec::Opus, Codec::Pcma]);
        let o = build_offer(&l);
        assert!(o.contains("m=audio 40000 RTP/AVP 9 96 8 101 97\r\n"), "{o}");
        // the answer of a peer that takes Opus, on its own dynamic number, with FEC/DTX
        let answer = crlf(
            "v=0
            o=- 1 2 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=audio 7078 RTP/AVP 111 101
            a=rtpmap:111 opus/48000/2
            a=fmtp:111 stereo=0;useinbandfec=1; usedtx=1
            a=rtpmap:101 telephone-event/8000
            a=rtcp-mux",
        );
        let n = parse_answer(&answer, &l.codecs).unwrap();
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event_pt),
            (Codec::Opus, 111, Some(101))
        );
        // events at 8000 beside Opus: not RFC 4733 2.1, accepted anyway (the bridge counts it)
        assert_eq!(n.telephone_event_clock, 8000);
        assert_eq!(n.fmtp_param("USEDTX"), Some("1"));
        assert_eq!(n.fmtp_param("useinbandfec"), Some("1"));
        assert_eq!(n.fmtp_param("maxplaybackrate"), None);
        // we did not offer rtcp-mux: RTCP stays on port + 1
        assert!(!n.rtcp_mux);
        assert_eq!(n.remote_rtcp(), sock("127.0.0.1:7079"));
    }

    #[test]
    fn peer_offering_only_one_codec() {
        for (fmt, map, want) in [
            ("9", "a=rtpmap:9 G722/8000", Codec::G722),
            ("9", "", Codec::G722),
            ("102", "a=rtpmap:102 OPUS/48000/2", Codec::Opus),
            ("8", "", Codec::Pcma),
        ] {
            let offer = crlf(&format!(
                "v=0
                o=- 5 6 IN IP4 127.0.0.1
                s=-
                c=IN IP4 127.0.0.1
                t=0 0
                m=audio 7000 RTP/AVP {fmt}
                {map}
                a=rtcp-mux"
            ));
            let l = local_with(&Codec::ALL);
            let (answer, n) = answer_offer(&offer, &l).unwrap();
            assert_eq!(n.codec, want, "{answer}");
            assert_eq!(n.payload_type.to_string(), fmt);
            assert!(
                answer.contains(&format!("m=audio 40000 RTP/AVP {fmt}\r\n")),
                "{answer}"
            );
            assert!(answer.contains(&format!("a=rtpmap:{fmt} {}\r\n", want.rtpmap())));
            // rtcp-mux offered: we accept it
            assert!(n.rtcp_mux && answer.contains("a=rtcp-mux\r\n"));
            assert_eq!(n.remote_rtcp(), sock("127.0.0.1:7000"));
            // the answer reads back
            let back = parse_answer(answer.as_bytes(), &[want]).unwrap();
            assert_eq!(
                (back.codec, back.payload_type.to_string()),
                (want, fmt.to_string())
            );
        }
    }

    #[test]
    fn answer_follows_the_offerers_preference_not_ours() {
        let offer = crlf(
            "v=0
            o=- 5 6 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=audio 7000 RTP/AVP 0 9 120
            a=rtpmap:120 opus/48000/2",
        );
        let (_, n) = answer_offer(
            &offer,
            &local_with(&[Codec::Opus, Codec::G722, Codec::Pcmu]),
        )
        .unwrap();
        assert_eq!(n.codec, Codec::Pcmu);
        let (_, n) = answer_offer(&offer, &local_with(&[Codec::Opus, Codec::G722])).unwrap();
        assert_eq!(n.codec, Codec::G722);
        // a wrongly clocked Opus or G.722 is not ours
        let odd = crlf(
            "v=0
            o=- 5 6 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=audio 7000 RTP/AVP 96 97
            a=rtpmap:96 opus/16000
            a=rtpmap:97 G722/16000",
        );
        assert_eq!(
            answer_offer(&odd, &local_with(&Codec::ALL)).unwrap_err(),
            SdpError::NoCommonCodec
        );
    }

    #[test]
    fn g729_only_peer() {
        let offer = crlf(
            "v=0
            o=- 5 6 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=audio 7000 RTP/AVP 18 101
            a=rtpmap:18 G729/8000
            a=fmtp:18 annexb=yes
            a=rtpmap:101 telephone-event/8000",
        );
        let r = answer_offer(&offer, &local_with(&[Codec::G729, Codec::Pcmu]));
        if cfg!(feature = "g729") {
            let (_, n) = r.unwrap();
            assert_eq!((n.codec, n.payload_type), (Codec::G729, 18));
            assert_eq!(n.fmtp_param("annexb"), Some("yes"));
        } else {
            // without the feature G.729 is neither offered nor accepted
            assert_eq!(r.unwrap_err(), SdpError::NoCommonCodec);
            assert!(!build_offer(&local_with(&[Codec::G729, Codec::Pcmu])).contains("G729"));
        }
    }
}
