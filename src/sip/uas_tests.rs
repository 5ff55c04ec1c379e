//! The inbound side of `SipCore` (`uas.rs`) driven by hand-written caller messages.

use super::endpoint::{CallKey, EndCause, SipConfig, SipCore, SipEvent, Transmit};
use super::message::{parse, Message, Response};
use super::sdp::LocalMedia;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

fn caller() -> SocketAddr {
    "127.0.0.1:5070".parse().unwrap()
}

fn media() -> LocalMedia {
    LocalMedia {
        ip: "127.0.0.1".parse().unwrap(),
        rtp_port: 20000,
        codecs: vec![crate::media::Codec::Pcmu, crate::media::Codec::Pcma],
        telephone_event: true,
        session_id: 9,
        session_version: 1,
    }
}

fn msg(method: &str, cseq: u32, branch: &str, to_tag: &str, body: &str) -> Vec<u8> {
    let ctype = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".to_string()
    };
    format!(
        "{method} sip:8001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{branch}\r\n\
From: <sip:13800000000@127.0.0.1:5070>;tag=caller1\r\nTo: <sip:8001@127.0.0.1:5060>{to_tag}\r\n\
Call-ID: in-1\r\nCSeq: {cseq} {method}\r\nContact: <sip:13800000000@127.0.0.1:5070>\r\n{ctype}\
Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

struct Caller {
    core: SipCore,
    now: Instant,
}

impl Caller {
    fn new() -> Self {
        let mut cfg = SipConfig::new("127.0.0.1:5060".parse().unwrap());
        cfg.inbound = true;
        Caller {
            core: SipCore::new(cfg, 7),
            now: Instant::now(),
        }
    }

    fn send(&mut self, data: &[u8]) {
        self.core.handle_datagram(self.now, caller(), data);
    }

    fn sent(&mut self) -> Vec<Response> {
        std::iter::from_fn(|| self.core.poll_transmit())
            .map(|t: Transmit| match parse(&t.bytes) {
                Ok(Message::Response(r)) => r,
                other => panic!("expected a response, got {other:?}"),
            })
            .collect()
    }

    fn codes(&mut self) -> Vec<u16> {
        self.sent().iter().map(Response::code).collect()
    }

    fn events(&mut self) -> Vec<SipEvent> {
        std::iter::from_fn(|| self.core.poll_event()).collect()
    }

    /// An inbound call answered and ACKed; returns it and our To tag.
    fn confirmed(&mut self) -> (CallKey, String) {
        let call = self.incoming();
        self.core.answer(self.now, call, media());
        let tag = to_tag(&self.sent()[0]);
        self.send(&msg("ACK", 1, "ack", &format!(";tag={tag}"), ""));
        self.events();
        (call, tag)
    }

    /// The caller's INVITE; returns the call and our To tag (from the 180).
    fn incoming(&mut self) -> CallKey {
        self.send(&msg("INVITE", 1, "inv", "", OFFER));
        assert_eq!(self.codes(), [100]);
        let ev = self.events();
        let [SipEvent::Incoming(i)] = ev.as_slice() else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (i.called.as_str(), i.caller.as_str()),
            ("8001", "13800000000")
        );
        assert_eq!(i.source, caller());
        i.call
    }
}

fn to_tag(r: &Response) -> String {
    let to = r
        .headers
        .get_raw(&ezk_sip_types::Name::TO)
        .next()
        .unwrap()
        .to_string();
    to.split(";tag=").nth(1).unwrap().to_string()
}

#[test]
fn an_invite_rings_is_answered_with_sdp_confirmed_by_ack_and_ended_by_the_callers_bye() {
    let mut c = Caller::new();
    let call = c.incoming();
    c.core.ring(c.now, call);
    let r = c.sent();
    assert_eq!(r[0].code(), 180);
    let tag = to_tag(&r[0]);
    c.core.answer(c.now, call, media());
    let ok = c.sent();
    assert_eq!(ok[0].code(), 200);
    assert_eq!(to_tag(&ok[0]), tag, "one dialog, one tag");
    let sdp = String::from_utf8_lossy(&ok[0].body).to_string();
    assert!(
        sdp.contains("m=audio 20000 RTP/AVP 8"),
        "caller's first choice: {sdp}"
    );
    let ev = c.events();
    assert!(
        matches!(
            &ev[..],
            [
                SipEvent::Progress { code: 180, .. },
                SipEvent::Answered {
                    code: 200,
                    media: Some(Ok(_)),
                    ..
                }
            ]
        ),
        "{ev:?}"
    );
    // The 200 is retransmitted until the ACK.
    c.now += Duration::from_millis(600);
    c.core.handle_timeout(c.now);
    assert_eq!(c.codes(), [200]);
    c.send(&msg("ACK", 1, "ack", &format!(";tag={tag}"), ""));
    assert!(matches!(&c.events()[..], [SipEvent::Confirmed { .. }]));
    c.now += Duration::from_secs(2);
    c.core.handle_timeout(c.now);
    assert!(c.codes().is_empty(), "no retransmission after the ACK");
    // The caller hangs up.
    c.send(&msg("BYE", 2, "bye", &format!(";tag={tag}"), ""));
    assert_eq!(c.codes(), [200]);
    let ev = c.events();
    assert!(
        matches!(
            &ev[..],
            [SipEvent::Terminated {
                code: 200,
                cause: EndCause::RemoteBye,
                ..
            }]
        ),
        "{ev:?}"
    );
}

#[test]
fn early_media_then_a_cancel_ends_it_487() {
    let mut c = Caller::new();
    let call = c.incoming();
    c.core.early_media(c.now, call, media());
    let r = c.sent();
    assert_eq!(r[0].code(), 183);
    assert!(!r[0].body.is_empty(), "183 carries our SDP");
    let ev = c.events();
    assert!(
        matches!(
            &ev[..],
            [SipEvent::Progress {
                code: 183,
                media: Some(Ok(_)),
                ..
            }]
        ),
        "{ev:?}"
    );
    c.send(&msg("CANCEL", 1, "inv", "", ""));
    assert_eq!(c.codes(), [200, 487]);
    let ev = c.events();
    assert!(
        matches!(
            &ev[..],
            [SipEvent::Terminated {
                code: 487,
                cause: EndCause::RemoteCancel,
                ..
            }]
        ),
        "{ev:?}"
    );
}

#[test]
fn a_refusal_is_the_final_answer_and_our_bye_ends_an_answered_call() {
    let mut c = Caller::new();
    let call = c.incoming();
    c.core.hangup_with(
        c.now,
        call,
        Some((603, "Decline (every callee declined)".into())),
    );
    let r = c.sent();
    assert_eq!(
        (r[0].code(), r[0].reason()),
        (603, "Decline (every callee declined)".to_string())
    );
    assert!(matches!(
        &c.events()[..],
        [SipEvent::Terminated {
            code: 603,
            cause: EndCause::LocalReject,
            ..
        }]
    ));

    let mut c = Caller::new();
    let (call, tag) = c.confirmed();
    c.core.hangup(c.now, call);
    let bye = c.core.poll_transmit().expect("a BYE");
    let text = String::from_utf8_lossy(&bye.bytes).to_string();
    assert!(
        text.starts_with("BYE sip:13800000000@127.0.0.1:5070 SIP/2.0"),
        "{text}"
    );
    assert!(
        text.contains(&format!("From: <sip:8001@127.0.0.1>;tag={tag}"))
            && text.contains(";tag=caller1\r\n"),
        "{text}"
    );
    assert_eq!(bye.to, caller());
}

#[test]
fn without_inbound_an_invite_is_answered_480() {
    let mut cfg = SipConfig::new("127.0.0.1:5060".parse().unwrap());
    cfg.inbound = false;
    let mut c = Caller {
        core: SipCore::new(cfg, 7),
        now: Instant::now(),
    };
    c.send(&msg("INVITE", 1, "inv", "", OFFER));
    assert_eq!(c.codes(), [480]);
    assert!(c.events().is_empty());
}

#[test]
fn the_callers_reinvite_to_hold_gets_a_mirrored_answer() {
    let mut c = Caller::new();
    let (_, tag) = c.confirmed();
    let hold = OFFER.replace(
        "a=rtpmap:101 telephone-event/8000\r\n",
        "a=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n",
    );
    c.send(&msg("INVITE", 2, "reinv", &format!(";tag={tag}"), &hold));
    let r = c.sent();
    assert_eq!(r[0].code(), 200);
    let sdp = String::from_utf8_lossy(&r[0].body).to_string();
    assert!(sdp.contains("a=recvonly"), "{sdp}");
    let ev = c.events();
    assert!(
        matches!(&ev[..], [SipEvent::RemoteOffer { media, .. }] if format!("{:?}", media.direction) == "SendOnly"),
        "{ev:?}"
    );
}
