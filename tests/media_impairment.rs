//! The phone leg on a bad network, deterministically: netem is not available in every
//! kernel (it is not here), so the impairment is a seeded schedule applied between a
//! sending bridge (the phone) and the gateway's bridge, with fake time. 5 % random loss,
//! 40 ms ± 40 ms of delay (which reorders neighbours), 1 % duplicates; the same tone on
//! a clean link in the same run is the baseline. Printed per codec: the longest audio
//! gap in the room's audio, the tone's SNR, and the jitter-buffer depth over time.
//! Asserted: only robust bounds (no gap over 200 ms, SNR within 6 dB of clean, loss
//! reported by the statistics within a point of what was injected).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use trtc_sipgw::media::{tone_snr_db, BridgeConfig, Codec, MediaBridge, ToneGenerator};

const SECONDS: usize = 30;
const FRAMES: usize = SECONDS * 50;
const TONE_HZ: f64 = 440.0;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Figures {
    snr: f64,
    longest_gap_ms: usize,
    injected_loss_pct: f64,
    reported_loss_pct: f64,
    depth_per_second: Vec<u32>,
    concealed: u64,
    late: u64,
}

/// Sends a tone from a phone bridge through the schedule into the gateway's bridge
/// (room at 8 kHz), returns what the room heard and the figures.
fn run(codec: Codec, impaired: bool, seed: u64) -> Figures {
    let from: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let mut phone = MediaBridge::new(BridgeConfig {
        initial_sequence: 65000,
        ..BridgeConfig::new(codec, 0x1234)
    });
    let mut gw = MediaBridge::new(BridgeConfig::new(codec, 0x5678));
    let mut gen = ToneGenerator::new(TONE_HZ as f32, 8000, 12000);
    let mut rng = Rng(seed);
    let mut arrivals: Vec<(u64, Vec<u8>)> = vec![];
    let mut lost = 0;
    for i in 0..FRAMES as u64 {
        let mut buf = [0u8; 1500];
        let n = phone.push_room_audio(&gen.next_frame(), &mut buf).unwrap();
        let sent = i * 20_000;
        if !impaired {
            arrivals.push((sent + 1_000, buf[..n].to_vec()));
            continue;
        }
        if rng.below(1000) < 50 {
            lost += 1;
            continue;
        }
        let delay = rng.below(80_000); // 40 ms ± 40 ms
        arrivals.push((sent + delay, buf[..n].to_vec()));
        if rng.below(100) == 0 {
            arrivals.push((sent + delay + rng.below(20_000), buf[..n].to_vec()));
        }
    }
    enum Ev {
        Packet(Vec<u8>),
        Tick,
    }
    let mut events: Vec<(u64, Ev)> = arrivals
        .into_iter()
        .map(|(t, p)| (t, Ev::Packet(p)))
        .collect();
    for k in 0..FRAMES as u64 + 20 {
        events.push((k * 20_000 + 10_000, Ev::Tick));
    }
    events.sort_by_key(|(t, _)| *t);
    let t0 = Instant::now();
    let mut room = vec![];
    let mut depth_per_second = vec![];
    let mut ticks = 0;
    for (t, ev) in events {
        let now = t0 + Duration::from_micros(t);
        match ev {
            Ev::Packet(p) => gw.handle_rtp(now, from, &p).unwrap(),
            Ev::Tick => {
                room.extend_from_slice(gw.pull_phone_audio(now).pcm());
                ticks += 1;
                if ticks % 50 == 0 {
                    depth_per_second.push(gw.stats().jitter_depth_ms);
                }
            }
        }
    }
    // judge the steady part: from 1 s to the end of the tone
    let steady = &room[8000..(FRAMES - 10) * 160];
    let (peak, snr, _) = tone_snr_db(steady, 8000, TONE_HZ);
    assert!((peak - TONE_HZ).abs() < 5.0, "{codec}: peak {peak}");
    // a gap: consecutive 10 ms windows more than 10 dB below the tone's level
    let level =
        |w: &[i16]| (w.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
    let reference = level(steady);
    let (mut run_ms, mut longest) = (0, 0);
    for w in steady.chunks(80) {
        if level(w) < reference / 3.16 {
            run_ms += 10;
            longest = longest.max(run_ms);
        } else {
            run_ms = 0;
        }
    }
    let s = gw.stats();
    // What `/trtc/callstats` would report.
    let cs = trtc_sipgw::http::callstats::callstats_json(&gw.snapshot());
    Figures {
        snr,
        longest_gap_ms: longest,
        injected_loss_pct: lost as f64 * 100.0 / FRAMES as f64,
        reported_loss_pct: cs["rx"]["loss_percent"].as_f64().unwrap_or(f64::NAN),
        depth_per_second,
        concealed: s.concealed_frames,
        late: s.late,
    }
}

#[test]
fn lossy_jittery_link_against_a_clean_baseline() {
    let codecs: Vec<Codec> = Codec::ALL.into_iter().collect();
    for codec in codecs {
        let clean = run(codec, false, 1);
        let bad = run(codec, true, 0x5eed);
        println!(
            "{codec:>5}: clean snr {:5.1} dB gap {:3} ms | impaired snr {:5.1} dB, longest gap {:3} ms, \
             loss injected {:.1} % reported {:.1} %, concealed {} frames, late {}",
            clean.snr,
            clean.longest_gap_ms,
            bad.snr,
            bad.longest_gap_ms,
            bad.injected_loss_pct,
            bad.reported_loss_pct,
            bad.concealed,
            bad.late
        );
        println!(
            "       jitter buffer depth (ms) each second: {:?}",
            bad.depth_per_second
        );
        assert!(
            bad.longest_gap_ms <= 200,
            "{codec}: gap {} ms",
            bad.longest_gap_ms
        );
        assert!(
            bad.snr >= clean.snr - 6.0 || bad.snr >= 20.0,
            "{codec}: snr {} vs {}",
            bad.snr,
            clean.snr
        );
        assert!(
            (bad.reported_loss_pct - bad.injected_loss_pct).abs() < 1.0,
            "{codec}: callstats loss {} vs injected {}",
            bad.reported_loss_pct,
            bad.injected_loss_pct
        );
        // the buffer deepened for 40 ms ± 40 ms and stayed bounded
        let max = *bad.depth_per_second.iter().max().unwrap();
        assert!((40..=220).contains(&max), "{codec}: depth {max}");
    }
}
