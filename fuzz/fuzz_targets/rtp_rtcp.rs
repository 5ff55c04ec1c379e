//! Bytes → RTP and RTCP parsing and the receive-side accounting: a parsed packet's
//! header written back must parse to the same header; RTCP goes through a session.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};
use trtc_sipgw::media::rtcp::{ReceptionStats, RtcpSession};
use trtc_sipgw::media::rtp;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    if rtp::is_rtcp(data) {
        let mut session = RtcpSession::new(0x1234_5678);
        session.start(now);
        let _ = session.handle(now + Duration::from_millis(5), data);
        let _ = session.rtt();
        return;
    }
    if let Ok(packet) = rtp::parse(data) {
        let _ = packet.csrcs().count();
        let mut out = [0u8; 1500];
        if let Ok(n) = rtp::write(&packet.header, packet.payload, &mut out) {
            let again = rtp::parse(&out[..n]).expect("a written packet parses");
            assert_eq!(again.header, packet.header);
            assert_eq!(again.payload, packet.payload);
        }
        let mut stats = ReceptionStats::new(8000);
        let h = packet.header;
        stats.on_packet(now, h.ssrc, h.sequence, h.timestamp);
        stats.on_packet(now, h.ssrc, h.sequence.wrapping_add(1), h.timestamp.wrapping_add(160));
        let _ = stats.report();
    }
});
