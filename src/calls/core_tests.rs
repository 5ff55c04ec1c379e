//! The call core driven by a fake clock: every ending the end-to-end tests cover, each
//! asserting the exact state lines and actions in order. No socket, no sleep.

use super::*;
use crate::media::rtp::{self, RtpHeader};
use crate::media::Codec;
use crate::sip::sdp::{Direction, SdpError};
use crate::sip::{CallKey, EndCause};

const TTL: Duration = Duration::from_secs(600);
const NO_RTP: Duration = Duration::from_secs(30);
const CALL: CallKey = CallKey(1);
/// Where the INVITE went: a PBX in front of the phone.
const TRUNK_IP: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

fn phone() -> SocketAddr {
    "10.0.0.2:5000".parse().unwrap()
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

struct Test {
    core: CallCore,
    t0: Instant,
}

impl Test {
    /// A call placed at `t0`: room entered, INVITE sent, CALLING taken.
    fn new() -> Self {
        Self::with_ttl(TTL)
    }

    fn with_ttl(ttl: Duration) -> Self {
        let t0 = Instant::now();
        let mut core = CallCore::new(t0, config(t0, ttl));
        core.room_entered(t0);
        core.invite_sent(t0, Some(TRUNK_IP));
        let mut t = Test { core, t0 };
        assert_eq!(t.actions(), ["record 1 0 "]);
        t
    }

    fn at(&self, s: f64) -> Instant {
        self.t0 + secs(s)
    }

    fn sip(&mut self, s: f64, ev: SipEvent) -> Vec<String> {
        let now = self.at(s);
        self.core.handle_sip_event(now, ev);
        self.actions()
    }

    fn command(&mut self, s: f64, c: Control) -> Vec<String> {
        let now = self.at(s);
        self.core.handle_command(now, c);
        self.actions()
    }

    fn timeout(&mut self, s: f64) -> Vec<String> {
        let now = self.at(s);
        self.core.handle_timeout(now);
        self.actions()
    }

    /// Like [`Test::timeout`], without the periodic statistics.
    fn timeout_events(&mut self, s: f64) -> Vec<String> {
        let mut acts = self.timeout(s);
        acts.retain(|a| !a.starts_with("stats"));
        acts
    }

    /// The deadline the core names, in seconds after `t0`.
    fn deadline(&self) -> Option<f64> {
        self.core
            .poll_timeout()
            .map(|at| at.duration_since(self.t0).as_secs_f64())
    }

    /// Everything queued, in a form easy to compare.
    fn actions(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.core.poll_action())
            .map(|a| match a {
                Action::Record(c) => format!("record {} {} {}", c.state.number(), c.code, c.reason),
                Action::SipHangup(_) => "sip hangup".into(),
                Action::SipInfo { content_type, body } => {
                    format!("info {content_type} {}", body.replace("\r\n", ";"))
                }
                Action::PhoneDtmf(d) => format!("dtmf {d}"),
                Action::RoomDtmf(d) => format!("room dtmf {d}"),
                Action::LeaveRoom => "leave room".into(),
                Action::Stats(s) => format!("stats {}", s.codec.name()),
            })
            .collect()
    }

    /// 180, 200 with a sendrecv PCMU answer, ACK: the call is confirmed at `s`.
    fn answer(&mut self, s: f64) {
        assert_eq!(
            self.sip(s - 1.0, progress(180, "Ringing")),
            ["record 3 180 Ringing"]
        );
        assert_eq!(
            self.sip(s, answered(Some(Ok(media(Direction::SendRecv, Some(101)))))),
            ["record 4 200 OK", "stats PCMU"]
        );
        assert_eq!(
            self.sip(s, SipEvent::Confirmed { call: CALL }),
            ["record 5 200 OK"]
        );
    }

    /// One PCMU packet from the phone at `s`.
    fn rtp(&mut self, s: f64, seq: u16, pt: u8, payload: &[u8]) {
        self.rtp_from(s, phone(), 0x1234, seq, pt, payload);
    }

    /// One RTP packet from anywhere at `s`.
    fn rtp_from(&mut self, s: f64, from: SocketAddr, ssrc: u32, seq: u16, pt: u8, payload: &[u8]) {
        let mut buf = [0u8; 256];
        let header = RtpHeader {
            marker: false,
            payload_type: pt,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc,
        };
        let n = rtp::write(&header, payload, &mut buf).unwrap();
        let now = self.at(s);
        self.core.handle_rtp(now, from, &buf[..n]);
    }

    fn assert_done(&mut self) {
        assert!(self.core.is_done(), "the call is over");
        assert_eq!(self.core.poll_timeout(), None, "no deadline after the end");
    }
}

fn config(t0: Instant, ttl: Duration) -> CallConfig {
    CallConfig {
        id: "test".into(),
        started_at: t0,
        ttl,
        no_rtp_timeout: NO_RTP,
        jitter_frames: 2,
        room_rate: 8000,
        g722_level: crate::media::g722::G722Level::Standard,
        seed: 7,
    }
}

fn media(direction: Direction, telephone_event_pt: Option<u8>) -> NegotiatedMedia {
    NegotiatedMedia {
        remote: phone(),
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event_pt,
        telephone_event_clock: 8000,
        direction,
        ptime_ms: None,
        fmtp: None,
        rtcp_mux: false,
    }
}

fn progress(code: u16, reason: &str) -> SipEvent {
    SipEvent::Progress {
        call: CALL,
        code,
        reason: reason.into(),
        media: None,
    }
}

fn answered(media: Option<Result<NegotiatedMedia, SdpError>>) -> SipEvent {
    SipEvent::Answered {
        call: CALL,
        code: 200,
        reason: "OK".into(),
        media,
    }
}

fn terminated(code: u16, reason: &str, cause: EndCause) -> SipEvent {
    SipEvent::Terminated {
        call: CALL,
        code,
        reason: reason.into(),
        cause,
    }
}

// ----- endings -----

#[test]
fn phone_hangs_up_after_answer() {
    let mut t = Test::new();
    t.answer(2.0);
    assert_eq!(
        t.sip(
            9.0,
            terminated(200, "Normal call clearing", EndCause::RemoteBye)
        ),
        ["leave room", "stats PCMU", "record 6 200 phone hung up"]
    );
    t.assert_done();
}

#[test]
fn shutdown_before_answer_cancels_and_keeps_the_487() {
    let mut t = Test::new();
    assert_eq!(
        t.sip(1.0, progress(180, "Ringing")),
        ["record 3 180 Ringing"]
    );
    assert_eq!(
        t.command(2.0, Control::Hangup(HangupCause::Shutdown)),
        ["sip hangup"]
    );
    assert_eq!(t.core.next_timer(), Some(Timer::Grace));
    assert_eq!(t.deadline(), Some(6.0));
    assert_eq!(
        t.sip(
            2.1,
            terminated(487, "Request Terminated", EndCause::Cancelled)
        ),
        ["leave room", "record 6 487 shutdown requested"]
    );
    t.assert_done();
}

#[test]
fn shutdown_after_answer_says_so() {
    let mut t = Test::new();
    t.answer(2.0);
    assert_eq!(
        t.command(5.0, Control::Hangup(HangupCause::Shutdown)),
        ["sip hangup"]
    );
    assert!(
        t.command(5.1, Control::Hangup(HangupCause::Ttl)).is_empty(),
        "the first cause wins"
    );
    assert_eq!(
        t.sip(5.2, terminated(200, "OK", EndCause::LocalBye)),
        [
            "leave room",
            "stats PCMU",
            "record 6 200 shutdown requested"
        ]
    );
    t.assert_done();
}

#[test]
fn ttl_before_answer_is_408() {
    let mut t = Test::with_ttl(secs(20.0));
    assert_eq!(
        t.sip(1.0, progress(180, "Ringing")),
        ["record 3 180 Ringing"]
    );
    assert_eq!(t.core.next_timer(), Some(Timer::Ttl));
    assert_eq!(t.deadline(), Some(20.0));
    assert!(t.timeout(19.99).is_empty(), "not yet");
    assert_eq!(t.timeout(20.0), ["sip hangup"]);
    assert!(t.timeout(20.0).is_empty(), "a timer fires once");
    assert_eq!(
        t.sip(
            20.1,
            terminated(487, "Request Terminated", EndCause::Cancelled)
        ),
        ["leave room", "record 6 408 ttl expired, no answer"]
    );
    t.assert_done();
}

#[test]
fn ttl_before_answer_without_word_from_sip_ends_after_the_grace() {
    let mut t = Test::with_ttl(secs(20.0));
    assert_eq!(t.timeout(20.0), ["sip hangup"]);
    assert_eq!(t.deadline(), Some(24.0));
    assert!(t.timeout(23.9).is_empty());
    assert_eq!(
        t.timeout(24.0),
        ["leave room", "record 6 408 ttl expired, no answer"]
    );
    t.assert_done();
    assert!(
        t.sip(30.0, terminated(487, "", EndCause::Cancelled))
            .is_empty(),
        "nothing after the end"
    );
}

#[test]
fn ttl_after_answer_is_200() {
    let mut t = Test::with_ttl(secs(20.0));
    t.answer(2.0);
    // Keep the phone talking so the no-RTP watchdog stays quiet.
    for i in 0..17u16 {
        t.rtp(2.0 + f64::from(i), i, 0, &[0xff; 160]);
        t.timeout(2.0 + f64::from(i));
    }
    assert!(t.timeout_events(19.9).is_empty());
    assert_eq!(t.timeout_events(20.0), ["sip hangup"]);
    assert_eq!(
        t.sip(20.2, terminated(200, "OK", EndCause::LocalBye)),
        ["leave room", "stats PCMU", "record 6 200 ttl expired"]
    );
    t.assert_done();
}

#[test]
fn busy_keeps_the_phones_phrase() {
    let mut t = Test::new();
    assert_eq!(
        t.sip(1.0, terminated(486, "Busy Here", EndCause::Rejected)),
        ["leave room", "record 6 486 Busy Here"]
    );
    t.assert_done();
}

#[test]
fn no_answer_from_the_phone_is_408() {
    let mut t = Test::new();
    assert_eq!(
        t.sip(32.0, terminated(408, "", EndCause::NoAnswer)),
        ["leave room", "record 6 408 no response from the phone"]
    );
    t.assert_done();
}

#[test]
fn room_refused_ends_the_call_before_its_invite() {
    let t0 = Instant::now();
    let mut core = CallCore::new(t0, config(t0, TTL));
    core.setup_failed(t0, 0, "room entry failed: bad userSig (-100018)");
    let mut t = Test { core, t0 };
    assert_eq!(
        t.actions(),
        ["record 6 0 room entry failed: bad userSig (-100018)"],
        "no room to leave: it was never entered"
    );
    t.assert_done();
}

#[test]
fn setup_failing_after_room_entry_leaves_the_room_first() {
    let t0 = Instant::now();
    let mut core = CallCore::new(t0, config(t0, TTL));
    core.room_entered(t0);
    core.setup_failed(t0, 0, "no media port: exhausted");
    let mut t = Test { core, t0 };
    assert_eq!(
        t.actions(),
        ["leave room", "record 6 0 no media port: exhausted"]
    );
    t.assert_done();
}

#[test]
fn room_dismissed_hangs_up_the_phone() {
    let mut t = Test::new();
    t.answer(2.0);
    let now = t.at(10.0);
    t.core.handle_room_event(
        now,
        RoomEvent::Closed {
            reason: "room closed".into(),
        },
    );
    assert_eq!(t.actions(), ["leave room", "sip hangup"]);
    assert_eq!(
        t.sip(10.1, terminated(200, "OK", EndCause::LocalBye)),
        ["stats PCMU", "record 6 200 room closed"],
        "the room is left once"
    );
    t.assert_done();
}

#[test]
fn no_rtp_after_confirmation_hangs_up() {
    let mut t = Test::new();
    t.answer(2.0);
    assert_eq!(t.core.next_timer(), Some(Timer::Stats));
    t.timeout(3.0);
    assert!(t.timeout_events(31.9).is_empty());
    assert_eq!(t.timeout_events(32.0), ["sip hangup"]);
    assert_eq!(
        t.sip(32.1, terminated(200, "OK", EndCause::LocalBye)),
        ["leave room", "stats PCMU", "record 6 200 no RTP for 30 s"]
    );
    t.assert_done();
}

#[test]
fn rtp_pushes_the_watchdog_back() {
    let mut t = Test::new();
    t.answer(2.0);
    t.rtp(12.0, 1, 0, &[0xff; 160]);
    assert!(t.timeout_events(32.0).is_empty(), "heard at 12 s");
    assert!(t.timeout_events(41.9).is_empty());
    assert_eq!(t.timeout_events(42.0), ["sip hangup"]);
}

#[test]
fn packets_from_a_stranger_do_not_feed_the_watchdog() {
    let mut t = Test::new();
    t.answer(2.0);
    // Pinned to the phone by its first packet, then only a stranger talks.
    t.rtp(3.0, 1, 0, &[0xff; 160]);
    let stranger: SocketAddr = "10.9.9.9:4000".parse().unwrap();
    t.rtp_from(20.0, stranger, 0x9999, 2, 0, &[0xff; 160]);
    assert!(t.timeout_events(32.9).is_empty());
    assert_eq!(t.timeout_events(33.0), ["sip hangup"]);
}

#[test]
fn a_stranger_before_the_phone_is_not_latched_nor_heard_as_life() {
    let mut t = Test::new();
    t.answer(2.0);
    // A stranger sprays from the answer on; the phone never sends. Before pinning, the
    // old latch took the first valid packet from anywhere, and its RTP then fed the
    // watchdog for ever.
    let stranger: SocketAddr = "10.9.9.9:4000".parse().unwrap();
    for seq in 0..30u16 {
        let s = 2.5 + f64::from(seq);
        t.rtp_from(s, stranger, 0x1234, seq, 0, &[0xff; 160]);
        // and RTCP: a BYE, from the stranger's RTP port + 1
        let bye = [0x81, 203, 0, 1, 0, 0, 0x12, 0x34];
        let now = t.at(s);
        t.core
            .handle_rtcp(now, SocketAddr::new(stranger.ip(), 4001), &bye);
        let acts = t.timeout_events(2.6 + f64::from(seq));
        assert!(acts.is_empty(), "at {seq}: {acts:?}");
    }
    assert_eq!(t.timeout_events(32.0), ["sip hangup"]);
}

#[test]
fn a_phone_behind_nat_is_heard_from_the_signalling_ip() {
    let mut t = Test::new();
    t.answer(2.0);
    // The SDP said 10.0.0.2:5000; the RTP comes from the IP the INVITE went to.
    t.rtp_from(
        20.0,
        SocketAddr::new(TRUNK_IP, 41000),
        0x1234,
        1,
        0,
        &[0xff; 160],
    );
    assert!(t.timeout_events(32.0).is_empty(), "heard at 20 s");
    assert_eq!(t.timeout_events(50.0), ["sip hangup"]);
}

#[test]
fn hold_longer_than_the_watchdog_is_not_silence() {
    let mut t = Test::new();
    t.answer(2.0);
    let hold = SipEvent::RemoteOffer {
        call: CALL,
        media: media(Direction::Inactive, Some(101)),
    };
    assert!(t.sip(5.0, hold).is_empty());
    for s in (6..=300).step_by(7) {
        let acts = t.timeout_events(f64::from(s));
        assert!(acts.is_empty(), "on hold at {s} s: {acts:?}");
    }
    // Resumed at 300 s: the watchdog counts from the resume.
    let resume = SipEvent::RemoteOffer {
        call: CALL,
        media: media(Direction::SendRecv, Some(101)),
    };
    assert!(t.sip(300.0, resume).is_empty());
    assert!(t.timeout_events(329.9).is_empty());
    assert_eq!(t.timeout_events(330.0), ["sip hangup"]);
}

#[test]
fn gateway_stopping_says_so() {
    let mut t = Test::new();
    t.answer(2.0);
    assert_eq!(
        t.command(4.0, Control::Hangup(HangupCause::GatewayStopping)),
        ["sip hangup"]
    );
    assert_eq!(
        t.sip(4.1, terminated(200, "OK", EndCause::LocalBye)),
        ["leave room", "stats PCMU", "record 6 200 gateway stopping"]
    );
    t.assert_done();
}

#[test]
fn unusable_answer_is_488() {
    let mut t = Test::new();
    assert_eq!(
        t.sip(1.0, answered(Some(Err(SdpError::NoCommonCodec)))),
        ["record 4 200 OK", "sip hangup"]
    );
    assert_eq!(
        t.sip(1.0, SipEvent::Confirmed { call: CALL }),
        ["record 5 200 OK"]
    );
    assert_eq!(
        t.sip(1.1, terminated(200, "OK", EndCause::LocalBye)),
        ["leave room", "record 6 488 no common codec"]
    );
    t.assert_done();
}

#[test]
fn answer_without_sdp_keeps_the_early_media_or_is_488() {
    let mut t = Test::new();
    let early = SipEvent::Progress {
        call: CALL,
        code: 183,
        reason: "Session Progress".into(),
        media: Some(Ok(media(Direction::SendRecv, None))),
    };
    assert_eq!(
        t.sip(1.0, early),
        ["record 3 183 Session Progress", "stats PCMU"]
    );
    assert_eq!(t.sip(2.0, answered(None)), ["record 4 200 OK"]);

    let mut t = Test::new();
    assert_eq!(
        t.sip(2.0, answered(None)),
        ["record 4 200 OK", "sip hangup"]
    );
}

// ----- touch tones -----

#[test]
fn dtmf_from_the_phone_by_info_and_by_rfc4733() {
    let mut t = Test::new();
    t.answer(2.0);
    let info = SipEvent::Info {
        call: CALL,
        content_type: "application/dtmf-relay".into(),
        body: bytes::Bytes::from_static(b"Signal=5\r\nDuration=160\r\n"),
    };
    assert_eq!(t.sip(3.0, info), ["dtmf 5"]);
    let junk = SipEvent::Info {
        call: CALL,
        content_type: "application/dtmf-relay".into(),
        body: bytes::Bytes::from_static(b"Signal=Z\r\n"),
    };
    assert!(t.sip(3.1, junk).is_empty());
    // RFC 4733: '#' (event 11), end bit set.
    t.rtp(4.0, 10, 101, &[11, 0x80 | 10, 0x03, 0x20]);
    assert_eq!(t.actions(), ["dtmf #"]);
}

#[test]
fn dtmf_to_the_phone_by_rfc4733_when_negotiated() {
    let mut t = Test::new();
    t.answer(2.0);
    assert!(t.command(3.0, Control::Dtmf("1".into())).is_empty());
    let mut out = [0u8; MAX_DATAGRAM];
    let mut event_packets = 0;
    for i in 0..10 {
        let now = t.at(3.0 + f64::from(i) * 0.02);
        let frame = PcmFrame::silence(8000);
        t.core.handle_media_tick(now, Some(&frame));
        assert!(
            t.core.poll_room_audio().is_some(),
            "a frame for the room each tick"
        );
        while let Some(tx) = t.core.poll_transmit(&mut out) {
            if tx.socket == MediaSocket::Rtp {
                assert_eq!(tx.to, phone());
                let p = rtp::parse(&out[..tx.len]).unwrap();
                if p.header.payload_type == 101 {
                    event_packets += 1;
                    assert_eq!(p.payload[0], 1, "event 1");
                }
            }
        }
    }
    assert!(event_packets > 0, "the digit went out as telephone-events");
}

#[test]
fn dtmf_to_the_phone_by_info_without_events_and_only_once_answered() {
    let mut t = Test::new();
    assert!(
        t.command(0.5, Control::Dtmf("9".into())).is_empty(),
        "not answered: nothing to send it in"
    );
    t.sip(1.0, answered(Some(Ok(media(Direction::SendRecv, None)))));
    t.sip(1.0, SipEvent::Confirmed { call: CALL });
    t.actions();
    assert_eq!(
        t.command(2.0, Control::Dtmf("1*".into())),
        [
            "info application/dtmf-relay Signal=1;Duration=100;",
            "info application/dtmf-relay Signal=*;Duration=100;"
        ]
    );
}

#[test]
fn dtmf_keyed_in_the_room_reaches_the_webhook_and_the_phone() {
    let mut t = Test::new();
    t.sip(1.0, answered(Some(Ok(media(Direction::SendRecv, None)))));
    t.sip(1.0, SipEvent::Confirmed { call: CALL });
    t.actions();
    let now = t.at(2.0);
    t.core
        .handle_room_event(now, RoomEvent::Dtmf { digit: '7' });
    assert_eq!(
        t.actions(),
        [
            "room dtmf 7",
            "info application/dtmf-relay Signal=7;Duration=100;"
        ]
    );
}

// ----- the media tick and time -----

#[test]
fn media_tick_without_media_does_nothing() {
    let mut t = Test::new();
    let frame = PcmFrame::silence(8000);
    t.core.handle_media_tick(t.at(0.02), Some(&frame));
    assert!(t.core.poll_room_audio().is_none());
    assert!(t.core.poll_transmit(&mut [0u8; MAX_DATAGRAM]).is_none());
}

#[test]
fn time_does_not_go_backwards() {
    let mut t = Test::with_ttl(secs(20.0));
    // A receive task read the clock later than the call task does next.
    t.rtp(21.0, 1, 0, &[0xff; 160]);
    assert_eq!(
        t.timeout(19.0),
        ["sip hangup"],
        "a stale now counts as the newest seen"
    );
}

#[test]
fn every_deadline_is_named() {
    let mut t = Test::with_ttl(secs(100.0));
    assert_eq!(
        (t.core.next_timer(), t.deadline()),
        (Some(Timer::Ttl), Some(100.0))
    );
    t.answer(2.0);
    assert_eq!(
        (t.core.next_timer(), t.deadline()),
        (Some(Timer::Stats), Some(3.0))
    );
    // Early or repeated calls do nothing.
    assert!(t.timeout(2.5).is_empty());
    assert_eq!(t.timeout(3.0), ["stats PCMU"]);
    assert!(t.timeout(3.0).is_empty());
    assert_eq!(t.deadline(), Some(4.0));
}
