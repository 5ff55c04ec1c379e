//! Bytes → the SIP parser → the SIP core as a datagram from a peer, sans-IO with a fake
//! clock: after a call was placed (so dialog and transaction paths are live), the input
//! arrives from the peer, then timers run out. Never a panic; what parses re-serialises
//! and parses again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};
use trtc_sipgw::media::Codec;
use trtc_sipgw::sip::message::{parse, Message};
use trtc_sipgw::sip::sdp::LocalMedia;
use trtc_sipgw::sip::{SipConfig, SipCore};

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = parse(data) {
        let bytes = match &msg {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        };
        let _ = parse(&bytes);
    }
    let mut cfg = SipConfig::new("10.0.0.1:5060".parse().unwrap());
    cfg.username = Some("alice".into());
    cfg.password = Some("alicepw".into());
    let mut core = SipCore::new(cfg, 42);
    let peer = "10.0.0.2:5060".parse().unwrap();
    let mut now = Instant::now();
    let media = LocalMedia {
        ip: "10.0.0.1".parse().unwrap(),
        rtp_port: 20000,
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        telephone_event: true,
        session_id: 7,
        session_version: 1,
    };
    let _ = core.invite(now, "sip:bob@10.0.0.2", peer, media);
    while core.poll_transmit().is_some() {}
    core.handle_datagram(now, peer, data);
    for _ in 0..4 {
        while core.poll_transmit().is_some() {}
        while core.poll_event().is_some() {}
        now = core.poll_timeout().map_or(now, |t| t.max(now)) + Duration::from_millis(1);
        core.handle_timeout(now);
    }
});
