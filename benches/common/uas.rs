//! A deliberately small SIP user agent server for the benchmarks: it answers every
//! INVITE at once with 200 OK and a PCMU answer (or, with [`Answer::Opus`], the
//! offer's Opus format), acknowledges BYE and CANCEL, and
//! reports what happened with the time it happened. It stands in for a phone or a
//! trunk in `bench_peer` (load) and `latency` (timing), where sipp cannot stream
//! hundreds of calls and where the INVITE's arrival must be stamped by the same clock
//! as the HTTP request that caused it.
//!
//! It is not a general SIP stack: one UDP socket, requests only, no retransmissions
//! of its own (loopback does not lose datagrams), and a parser that only looks for
//! the headers a response must copy.

// Shared by two programs that each use a different part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The codec the phone answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// PCMU, payload type 0, whatever the offer's order (what a G.711 phone does).
    Pcmu,
    /// The offer's Opus payload type with `opus/48000/2` and the offer's fmtp (a phone
    /// that prefers Opus). An offer without Opus gets 488 Not Acceptable Here.
    Opus,
}

/// Something the phone side saw, stamped when its datagram was read.
#[derive(Debug, Clone)]
pub enum UasEvent {
    /// A new INVITE (retransmissions are answered again but not reported).
    Invite {
        /// Call-ID of the dialog.
        call_id: String,
        /// User part of the request URI: the number the gateway dialled.
        number: String,
        /// Where the gateway wants RTP (from its SDP offer).
        remote_rtp: Option<SocketAddr>,
        /// The RTP payload type we answered with (0 for PCMU, the offer's dynamic type
        /// for Opus); our packets must carry it.
        payload_type: u8,
        /// When the datagram was read.
        at: Instant,
    },
    /// The ACK to our 200: media may flow.
    Ack {
        /// Call-ID of the dialog.
        call_id: String,
    },
    /// The gateway hung up (BYE or CANCEL), already answered with 200.
    Bye {
        /// Call-ID of the dialog.
        call_id: String,
    },
}

/// The phone side's SIP socket.
pub struct Uas {
    socket: UdpSocket,
    /// Where our RTP lives, written into the SDP answer.
    rtp: SocketAddr,
    /// The codec we answer with.
    codec: Answer,
    /// Answers already sent to INVITEs, for their retransmissions.
    answered: HashMap<String, Vec<u8>>,
    buf: Vec<u8>,
    tag: u64,
}

impl Uas {
    /// Binds `addr`; answers will offer RTP at `rtp`, with PCMU.
    pub fn bind(addr: SocketAddr, rtp: SocketAddr) -> io::Result<Uas> {
        Uas::bind_answering(addr, rtp, Answer::Pcmu)
    }

    /// Binds `addr`; answers will offer RTP at `rtp`, with `codec`.
    pub fn bind_answering(addr: SocketAddr, rtp: SocketAddr, codec: Answer) -> io::Result<Uas> {
        let socket = UdpSocket::bind(addr)?;
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        Ok(Uas {
            socket,
            rtp,
            codec,
            answered: HashMap::new(),
            buf: vec![0; 65536],
            tag: 1,
        })
    }

    /// The bound SIP address (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Reads one datagram (waiting at most 100 ms), answers it, and reports it.
    pub fn poll(&mut self) -> io::Result<Option<UasEvent>> {
        let (n, from) = match self.socket.recv_from(&mut self.buf) {
            Ok(v) => v,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let at = Instant::now();
        let text = String::from_utf8_lossy(&self.buf[..n]).into_owned();
        let Some(msg) = Message::parse(&text) else {
            return Ok(None);
        };
        match msg.method {
            "INVITE" => {
                if let Some(answer) = self.answered.get(msg.call_id) {
                    self.socket.send_to(answer, from)?;
                    return Ok(None);
                }
                let (payload_type, format) = match self.codec {
                    Answer::Pcmu => (0, "a=rtpmap:0 PCMU/8000\r\n".to_string()),
                    Answer::Opus => match opus_offer(msg.body) {
                        Some((pt, fmtp)) => {
                            let mut f = format!("a=rtpmap:{pt} opus/48000/2\r\n");
                            if let Some(fmtp) = fmtp {
                                f.push_str(&format!("a=fmtp:{pt} {fmtp}\r\n"));
                            }
                            (pt, f)
                        }
                        None => {
                            let answer = msg.response("488 Not Acceptable Here", ";tag=p0", "", "");
                            self.socket.send_to(&answer, from)?;
                            return Ok(None);
                        }
                    },
                };
                self.tag += 1;
                let sdp = format!(
                    "v=0\r\no=- {tag} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
                     m=audio {port} RTP/AVP {payload_type}\r\n{format}a=ptime:20\r\na=sendrecv\r\n",
                    tag = self.tag,
                    ip = self.rtp.ip(),
                    port = self.rtp.port()
                );
                let contact = format!("Contact: <sip:phone@{}>\r\n", self.socket.local_addr()?);
                let to_tag = format!(";tag=p{}", self.tag);
                let answer = msg.response("200 OK", &to_tag, &contact, &sdp);
                self.socket.send_to(&answer, from)?;
                self.answered.insert(msg.call_id.to_string(), answer);
                Ok(Some(UasEvent::Invite {
                    call_id: msg.call_id.to_string(),
                    number: msg.number().to_string(),
                    remote_rtp: remote_rtp(msg.body),
                    payload_type,
                    at,
                }))
            }
            "ACK" => Ok(Some(UasEvent::Ack {
                call_id: msg.call_id.to_string(),
            })),
            "BYE" | "CANCEL" => {
                let answer = msg.response("200 OK", "", "", "");
                self.socket.send_to(&answer, from)?;
                self.answered.remove(msg.call_id);
                Ok(Some(UasEvent::Bye {
                    call_id: msg.call_id.to_string(),
                }))
            }
            _ => {
                // OPTIONS, INFO, UPDATE...: a plain 200 keeps the dialog alive.
                let answer = msg.response("200 OK", "", "", "");
                self.socket.send_to(&answer, from)?;
                Ok(None)
            }
        }
    }
}

/// The parts of a request a response copies.
struct Message<'a> {
    method: &'a str,
    uri: &'a str,
    vias: Vec<&'a str>,
    from: &'a str,
    to: &'a str,
    call_id: &'a str,
    cseq: &'a str,
    body: &'a str,
}

impl<'a> Message<'a> {
    fn parse(text: &'a str) -> Option<Message<'a>> {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let mut lines = head.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let method = first.next()?;
        if method == "SIP/2.0" {
            return None; // a response; we send no requests
        }
        let uri = first.next()?;
        let mut m = Message {
            method,
            uri,
            vias: Vec::new(),
            from: "",
            to: "",
            call_id: "",
            cseq: "",
            body,
        };
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "via" | "v" => m.vias.push(value),
                "from" | "f" => m.from = value,
                "to" | "t" => m.to = value,
                "call-id" | "i" => m.call_id = value,
                "cseq" => m.cseq = value,
                _ => {}
            }
        }
        Some(m)
    }

    /// `sip:1234@host` → `1234`.
    fn number(&self) -> &'a str {
        let rest = self.uri.strip_prefix("sip:").unwrap_or(self.uri);
        rest.split('@').next().unwrap_or("")
    }

    fn response(&self, status: &str, to_tag: &str, extra: &str, sdp: &str) -> Vec<u8> {
        let mut r = format!("SIP/2.0 {status}\r\n");
        for via in &self.vias {
            r.push_str(&format!("Via: {via}\r\n"));
        }
        let tag = if self.to.contains("tag=") { "" } else { to_tag };
        r.push_str(&format!(
            "From: {}\r\nTo: {}{tag}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}",
            self.from, self.to, self.call_id, self.cseq
        ));
        if sdp.is_empty() {
            r.push_str("Content-Length: 0\r\n\r\n");
        } else {
            r.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            ));
        }
        r.into_bytes()
    }
}

/// The RTP address of an SDP offer (`c=` and the first `m=audio`).
fn remote_rtp(sdp: &str) -> Option<SocketAddr> {
    let mut ip = None;
    let mut port = None;
    for line in sdp.lines() {
        if let Some(c) = line.strip_prefix("c=IN IP4 ") {
            ip = c.trim().parse::<std::net::IpAddr>().ok();
        } else if let Some(m) = line.strip_prefix("m=audio ") {
            port = m.split(' ').next().and_then(|p| p.parse::<u16>().ok());
        }
    }
    Some(SocketAddr::new(ip?, port?))
}

/// The Opus payload type of an offer (`a=rtpmap:<pt> opus/48000/2`) and its fmtp value.
fn opus_offer(sdp: &str) -> Option<(u8, Option<String>)> {
    let pt = sdp.lines().find_map(|line| {
        let (pt, enc) = line.strip_prefix("a=rtpmap:")?.split_once(' ')?;
        if !enc.trim().to_ascii_lowercase().starts_with("opus/48000") {
            return None;
        }
        pt.trim().parse::<u8>().ok()
    })?;
    let prefix = format!("a=fmtp:{pt} ");
    let fmtp = sdp
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|f| f.trim().to_string());
    Some((pt, fmtp))
}
