//! RFC 4733 detection against sipp's shipped telephone-event captures: real packets from
//! another implementation (including its duplicate end packets) must give exactly one
//! digit per capture, through the public bridge API.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use trtc_sipgw::media::{BridgeConfig, Codec, MediaBridge, MediaEvent};

/// Where Debian's sip-tester package installs its pcaps.
const PCAP_DIR: &str = "/usr/share/sip-tester";

/// UDP payloads of a classic little/big-endian pcap with Ethernet framing, with their
/// capture times.
fn udp_payloads(bytes: &[u8]) -> Vec<(Duration, Vec<u8>)> {
    assert!(bytes.len() > 24, "not a pcap");
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2_c3d4 => true,
        0xd4c3_b2a1 => false,
        m => panic!("pcap magic {m:#x}"),
    };
    let rd = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut out = vec![];
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let (sec, usec, incl) = (
            rd(&bytes[off..off + 4]),
            rd(&bytes[off + 4..off + 8]),
            rd(&bytes[off + 8..off + 12]) as usize,
        );
        let frame = &bytes[off + 16..off + 16 + incl];
        off += 16 + incl;
        // Ethernet (14) + IPv4 (IHL) + UDP (8)
        if frame.len() < 14 + 20 + 8 || frame[12..14] != [0x08, 0x00] || frame[23] != 17 {
            continue;
        }
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        let udp = &frame[14 + ihl..];
        let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        out.push((
            Duration::from_secs(u64::from(sec)) + Duration::from_micros(u64::from(usec)),
            udp[8..len.min(udp.len())].to_vec(),
        ));
    }
    out
}

#[test]
fn sipp_rfc4733_captures_give_one_digit_each() {
    let cases = [
        ("0", '0'),
        ("1", '1'),
        ("2", '2'),
        ("3", '3'),
        ("4", '4'),
        ("5", '5'),
        ("6", '6'),
        ("7", '7'),
        ("8", '8'),
        ("9", '9'),
        ("star", '*'),
        ("pound", '#'),
    ];
    let from: SocketAddr = "127.0.0.1:49176".parse().unwrap();
    let mut all = String::new();
    let mut events = 0;
    let t0 = Instant::now();
    let base = Duration::ZERO;
    for (name, want) in cases {
        // the captures come from one sender whose timestamps are not in digit order, so
        // each is a call of its own
        let mut bridge = MediaBridge::new(BridgeConfig {
            telephone_event_pt: Some(101),
            ..BridgeConfig::new(Codec::Pcmu, 1)
        });
        let path = format!("{PCAP_DIR}/dtmf_2833_{name}.pcap");
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (install the sip-tester package)"));
        let packets = udp_payloads(&bytes);
        assert!(packets.len() >= 5, "{path}: {} packets", packets.len());
        let first = packets[0].0;
        for (t, p) in &packets {
            bridge
                .handle_rtp(t0 + base + (*t - first), from, p)
                .unwrap();
        }
        let got: Vec<MediaEvent> = std::iter::from_fn(|| bridge.poll_event()).collect();
        assert_eq!(got, vec![MediaEvent::Dtmf { digit: want }], "{path}");
        all.push(want);
        let s = bridge.stats();
        assert_eq!(s.dtmf_received, 1);
        assert_eq!(
            s.rx_events, s.rx_packets,
            "events are never played as audio"
        );
        events += s.rx_events;
    }
    assert_eq!(all, "0123456789*#");
    println!("sipp pcaps: {events} telephone-event packets, 12 digits");
}
