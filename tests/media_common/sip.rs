//! Raw SIP over UDP for the harness itself: an OPTIONS probe to see that a SIP peer
//! (kamailio) is up, and the garbage datagrams the robustness test throws at the gateway.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Sends OPTIONS to `target` and returns the status code of the first reply, if any
/// arrives within `wait`.
pub fn options_ping(target: SocketAddr, wait: Duration) -> Option<u16> {
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    let local = sock.local_addr().ok()?;
    let branch = format!("z9hG4bK{:x}", rand::random::<u64>());
    let msg = format!(
        "OPTIONS sip:{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{local}>;tag={tag:x}\r\n\
         To: <sip:{target}>\r\n\
         Call-ID: {cid:x}@probe\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        tag = rand::random::<u32>(),
        cid = rand::random::<u64>()
    );
    sock.send_to(msg.as_bytes(), target).ok()?;
    sock.set_read_timeout(Some(wait)).ok()?;
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf[..n]);
    text.lines().next()?.split(' ').nth(1)?.parse().ok()
}

/// Datagrams that must not disturb a SIP endpoint: random bytes, truncated requests,
/// a response to nothing, oversize and empty packets, broken headers.
pub fn garbage_sip_datagrams() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = Vec::new();
    for len in [1usize, 7, 64, 512, 1400] {
        v.push((0..len).map(|_| rand::random::<u8>()).collect());
    }
    v.push(Vec::new());
    v.push(b"INVITE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;bra".to_vec());
    v.push(b"INVITE".to_vec());
    v.push(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbogus\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: bogus-call@nowhere\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n".to_vec());
    v.push(b"SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n".to_vec());
    v.push(b"BYE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: unknown@nowhere\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n".to_vec());
    v.push(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 99999\r\n\r\nshort".to_vec());
    v.push(
        b"REGISTER sip:x SIP/2.0\r\nVia: \r\nFrom:\r\nTo:\r\nCall-ID:\r\nCSeq: abc\r\n\r\n"
            .to_vec(),
    );
    v.push(
        [
            b"MESSAGE sip:x SIP/2.0\r\nX: ".as_slice(),
            &vec![b'a'; 60_000],
            b"\r\n\r\n",
        ]
        .concat(),
    );
    v.push(vec![0xff; 300]);
    v
}

/// Datagrams for RTP ports that are not valid RTP from a stranger: random bytes whose
/// version bits are not 2, RTP-looking headers cut short, SIP text. (A well-formed RTP
/// packet from another address is a policy question — latching — and not sent here.)
pub fn garbage_rtp_datagrams() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = Vec::new();
    for len in [1usize, 12, 100, 172, 1200] {
        let mut b: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
        b[0] &= 0x3f; // version 0
        v.push(b);
    }
    v.push(vec![0x80]);
    v.push(vec![0x80, 0x00, 0x12]);
    v.push(vec![0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0xde, 0xad]);
    v.push(vec![0x9f, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1]); // CSRC count beyond the packet
    v.push(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec());
    v.push(Vec::new());
    v
}

/// Sends every datagram in `data` to `target` from a fresh socket (errors ignored).
pub fn spray(target: SocketAddr, data: &[Vec<u8>]) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind spray socket");
    for d in data {
        let _ = sock.send_to(d, target);
    }
}
