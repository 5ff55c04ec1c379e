//! Peers that fail mid-call, played by a raw UDP socket that speaks just enough SIP:
//! the phone that vanishes after answering (no BYE, no RTP, no answer to our BYE), the
//! trunk that goes silent after 100/180, and the trunk that never answers at all. In
//! each the call ends with a reason that says so, every retransmission stops within
//! RFC 3261's timers (T1 shortened to 100 ms by `[sip] t1_ms`), and the call's slot is
//! freed for the next one.

mod common;

use common::callstate::assert_ending;
use common::gateway::{Gateway, GatewayConfig};
use common::net::PortBlock;
use common::tmp::TestDir;
use common::wait::secs;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A SIP peer on a plain UDP socket: it reads requests and answers only what the test
/// tells it to, so silence is exactly what the test wants.
struct RawPeer {
    sock: UdpSocket,
}

/// One request as received.
struct Received {
    from: SocketAddr,
    text: String,
}

impl Received {
    fn method(&self) -> &str {
        self.text.split(' ').next().unwrap_or("")
    }

    fn header(&self, name: &str) -> String {
        (self.text.lines())
            .find(|l| {
                l.to_ascii_lowercase()
                    .starts_with(&format!("{}:", name.to_ascii_lowercase()))
            })
            .and_then(|l| l.split_once(':').map(|(_, v)| v.trim().to_string()))
            .unwrap_or_default()
    }

    /// A response to this request, with `body` (SDP) if not empty.
    fn response(&self, code: u16, reason: &str, local: SocketAddr, body: &str) -> String {
        let to = self.header("To");
        let to = if to.contains("tag=") {
            to
        } else {
            format!("{to};tag=rawpeer1")
        };
        let mut r = format!(
            "SIP/2.0 {code} {reason}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:1002@{local}>\r\n",
            self.header("Via"),
            self.header("From"),
            self.header("Call-ID"),
            self.header("CSeq"),
        );
        if !body.is_empty() {
            r.push_str("Content-Type: application/sdp\r\n");
        }
        r.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        r
    }
}

impl RawPeer {
    fn bind(port: u16) -> RawPeer {
        let sock = UdpSocket::bind(("127.0.0.1", port)).expect("bind the raw peer");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        RawPeer { sock }
    }

    fn local(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    /// Every request received until `quiet` passes with nothing, or `limit` runs out.
    fn collect(&self, quiet: Duration, limit: Duration) -> Vec<Received> {
        let (start, mut last) = (Instant::now(), Instant::now());
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while last.elapsed() < quiet && start.elapsed() < limit {
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if !text.starts_with("SIP/2.0") {
                    out.push(Received { from, text });
                }
                last = Instant::now();
            }
        }
        out
    }

    /// Waits for the next request with this method.
    fn expect(&self, method: &str, timeout: Duration) -> Received {
        let start = Instant::now();
        let mut buf = [0u8; 4096];
        while start.elapsed() < timeout {
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                let r = Received {
                    from,
                    text: String::from_utf8_lossy(&buf[..n]).into_owned(),
                };
                if r.method() == method {
                    return r;
                }
            }
        }
        panic!("no {method} within {timeout:?}");
    }

    fn send(&self, to: SocketAddr, text: &str) {
        self.sock.send_to(text.as_bytes(), to).unwrap();
    }
}

fn sdp(rtp_port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
}

/// A gateway dialling the raw peer, with T1 = 100 ms (Timer B/F = 6.4 s).
fn start(
    name: &str,
    edit: impl FnOnce(&mut GatewayConfig),
) -> (TestDir, PortBlock, RawPeer, Gateway) {
    let dir = TestDir::new(name);
    let block = PortBlock::new();
    let peer = RawPeer::bind(block.port(0));
    let mut cfg = GatewayConfig::new(&dir, &block, format!("sip:{{number}}@{}", peer.local()));
    edit(&mut cfg);
    let toml = cfg.to_toml().replacen("[sip]\n", "[sip]\nt1_ms = 100\n", 1);
    let gw = Gateway::start_with_text(&dir, &toml);
    (dir, block, peer, gw)
}

fn count(requests: &[Received], method: &str) -> usize {
    requests.iter().filter(|r| r.method() == method).count()
}

#[test]
fn a_phone_that_vanishes_mid_call_is_hung_up_and_its_slot_freed() {
    let (_dir, block, peer, gw) = start("peer-vanishes", |cfg| {
        cfg.no_rtp_timeout_s = Some(2);
        cfg.max_calls = Some(1);
    });
    let id = gw.startup("1002", 60, None);
    let invite = peer.expect("INVITE", secs(10));
    peer.send(
        invite.from,
        &invite.response(200, "OK", peer.local(), &sdp(block.port(50))),
    );
    gw.wait_state(&id, 5, secs(10));
    // From here on the phone says and sends nothing: no RTP, no answer to the BYE.
    let requests = peer.collect(Duration::from_secs(5), secs(30));
    let lines = gw.wait_done(&id, secs(10));
    assert_ending(&lines, 200, "RTP");
    let byes = count(&requests, "BYE");
    // Timer E: 0, 0.1, 0.3, 0.7, 1.5, 3.1 s (T1 = 100 ms), then Timer F ends it at 6.4 s.
    assert!((2..=11).contains(&byes), "BYE sent {byes} times");
    assert!(
        peer.collect(Duration::from_secs(2), secs(3)).is_empty(),
        "retransmissions go on"
    );
    eprintln!("vanished phone: BYE sent {byes} times, then silence");

    // The one slot (max_calls = 1) is free again: the next call reaches the peer.
    let next = gw.startup("1002", 60, None);
    let invite = peer.expect("INVITE", secs(10));
    peer.send(
        invite.from,
        &invite.response(486, "Busy Here", peer.local(), ""),
    );
    assert_ending(&gw.wait_done(&next, secs(10)), 486, "Busy");
}

#[test]
fn a_trunk_silent_after_ringing_ends_the_call_at_its_ttl_and_cancel_stops() {
    let (_dir, _block, peer, gw) = start("peer-silent", |_| {});
    let id = gw.startup("1002", 3, None);
    let invite = peer.expect("INVITE", secs(10));
    peer.send(
        invite.from,
        &invite.response(100, "Trying", peer.local(), ""),
    );
    peer.send(
        invite.from,
        &invite.response(180, "Ringing", peer.local(), ""),
    );
    gw.wait_state(&id, 3, secs(10));
    // Nothing more from the trunk: not the 200, not a 200 to the CANCEL, not a 487.
    let requests = peer.collect(Duration::from_secs(5), secs(40));
    let lines = gw.wait_done(&id, secs(10));
    let last = lines.last().unwrap();
    assert_eq!(last.state, 6);
    assert!(
        last.reason.to_lowercase().contains("ttl") || last.code == 487,
        "ending does not say why: {} {}",
        last.code,
        last.reason
    );
    let cancels = count(&requests, "CANCEL");
    assert!((1..=11).contains(&cancels), "CANCEL sent {cancels} times");
    assert!(
        peer.collect(Duration::from_secs(2), secs(3)).is_empty(),
        "retransmissions go on"
    );
    eprintln!(
        "silent trunk: CANCEL sent {cancels} times; ended {} {}",
        last.code, last.reason
    );
}

#[test]
fn a_dead_trunk_gives_408_after_timer_b_and_the_invite_stops() {
    let (_dir, _block, peer, gw) = start("peer-dead", |_| {});
    let id = gw.startup("1002", 60, None);
    let requests = peer.collect(Duration::from_secs(5), secs(40));
    let lines = gw.wait_done(&id, secs(10));
    assert_ending(&lines, 408, "no response");
    let invites = count(&requests, "INVITE");
    // Timer A: 0, 0.1, 0.3, 0.7, 1.5, 3.1, 6.3 s, then Timer B at 6.4 s.
    assert!((5..=8).contains(&invites), "INVITE sent {invites} times");
    eprintln!("dead trunk: INVITE sent {invites} times, then 408");
}
