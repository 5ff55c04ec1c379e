//! Bytes → SDP offer/answer negotiation: the bytes as the phone's answer to our offer,
//! and as the phone's offer we answer. Our own answer must parse back as an answer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trtc_sipgw::media::Codec;
use trtc_sipgw::sip::sdp::{answer_offer, build_offer, parse_answer, LocalMedia};

fuzz_target!(|data: &[u8]| {
    let local = LocalMedia {
        ip: "10.0.0.1".parse().unwrap(),
        rtp_port: 20000,
        codecs: vec![Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus],
        telephone_event: true,
        session_id: 7,
        session_version: 1,
    };
    let _ = build_offer(&local);
    let _ = parse_answer(data, &local.codecs);
    if let Ok((answer, agreed)) = answer_offer(data, &local) {
        let back = parse_answer(answer.as_bytes(), &local.codecs)
            .unwrap_or_else(|e| panic!("our answer does not parse back: {e:?}\n{answer}"));
        assert_eq!(back.codec, agreed.codec, "answer names another codec");
    }
});
