//! Bytes → SDP: the phone's answer to our offer, and the phone's own offer (re-INVITE,
//! UPDATE) answered by us; an answer we write must parse as an answer to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trtc_sipgw::media::codec::Codec;
use trtc_sipgw::sip::sdp::{self, LocalMedia};

fuzz_target!(|data: &[u8]| {
    let offered = [Codec::Opus, Codec::G722, Codec::Pcmu, Codec::Pcma];
    let _ = sdp::parse_answer(data, &offered);
    let local = LocalMedia {
        ip: [127, 0, 0, 1].into(),
        rtp_port: 10000,
        codecs: offered.to_vec(),
        telephone_event: true,
        session_id: 1,
        session_version: 1,
    };
    if let Ok((answer, agreed)) = sdp::answer_offer(data, &local) {
        let parsed = sdp::parse_answer(answer.as_bytes(), &offered);
        assert!(parsed.is_ok(), "our answer does not parse: {answer}");
        assert_eq!(parsed.unwrap().codec, agreed.codec, "{answer}");
    }
});
