//! Delay the gateway adds to audio, for `scripts/bench.sh`.
//!
//! The real gateway code (`Gateway::startup`, the call task, the shared media clock,
//! the bridge, the SIP user agent) runs in this process on its own executor thread,
//! with `[rtp] jitter_frames = 0` (the buffer's minimum depth; `BENCH_JITTER_FRAMES`
//! sets another, `default` the shipped one) and a probe room in
//! place of the simulated one. A phone (the benches' UAS plus two RTP threads) and the
//! probe room's "SDK thread" run on their own threads, each on its own 20 ms schedule,
//! so the phase between them and the gateway's clock is whatever it happens to be, as
//! in life. Every frame carries its number in its samples (a distinct G.711 code per
//! frame, which survives decode and encode exactly), so both ends know which frame
//! they see and when it was sent; all times come from the same monotonic clock.
//!
//! Printed figures (one `LATENCY` line, milliseconds, median and p99):
//! - `up`: phone RTP sent → frame handed to the room. Includes the loopback hop, the
//!   wait for the gateway's next 20 ms tick (0–20 ms, 10 on average: packets are
//!   taken on the tick), decode.
//! - `down`: room frame delivered to the room backend (as the SDK's callback would)
//!   → its RTP packet read by the phone. Includes the wait for the next tick (0–20 ms),
//!   encode, the loopback hop.
//! - `down_tick`: the part of `down` after the tick took the frame (processing + hop).
//! - `udp`: one loopback datagram between two threads of this process: the floor.

#[path = "common/uas.rs"]
mod uas;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use smol::LocalExecutor;
use trtc_sipgw::calls::registry::Registry;
use trtc_sipgw::calls::service::Gateway;
use trtc_sipgw::config::Config;
use trtc_sipgw::http::api::{Api, StartupRequest, TrtcParams};
use trtc_sipgw::http::client::WebhookClient;
use trtc_sipgw::media::g711::{linear_to_ulaw, ulaw_to_linear};
use trtc_sipgw::media::PcmFrame;
use trtc_sipgw::room::{EnterFuture, Room, RoomBackend, RoomEvent, RoomId, RoomParams};
use trtc_sipgw::sip::{SipConfig, SipService};

const FRAME: Duration = Duration::from_millis(20);
/// Frame numbers cycle through this many distinct µ-law codes (1..=120).
const IDS: usize = 120;
/// Frames measured in each direction after the warm-up.
const SAMPLES: usize = 500;
const WARMUP: usize = 50;

fn code(id: usize) -> u8 {
    (id % IDS) as u8 + 1
}

fn id_of(code: u8) -> Option<usize> {
    (1..=IDS as u8).contains(&code).then(|| (code - 1) as usize)
}

/// Send times by frame code, and the measured delays.
#[derive(Default)]
struct Book {
    sent: Vec<Option<Instant>>,
    /// When the gateway's tick took the frame (room → phone only).
    taken: Vec<Option<Instant>>,
    delays: Vec<f64>,
    delays_tick: Vec<f64>,
    count: usize,
}

impl Book {
    fn new() -> Self {
        Book {
            sent: vec![None; IDS],
            taken: vec![None; IDS],
            ..Book::default()
        }
    }

    fn arrived(&mut self, id: usize, now: Instant) {
        let Some(sent) = self.sent[id].take() else {
            return; // seen already (a repeated frame) or never sent
        };
        self.count += 1;
        if self.count > WARMUP {
            self.delays.push(ms(now - sent));
            if let Some(taken) = self.taken[id].take() {
                self.delays_tick
                    .push(ms(now.saturating_duration_since(taken)));
            }
        }
    }

    fn done(&self) -> bool {
        self.delays.len() >= SAMPLES
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

type Shared<T> = Arc<Mutex<T>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The room as the gateway sees it: frames for the phone come from the "SDK thread"
/// through a queue; frames from the phone are checked against the phone's send times.
struct ProbeRoom {
    queue: Shared<VecDeque<usize>>,
    down: Shared<Book>,
    up: Shared<Book>,
    /// The first tick of the gateway's media clock, for the senders' phase.
    first_tick: Shared<Option<Instant>>,
    /// When this tick began (the gateway polls the room first).
    tick: Option<Instant>,
}

impl Room for ProbeRoom {
    fn send_audio(&mut self, frame: &PcmFrame) {
        let now = Instant::now();
        // The middle sample: the 8 → 48 kHz resampler delays the audio by about 1 ms
        // (45 samples at 48 kHz), so a frame's first samples still carry the previous
        // frame's code, which once made the upstream direction look a tick slower.
        let pcm = frame.pcm();
        if let Some(id) = pcm
            .get(pcm.len() / 2)
            .and_then(|&s| id_of(linear_to_ulaw(s)))
        {
            let mut up = lock(&self.up);
            up.taken[id] = self.tick;
            up.arrived(id, now);
        }
    }

    fn poll_audio(&mut self) -> Option<PcmFrame> {
        let now = Instant::now();
        self.tick = Some(now);
        lock(&self.first_tick).get_or_insert(now);
        let id = lock(&self.queue).pop_front()?;
        lock(&self.down).taken[id % IDS] = Some(Instant::now());
        let mut frame = PcmFrame::silence(8000);
        frame.pcm_mut().fill(ulaw_to_linear(code(id)));
        Some(frame)
    }

    fn poll_event(&mut self, _now: Instant) -> Option<RoomEvent> {
        None
    }

    fn leave(&mut self) {}
}

struct ProbeBackend {
    queue: Shared<VecDeque<usize>>,
    down: Shared<Book>,
    up: Shared<Book>,
    first_tick: Shared<Option<Instant>>,
}

impl RoomBackend for ProbeBackend {
    fn enter(&self, _params: RoomParams) -> EnterFuture {
        let room = ProbeRoom {
            queue: self.queue.clone(),
            down: self.down.clone(),
            up: self.up.clone(),
            first_tick: self.first_tick.clone(),
            tick: None,
        };
        Box::pin(async move { Ok(Box::new(room) as Box<dyn Room>) })
    }
}

/// Waits for the gateway's first tick, then returns the start of a 20 ms schedule
/// half a frame after the ticks: the average phase of a sender the gateway does not
/// control, pinned so the figures repeat from run to run.
fn mid_tick_schedule(first_tick: &Mutex<Option<Instant>>, stop: &AtomicBool) -> Option<Instant> {
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(t) = *lock(first_tick) {
            let mut start = t + FRAME / 2;
            while start < Instant::now() {
                start += FRAME;
            }
            return Some(start);
        }
        thread::sleep(Duration::from_millis(1));
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[(((v.len() - 1) as f64) * p).round() as usize]
}

/// One loopback datagram from thread to thread, `n` times.
fn udp_floor(n: usize) -> Vec<f64> {
    let (Ok(a), Ok(b)) = (
        UdpSocket::bind("127.0.0.1:0"),
        UdpSocket::bind("127.0.0.1:0"),
    ) else {
        return vec![];
    };
    let Ok(to) = b.local_addr() else {
        return vec![];
    };
    let epoch = Instant::now();
    let rx = thread::spawn(move || {
        let mut out = vec![];
        let mut buf = [0u8; 64];
        let _ = b.set_read_timeout(Some(Duration::from_secs(2)));
        while out.len() < n {
            let Ok(k) = b.recv(&mut buf) else { break };
            if k == 16 {
                let sent = u128::from_be_bytes(buf[..16].try_into().unwrap_or([0; 16]));
                out.push((epoch.elapsed().as_nanos() - sent) as f64 / 1e6);
            }
        }
        out
    });
    for _ in 0..n {
        thread::sleep(FRAME / 4);
        let _ = a.send_to(&epoch.elapsed().as_nanos().to_be_bytes(), to);
    }
    rx.join().unwrap_or_default()
}

fn main() {
    let up = Arc::new(Mutex::new(Book::new()));
    let down = Arc::new(Mutex::new(Book::new()));
    let queue: Shared<VecDeque<usize>> = Arc::new(Mutex::new(VecDeque::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let first_tick: Shared<Option<Instant>> = Arc::new(Mutex::new(None));

    // The phone: SIP on one socket, RTP on another.
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let rtp = UdpSocket::bind((localhost, 0)).expect("phone RTP socket");
    let rtp_addr = rtp.local_addr().expect("phone RTP address");
    let mut phone = uas::Uas::bind(SocketAddr::new(localhost, 0), rtp_addr).expect("phone SIP");
    let phone_sip = phone.local_addr().expect("phone SIP address");
    let gateway_rtp: Shared<Option<SocketAddr>> = Arc::new(Mutex::new(None));
    {
        let (gateway_rtp, stop) = (gateway_rtp.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(Some(uas::UasEvent::Invite {
                    remote_rtp: Some(to),
                    ..
                })) = phone.poll()
                {
                    *lock(&gateway_rtp) = Some(to);
                }
            }
        });
    }
    // Phone → gateway: frame k at k × 20 ms.
    {
        let (tx, up, gateway_rtp, stop, first_tick) = (
            rtp.try_clone().expect("clone"),
            up.clone(),
            gateway_rtp.clone(),
            stop.clone(),
            first_tick.clone(),
        );
        thread::spawn(move || {
            let Some(start) = mid_tick_schedule(&first_tick, &stop) else {
                return;
            };
            let mut packet = [0u8; 172];
            packet[0] = 0x80;
            packet[8..12].copy_from_slice(&0xfeed_u32.to_be_bytes());
            for k in 0usize.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let due = start + FRAME * k as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                } else if Instant::now() - due > FRAME / 2 {
                    // This thread was descheduled: skip the frame (as a network would
                    // lose it) rather than send a burst that the gateway's fixed-depth
                    // jitter buffer would keep as extra delay for the rest of the call.
                    continue;
                }
                let Some(to) = *lock(&gateway_rtp) else {
                    continue;
                };
                packet[2..4].copy_from_slice(&(k as u16).to_be_bytes());
                packet[4..8].copy_from_slice(&((k as u32) * 160).to_be_bytes());
                packet[12..].fill(code(k));
                lock(&up).sent[k % IDS] = Some(Instant::now());
                let _ = tx.send_to(&packet, to);
            }
        });
    }
    // Gateway → phone: read the packets, identify their frame.
    {
        let (down, stop) = (down.clone(), stop.clone());
        let _ = rtp.set_read_timeout(Some(Duration::from_millis(100)));
        thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                let Ok(n) = rtp.recv(&mut buf) else { continue };
                let now = Instant::now();
                if n > 12 {
                    if let Some(id) = id_of(buf[12]) {
                        lock(&down).arrived(id, now);
                    }
                }
            }
        });
    }
    // The room's "SDK thread": one mixed frame every 20 ms into the queue.
    {
        let (queue, down, stop, first_tick) = (
            queue.clone(),
            down.clone(),
            stop.clone(),
            first_tick.clone(),
        );
        thread::spawn(move || {
            let Some(start) = mid_tick_schedule(&first_tick, &stop) else {
                return;
            };
            for k in 0usize.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let due = start + FRAME * k as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                } else if Instant::now() - due > FRAME / 2 {
                    // This thread was descheduled: skip the frame (as a network would
                    // lose it) rather than send a burst that the gateway's fixed-depth
                    // jitter buffer would keep as extra delay for the rest of the call.
                    continue;
                }
                let mut q = lock(&queue);
                lock(&down).sent[k % IDS] = Some(Instant::now());
                q.push_back(k);
                // like the SDK's bounded queue: never more than a few frames behind
                while q.len() > 4 {
                    q.pop_front();
                }
            }
        });
    }

    // The gateway, on this thread.
    let mut config = Config::default();
    // `BENCH_JITTER_FRAMES=default` keeps the shipped depth; a number sets it; unset is 0.
    match std::env::var("BENCH_JITTER_FRAMES").as_deref() {
        Ok("default") => {}
        Ok(n) => match n.parse() {
            Ok(n) => config.rtp.jitter_frames = n,
            Err(_) => {
                eprintln!("latency: BENCH_JITTER_FRAMES={n:?} is neither a number nor \"default\"");
                std::process::exit(2);
            }
        },
        Err(_) => config.rtp.jitter_frames = 0,
    }
    let depth_ms = u32::from(config.rtp.jitter_frames) * 20;
    config.rtp.ports = [39000, 39999];
    config.sip.outbound.uri = format!("sip:{{number}}@{phone_sip}");
    config.log.level = "warn".into();
    trtc_sipgw::logger::init(&std::env::var("LATENCY_LOG").unwrap_or_else(|_| "warn".into()));
    let ex = Rc::new(LocalExecutor::new());
    let result = smol::block_on(ex.run({
        let ex = ex.clone();
        let (up, down) = (up.clone(), down.clone());
        async move {
            let sip_cfg = SipConfig::new(SocketAddr::new(localhost, 0));
            let (sip, sip_loop) = SipService::bind(SocketAddr::new(localhost, 0), None, sip_cfg)
                .await
                .map_err(|e| format!("SIP bind: {e}"))?;
            ex.spawn(sip_loop).detach();
            let registry = Rc::new(RefCell::new(Registry::in_memory(Duration::from_secs(60))));
            let rooms = Rc::new(ProbeBackend {
                queue,
                down: down.clone(),
                up: up.clone(),
                first_tick,
            });
            let webhooks = WebhookClient::new(None).map_err(|e| format!("webhooks: {e}"))?;
            let gateway = Gateway::new(
                config,
                ex.clone(),
                registry,
                sip,
                rooms,
                localhost,
                webhooks,
            );
            let req = StartupRequest {
                phonenumber: "5000".into(),
                ttl_s: 600,
                trtc: TrtcParams {
                    sdk_app_id: 1_400_000_001,
                    user_sig: Some("bench".into()),
                    room: RoomId::Numeric(4242),
                    user_id: "latency".into(),
                },
                notify_url: None,
            };
            let id = gateway
                .startup(req)
                .await
                .map_err(|e| format!("startup: {e:?}"))?;
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                async_io::Timer::after(Duration::from_millis(100)).await;
                if lock(&up).done() && lock(&down).done() {
                    break;
                }
            }
            let _ = gateway.shutdown(&id);
            Ok::<(), String>(())
        }
    }));
    stop.store(true, Ordering::Relaxed);
    if let Err(e) = result {
        eprintln!("latency: {e}");
        std::process::exit(1);
    }
    let mut udp = udp_floor(200);
    let (mut u, mut ut, mut d, mut dt) = {
        let (up, down) = (lock(&up), lock(&down));
        (
            up.delays.clone(),
            up.delays_tick.clone(),
            down.delays.clone(),
            down.delays_tick.clone(),
        )
    };
    if u.len() < SAMPLES / 2 || d.len() < SAMPLES / 2 {
        eprintln!(
            "latency: too few frames identified (up {}, down {})",
            u.len(),
            d.len()
        );
        std::process::exit(1);
    }
    println!(
        "LATENCY depth_ms={depth_ms} n_up={} n_down={} up_median_ms={:.3} up_p99_ms={:.3} up_tick_median_ms={:.3} \
         up_tick_p99_ms={:.3} down_median_ms={:.3} down_p99_ms={:.3} down_tick_median_ms={:.3} down_tick_p99_ms={:.3} udp_median_ms={:.3} \
         udp_p99_ms={:.3}",
        u.len(),
        d.len(),
        percentile(&mut u, 0.5),
        percentile(&mut u, 0.99),
        percentile(&mut ut, 0.5),
        percentile(&mut ut, 0.99),
        percentile(&mut d, 0.5),
        percentile(&mut d, 0.99),
        percentile(&mut dt, 0.5),
        percentile(&mut dt, 0.99),
        percentile(&mut udp, 0.5),
        percentile(&mut udp, 0.99),
    );
}
