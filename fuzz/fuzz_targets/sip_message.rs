//! Bytes → the SIP parser → the SIP core, as datagrams from the trunk during an
//! outbound call the core has just started. `$CALLID`, `$BRANCH`, `$FROMTAG` and
//! `$CSEQ` in the input are replaced with the values of that call's INVITE, so a seed
//! written as a real response (100/180/183/200 with SDP, 4xx, BYE...) reaches the
//! transaction and dialog code instead of stopping at "no such call". A `\0\0`
//! separates several datagrams, so sequences (180 then 200 then BYE) are explored.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use trtc_sipgw::media::codec::Codec;
use trtc_sipgw::sip::message;
use trtc_sipgw::sip::sdp::LocalMedia;
use trtc_sipgw::sip::{SipConfig, SipCore};

fn header<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .map_or("", str::trim)
}

fn replace(data: &[u8], from: &str, to: &str) -> Vec<u8> {
    let (from, mut out, mut i) = (from.as_bytes(), Vec::with_capacity(data.len()), 0);
    while i < data.len() {
        if data[i..].starts_with(from) {
            out.extend_from_slice(to.as_bytes());
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // The parser alone, and what it accepts must serialise and parse again.
    if let Ok(msg) = message::parse(data) {
        let again = msg.to_bytes();
        assert!(
            message::parse(&again).is_ok(),
            "a parsed message did not re-parse after serialising"
        );
    }

    let local: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let trunk: SocketAddr = "127.0.0.1:5062".parse().unwrap();
    let mut core = SipCore::new(SipConfig::new(local), 7);
    let start = Instant::now();
    let media = LocalMedia {
        ip: local.ip(),
        rtp_port: 10000,
        codecs: vec![Codec::Opus, Codec::Pcmu],
        telephone_event: true,
        session_id: 1,
        session_version: 1,
    };
    let _ = core.invite(start, "sip:1002@127.0.0.1:5062", trunk, media);
    let invite = core.poll_transmit().expect("the INVITE");
    let invite = String::from_utf8_lossy(&invite.bytes).into_owned();
    let via = header(&invite, "Via:");
    let branch = via.split("branch=").nth(1).unwrap_or("").split(';').next().unwrap_or("");
    let from = header(&invite, "From:");
    let tag = from.split("tag=").nth(1).unwrap_or("").split(';').next().unwrap_or("");
    let mut input = replace(data, "$CALLID", header(&invite, "Call-ID:"));
    input = replace(&input, "$BRANCH", branch);
    input = replace(&input, "$FROMTAG", tag);
    input = replace(&input, "$CSEQ", header(&invite, "CSeq:"));

    let mut now = start;
    for datagram in split_datagrams(&input) {
        now += Duration::from_millis(30);
        core.handle_datagram(now, trunk, datagram);
        while core.poll_transmit().is_some() {}
        while core.poll_event().is_some() {}
    }
    // Every timer that is due within the next minute fires without a panic.
    for _ in 0..64 {
        let Some(at) = core.poll_timeout() else { break };
        if at > start + Duration::from_secs(120) {
            break;
        }
        now = now.max(at);
        core.handle_timeout(now);
        while core.poll_transmit().is_some() {}
        while core.poll_event().is_some() {}
    }
});

fn split_datagrams(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(2).position(|w| w == b"\0\0") {
        out.push(&rest[..i]);
        rest = &rest[i + 2..];
    }
    out.push(rest);
    out
}
