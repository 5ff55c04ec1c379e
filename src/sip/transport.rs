//! Which transport a SIP message travels on, as the cores see it: a tag, never a socket.
//! The transaction and dialog cores carry it on every message in and out so that the
//! shell knows where bytes go (a datagram, or a stream connection) while every decision
//! that depends on it stays in the cores: Via's transport, `;transport=` in Contact,
//! whether a transaction retransmits (RFC 3261 17: never over a reliable transport),
//! and RFC 3261 18.1.1's switch to TCP for requests too large for a datagram.

use super::message::Request;
use bytes::Bytes;
use ezk_sip_types::header::typed::Via;
use ezk_sip_types::uri::SipUri;

/// Requests larger than this go over TCP even where UDP was chosen (RFC 3261 18.1.1:
/// 1300 bytes when the path MTU is unknown), so that they do not fragment.
pub const UDP_MAX_REQUEST: usize = 1300;

/// A SIP transport; the shell maps each to its sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// Datagrams on the one UDP socket; transactions retransmit.
    #[default]
    Udp,
    /// A TCP connection per peer address; framed by Content-Length, no retransmissions.
    Tcp,
    /// TLS over a TCP connection per peer address (`sips:` or `;transport=tls`); framed
    /// and timed like TCP, so the cores treat it as TCP with another name in Via.
    Tls,
}

impl Transport {
    /// Whether the transport delivers or fails by itself (RFC 3261 17: then Timers A, E
    /// and G are not armed, and D, I, J and K are zero).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }

    /// The name in a Via header (`SIP/2.0/UDP`).
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// The value of a URI's `transport` parameter; None for UDP, which is what a URI
    /// without the parameter means anyway (RFC 3263 4.1 for `sip:`).
    pub fn uri_param(self) -> Option<&'static str> {
        match self {
            Transport::Udp => None,
            Transport::Tcp => Some("tcp"),
            Transport::Tls => Some("tls"),
        }
    }

    /// The transport a URI asks for: TLS for `sips:` (RFC 3261 19.1.2) or
    /// `;transport=tls`, else what `;transport=` says (case-insensitive); None when it
    /// names none, or one this build does not speak.
    pub fn of_uri(uri: &SipUri) -> Option<Transport> {
        if uri.sips {
            return Some(Transport::Tls);
        }
        let value = uri.uri_params.get_val("transport")?;
        if value.eq_ignore_ascii_case("tls") {
            Some(Transport::Tls)
        } else if value.eq_ignore_ascii_case("tcp") {
            Some(Transport::Tcp)
        } else if value.eq_ignore_ascii_case("udp") {
            Some(Transport::Udp)
        } else {
            None
        }
    }

    /// A transport name as configs write it (`udp`, `tcp`, `tls`).
    pub fn from_name(name: &str) -> Option<Transport> {
        match name.to_ascii_lowercase().as_str() {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "tls" => Some(Transport::Tls),
            _ => None,
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.via_name())
    }
}

/// Readies a request of ours for the wire: the transport it really goes on (`preferred`,
/// or TCP when it is a UDP request larger than [`UDP_MAX_REQUEST`], RFC 3261 18.1.1),
/// written into its top Via, and its bytes. Every request the cores send passes here, so
/// Via and the transport the shell uses cannot disagree.
pub fn prepare(request: &mut Request, preferred: Transport) -> (Transport, Bytes) {
    let mut bytes = request.to_bytes();
    let transport = if preferred == Transport::Udp && bytes.len() > UDP_MAX_REQUEST {
        Transport::Tcp
    } else {
        preferred
    };
    let written = request
        .headers
        .get_named::<Vec<Via>>()
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|v| v.transport.to_string());
    if written.as_deref() != Some(transport.via_name()) {
        let edited = request.headers.edit_named(|vias: &mut Vec<Via>| {
            if let Some(top) = vias.first_mut() {
                top.transport = transport.via_name().into();
            }
        });
        if edited.is_ok() {
            bytes = request.to_bytes();
        }
    }
    (transport, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{parse, CommonHeaders, Message};
    use std::str::FromStr;

    fn request(subject_len: usize) -> Request {
        let text = format!(
            "OPTIONS sip:a@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport\r\n\
From: <sip:x@10.0.0.1>;tag=f\r\nTo: <sip:a@10.0.0.2>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\
Subject: {}\r\nContent-Length: 0\r\n\r\n",
            "x".repeat(subject_len)
        );
        match parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_request_over_1300_bytes_leaves_udp_for_tcp_and_its_via_says_so() {
        let mut small = request(10);
        let (t, bytes) = prepare(&mut small, Transport::Udp);
        assert_eq!(t, Transport::Udp);
        assert!(String::from_utf8_lossy(&bytes).contains("Via: SIP/2.0/UDP 10.0.0.1:5060"));

        let mut big = request(1300);
        let (t, bytes) = prepare(&mut big, Transport::Udp);
        assert_eq!(t, Transport::Tcp);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        assert!(
            text.contains("Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1"),
            "{text}"
        );
        assert_eq!(big.branch().as_deref(), Some("z9hG4bK1"));

        // Asked for TCP, small or not, it is TCP.
        let mut small = request(10);
        let (t, bytes) = prepare(&mut small, Transport::Tcp);
        assert_eq!(t, Transport::Tcp);
        assert!(String::from_utf8_lossy(&bytes).contains("Via: SIP/2.0/TCP "));
    }

    #[test]
    fn uris_name_their_transport() {
        let of = |u: &str| Transport::of_uri(&SipUri::from_str(u).unwrap());
        assert_eq!(of("sip:1@h;transport=tcp"), Some(Transport::Tcp));
        assert_eq!(of("sip:1@h:5070;transport=TCP"), Some(Transport::Tcp));
        assert_eq!(of("sip:1@h;transport=udp"), Some(Transport::Udp));
        assert_eq!(of("sip:1@h"), None);
        assert_eq!(of("sip:1@h;transport=sctp"), None);
        assert_eq!(of("sip:1@h;transport=TLS"), Some(Transport::Tls));
        assert_eq!(of("sips:1@h:5061"), Some(Transport::Tls));
        assert!(Transport::Tls.is_reliable());
    }

    #[test]
    fn a_request_over_tls_says_tls_in_its_via_whatever_its_size() {
        for len in [10, 2000] {
            let mut r = request(len);
            let (t, bytes) = prepare(&mut r, Transport::Tls);
            assert_eq!(t, Transport::Tls);
            let text = String::from_utf8_lossy(&bytes).into_owned();
            assert!(
                text.contains("Via: SIP/2.0/TLS 10.0.0.1:5060;branch=z9hG4bK1"),
                "{text}"
            );
        }
    }
}
