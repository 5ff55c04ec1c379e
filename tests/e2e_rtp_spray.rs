//! Issue 9 "Safe on a network", media: a stranger sprays RTP and RTCP at the whole RTP
//! port range during a live call with sipp as the phone, from before the phone's first
//! packet to the end. The room must hear only the phone's 440 Hz (not the stranger's
//! 2500 Hz), the phone must still hear the room's 1000 Hz, the stranger must hear
//! nothing, the call must end the way it was ended (not by the stranger's RTCP BYE), and
//! `callstats` must count the stranger's packets in `rx.foreign`.
//!
//! Against the old latch (first valid RTP from anywhere before the phone's, then four in
//! a row from another address) the stranger was latched and re-latched: the gateway sent
//! the room's audio to it and played its tone into the room.

mod common;

use common::audio::{analyze, assert_wav_tone, read_wav};
use common::callstate::{assert_answered, assert_ending, show};
use common::http;
use common::rig::Rig;
use common::wait::secs;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use trtc_sipgw::media::{BridgeConfig, Codec, MediaBridge, ToneGenerator};

/// The stranger's tone: far from the phone's 440 Hz and the room's 1000 Hz.
const STRANGER_HZ: f32 = 2500.0;

/// How often the stranger sweeps the port range.
const ROUND: Duration = Duration::from_millis(20);

/// One stranger's stream: an RTP packetiser playing `STRANGER_HZ`.
struct Stream {
    packetiser: MediaBridge,
    tone: ToneGenerator,
}

impl Stream {
    fn new(codec: Codec, ssrc: u32) -> Stream {
        Stream {
            packetiser: MediaBridge::new(BridgeConfig::new(codec, ssrc)),
            tone: ToneGenerator::new(STRANGER_HZ, 8000, 16000),
        }
    }

    /// The next 20 ms packet of the stream.
    fn next(&mut self) -> Vec<u8> {
        let mut buf = [0u8; 1500];
        let n = self
            .packetiser
            .push_room_audio(&self.tone.next_frame(), &mut buf)
            .expect("packetise the stranger's tone");
        buf[..n].to_vec()
    }
}

/// An RTCP receiver report followed by a BYE, from `ssrc`: "my media is ending".
fn rtcp_bye(ssrc: u32) -> Vec<u8> {
    let s = ssrc.to_be_bytes();
    let mut p = vec![0x80, 201, 0, 1, s[0], s[1], s[2], s[3]];
    p.extend_from_slice(&[0x81, 203, 0, 1, s[0], s[1], s[2], s[3]]);
    p
}

/// What the spraying threads saw, once stopped.
struct Sprayed {
    sent: u64,
    /// Datagrams the gateway sent to a stranger: it must send none.
    heard: u64,
}

/// Strangers on 127.0.0.2 and 127.0.0.3 spraying every port of `ports` until stopped.
struct Sprayer {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Sprayed>>,
}

impl Sprayer {
    fn start(ports: (u16, u16)) -> Sprayer {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = [[127, 0, 0, 2], [127, 0, 0, 3]]
            .into_iter()
            .enumerate()
            .map(|(k, ip)| {
                let stop = stop.clone();
                std::thread::spawn(move || spray(SocketAddr::from((ip, 0)), k as u32, ports, &stop))
            })
            .collect();
        Sprayer { stop, threads }
    }

    fn finish(self) -> Sprayed {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Sprayed { sent: 0, heard: 0 };
        for t in self.threads {
            let s = t.join().expect("sprayer thread");
            all.sent += s.sent;
            all.heard += s.heard;
        }
        all
    }
}

/// One stranger: every round one packet of its steady stream to each port; every fifth
/// round a burst of five from another SSRC in turn (enough to win a "N in a row" latch)
/// and a PCMA packet; every 25th round an RTCP BYE to each port.
fn spray(bind: SocketAddr, k: u32, (lo, hi): (u16, u16), stop: &AtomicBool) -> Sprayed {
    let sock = UdpSocket::bind(bind).unwrap_or_else(|e| panic!("bind the stranger {bind}: {e}"));
    sock.set_nonblocking(true).expect("non-blocking socket");
    let base = 0x5700_0000 + (k << 8);
    let mut steady = Stream::new(Codec::Pcmu, base);
    let mut bursts: Vec<Stream> = (1..=3)
        .map(|i| Stream::new(Codec::Pcmu, base + i))
        .collect();
    let mut pcma = Stream::new(Codec::Pcma, base + 9);
    let (mut sent, mut heard) = (0u64, 0u64);
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    let mut round = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let mut send = |p: &[u8], port: u16| {
            if sock.send_to(p, ("127.0.0.1", port)).is_ok() {
                sent += 1;
            }
        };
        let p = steady.next();
        let burst_round = round.is_multiple_of(5);
        let burst: Vec<Vec<u8>> = if burst_round {
            let s = &mut bursts[(round / 5) as usize % 3];
            (0..5).map(|_| s.next()).collect()
        } else {
            vec![]
        };
        let a = burst_round.then(|| pcma.next());
        let bye = round.is_multiple_of(25).then(|| rtcp_bye(base + round));
        for port in lo..=hi {
            send(&p, port);
            for b in &burst {
                send(b, port);
            }
            if let Some(a) = &a {
                send(a, port);
            }
            if let Some(bye) = &bye {
                send(bye, port);
            }
        }
        while let Ok((_, from)) = sock.recv_from(&mut buf) {
            if (lo..=hi).contains(&from.port()) {
                heard += 1;
            }
        }
        round += 1;
        let due = start + ROUND * round;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    Sprayed { sent, heard }
}

#[test]
fn a_stranger_spraying_the_rtp_range_is_neither_heard_nor_hears() {
    let mut rig = Rig::start("rtp-spray", "uas_answer.xml", 1, true, |_| {});
    // From before the call: the stranger's packets reach the call's port as soon as it is
    // open, before the phone's first RTP.
    let sprayer = Sprayer::start(rig.rtp_ports);
    let spray_start = Instant::now();
    std::thread::sleep(Duration::from_millis(200));
    let id = rig.gw.startup("1002", 60, None);
    rig.gw.wait_state(&id, 5, secs(20));
    std::thread::sleep(Duration::from_secs(5));

    let r = http::get(rig.gw.http, &format!("/trtc/callstats?id={id}"));
    assert_eq!(r.status, 200, "callstats during the call: {}", r.text());
    let stats = r.json();
    let foreign = stats["rx"]["foreign"].as_u64().unwrap_or(0);
    let packets = stats["rx"]["packets"].as_u64().unwrap_or(0);
    assert!(
        foreign > 100,
        "rx.foreign counts the stranger's packets: {stats}"
    );
    assert!(
        packets > 100,
        "rx.packets counts the phone's packets: {stats}"
    );
    let (lines, done) = rig.gw.callstate(&id);
    assert!(!done, "the call must survive the spray:\n{}", show(&lines));

    rig.gw.shutdown(&id);
    let lines = rig.gw.wait_done(&id, secs(30));
    let sprayed = sprayer.finish();
    let sprayed_for = spray_start.elapsed();
    rig.uas.proc.assert_success(secs(20));
    assert!(sprayed.sent > 10_000, "the stranger sent {}", sprayed.sent);
    assert_eq!(
        sprayed.heard, 0,
        "the gateway sent {} datagrams to the stranger",
        sprayed.heard
    );
    assert_answered(&lines);
    assert_ending(&lines, 200, "shutdown requested");

    let recording = rig.gw.recording(&id);
    let phone = assert_wav_tone(&recording, 440.0);
    let stranger = analyze(&read_wav(&recording), f64::from(STRANGER_HZ), 0.5);
    assert!(
        stranger.snr_db < -30.0,
        "the room heard the stranger's {STRANGER_HZ} Hz: {stranger:?} (phone: {phone:?})"
    );
    let heard = rig.assert_phone_heard(1000.0);
    // For the closing note: the rate held during the live call and its audio.
    eprintln!(
        "spray: {} datagrams in {:.2} s = {:.0} datagrams/s, {} sent back to the strangers",
        sprayed.sent,
        sprayed_for.as_secs_f64(),
        sprayed.sent as f64 / sprayed_for.as_secs_f64(),
        sprayed.heard
    );
    eprintln!(
        "spray: call audio SNR phone->room {:.1} dB ({:.0} Hz), room->phone {:.1} dB ({:.0} Hz); stranger's {STRANGER_HZ} Hz in the room {:.1} dB",
        phone.snr_db, phone.peak_hz, heard.snr_db, heard.peak_hz, stranger.snr_db
    );
    rig.gw.assert_healthy();
}
