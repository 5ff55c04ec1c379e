//! `SipCore` driven by a fake clock and hand-written peer messages.

use super::endpoint::{CallKey, EndCause, SipConfig, SipCore, SipEvent, Transmit};
use super::message::{parse, CommonHeaders, Message, Request, Response};
use bytes::Bytes;
use ezk_sip_types::header::typed::{AuthResponse, Via};
use ezk_sip_types::{Method, Name};
use sha2::Digest;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const PEER_SDP: &[u8] = b"v=0\r\no=- 2 2 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

fn peer() -> SocketAddr {
    "10.0.0.2:5060".parse().unwrap()
}

fn config() -> SipConfig {
    let mut c = SipConfig::new("10.0.0.1:5060".parse().unwrap());
    c.username = Some("alice".into());
    c.password = Some("alicepw".into());
    c
}

struct Harness {
    core: SipCore,
    now: Instant,
    t0: Instant,
}

impl Harness {
    fn new() -> Self {
        Self::with(config())
    }

    fn with(cfg: SipConfig) -> Self {
        let now = Instant::now();
        Harness {
            core: SipCore::new(cfg, 42),
            now,
            t0: now,
        }
    }

    fn invite(&mut self) -> (CallKey, Request) {
        let key = self
            .core
            .invite(self.now, "sip:bob@10.0.0.2", peer(), local_media())
            .unwrap();
        let sent = self.sent();
        assert_eq!(sent.len(), 1, "one INVITE expected");
        assert_eq!(sent[0].to, peer());
        (key, req(&sent[0]))
    }

    fn sent(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.core.poll_transmit()).collect()
    }

    fn events(&mut self) -> Vec<SipEvent> {
        std::iter::from_fn(|| self.core.poll_event()).collect()
    }

    fn recv(&mut self, data: &[u8]) {
        self.core.handle_datagram(self.now, peer(), data);
    }

    fn recv_resp(&mut self, r: &Response) {
        let b = r.to_bytes();
        self.recv(&b);
    }

    /// Advance the clock to `t0 + at`, firing every deadline on the way; returns what was sent
    /// with the offset it was sent at.
    fn run_until(&mut self, at: Duration) -> Vec<(Duration, Transmit)> {
        let until = self.t0 + at;
        let mut out = Vec::new();
        while let Some(t) = self.core.poll_timeout() {
            if t > until {
                break;
            }
            self.now = self.now.max(t);
            self.core.handle_timeout(self.now);
            for tr in self.sent() {
                out.push((self.now - self.t0, tr));
            }
        }
        self.now = self.now.max(until);
        out
    }
}

fn req(t: &Transmit) -> Request {
    match parse(&t.bytes) {
        Ok(Message::Request(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn resp(t: &Transmit) -> Response {
    match parse(&t.bytes) {
        Ok(Message::Response(r)) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn text(t: &Transmit) -> String {
    String::from_utf8_lossy(&t.bytes).into_owned()
}

/// A response of the peer to one of our requests.
fn answer(r: &Request, code: u16, reason: &str, tag: Option<&str>) -> Response {
    Response::for_request(r, code, reason, tag)
}

fn with_sdp(mut r: Response, sdp: &'static [u8]) -> Response {
    r.headers.insert(Name::CONTENT_TYPE, "application/sdp");
    r.body = Bytes::from_static(sdp);
    r
}

fn ok_200(invite: &Request, tag: &str) -> Response {
    let mut r = answer(invite, 200, "OK", Some(tag));
    r.headers.insert(Name::CONTACT, "<sip:bob@10.0.0.2:5060>");
    with_sdp(r, PEER_SDP)
}

fn terminated(ev: &[SipEvent]) -> Vec<(u16, EndCause)> {
    ev.iter()
        .filter_map(|e| match e {
            SipEvent::Terminated { code, cause, .. } => Some((*code, *cause)),
            _ => None,
        })
        .collect()
}

/// An in-dialog request from the peer for our confirmed dialog.
fn peer_request(
    invite: &Request,
    method: &str,
    cseq: u32,
    to_tag: &str,
    extra: &str,
    body: &str,
) -> Vec<u8> {
    let from = invite.from().unwrap();
    let from_tag = from.tag.unwrap();
    format!(
        "{method} sip:trtc-sipgw@10.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKpeer{method}{cseq}\r\n\
Max-Forwards: 70\r\n\
From: <sip:bob@10.0.0.2>;tag={to_tag}\r\n\
To: <sip:alice@10.0.0.1>;tag={from_tag}\r\n\
Call-ID: {}\r\n\
CSeq: {cseq} {method}\r\n\
Contact: <sip:bob@10.0.0.2:5060>\r\n\
{extra}Content-Length: {}\r\n\r\n{body}",
        invite.call_id().unwrap(),
        body.len()
    )
    .into_bytes()
}

/// Set up an answered call: returns the call, the INVITE and the ACK.
fn answered(h: &mut Harness) -> (CallKey, Request, Request) {
    let (call, invite) = h.invite();
    let mut ok = ok_200(&invite, "bobtag");
    ok.headers
        .insert(Name::RECORD_ROUTE, "<sip:10.0.0.8:5080;lr>");
    h.recv_resp(&ok);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let ev = h.events();
    assert!(
        matches!(ev[0], SipEvent::Answered { code: 200, .. }),
        "{ev:?}"
    );
    assert_eq!(ev[1], SipEvent::Confirmed { call });
    (call, invite, req(&sent[0]))
}

#[test]
fn invite_headers() {
    let mut h = Harness::new();
    let (_, invite) = h.invite();
    let raw = invite.to_bytes();
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("INVITE sip:bob@10.0.0.2 SIP/2.0\r\n"),
        "{text}"
    );
    let via: Via = invite.top_via().unwrap();
    assert!(via.params.get("rport").is_some());
    assert!(invite.branch().unwrap().starts_with("z9hG4bK"));
    assert!(invite.branch().unwrap().len() > 12);
    assert!(text.contains("Max-Forwards: 70\r\n"));
    let from = invite.from().unwrap();
    assert!(from.tag.is_some());
    assert!(text.contains("From: <sip:alice@10.0.0.1>;tag="), "{text}");
    assert!(invite.to().unwrap().tag.is_none());
    assert!(text.contains("To: <sip:bob@10.0.0.2>\r\n"), "{text}");
    assert!(invite.call_id().unwrap().ends_with("@10.0.0.1"));
    assert_eq!(invite.cseq().unwrap().method, Method::INVITE);
    assert!(
        text.contains("Contact: <sip:trtc-sipgw@10.0.0.1:5060>\r\n"),
        "{text}"
    );
    assert!(text.contains("User-Agent: trtc-sipgw/"), "{text}");
    assert!(text.contains("Allow: INVITE, ACK, CANCEL, BYE"), "{text}");
    assert!(text.contains("Content-Type: application/sdp\r\n"), "{text}");
    assert_eq!(
        &invite.body[..],
        super::sdp::build_offer(&local_media()).as_bytes(),
        "the offer is built from the call's media"
    );
}

#[test]
fn bad_uri_is_an_error() {
    let mut h = Harness::new();
    assert!(h
        .core
        .invite(h.now, "not a uri", peer(), local_media())
        .is_err());
    assert!(h
        .core
        .invite(h.now, "tel:+123", peer(), local_media())
        .is_err());
    assert!(h.sent().is_empty());
}

#[test]
fn invite_retransmits_then_timer_b() {
    let mut h = Harness::new();
    let (call, invite) = h.invite();
    let sends = h.run_until(Duration::from_secs(40));
    let times: Vec<u64> = sends
        .iter()
        .map(|(t, tr)| {
            assert_eq!(
                tr.bytes,
                invite.to_bytes(),
                "retransmission must be identical"
            );
            t.as_millis() as u64
        })
        .collect();
    assert_eq!(times, vec![500, 1500, 3500, 7500, 15500, 31500]);
    let ev = h.events();
    assert_eq!(terminated(&ev), vec![(408, EndCause::NoAnswer)]);
    match &ev[0] {
        SipEvent::Terminated {
            call: c, reason, ..
        } => {
            assert_eq!(*c, call);
            assert!(reason.contains("no answer"), "{reason}");
        }
        e => panic!("{e:?}"),
    }
    assert!(h.core.stats().retransmissions >= 6);
}

#[test]
fn trying_stops_retransmissions_without_event() {
    let mut h = Harness::new();
    let (_, invite) = h.invite();
    h.recv_resp(&answer(&invite, 100, "Trying", None));
    assert!(h.events().is_empty());
    assert!(h.run_until(Duration::from_secs(60)).is_empty());
    assert!(h.events().is_empty(), "no Timer B after a provisional");
}

#[test]
fn provisional_events_with_sdp() {
    let mut h = Harness::new();
    let (call, invite) = h.invite();
    h.recv_resp(&answer(&invite, 180, "Ringing", Some("bobtag")));
    h.recv_resp(&with_sdp(
        answer(&invite, 183, "Session Progress", Some("bobtag")),
        PEER_SDP,
    ));
    let ev = h.events();
    assert_eq!(
        ev,
        vec![
            SipEvent::Progress {
                call,
                code: 180,
                reason: "Ringing".into(),
                media: None
            },
            SipEvent::Progress {
                call,
                code: 183,
                reason: "Session Progress".into(),
                media: Some(Ok(peer_media()))
            },
        ]
    );
}

#[test]
fn answer_is_acked_along_the_route_and_retransmitted_200_reacked() {
    let mut h = Harness::new();
    let (call, invite) = h.invite();
    let mut ok = ok_200(&invite, "bobtag");
    ok.headers.insert(
        Name::RECORD_ROUTE,
        "<sip:10.0.0.8:5080;lr>, <sip:10.0.0.9;lr>",
    );
    h.recv_resp(&ok);
    let ev = h.events();
    assert_eq!(
        ev,
        vec![
            SipEvent::Answered {
                call,
                code: 200,
                reason: "OK".into(),
                media: Some(Ok(peer_media()))
            },
            SipEvent::Confirmed { call }
        ]
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    // Route set is the Record-Route reversed: first hop is 10.0.0.9 (default port 5060).
    assert_eq!(sent[0].to, "10.0.0.9:5060".parse().unwrap());
    let ack = req(&sent[0]);
    let t = text(&sent[0]);
    assert_eq!(ack.line.method, Method::ACK);
    assert!(
        t.starts_with("ACK sip:bob@10.0.0.2:5060 SIP/2.0\r\n"),
        "{t}"
    );
    assert_eq!(ack.to().unwrap().tag.unwrap(), "bobtag");
    assert_eq!(ack.cseq().unwrap().cseq, invite.cseq().unwrap().cseq);
    assert_ne!(
        ack.branch(),
        invite.branch(),
        "2xx ACK is a new transaction"
    );
    assert!(
        t.contains("Route: <sip:10.0.0.9;lr>, <sip:10.0.0.8:5080;lr>\r\n"),
        "{t}"
    );

    // The 200 again: the same ACK again, no new events.
    h.recv_resp(&ok);
    let again = h.sent();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].bytes, sent[0].bytes);
    assert!(h.events().is_empty());
}

#[test]
fn local_bye_after_answer() {
    let mut h = Harness::new();
    let (call, invite, _) = answered(&mut h);
    h.core.hangup(h.now, call);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "10.0.0.8:5080".parse().unwrap());
    let bye = req(&sent[0]);
    assert_eq!(bye.line.method, Method::BYE);
    assert_eq!(bye.cseq().unwrap().cseq, invite.cseq().unwrap().cseq + 1);
    assert!(text(&sent[0]).contains("Route: <sip:10.0.0.8:5080;lr>\r\n"));
    assert!(
        h.events().is_empty(),
        "Terminated waits for the BYE's answer"
    );
    h.core.hangup(h.now, call); // idempotent
    assert!(h.sent().is_empty());
    h.recv_resp(&answer(&bye, 200, "OK", None));
    assert_eq!(terminated(&h.events()), vec![(200, EndCause::LocalBye)]);
}

#[test]
fn bye_timeout_schedule_capped_at_t2() {
    let mut h = Harness::new();
    let (call, _, _) = answered(&mut h);
    h.core.hangup(h.now, call);
    let bye = h.sent().remove(0);
    let sends = h.run_until(Duration::from_secs(40));
    let times: Vec<u64> = sends
        .iter()
        .filter(|(_, tr)| tr.bytes == bye.bytes)
        .map(|(t, _)| t.as_millis() as u64)
        .collect();
    // E: 0.5, 1, 2, 4, 4, 4… (cumulative 0.5, 1.5, 3.5, 7.5, 11.5, …, 31.5); F at 32 s.
    assert_eq!(
        times,
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(terminated(&h.events()), vec![(200, EndCause::LocalBye)]);
}

fn check_digest(header: &str, user: &str, pw: &str, method: &str, sha: bool) {
    let params = |name: &str| -> String {
        let key = format!("{name}=");
        let i = header
            .split(", ")
            .find_map(|p| {
                p.trim_start_matches("Digest ")
                    .strip_prefix(&key)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| panic!("{name} missing in {header}"));
        i.trim_matches('"').to_string()
    };
    let h = |s: String| -> String {
        if sha {
            format!("{:x}", sha2::Sha256::digest(s.as_bytes()))
        } else {
            format!("{:x}", md5::compute(s.as_bytes()))
        }
    };
    assert_eq!(params("username"), user);
    assert_eq!(params("realm"), "sip.test");
    assert_eq!(params("qop"), "auth");
    assert_eq!(params("algorithm"), if sha { "SHA-256" } else { "MD5" });
    let ha1 = h(format!("{user}:sip.test:{pw}"));
    let ha2 = h(format!("{method}:{}", params("uri")));
    let expect = h(format!(
        "{ha1}:{}:{}:{}:auth:{ha2}",
        params("nonce"),
        params("nc"),
        params("cnonce")
    ));
    assert_eq!(params("response"), expect, "{header}");
    assert_eq!(params("uri"), "sip:bob@10.0.0.2");
}

fn challenge(invite: &Request, code: u16, nonce: &str, alg: &str) -> Response {
    let (reason, name) = if code == 407 {
        ("Proxy Authentication Required", Name::PROXY_AUTHENTICATE)
    } else {
        ("Unauthorized", Name::WWW_AUTHENTICATE)
    };
    let mut r = answer(invite, code, reason, Some("proxytag"));
    r.headers.insert(
        name,
        format!("Digest realm=\"sip.test\", nonce=\"{nonce}\", qop=\"auth\", algorithm={alg}"),
    );
    r
}

fn auth_flow(code: u16, alg: &str, sha: bool) {
    let mut h = Harness::new();
    let (call, invite) = h.invite();
    h.recv_resp(&challenge(&invite, code, "n0nce1", alg));
    let sent = h.sent();
    assert_eq!(sent.len(), 2, "ACK for the challenge, then the new INVITE");
    let ack = req(&sent[0]);
    assert_eq!(ack.line.method, Method::ACK);
    assert_eq!(ack.branch(), invite.branch());
    assert_eq!(ack.to().unwrap().tag.unwrap(), "proxytag");
    let invite2 = req(&sent[1]);
    assert_eq!(invite2.line.method, Method::INVITE);
    assert_eq!(
        invite2.cseq().unwrap().cseq,
        invite.cseq().unwrap().cseq + 1
    );
    assert_eq!(invite2.call_id(), invite.call_id());
    assert_eq!(invite2.from().unwrap().tag, invite.from().unwrap().tag);
    assert_ne!(invite2.branch(), invite.branch());
    let hname = if code == 407 {
        Name::PROXY_AUTHORIZATION
    } else {
        Name::AUTHORIZATION
    };
    let value = invite2
        .headers
        .get_raw(&hname)
        .next()
        .expect("credentials")
        .to_string();
    assert!(invite2.headers.get::<AuthResponse>(hname).is_ok());
    check_digest(&value, "alice", "alicepw", "INVITE", sha);
    assert!(h.events().is_empty());

    // Same nonce again: the password is wrong, give up.
    h.recv_resp(&challenge(&invite2, code, "n0nce1", alg));
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "only the ACK");
    assert_eq!(req(&sent[0]).line.method, Method::ACK);
    let ev = h.events();
    assert_eq!(terminated(&ev), vec![(code, EndCause::AuthFailed)]);
    assert!(matches!(&ev[0], SipEvent::Terminated { call: c, .. } if *c == call));
}

#[test]
fn proxy_auth_md5() {
    auth_flow(407, "MD5", false);
}

#[test]
fn www_auth_sha256() {
    auth_flow(401, "SHA-256", true);
}

#[test]
fn auth_gives_up_on_endless_fresh_nonces() {
    let mut h = Harness::new();
    let (_, mut invite) = h.invite();
    for i in 0..10 {
        h.recv_resp(&challenge(&invite, 407, &format!("nonce{i}"), "MD5"));
        let sent = h.sent();
        if let Some(next) = sent
            .iter()
            .map(req)
            .find(|r| r.line.method == Method::INVITE)
        {
            invite = next;
        } else {
            break;
        }
    }
    assert_eq!(terminated(&h.events()), vec![(407, EndCause::AuthFailed)]);
}

#[test]
fn no_credentials_means_auth_failed() {
    let mut cfg = config();
    cfg.password = None;
    let mut h = Harness::with(cfg);
    let (_, invite) = h.invite();
    h.recv_resp(&challenge(&invite, 407, "x", "MD5"));
    assert_eq!(terminated(&h.events()), vec![(407, EndCause::AuthFailed)]);
}

#[test]
fn busy_is_acked_and_ends_the_call() {
    let mut h = Harness::new();
    let (_, invite) = h.invite();
    let busy = answer(&invite, 486, "Busy Here", Some("bobtag"));
    h.recv_resp(&busy);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let ack = req(&sent[0]);
    assert_eq!(ack.line.method, Method::ACK);
    assert_eq!(ack.line.uri.host_port, invite.line.uri.host_port);
    assert_eq!(ack.branch(), invite.branch());
    assert_eq!(ack.to().unwrap().tag.unwrap(), "bobtag");
    assert_eq!(ack.cseq().unwrap().cseq, invite.cseq().unwrap().cseq);
    let ev = h.events();
    assert_eq!(terminated(&ev), vec![(486, EndCause::Rejected)]);
    match &ev[0] {
        SipEvent::Terminated { reason, .. } => assert_eq!(reason, "Busy Here"),
        e => panic!("{e:?}"),
    }
    // Retransmitted 486: ACK again, nothing else.
    h.recv_resp(&busy);
    let again = h.sent();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].bytes, sent[0].bytes);
    assert!(h.events().is_empty());
}

#[test]
fn cancel_waits_for_a_provisional() {
    let mut h = Harness::new();
    let (call, invite) = h.invite();
    h.core.hangup(h.now, call);
    assert!(h.sent().is_empty(), "no CANCEL before any provisional");
    h.recv_resp(&answer(&invite, 180, "Ringing", Some("bobtag")));
    assert!(h.events().is_empty(), "no Progress once hangup was asked");
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let cancel = req(&sent[0]);
    assert_eq!(cancel.line.method, Method::CANCEL);
    assert_eq!(cancel.branch(), invite.branch());
    assert_eq!(cancel.cseq().unwrap().cseq, invite.cseq().unwrap().cseq);
    assert_eq!(cancel.cseq().unwrap().method, Method::CANCEL);
    assert!(cancel.to().unwrap().tag.is_none());
    h.core.hangup(h.now, call);
    assert!(h.sent().is_empty(), "hangup is idempotent");
    h.recv_resp(&answer(&cancel, 200, "OK", None));
    h.recv_resp(&answer(&invite, 487, "Request Terminated", Some("bobtag")));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(req(&sent[0]).line.method, Method::ACK);
    assert_eq!(terminated(&h.events()), vec![(487, EndCause::Cancelled)]);
}

#[test]
fn cancel_after_provisional_is_immediate() {
    let mut h = Harness::new();
    let (call, invite) = h.invite();
    h.recv_resp(&answer(&invite, 183, "Session Progress", Some("bobtag")));
    assert_eq!(h.events().len(), 1);
    h.core.hangup(h.now, call);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(req(&sent[0]).line.method, Method::CANCEL);
    h.recv_resp(&answer(&invite, 487, "Request Terminated", Some("bobtag")));
    assert_eq!(terminated(&h.events()), vec![(487, EndCause::Cancelled)]);
}

#[test]
fn cancel_with_silent_peer_ends_at_timer_b() {
    let mut h = Harness::new();
    let (call, _) = h.invite();
    h.core.hangup(h.now, call);
    let sends = h.run_until(Duration::from_secs(40));
    assert!(sends
        .iter()
        .all(|(_, t)| req(t).line.method == Method::INVITE));
    assert_eq!(terminated(&h.events()), vec![(487, EndCause::Cancelled)]);
}

#[test]
fn cancel_without_final_gives_up_after_64_t1() {
    let mut h = Harness::new();
    let (call, invite) = h.invite();
    h.recv_resp(&answer(&invite, 180, "Ringing", Some("bobtag")));
    h.events();
    h.core.hangup(h.now, call);
    h.sent();
    h.run_until(Duration::from_secs(31));
    assert!(h.events().is_empty());
    h.run_until(Duration::from_secs(33));
    assert_eq!(terminated(&h.events()), vec![(487, EndCause::Cancelled)]);
}

#[test]
fn answer_crossing_cancel_is_acked_and_byed() {
    let mut h = Harness::new();
    let (call, invite) = h.invite();
    h.recv_resp(&answer(&invite, 180, "Ringing", Some("bobtag")));
    h.events();
    h.core.hangup(h.now, call);
    let cancel = req(&h.sent()[0]);
    h.recv_resp(&ok_200(&invite, "bobtag"));
    let sent = h.sent();
    let methods: Vec<Method> = sent.iter().map(|t| req(t).line.method).collect();
    assert_eq!(methods, vec![Method::ACK, Method::BYE]);
    let bye = req(&sent[1]);
    assert_eq!(bye.to().unwrap().tag.unwrap(), "bobtag");
    let ev = h.events();
    assert_eq!(terminated(&ev), vec![(487, EndCause::Cancelled)]);
    assert_eq!(
        ev.len(),
        1,
        "no Answered/Confirmed for a cancelled call: {ev:?}"
    );
    match &ev[0] {
        SipEvent::Terminated { reason, .. } => assert!(reason.contains("cancel"), "{reason}"),
        e => panic!("{e:?}"),
    }
    // The CANCEL's own answer and the BYE's change nothing.
    h.recv_resp(&answer(
        &cancel,
        481,
        "Call/Transaction Does Not Exist",
        None,
    ));
    h.recv_resp(&answer(&bye, 200, "OK", None));
    assert!(h.events().is_empty());
}

#[test]
fn remote_bye() {
    let mut h = Harness::new();
    let (call, invite, _) = answered(&mut h);
    let bye = peer_request(&invite, "BYE", 1, "bobtag", "", "");
    h.recv(&bye);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, peer());
    let r = resp(&sent[0]);
    assert_eq!(r.code(), 200);
    assert_eq!(r.branch().unwrap(), "z9hG4bKpeerBYE1");
    assert_eq!(r.cseq().unwrap().method, Method::BYE);
    assert_eq!(r.call_id(), invite.call_id());
    assert_eq!(r.to().unwrap().tag, invite.from().unwrap().tag);
    assert_eq!(r.from().unwrap().tag.unwrap(), "bobtag");
    let ev = h.events();
    assert_eq!(terminated(&ev), vec![(200, EndCause::RemoteBye)]);
    assert!(matches!(&ev[0], SipEvent::Terminated { call: c, .. } if *c == call));
    // Retransmitted BYE: answered again by the transaction, no second Terminated.
    h.recv(&bye);
    assert_eq!(h.sent().len(), 1);
    assert!(h.events().is_empty());
    h.core.hangup(h.now, call);
    assert!(h.sent().is_empty(), "hangup after the end does nothing");
}

#[test]
fn reinvite_answered_with_local_sdp() {
    let mut h = Harness::new();
    let (call, invite, _) = answered(&mut h);
    let body = std::str::from_utf8(PEER_SDP).unwrap();
    let reinvite = peer_request(
        &invite,
        "INVITE",
        2,
        "bobtag",
        "Content-Type: application/sdp\r\n",
        body,
    );
    h.recv(&reinvite);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let r = resp(&sent[0]);
    assert_eq!(r.code(), 200);
    let answer = std::str::from_utf8(&r.body).unwrap();
    assert!(
        answer.contains("m=audio 20000 RTP/AVP 0\r\n"),
        "answered from our media, PCMU as offered:\n{answer}"
    );
    assert_eq!(r.content_type().unwrap(), "application/sdp");
    assert!(r.headers.contains(&Name::CONTACT));
    assert_eq!(
        h.events(),
        vec![SipEvent::RemoteOffer {
            call,
            media: peer_media()
        }]
    );
    // No ACK yet: the 200 is retransmitted.
    let again = h.run_until(Duration::from_millis(600));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1.bytes, sent[0].bytes);
    // The ACK stops it, and raises no event.
    let ack = format!(
        "ACK sip:trtc-sipgw@10.0.0.1:5060 SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKack2\r\n\
f: <sip:bob@10.0.0.2>;tag=bobtag\r\nt: <sip:alice@10.0.0.1>;tag={}\r\ni: {}\r\nCSeq: 2 ACK\r\nl: 0\r\n\r\n",
        invite.from().unwrap().tag.unwrap(),
        invite.call_id().unwrap()
    );
    h.recv(ack.as_bytes());
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    assert!(h.run_until(Duration::from_secs(10)).is_empty());
}

/// What the call layer gets for [`PEER_SDP`] read against [`local_media`].
fn peer_media() -> super::sdp::NegotiatedMedia {
    super::sdp::parse_answer(PEER_SDP, &local_media().codecs).unwrap()
}

fn local_media() -> super::sdp::LocalMedia {
    super::sdp::LocalMedia {
        ip: "10.0.0.1".parse().unwrap(),
        rtp_port: 20000,
        codecs: vec![crate::media::Codec::Pcmu, crate::media::Codec::Pcma],
        telephone_event: true,
        session_id: 7,
        session_version: 1,
    }
}

#[test]
fn hold_reinvite_gets_a_mirrored_answer_and_unacceptable_offers_488() {
    let mut h = Harness::new();
    let (_, invite, _) = answered(&mut h);
    let hold = "v=0\r\no=- 2 3 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 8 0\r\na=sendonly\r\n";
    let sdp_header = "Content-Type: application/sdp\r\n";
    h.recv(&peer_request(
        &invite, "INVITE", 2, "bobtag", sdp_header, hold,
    ));
    let sent = h.sent();
    let r = resp(&sent[0]);
    assert_eq!(r.code(), 200);
    let body = std::str::from_utf8(&r.body).unwrap();
    assert!(
        body.contains("a=recvonly"),
        "hold answered with recvonly:\n{body}"
    );
    assert!(
        body.contains("m=audio 20000 RTP/AVP 8"),
        "peer's preferred codec:\n{body}"
    );
    assert!(
        body.contains("o=trtc-sipgw 7 2 IN IP4"),
        "version bumped on change:\n{body}"
    );

    // The same offer again (session refresh): same answer, same version.
    h.recv(&peer_request(
        &invite, "UPDATE", 3, "bobtag", sdp_header, hold,
    ));
    let again = resp(&h.sent()[0]);
    assert_eq!(again.code(), 200);
    assert_eq!(
        again.body, r.body,
        "unchanged description keeps its version"
    );

    // Nothing acceptable: 488, and the session stays as it was.
    let g729 = "v=0\r\no=- 2 4 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
    h.recv(&peer_request(
        &invite, "UPDATE", 4, "bobtag", sdp_header, g729,
    ));
    assert_eq!(resp(&h.sent()[0]).code(), 488);
}

#[test]
fn update_and_options_and_info_in_dialog() {
    let mut h = Harness::new();
    let (call, invite, _) = answered(&mut h);
    h.recv(&peer_request(&invite, "OPTIONS", 2, "bobtag", "", ""));
    h.recv(&peer_request(&invite, "INFO", 3, "bobtag", "", ""));
    let body = std::str::from_utf8(PEER_SDP).unwrap();
    h.recv(&peer_request(
        &invite,
        "UPDATE",
        4,
        "bobtag",
        "Content-Type: application/sdp\r\n",
        body,
    ));
    h.recv(&peer_request(&invite, "MESSAGE", 5, "bobtag", "", ""));
    h.recv(&peer_request(&invite, "INFO", 5, "bobtag", "", "")); // CSeq not increasing
    let codes: Vec<u16> = h.sent().iter().map(|t| resp(t).code()).collect();
    assert_eq!(codes, vec![200, 200, 200, 501, 500]);
    assert_eq!(
        h.events(),
        vec![SipEvent::RemoteOffer {
            call,
            media: peer_media()
        }]
    );
}

#[test]
fn out_of_dialog_requests() {
    let mut cfg = config();
    cfg.trusted = vec![crate::net::parse_net("10.0.0.0/24").unwrap()];
    let mut h = Harness::with(cfg);
    let mk = |method: &str, to_tag: &str| {
        format!(
            "{method} sip:trtc-sipgw@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKo{method}\r\n\
From: <sip:x@10.0.0.2>;tag=xx\r\nTo: <sip:trtc-sipgw@10.0.0.1>{to_tag}\r\nCall-ID: ood-{method}\r\nCSeq: 1 {method}\r\n\r\n"
        )
    };
    h.recv(mk("OPTIONS", "").as_bytes());
    h.recv(mk("INVITE", "").as_bytes());
    h.recv(mk("BYE", ";tag=nope").as_bytes());
    let sent = h.sent();
    let codes: Vec<u16> = sent.iter().map(|t| resp(t).code()).collect();
    assert_eq!(codes, vec![200, 480, 481]);
    assert!(resp(&sent[0]).to().unwrap().tag.is_some());
    assert!(resp(&sent[1]).reason().contains("not enabled"));
    // The 480 waits for its ACK (Timer G retransmits it).
    let inv480 = sent[1].bytes.clone();
    let again = h.run_until(Duration::from_millis(600));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1.bytes, inv480);
    let tag = resp(&sent[1]).to().unwrap().tag.unwrap();
    h.recv(
        format!(
            "ACK sip:trtc-sipgw@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKoINVITE\r\n\
From: <sip:x@10.0.0.2>;tag=xx\r\nTo: <sip:trtc-sipgw@10.0.0.1>;tag={tag}\r\nCall-ID: ood-INVITE\r\nCSeq: 1 ACK\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(h.sent().is_empty());
    assert!(h.run_until(Duration::from_secs(10)).is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.core.stats().out_of_dialog_requests, 3);
}

#[test]
fn compact_form_responses() {
    let mut h = Harness::new();
    let (call, invite) = h.invite();
    let via = invite
        .headers
        .get_raw(&Name::VIA)
        .next()
        .unwrap()
        .to_string();
    let from = invite
        .headers
        .get_raw(&Name::FROM)
        .next()
        .unwrap()
        .to_string();
    let body = std::str::from_utf8(PEER_SDP).unwrap();
    let msg = format!(
        "SIP/2.0 200 OK\r\nv: {via}\r\nf: {from}\r\nt: <sip:bob@10.0.0.2>;tag=ct\r\ni: {}\r\nCSeq: 1 INVITE\r\n\
m: <sip:bob@10.0.0.2:5062>\r\nc: application/sdp\r\nl: {}\r\n\r\n{body}",
        invite.call_id().unwrap(),
        body.len()
    );
    h.recv(msg.as_bytes());
    let ev = h.events();
    assert!(
        matches!(&ev[0], SipEvent::Answered { call: c, media: Some(Ok(m)), .. } if *c == call && *m == peer_media()),
        "{ev:?}"
    );
    let sent = h.sent();
    assert_eq!(sent[0].to, "10.0.0.2:5062".parse().unwrap());
    assert!(text(&sent[0]).starts_with("ACK sip:bob@10.0.0.2:5062 SIP/2.0"));
}

#[test]
fn garbage_and_strays_are_counted_and_ignored() {
    let mut h = Harness::new();
    let (_, invite) = h.invite();
    h.recv(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
    h.recv(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    h.recv(b"\r\n\r\n");
    let mut stray = answer(&invite, 200, "OK", Some("x"));
    stray.headers.remove(&Name::VIA);
    stray
        .headers
        .insert(Name::VIA, "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKunknown");
    h.recv_resp(&stray);
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    let s = h.core.stats();
    assert_eq!(s.garbage, 2);
    assert_eq!(s.keepalives, 1);
    assert_eq!(s.stray_responses, 1);
}

#[test]
fn forked_second_answer_is_acked_and_byed() {
    let mut h = Harness::new();
    let (call, invite) = h.invite();
    h.recv_resp(&ok_200(&invite, "fork1"));
    assert_eq!(h.events().len(), 2);
    assert_eq!(h.sent().len(), 1);
    h.recv_resp(&ok_200(&invite, "fork2"));
    let sent = h.sent();
    let methods: Vec<(Method, String)> = sent
        .iter()
        .map(|t| {
            let r = req(t);
            (
                r.line.method.clone(),
                r.to().unwrap().tag.unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        methods,
        vec![(Method::ACK, "fork2".into()), (Method::BYE, "fork2".into())]
    );
    assert!(h.events().is_empty());
    // The main call is untouched: our hangup BYEs fork1.
    h.core.hangup(h.now, call);
    let bye = req(&h.sent()[0]);
    assert_eq!(bye.to().unwrap().tag.unwrap(), "fork1");
}

fn moved(invite: &Request, reason: &str, contact: &str) -> Response {
    let mut r = answer(invite, 302, reason, Some("r"));
    r.headers.insert(Name::CONTACT, contact.to_string());
    r
}

fn ended_with(ev: &[SipEvent]) -> Vec<(u16, String, EndCause)> {
    ev.iter()
        .filter_map(|e| match e {
            SipEvent::Terminated {
                code,
                reason,
                cause,
                ..
            } => Some((*code, reason.clone(), *cause)),
            _ => None,
        })
        .collect()
}

#[test]
fn redirect_is_not_followed_by_default() {
    let mut h = Harness::new();
    let (call, invite) = h.invite();
    h.recv_resp(&moved(
        &invite,
        "Moved Temporarily",
        "<sip:carol@10.0.0.2:5070>",
    ));
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "only the ACK: {sent:?}");
    assert_eq!(req(&sent[0]).line.method, Method::ACK);
    let ev = h.events();
    assert_eq!(
        ended_with(&ev),
        vec![(302, "Moved Temporarily".to_string(), EndCause::Rejected)]
    );
    assert!(matches!(&ev[0], SipEvent::Terminated { call: c, .. } if *c == call));
}

#[test]
fn redirect_to_another_host_is_not_followed() {
    let mut cfg = config();
    cfg.follow_redirects = true;
    let mut h = Harness::with(cfg);
    let (_, invite) = h.invite();
    h.recv_resp(&moved(&invite, "Moved", "<sip:premium@10.0.0.3:5070>"));
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "only the ACK: {sent:?}");
    assert_eq!(req(&sent[0]).line.method, Method::ACK);
    assert_eq!(
        ended_with(&h.events()),
        vec![(302, "Moved".to_string(), EndCause::Rejected)]
    );
}

#[test]
fn redirect_to_the_trunk_host_is_followed_once_without_credentials() {
    let mut cfg = config();
    cfg.follow_redirects = true;
    let mut h = Harness::with(cfg);
    let (call, invite) = h.invite();
    // Authenticate first, so the next INVITE would carry credentials.
    h.recv_resp(&challenge(&invite, 407, "n1", "MD5"));
    let sent = h.sent();
    let invite2 = req(&sent[1]);
    assert!(invite2
        .headers
        .get_raw(&Name::PROXY_AUTHORIZATION)
        .next()
        .is_some());

    h.recv_resp(&moved(
        &invite2,
        "Moved Temporarily",
        "<sip:carol@10.0.0.2:5070>",
    ));
    let sent = h.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(req(&sent[0]).line.method, Method::ACK);
    assert_eq!(sent[1].to, "10.0.0.2:5070".parse().unwrap());
    let invite3 = req(&sent[1]);
    assert!(text(&sent[1]).starts_with("INVITE sip:carol@10.0.0.2:5070 SIP/2.0"));
    assert!(invite3
        .headers
        .get_raw(&Name::PROXY_AUTHORIZATION)
        .next()
        .is_none());
    assert!(invite3
        .headers
        .get_raw(&Name::AUTHORIZATION)
        .next()
        .is_none());
    assert!(h.events().is_empty());

    // The redirected target's challenge is not answered.
    h.core.handle_datagram(
        h.now,
        sent[1].to,
        &challenge(&invite3, 401, "n2", "MD5").to_bytes(),
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "only the ACK");
    assert_eq!(terminated(&h.events()), vec![(401, EndCause::AuthFailed)]);

    // And a second redirect is never followed.
    let mut h = Harness::with({
        let mut c = config();
        c.follow_redirects = true;
        c
    });
    let (_, invite) = h.invite();
    h.recv_resp(&moved(&invite, "Moved", "<sip:carol@10.0.0.2:5070>"));
    let invite2 = req(&h.sent()[1]);
    h.core.handle_datagram(
        h.now,
        "10.0.0.2:5070".parse().unwrap(),
        &moved(&invite2, "Moved Again", "<sip:dave@10.0.0.2>").to_bytes(),
    );
    let ev = h.events();
    assert_eq!(terminated(&ev), vec![(302, EndCause::Rejected)]);
    let _ = call;
}

#[test]
fn challenge_of_another_realm_is_not_answered() {
    let mut cfg = config();
    cfg.realm = Some("trunk.realm".into());
    let mut h = Harness::with(cfg);
    let (_, invite) = h.invite();
    // challenge() says realm "sip.test".
    h.recv_resp(&challenge(&invite, 401, "n1", "MD5"));
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "only the ACK, no credentials: {sent:?}");
    assert_eq!(req(&sent[0]).line.method, Method::ACK);
    assert_eq!(terminated(&h.events()), vec![(401, EndCause::AuthFailed)]);
}

#[test]
fn challenge_of_the_configured_realm_is_answered() {
    let mut cfg = config();
    cfg.realm = Some("sip.test".into());
    let mut h = Harness::with(cfg);
    let (_, invite) = h.invite();
    h.recv_resp(&challenge(&invite, 401, "n1", "MD5"));
    let sent = h.sent();
    assert_eq!(sent.len(), 2, "ACK, then the authorised INVITE");
    let invite2 = req(&sent[1]);
    let value = invite2
        .headers
        .get_raw(&Name::AUTHORIZATION)
        .next()
        .expect("credentials")
        .to_string();
    check_digest(&value, "alice", "alicepw", "INVITE", false);
}

#[test]
fn challenge_from_another_host_is_not_answered() {
    let mut h = Harness::new();
    let (_, invite) = h.invite();
    h.core.handle_datagram(
        h.now,
        "10.0.0.66:5060".parse().unwrap(),
        &challenge(&invite, 407, "n1", "MD5").to_bytes(),
    );
    let sent = h.sent();
    assert!(
        sent.iter().all(|t| req(t).line.method != Method::INVITE),
        "no credentials sent: {sent:?}"
    );
    assert_eq!(terminated(&h.events()), vec![(407, EndCause::AuthFailed)]);
}

#[test]
fn finished_calls_and_transactions_are_forgotten() {
    let mut h = Harness::new();
    let (call, invite, _) = answered(&mut h);
    h.recv(&peer_request(&invite, "BYE", 1, "bobtag", "", ""));
    h.sent();
    assert_eq!(terminated(&h.events()).len(), 1);
    h.run_until(Duration::from_secs(200));
    let s = h.core.stats();
    assert_eq!(s.calls, 0);
    assert_eq!(s.transactions, 0);
    assert!(h.core.poll_timeout().is_none());
    h.core.hangup(h.now, call);
    assert!(h.sent().is_empty());
}

/// Mutated peer messages in the middle of a call must never panic the core.
#[test]
fn mutated_messages_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let mut h = Harness::new();
    let (_, invite, _) = answered(&mut h);
    let base = [
        peer_request(
            &invite,
            "INVITE",
            2,
            "bobtag",
            "Content-Type: application/sdp\r\n",
            "v=0\r\n",
        ),
        peer_request(&invite, "BYE", 3, "bobtag", "", ""),
        ok_200(&invite, "bobtag").to_bytes().to_vec(),
        challenge(&invite, 407, "n", "MD5").to_bytes().to_vec(),
    ];
    for i in 0..4000 {
        let mut m = base[i % base.len()].clone();
        for _ in 0..rng.gen_range(1..4) {
            let j = rng.gen_range(0..m.len());
            match rng.gen_range(0..3) {
                0 => m[j] = rng.gen(),
                1 => m[j] = b" ,;:<>\"=@"[rng.gen_range(0..9)],
                _ => {
                    m.remove(j);
                }
            }
        }
        h.recv(&m);
        h.sent();
        h.events();
    }
}

#[test]
fn transport_error_ends_unanswered_call() {
    let mut h = Harness::new();
    let (_, _) = h.invite();
    h.core
        .handle_transport_error(h.now, "10.9.9.9:5060".parse().unwrap());
    assert!(h.events().is_empty(), "other destinations do not matter");
    h.core.handle_transport_error(h.now, peer());
    assert_eq!(
        terminated(&h.events()),
        vec![(503, EndCause::TransportError)]
    );
    assert!(
        h.run_until(Duration::from_secs(5)).is_empty(),
        "no more retransmissions"
    );
}

/// Mutated challenges and answers to a fresh INVITE must never panic the core (digest parsing,
/// dialog creation from odd headers).
#[test]
fn mutated_answers_to_invite_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let mut h = Harness::new();
    for i in 0..1500 {
        let (_, invite) = h.invite();
        let mut ok = ok_200(&invite, "t");
        ok.headers.insert(
            Name::RECORD_ROUTE,
            "<sip:10.0.0.8:5080;lr>, <sip:p.example;lr>",
        );
        let base = if i % 2 == 0 {
            challenge(&invite, 407, "n", "SHA-256").to_bytes().to_vec()
        } else {
            ok.to_bytes().to_vec()
        };
        let mut m = base;
        for _ in 0..rng.gen_range(1..4) {
            let j = rng.gen_range(0..m.len());
            match rng.gen_range(0..3) {
                0 => m[j] = rng.gen(),
                1 => m[j] = b" ,;:<>\"=@"[rng.gen_range(0..9)],
                _ => {
                    m.remove(j);
                }
            }
        }
        h.recv(&m);
        h.sent();
        h.events();
    }
}

/// An out-of-dialog request as a stranger would send it (`n` makes branch and Call-ID unique).
fn ood(method: &str, n: u32, to_tag: &str) -> Vec<u8> {
    format!(
        "{method} sip:trtc-sipgw@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bKs{n}\r\n\
From: <sip:x@192.0.2.66>;tag=xx{n}\r\nTo: <sip:trtc-sipgw@10.0.0.1>{to_tag}\r\nCall-ID: stranger-{n}\r\n\
CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn stranger() -> SocketAddr {
    "192.0.2.66:5060".parse().unwrap()
}

impl Harness {
    fn recv_from(&mut self, from: SocketAddr, data: &[u8]) {
        self.core.handle_datagram(self.now, from, data);
    }

    /// Sends OPTIONS, INVITE, BYE for an unknown dialog and REGISTER from `from`; returns
    /// the codes of what came back.
    fn probe(&mut self, from: SocketAddr, n: u32) -> Vec<u16> {
        self.recv_from(from, &ood("OPTIONS", n, ""));
        self.recv_from(from, &ood("INVITE", n + 1, ""));
        self.recv_from(from, &ood("BYE", n + 2, ";tag=nope"));
        self.recv_from(from, &ood("REGISTER", n + 3, ""));
        self.sent().iter().map(|t| resp(t).code()).collect()
    }
}

#[test]
fn untrusted_requests_leave_no_state_and_get_no_answer() {
    let mut h = Harness::new();
    assert!(h.probe(stranger(), 1).is_empty());
    // Another loopback address is a stranger too: the default is 127.0.0.1 and ::1 only.
    assert!(h.probe("127.0.0.2:5060".parse().unwrap(), 10).is_empty());
    assert!(h.events().is_empty());
    assert!(h.core.poll_timeout().is_none(), "nothing to retransmit");
    let s = h.core.stats();
    assert_eq!(s.transactions, 0);
    assert_eq!(s.untrusted_dropped, 8);
    assert_eq!(s.out_of_dialog_requests, 0);
}

#[test]
fn trusted_sources_are_answered() {
    let mut h = Harness::new();
    assert_eq!(
        h.probe("127.0.0.1:5060".parse().unwrap(), 1),
        [200, 480, 481, 405]
    );
    assert_eq!(
        h.probe("[::1]:5060".parse().unwrap(), 10),
        [200, 480, 481, 405]
    );
    assert_eq!(h.core.stats().untrusted_dropped, 0);
    // `[sip] trusted` replaces the default.
    let mut cfg = config();
    cfg.trusted = vec![crate::net::parse_net("192.0.2.0/24").unwrap()];
    let mut h = Harness::with(cfg);
    assert_eq!(h.probe(stranger(), 1), [200, 480, 481, 405]);
    assert!(h.probe("127.0.0.1:5060".parse().unwrap(), 10).is_empty());
    // The trunk's resolved addresses are trusted whatever the list says.
    let mut h = Harness::new();
    h.core.set_trunk_addrs(vec!["192.0.2.66".parse().unwrap()]);
    assert_eq!(h.probe(stranger(), 1), [200, 480, 481, 405]);
    assert!(h.probe("192.0.2.67:5060".parse().unwrap(), 10).is_empty());
}

#[test]
fn a_calls_destination_is_trusted_while_the_call_lives() {
    let mut h = Harness::new();
    let options = |n| {
        String::from_utf8(ood("OPTIONS", n, ""))
            .unwrap()
            .replace("192.0.2.66", "10.0.0.2")
            .into_bytes()
    };
    h.recv(&options(1));
    assert!(h.sent().is_empty(), "no call yet: the peer is a stranger");
    let (_, invite) = h.invite();
    h.recv(&options(2));
    assert_eq!(
        h.sent().iter().map(|t| resp(t).code()).collect::<Vec<_>>(),
        [200]
    );
    h.recv_resp(&answer(&invite, 486, "Busy Here", Some("bobtag")));
    h.sent();
    assert_eq!(terminated(&h.events()), vec![(486, EndCause::Rejected)]);
    h.run_until(Duration::from_secs(120));
    assert_eq!(h.core.stats().calls, 0);
    h.recv(&options(3));
    assert!(h.sent().is_empty(), "the call is gone, so is the trust");
    assert_eq!(h.core.stats().untrusted_dropped, 2);
}

#[test]
fn in_dialog_requests_from_anywhere_reach_a_live_dialog() {
    let mut h = Harness::new();
    let (call, invite, _) = answered(&mut h);
    // A BYE for another dialog from a stranger: dropped.
    h.recv_from(
        stranger(),
        &peer_request(&invite, "BYE", 1, "not-bobs-tag", "", ""),
    );
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.core.stats().untrusted_dropped, 1);
    // The dialog's own BYE from another proxy's address: handled, answered there.
    h.recv_from(
        stranger(),
        &peer_request(&invite, "BYE", 1, "bobtag", "", ""),
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, stranger());
    assert_eq!(resp(&sent[0]).code(), 200);
    let ev = h.events();
    assert_eq!(terminated(&ev), vec![(200, EndCause::RemoteBye)]);
    assert!(matches!(&ev[0], SipEvent::Terminated { call: c, .. } if *c == call));
}

#[test]
fn a_retransmitted_request_gets_the_cached_answer() {
    let mut h = Harness::new();
    let lo: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    h.recv_from(lo, &ood("OPTIONS", 1, ""));
    let first = h.sent();
    assert_eq!(first.len(), 1);
    h.recv_from(lo, &ood("OPTIONS", 1, ""));
    let again = h.sent();
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].bytes, first[0].bytes,
        "the same answer, To tag included"
    );
    let s = h.core.stats();
    assert_eq!(
        (s.transactions, s.retransmissions, s.out_of_dialog_requests),
        (1, 1, 1)
    );
}

#[test]
fn the_transaction_table_is_bounded_for_trusted_floods_too() {
    use super::transaction::MAX_SERVER_TRANSACTIONS;
    let mut h = Harness::new();
    let lo: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let n = MAX_SERVER_TRANSACTIONS as u32 + 20;
    for i in 0..n {
        h.recv_from(lo, &ood("OPTIONS", i, ""));
    }
    assert_eq!(h.sent().len(), MAX_SERVER_TRANSACTIONS);
    let s = h.core.stats();
    assert_eq!(s.transactions, MAX_SERVER_TRANSACTIONS);
    assert_eq!(s.table_full_dropped, 20);
    // Timer J frees the table: new requests are answered again.
    h.run_until(Duration::from_secs(40));
    assert_eq!(h.core.stats().transactions, 0);
    h.recv_from(lo, &ood("OPTIONS", n, ""));
    assert_eq!(h.sent().len(), 1);
}

#[test]
fn requests_whose_answer_would_reflect_too_much_are_dropped() {
    use super::message::MAX_VIAS;
    let mut h = Harness::new();
    let lo: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let with_vias = |n: usize, i: u32| {
        let extra: String = (1..n)
            .map(|k| format!("v: SIP/2.0/UDP 198.51.100.{k}:5060;branch=z9hG4bKx{k}\r\n"))
            .collect();
        String::from_utf8(ood("OPTIONS", i, ""))
            .unwrap()
            .replacen("From:", &format!("{extra}From:"), 1)
            .into_bytes()
    };
    let ok = with_vias(MAX_VIAS, 1);
    h.recv_from(lo, &ok);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let answer = resp(&sent[0]);
    assert_eq!(answer.code(), 200);
    assert_eq!(answer.headers.get_raw(&Name::VIA).count(), MAX_VIAS);
    // Compact forms come back long and we add a To tag, Server, Allow and Accept: a few
    // hundred bytes at most, never a multiple of the request.
    assert!(
        sent[0].bytes.len() <= ok.len() + 400,
        "{} vs {}",
        sent[0].bytes.len(),
        ok.len()
    );
    // One Via more (here as a comma list): no state, no answer, even from a trusted source.
    let too_many = String::from_utf8(with_vias(MAX_VIAS, 2)).unwrap().replacen(
        ";branch=z9hG4bKx1\r\n",
        ";branch=z9hG4bKx1, SIP/2.0/UDP 198.51.100.99\r\n",
        1,
    );
    h.recv_from(lo, too_many.as_bytes());
    assert!(h.sent().is_empty());
    let s = h.core.stats();
    assert_eq!((s.oversized_dropped, s.transactions), (1, 1));
}

#[test]
fn without_a_live_call_untrusted_requests_are_not_even_parsed() {
    let mut h = Harness::new();
    // Malformed, but a request line from a stranger: dropped as untrusted, not as garbage.
    h.recv_from(stranger(), b"OPTIONS sip:x SIP/2.0\r\n\r\n");
    h.recv_from(stranger(), b"\r\n\r\n");
    h.recv_from(stranger(), b"\x16\x03\x01\x02\x00");
    // Responses are still read (and, matching nothing, dropped as strays).
    h.recv_from(
        stranger(),
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnone\r\n\
From: <sip:a@10.0.0.1>;tag=1\r\nTo: <sip:b@10.0.0.2>;tag=2\r\nCall-ID: none\r\nCSeq: 1 INVITE\r\n\r\n",
    );
    assert!(h.sent().is_empty());
    let s = h.core.stats();
    assert_eq!(
        (
            s.untrusted_dropped,
            s.keepalives,
            s.garbage,
            s.stray_responses
        ),
        (1, 1, 1, 1)
    );
    // With a call alive the request must be parsed to look for its dialog: then it is garbage.
    h.invite();
    h.recv_from(stranger(), b"OPTIONS sip:x SIP/2.0\r\n\r\n");
    assert_eq!(h.core.stats().garbage, 2);
}

#[test]
fn with_a_registrar_a_strangers_register_is_challenged_and_only_that() {
    let mut cfg = config();
    cfg.registrar = Some(super::registrar::RegistrarConfig {
        realm: "trtc-sipgw".into(),
        users: [("2001".to_string(), "secret2001".to_string())].into(),
        algorithms: vec![super::registrar::Algorithm::Md5],
        min_expires_s: 60,
        max_expires_s: 3600,
        default_expires_s: 3600,
    });
    cfg.registrar_secret = b"k".to_vec();
    let mut h = Harness::with(cfg);
    // OPTIONS, INVITE and BYE from a stranger still cost nothing; its REGISTER is
    // answered with a challenge (the digest is what keeps it out) and leaves no binding.
    assert_eq!(h.probe(stranger(), 1), [401]);
    assert_eq!(h.core.stats().untrusted_dropped, 3);
    assert!(h.core.take_changed_bindings().is_none());
    assert!(h.core.registered_contacts(h.now, "2001").is_empty());
    // Without a registrar the REGISTER is dropped unread, like the rest.
    let mut h = Harness::new();
    assert!(h.probe(stranger(), 1).is_empty());
}

#[test]
fn a_device_registered_from_a_strangers_address_is_trusted_while_bound() {
    use super::registrar::{digest_response, Algorithm, RegistrarConfig};
    let mut cfg = config();
    cfg.registrar = Some(RegistrarConfig {
        realm: "trtc-sipgw".into(),
        users: [("2001".to_string(), "secret2001".to_string())].into(),
        algorithms: vec![Algorithm::Md5],
        min_expires_s: 1,
        max_expires_s: 3600,
        default_expires_s: 3600,
    });
    cfg.registrar_secret = b"k".to_vec();
    let mut h = Harness::with(cfg);
    h.core.set_wall_clock(h.now, 1_900_000_000);
    let register = |auth: &str, cseq: u32| {
        format!(
            "REGISTER sip:10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bKr{cseq}\r\n\
From: <sip:2001@10.0.0.1>;tag=d1\r\nTo: <sip:2001@10.0.0.1>\r\nCall-ID: reg-1\r\nCSeq: {cseq} REGISTER\r\n\
Contact: <sip:2001@192.0.2.66:5060>\r\nExpires: 60\r\n{auth}Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    };
    h.recv_from(stranger(), &register("", 1));
    let sent = h.sent();
    let challenge = resp(&sent[0]);
    assert_eq!(challenge.code(), 401);
    let www = challenge
        .headers
        .get_raw(&Name::WWW_AUTHENTICATE)
        .next()
        .unwrap()
        .to_string();
    let nonce = www
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let response = digest_response(
        Algorithm::Md5,
        "2001",
        "trtc-sipgw",
        "secret2001",
        "REGISTER",
        "sip:10.0.0.1",
        nonce,
        None,
    );
    let auth = format!(
        "Authorization: Digest username=\"2001\", realm=\"trtc-sipgw\", nonce=\"{nonce}\", uri=\"sip:10.0.0.1\", response=\"{response}\", algorithm=MD5\r\n"
    );
    h.recv_from(stranger(), &register(&auth, 2));
    assert_eq!(resp(&h.sent()[0]).code(), 200);
    assert!(h.core.take_changed_bindings().is_some());
    // Its requests are handled now: OPTIONS 200, INVITE 480 (no inbound), BYE 481, and
    // its REGISTER without credentials is challenged.
    assert_eq!(h.probe(stranger(), 10), [200, 480, 481, 401]);
    assert_eq!(h.core.registered_contacts(h.now, "2001").len(), 1);
    // Once the binding lapses, the address is a stranger again.
    h.now += Duration::from_secs(61);
    assert!(h.core.registered_contacts(h.now, "2001").is_empty());
    assert_eq!(h.probe(stranger(), 20), [401], "only REGISTER is answered");
}

// --- SIP over TCP (RFC 3261 17 and 18 for a reliable transport) ---

use super::transport::Transport;

impl Harness {
    /// Calls bob over TCP; returns the call and the INVITE (checked to leave over TCP).
    fn invite_tcp(&mut self) -> (CallKey, Request) {
        let key = self
            .core
            .invite_over(
                self.now,
                "sip:bob@10.0.0.2",
                (peer(), Transport::Tcp),
                local_media(),
                None,
            )
            .unwrap();
        let sent = self.sent();
        assert_eq!(sent.len(), 1, "one INVITE expected");
        assert_eq!((sent[0].to, sent[0].transport), (peer(), Transport::Tcp));
        (key, req(&sent[0]))
    }

    fn recv_tcp(&mut self, data: &[u8]) {
        self.core
            .handle_message(self.now, peer(), Transport::Tcp, data);
    }
}

#[test]
fn over_tcp_the_invite_says_tcp_and_only_timer_b_runs() {
    let mut h = Harness::new();
    let (call, invite) = h.invite_tcp();
    let text = String::from_utf8_lossy(&invite.to_bytes()).into_owned();
    assert!(
        text.contains("Via: SIP/2.0/TCP 10.0.0.1:5060;branch="),
        "{text}"
    );
    assert!(
        text.contains("Contact: <sip:trtc-sipgw@10.0.0.1:5060;transport=tcp>\r\n"),
        "{text}"
    );
    // No Timer A: nothing is sent again; Timer B still ends the call at 64*T1.
    let sends = h.run_until(Duration::from_secs(31));
    assert!(sends.is_empty(), "retransmitted over TCP: {sends:?}");
    assert!(h.events().is_empty());
    assert!(h.run_until(Duration::from_secs(33)).is_empty());
    assert_eq!(terminated(&h.events()), vec![(408, EndCause::NoAnswer)]);
    assert_eq!(h.core.stats().retransmissions, 0);
    let _ = call;
}

#[test]
fn a_tcp_dialog_keeps_its_ack_bye_and_answers_on_tcp() {
    let mut h = Harness::new();
    let (call, invite) = h.invite_tcp();
    let ok = ok_200(&invite, "bobtag");
    h.recv_tcp(&ok.to_bytes());
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "the ACK");
    assert_eq!(sent[0].transport, Transport::Tcp);
    assert!(text(&sent[0]).starts_with("ACK "));
    assert!(text(&sent[0]).contains("Via: SIP/2.0/TCP "));
    assert!(matches!(h.events()[1], SipEvent::Confirmed { .. }));
    // The peer's in-dialog INFO comes over TCP: answered on TCP, to where it came from.
    let info = peer_request(&invite, "INFO", 1, "bobtag", "", "");
    h.recv_tcp(&info);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].to, sent[0].transport), (peer(), Transport::Tcp));
    assert_eq!(resp(&sent[0]).code(), 200);
    // Timer J is zero over TCP: the server transaction is gone at once.
    h.core.handle_timeout(h.now);
    assert_eq!(
        h.core.stats().transactions,
        1,
        "only the INVITE's (Timer M)"
    );
    // Our BYE takes TCP too, and is not retransmitted while unanswered.
    h.core.hangup(h.now, call);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].transport, Transport::Tcp);
    let bye = req(&sent[0]);
    assert_eq!(*bye.method(), Method::BYE);
    assert!(text(&sent[0]).contains("Via: SIP/2.0/TCP "));
    assert!(text(&sent[0]).contains(";transport=tcp>"), "our Contact");
    assert!(h.run_until(Duration::from_secs(20)).is_empty());
    h.recv_tcp(&answer(&bye, 200, "OK", None).to_bytes());
    assert_eq!(terminated(&h.events()), vec![(200, EndCause::LocalBye)]);
}

#[test]
fn a_tcp_request_is_answered_on_its_connection_without_retransmissions() {
    let mut h = Harness::new();
    // A trusted caller's INVITE over TCP from an ephemeral port (its connection).
    let conn: SocketAddr = "127.0.0.1:40123".parse().unwrap();
    let mut cfg = config();
    cfg.inbound = true;
    h.core = SipCore::new(cfg, 7);
    let sdp = String::from_utf8_lossy(PEER_SDP);
    let invite = format!(
        "INVITE sip:1002@10.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/TCP 127.0.0.1:5090;branch=z9hG4bKtcpin1\r\nMax-Forwards: 70\r\n\
From: <sip:caller@127.0.0.1>;tag=c1\r\nTo: <sip:1002@10.0.0.1>\r\nCall-ID: tcpin\r\n\
CSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:5090;transport=tcp>\r\n\
Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    h.core
        .handle_message(h.now, conn, Transport::Tcp, invite.as_bytes());
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "100 Trying");
    assert_eq!((sent[0].to, sent[0].transport), (conn, Transport::Tcp));
    let call = match h.events().first() {
        Some(SipEvent::Incoming(i)) => {
            assert_eq!(i.transport, Transport::Tcp);
            i.call
        }
        other => panic!("{other:?}"),
    };
    h.core.answer(h.now, call, local_media());
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].to, sent[0].transport), (conn, Transport::Tcp));
    let ok = resp(&sent[0]);
    assert_eq!(ok.code(), 200);
    assert!(
        text(&sent[0]).contains(";transport=tcp>"),
        "{}",
        text(&sent[0])
    );
    // No Timer G (nor the 2xx's retransmission) over TCP; Timer H still ends the wait.
    let sends = h.run_until(Duration::from_secs(31));
    assert!(sends.is_empty(), "{sends:?}");
    let sends = h.run_until(Duration::from_secs(40));
    assert_eq!(sends.len(), 1, "BYE once Timer H fired without an ACK");
    assert_eq!(sends[0].1.transport, Transport::Tcp);
    assert_eq!(*req(&sends[0].1).method(), Method::BYE);
}

#[test]
fn an_invite_over_1300_bytes_goes_over_tcp_instead_of_udp() {
    let mut h = Harness::new();
    let (_, small) = h.invite();
    assert!(small.to_bytes().len() < 1300);
    let long_name = format!("\"{}\" <sip:alice@10.0.0.1>", "A".repeat(900));
    let creds = super::Credentials {
        from: Some(long_name),
        ..Default::default()
    };
    h.core
        .invite_as(
            h.now,
            "sip:bob@10.0.0.2",
            peer(),
            local_media(),
            Some(&creds),
        )
        .unwrap();
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].bytes.len() > 1300);
    assert_eq!(sent[0].transport, Transport::Tcp);
    assert!(text(&sent[0]).contains("Via: SIP/2.0/TCP 10.0.0.1:5060;branch="));
    // Not retransmitted either: it is a TCP transaction now.
    let later: Vec<_> = h
        .run_until(Duration::from_secs(10))
        .into_iter()
        .filter(|(_, t)| t.transport == Transport::Tcp)
        .collect();
    assert!(later.is_empty(), "{later:?}");
}

#[test]
fn a_uri_with_transport_tcp_is_called_over_tcp() {
    let mut h = Harness::new();
    h.core
        .invite(
            h.now,
            "sip:bob@10.0.0.2;transport=tcp",
            peer(),
            local_media(),
        )
        .unwrap();
    let sent = h.sent();
    assert_eq!(sent[0].transport, Transport::Tcp);
    h.core
        .ping(h.now, "sip:10.0.0.2;transport=tcp", peer())
        .unwrap();
    let sent = h.sent();
    assert_eq!(sent[0].transport, Transport::Tcp);
    assert!(text(&sent[0]).starts_with("OPTIONS "));
}

#[test]
fn a_tcp_transport_error_ends_only_what_went_over_tcp() {
    let mut h = Harness::new();
    let (udp_call, _) = h.invite();
    let (tcp_call, _) = h.invite_tcp();
    h.core
        .handle_transport_error_on(h.now, peer(), Transport::Tcp);
    let ended: Vec<CallKey> = h
        .events()
        .iter()
        .filter_map(|e| match e {
            SipEvent::Terminated { call, cause, .. } => {
                assert_eq!(*cause, EndCause::TransportError);
                Some(*call)
            }
            _ => None,
        })
        .collect();
    assert_eq!(ended, vec![tcp_call]);
    // The UDP call still retransmits its INVITE.
    assert!(!h.run_until(Duration::from_millis(600)).is_empty());
    h.core.handle_transport_error(h.now, peer());
    assert_eq!(
        terminated(&h.events()),
        vec![(503, EndCause::TransportError)]
    );
    let _ = udp_call;
}
