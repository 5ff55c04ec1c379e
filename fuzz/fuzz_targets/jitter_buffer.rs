//! Arbitrary packet sequences into the jitter buffer: each 8-byte record of the input
//! is one event (push with sequence, timestamp, SSRC, payload length and arrival step,
//! or a pop). Whatever arrives, a pop never hands out more than a frame, and the
//! buffer never plays more frames than it was given plus what it concealed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};
use trtc_sipgw::media::jitter::{JitterBuffer, JitterConfig, Playout};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, events)) = data.split_first() else { return };
    let cfg = JitterConfig {
        packet_mode: mode & 1 != 0,
        adaptive: mode & 2 != 0,
        depth_frames: (mode >> 2) & 7,
        ..JitterConfig::default()
    };
    let mut jb = JitterBuffer::new(cfg);
    let payload = [0x55u8; 400];
    let (start, mut now) = (Instant::now(), Instant::now());
    let (mut pushed, mut frames) = (0u64, 0u64);
    for e in events.chunks_exact(8) {
        now += Duration::from_millis(u64::from(e[7] & 0x3f));
        if e[0] & 0x80 != 0 {
            match jb.pop(now) {
                Playout::Frame(f) => {
                    frames += 1;
                    let limit = if cfg.packet_mode { 400 } else { cfg.frame_ticks as usize };
                    assert!(f.len() <= limit, "frame of {} bytes", f.len());
                }
                Playout::Missing | Playout::Empty | Playout::Stretch => {}
            }
        } else {
            let seq = u16::from_be_bytes([e[1], e[2]]);
            let ts = u32::from_be_bytes([e[3], e[4], e[5], 0]);
            let ssrc = u32::from(e[0] & 3);
            let len = usize::from(e[6]) * 2 % payload.len();
            jb.push(now, seq, ts, ssrc, e[0] & 4 != 0, &payload[..len]);
            pushed += 1;
        }
    }
    let s = jb.stats();
    assert!(s.received <= pushed);
    assert!(frames <= s.played + s.drained + pushed * 8, "played {frames} of {pushed} pushed");
    let _ = (jb.depth_frames(), jb.buffered_frames(), now.duration_since(start));
});
