//! Cost of one 20 ms frame through the media bridge, for `scripts/bench.sh`.
//!
//! Each frame is what a call does every 20 ms: one RTP packet from the phone goes in
//! (parse, symmetric-RTP check, jitter buffer), one frame is pulled for the room
//! (playout, G.711 decode), one room frame goes out to the phone (resample when the
//! room runs at another rate, G.711 encode, RTP header). The input is fixed: it is
//! generated before the measured loop from a deterministic tone and schedule (a few
//! packets reordered), identically whatever the frame count, so that
//!
//! ```text
//! valgrind --tool=callgrind bridge --frames N   minus   ... --frames 0
//! ```
//!
//! divided by N is the instruction count of N frames alone, repeatable on a noisy box.
//! `--mode relay` instead counts what a relay that parses and re-emits each packet does
//! in user space (the baseline). Without valgrind it prints nanoseconds per frame.
//!
//! Options: `--frames N` (default 2000), `--mode bridge|relay`, `--codec pcmu|pcma`,
//! `--room-rate HZ` (default 8000, the rate the gateway's G.711 calls use).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use trtc_sipgw::media::bridge::{BridgeConfig, MediaBridge};
use trtc_sipgw::media::rtp::{self, RtpHeader};
use trtc_sipgw::media::{Codec, PcmFrame, ToneGenerator};

/// Frames of input generated in every run (the largest `--frames` accepted).
const INPUT_FRAMES: usize = 2000;

fn main() {
    let mut frames = INPUT_FRAMES;
    let mut relay = false;
    let mut codec = Codec::Pcmu;
    let mut room_rate = 8000u32;
    let mut args = std::env::args().skip(1);
    while let Some(k) = args.next() {
        match k.as_str() {
            "--frames" => frames = args.next().and_then(|v| v.parse().ok()).unwrap_or(frames),
            "--mode" => relay = args.next().as_deref() == Some("relay"),
            "--codec" => {
                codec = match args.next().as_deref() {
                    Some("pcma") => Codec::Pcma,
                    _ => Codec::Pcmu,
                }
            }
            "--room-rate" => room_rate = args.next().and_then(|v| v.parse().ok()).unwrap_or(8000),
            "--bench" => {} // passed by `cargo bench`
            _ => {}
        }
    }
    let frames = frames.min(INPUT_FRAMES);

    // The fixed input: the phone's packets (a 440 Hz tone, every 10th pair swapped as a
    // little network reordering) and the room's frames (a 1 kHz tone at the room rate).
    let mut phone = MediaBridge::new(BridgeConfig::new(codec, 0x1234));
    let mut gen = ToneGenerator::new(440.0, 8000, 12000);
    let mut packets: Vec<Vec<u8>> = (0..INPUT_FRAMES)
        .map(|_| {
            let mut buf = [0u8; 1500];
            let n = phone
                .push_room_audio(&gen.next_frame(), &mut buf)
                .unwrap_or(0);
            buf[..n].to_vec()
        })
        .collect();
    for i in (5..INPUT_FRAMES - 1).step_by(10) {
        packets.swap(i, i + 1);
    }
    let mut room = ToneGenerator::new(1000.0, room_rate, 16000);
    let room_frames: Vec<PcmFrame> = (0..INPUT_FRAMES).map(|_| room.next_frame()).collect();
    let from = SocketAddr::from(([127, 0, 0, 1], 40000));
    let t0 = Instant::now();

    let started = Instant::now();
    let checksum = if relay {
        run_relay(&packets[..frames])
    } else {
        run_bridge(codec, from, t0, &packets[..frames], &room_frames[..frames])
    };
    let elapsed = started.elapsed();
    black_box(checksum);
    if frames > 0 {
        println!(
            "{} frames, {} mode, {:.0} ns/frame (checksum {checksum})",
            frames,
            if relay { "relay" } else { "bridge" },
            elapsed.as_nanos() as f64 / frames as f64
        );
    }
}

/// Every 20 ms of a call, `n` times.
fn run_bridge(
    codec: Codec,
    from: SocketAddr,
    t0: Instant,
    packets: &[Vec<u8>],
    room_frames: &[PcmFrame],
) -> u64 {
    let mut cfg = BridgeConfig::new(codec, 0x9876);
    cfg.remote = Some(from);
    cfg.jitter_depth_frames = 2;
    let mut bridge = MediaBridge::new(cfg);
    let mut out = [0u8; 2048];
    let mut sum = 0u64;
    for (k, (packet, room_frame)) in packets.iter().zip(room_frames).enumerate() {
        // arrives 5 ms into its frame; the tick is at the frame's end
        let arrive = t0 + Duration::from_millis(20 * k as u64 + 5);
        let _ = bridge.handle_rtp(black_box(arrive), from, black_box(packet));
        let tick = t0 + Duration::from_millis(20 * k as u64 + 20);
        let to_room = bridge.pull_phone_audio(tick);
        sum = sum.wrapping_add(black_box(&to_room).samples[0] as u64);
        let n = bridge
            .push_room_audio(black_box(room_frame), &mut out)
            .unwrap_or(0);
        sum = sum.wrapping_add(black_box(&out[..n]).len() as u64);
    }
    sum.wrapping_add(bridge.stats().rx_packets)
}

/// What a relay that understands RTP does per packet: parse it, write it out again.
fn run_relay(packets: &[Vec<u8>]) -> u64 {
    let mut out = [0u8; 2048];
    let mut sum = 0u64;
    for packet in packets {
        if let Ok(p) = rtp::parse(black_box(packet)) {
            let header = RtpHeader {
                ssrc: p.header.ssrc ^ 1,
                ..p.header
            };
            let n = rtp::write(&header, p.payload, &mut out).unwrap_or(0);
            sum = sum.wrapping_add(black_box(&out[..n]).len() as u64);
        }
    }
    sum
}
