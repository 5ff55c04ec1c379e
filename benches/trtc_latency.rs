//! Added latency of the TRTC room leg, room → phone: from the SDK's mixed-audio callback
//! (on the SDK's thread) to the RTP packet leaving for the phone, through the real `trtc`
//! backend over the C++ test double of libliteav.so, driven by a 20 ms tick like a call.
//!
//! Baseline, measured in the same run: the same tick loop and the same encode-and-send,
//! fed by a plain thread that stamps a frame every 20 ms into the same lock-free queue.
//! The difference between the two is what the SDK path itself adds (the C++ shim, the
//! callback's copy, backlog trimming); the baseline is the floor set by two unsynchronised
//! 20 ms clocks.
//!
//! Run: `cargo bench --bench trtc_latency` (needs `bash scripts/fetch-liteav.sh` before the
//! build; without the SDK it says so and exits 0).

#[path = "../tests/liteav_double/helpers.rs"]
mod double;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use trtc_sipgw::media::bridge::{BridgeConfig, MediaBridge};
use trtc_sipgw::media::{Codec, PcmFrame};
use trtc_sipgw::room::trtc::ring::FrameRing;
use trtc_sipgw::room::trtc::{TrtcBackend, TrtcRoomConfig};
use trtc_sipgw::room::{Room, RoomId, RoomParams};

const TICKS: u32 = 500; // 10 s of audio per path
const RATE: u32 = 8000;

#[derive(Default)]
struct Figures {
    frames: u32,
    wait_sum: Duration,
    wait_max: Duration,
    send_sum: Duration,
    send_max: Duration,
}

impl Figures {
    fn wait_avg(&self) -> Duration {
        self.wait_sum / self.frames.max(1)
    }
    fn send_avg(&self) -> Duration {
        self.send_sum / self.frames.max(1)
    }
    fn total_avg(&self) -> Duration {
        self.wait_avg() + self.send_avg()
    }
}

/// One call's tick loop: every 20 ms take a frame (returning how long it waited since its
/// callback), encode it as PCMU RTP and send it over loopback, timing that part.
fn tick_loop(mut take: impl FnMut() -> Option<(PcmFrame, Duration)>) -> Figures {
    let sink = UdpSocket::bind("127.0.0.1:0").expect("sink socket");
    let sink_addr = sink.local_addr().expect("sink address");
    let mut config = BridgeConfig::new(Codec::Pcmu, 7);
    config.remote = Some(sink_addr);
    config.room_rate = RATE;
    let mut bridge = MediaBridge::new(config);
    let mut figures = Figures::default();
    smol::block_on(async {
        let out_socket = smol::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("rtp socket");
        let mut ticker = async_io::Timer::interval(Duration::from_millis(20));
        let mut out = [0u8; 2048];
        for _ in 0..TICKS {
            ticker.next().await;
            let taken_at = Instant::now();
            while let Some((frame, waited)) = take() {
                let Ok(n) = bridge.push_room_audio(&frame, &mut out) else {
                    continue;
                };
                let _ = out_socket.send_to(&out[..n], sink_addr).await;
                let sent = taken_at.elapsed();
                figures.frames += 1;
                figures.wait_sum += waited;
                figures.wait_max = figures.wait_max.max(waited);
                figures.send_sum += sent;
                figures.send_max = figures.send_max.max(sent);
                break; // one frame per tick, as the call does
            }
        }
    });
    figures
}

fn sdk_path(backend: &TrtcBackend) -> Figures {
    let params = RoomParams {
        call_id: "bench".into(),
        sdk_app_id: 1_400_000_001,
        user_id: "bench".into(),
        user_sig: "x".into(),
        room: RoomId::Numeric(4321),
        sample_rate: RATE,
    };
    let entering = backend.start_entry(params).expect("entry starts");
    let mut room = smol::block_on(entering).expect("entered the double's room");
    // Drop what queued during entry so both paths start empty.
    while room.poll_audio().is_some() {}
    // RoomStats keeps the mean callback→take wait over all frames taken; the total it
    // implies, before and after a take, gives that frame's wait (to within a nanosecond
    // per frame of rounding).
    let total_wait = |s: &trtc_sipgw::room::trtc::RoomStats| {
        s.rx_wait_avg * u32::try_from(s.rx_taken).unwrap_or(u32::MAX)
    };
    let before = room.stats();
    let mut last_total = total_wait(&before);
    let mut taken = 0u64;
    let figures = tick_loop(|| {
        let frame = room.poll_audio()?;
        let s = room.stats();
        let total = total_wait(&s);
        let waited = total.saturating_sub(last_total);
        last_total = total;
        taken = s.rx_taken - before.rx_taken;
        Some((frame, waited))
    });
    let s = room.stats();
    println!(
        "sdk path: {taken} frames taken, {} trimmed for latency, {} dropped full, max backlog {}",
        s.rx_dropped_late - before.rx_dropped_late,
        s.rx_dropped_full - before.rx_dropped_full,
        s.rx_max_depth
    );
    room.leave();
    figures
}

fn baseline_path() -> Figures {
    let ring: Arc<FrameRing<(Instant, PcmFrame), 16>> =
        Arc::new(FrameRing::new((Instant::now(), PcmFrame::silence(RATE))));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let ring = ring.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                next += Duration::from_millis(20);
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
                let _ = ring.push_with(|slot| *slot = (Instant::now(), PcmFrame::silence(RATE)));
            }
        })
    };
    let figures = tick_loop(|| {
        // The same backlog bound as the SDK path: keep at most two frames waiting.
        while ring.len() > 2 {
            let _ = ring.pop();
        }
        ring.pop().map(|(at, frame)| (frame, at.elapsed()))
    });
    stop.store(true, Ordering::Relaxed);
    let _ = producer.join();
    figures
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let Some((sdk, shim)) = double::sdk_or_skip("trtc_latency") else {
        return;
    };
    let config = TrtcRoomConfig {
        sdk_dir: Some(double::build_double(&sdk)),
        shim: Some(shim),
        ..Default::default()
    };
    let backend = TrtcBackend::new(&config).expect("load the trtc backend over the double");
    let sdk = sdk_path(&backend);
    let base = baseline_path();
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!();
    println!("room → phone latency, {} ticks of 20 ms each path", TICKS);
    println!(
        "{:<38} {:>12} {:>12} {:>8}",
        "figure", "trtc double", "baseline", "ratio"
    );
    for (name, a, b) in [
        ("callback → tick (mean)", sdk.wait_avg(), base.wait_avg()),
        ("callback → tick (max)", sdk.wait_max, base.wait_max),
        ("tick → RTP out (mean)", sdk.send_avg(), base.send_avg()),
        ("tick → RTP out (max)", sdk.send_max, base.send_max),
        (
            "callback → RTP out (mean)",
            sdk.total_avg(),
            base.total_avg(),
        ),
    ] {
        println!(
            "{name:<38} {:>12} {:>12} {:>8.2}",
            ms(a),
            ms(b),
            ratio(a, b)
        );
    }
    println!(
        "frames: trtc double {}, baseline {}",
        sdk.frames, base.frames
    );
}
