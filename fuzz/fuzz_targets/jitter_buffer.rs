//! Packet sequences decoded from the bytes (sequence, timestamp step, arrival delay,
//! SSRC switch, payload length) pushed into the jitter buffer while the 20 ms clock
//! pulls frames. Asserts: a frame is exactly one frame long (byte mode), and never more
//! frames come out than the accepted packets could fill.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};
use trtc_sipgw::media::{JitterBuffer, JitterConfig, Playout, PushOutcome};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let cfg = JitterConfig {
        packet_mode: mode & 1 != 0,
        adaptive: mode & 2 != 0,
        depth_frames: (mode >> 2) & 7,
        ..JitterConfig::default()
    };
    let ft = cfg.frame_ticks as usize;
    let mut jb = JitterBuffer::new(cfg);
    let mut now = Instant::now();
    let payload = [0x55u8; 1200];
    let (mut seq, mut ts, mut ssrc) = (1000u16, 8000u32, 7u32);
    let (mut budget, mut frames_out) = (0u64, 0u64);
    for rec in rest.chunks_exact(5) {
        seq = seq.wrapping_add(i16::from(rec[0] as i8) as u16);
        ts = ts.wrapping_add((i32::from(rec[1] as i8) * 40) as u32);
        if rec[2] & 0x80 != 0 {
            ssrc = ssrc.wrapping_add(1);
        }
        let len = usize::from(rec[3]) * 5 % payload.len();
        let outcome = jb.push(now, seq, ts, ssrc, rec[2] & 0x40 != 0, &payload[..len]);
        if matches!(outcome, PushOutcome::Accepted | PushOutcome::Reset) {
            budget += if cfg.packet_mode {
                1
            } else {
                (len / ft + 2) as u64
            };
        }
        for _ in 0..(rec[4] & 7) {
            now += Duration::from_millis(20);
            if let Playout::Frame(f) = jb.pop(now) {
                frames_out += 1;
                if !cfg.packet_mode {
                    assert_eq!(f.len(), ft, "a frame is one frame long");
                }
            }
        }
        assert!(
            frames_out <= budget,
            "{frames_out} frames out of packets worth {budget}"
        );
    }
    let _ = jb.stats();
});
