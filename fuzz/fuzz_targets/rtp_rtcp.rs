//! Bytes → RTP and RTCP parsing and the receive path: RTP that parses is written back
//! and parses to the same header and payload; RTCP goes through the session's handler.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};
use trtc_sipgw::media::rtcp::{ReceptionStats, RtcpSession};
use trtc_sipgw::media::rtp;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut session = RtcpSession::new(0x1234_5678);
    session.start(now);
    let mut stats = ReceptionStats::new(8000);
    if rtp::is_rtcp(data) {
        let _ = session.handle(now, data);
    } else if let Ok(p) = rtp::parse(data) {
        stats.on_packet(now, p.header.ssrc, p.header.sequence, p.header.timestamp);
        let mut out = vec![0u8; 12 + p.payload.len()];
        let n = rtp::write(&p.header, p.payload, &mut out).expect("a parsed packet writes back");
        let again = rtp::parse(&out[..n]).expect("what we write parses");
        assert_eq!(again.header, p.header);
        assert_eq!(again.payload, p.payload);
    }
    // The whole input as a run of packets from one peer, then a report about them.
    for chunk in data.chunks(12) {
        if let Ok(p) = rtp::parse(chunk) {
            stats.on_packet(now, p.header.ssrc, p.header.sequence, p.header.timestamp);
        }
    }
    let _ = stats.report();
    let mut out = [0u8; 1500];
    let later = now + Duration::from_secs(10);
    if let Ok(n) = session.build_report(later, None, Some(&mut stats), &mut out) {
        let _ = session.handle(later, &out[..n]);
    }
});
