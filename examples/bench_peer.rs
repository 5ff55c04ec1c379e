//! Load driver for `scripts/bench.sh`: plays the phones (a SIP UAS that answers at once
//! and an RTP streamer/receiver for every call on one socket) and the API client
//! (`/trtc/startup` at a fixed rate, `/trtc/shutdown` at the end of each level), and
//! samples the process under test from `/proc`.
//!
//! Two modes, so the gateway and its baseline see the same packets at the same rate:
//! - `gateway`: calls are placed through the HTTP API; the gateway dials our UAS, we
//!   stream 20 ms packets to the RTP address of its offer and receive what it sends.
//! - `relay`: no signalling; we stream to `--relay-base` port + i, and the relay
//!   (`bench_relay`) echoes every packet back.
//!
//! `--codec pcmu` (default) answers and streams PCMU; `--codec opus` answers with the
//! offer's Opus payload type and streams Opus. The Opus packets are encoded once at start
//! (3 s of a tone with the gateway's own encoder) and replayed in a loop with fresh
//! sequence numbers and timestamps, so the driver itself spends no CPU on encoding.
//!
//! For each level of `--levels` it ramps from 0 to that many calls, lets them settle,
//! measures CPU time (sum of `/proc/PID/task/*/schedstat`, i.e. nanoseconds on a CPU,
//! not wall time) and RSS over `--hold` seconds, tears the calls down and, for the
//! gateway, reads the `media counters MediaStats {..}` lines the calls logged at their end.
//! One `LEVEL ...` line per level and a `SETUP ...` line go to stdout as `key=value`.
//!
//! `--admit N` (overload): the gateway takes at most N calls; a level beyond that offers
//! more, and each startup past N must be refused with `503` at once while the N accepted
//! calls stay clean. The LEVEL line then counts `accepted`, `refused` and the slowest
//! refusal (`refuse_max_ms`).
//!
//! A packet from the process under test counts as late at the phone when it arrives more
//! than two frames (40 ms) after the earliest arrival its sequence number predicts.

#[path = "../benches/common/uas.rs"]
mod uas;

use std::collections::HashMap;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use trtc_sipgw::media::g711;
use trtc_sipgw::media::opus::{OpusEncoder, OpusEncoderConfig, OPUS_PCM_RATE, OPUS_RTP_CLOCK};
use uas::{Answer, Uas, UasEvent};

const FRAME: Duration = Duration::from_millis(20);
/// Groups of streams sent at different phases within a frame, so the process under
/// test sees packets spread over the 20 ms instead of one burst.
const PHASES: usize = 10;
/// A packet this much later than its sequence number predicts counts as late: two
/// frames, beyond what a phone's usual jitter buffer absorbs.
const LATE: Duration = Duration::from_millis(40);

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Gateway,
    Relay,
}

/// What the phones speak.
#[derive(Clone, Copy, PartialEq)]
enum PeerCodec {
    Pcmu,
    Opus,
}

/// Seconds of Opus encoded at start and replayed.
const OPUS_LOOP_S: usize = 3;
/// Payload type of Opus towards the relay, which has no offer to take it from.
const RELAY_OPUS_PT: u8 = 96;

struct Args {
    mode: Mode,
    codec: PeerCodec,
    http: SocketAddr,
    sip: SocketAddr,
    rtp: SocketAddr,
    relay_base: SocketAddr,
    pid: u32,
    levels: Vec<usize>,
    rate: f64,
    settle: Duration,
    hold: Duration,
    gw_log: Option<String>,
    stop_beyond: usize,
    /// The gateway's call limit, when a level offers more (`--admit`).
    admit: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        mode: Mode::Gateway,
        codec: PeerCodec::Pcmu,
        http: sa("127.0.0.1:28080"),
        sip: sa("127.0.0.1:28070"),
        rtp: sa("127.0.0.1:28072"),
        relay_base: sa("127.0.0.1:38000"),
        pid: 0,
        levels: vec![10, 50, 200],
        rate: 20.0,
        settle: Duration::from_secs(2),
        hold: Duration::from_secs(10),
        gw_log: None,
        stop_beyond: usize::MAX,
        admit: usize::MAX,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        let bad = || format!("bad value for {k}: {v}");
        match k.as_str() {
            "--mode" => {
                a.mode = match v.as_str() {
                    "gateway" => Mode::Gateway,
                    "relay" => Mode::Relay,
                    _ => return Err(format!("unknown mode {v}")),
                }
            }
            "--codec" => {
                a.codec = match v.as_str() {
                    "pcmu" => PeerCodec::Pcmu,
                    "opus" => PeerCodec::Opus,
                    _ => return Err(format!("unknown codec {v}")),
                }
            }
            "--http" => a.http = v.parse().map_err(|_| format!("bad --http {v}"))?,
            "--sip" => a.sip = v.parse().map_err(|_| format!("bad --sip {v}"))?,
            "--rtp" => a.rtp = v.parse().map_err(|_| format!("bad --rtp {v}"))?,
            "--relay-base" => {
                a.relay_base = v.parse().map_err(|_| format!("bad --relay-base {v}"))?
            }
            "--pid" => a.pid = v.parse().map_err(|_| bad())?,
            "--levels" => {
                a.levels = v
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad())?
            }
            "--rate" => a.rate = v.parse().map_err(|_| bad())?,
            "--settle" => a.settle = Duration::from_secs_f64(v.parse().map_err(|_| bad())?),
            "--hold" => a.hold = Duration::from_secs_f64(v.parse().map_err(|_| bad())?),
            "--gw-log" => a.gw_log = Some(v),
            "--stop-beyond" => a.stop_beyond = v.parse().map_err(|_| bad())?,
            "--admit" => a.admit = v.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    if a.pid == 0 {
        return Err("--pid is required".into());
    }
    Ok(a)
}

fn sa(s: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// One call's media as the phone sees it.
struct Stream {
    phase: usize,
    /// RTP payload type of our packets (what our SDP answer said).
    pt: u8,
    /// Next packet of the replayed payloads.
    next: usize,
    ssrc: u32,
    seq: u16,
    ts: u32,
    /// First received sequence number and the earliest arrival offset seen (ns since
    /// the epoch, minus 20 ms per packet since the first).
    rx_first_seq: Option<u16>,
    rx_min_off: i128,
}

#[derive(Default, Clone, Copy)]
struct LevelCounters {
    rx: u64,
    late: u64,
    max_late_ns: i128,
    send_late_max_ns: i128,
    tx: u64,
}

#[derive(Default)]
struct Shared {
    /// Keyed by the far end's RTP address (the gateway's RTP socket, or a relay port).
    streams: HashMap<SocketAddr, Stream>,
    /// Call-ID → far end's RTP address, for calls the gateway placed.
    calls: HashMap<String, SocketAddr>,
    /// Dialled number → when its INVITE was read.
    invites: HashMap<String, Instant>,
    byes: u64,
    counters: LevelCounters,
    next_phase: usize,
}

impl Shared {
    fn add_stream(&mut self, to: SocketAddr, pt: u8) {
        let phase = self.next_phase % PHASES;
        self.next_phase += 1;
        let n = self.streams.len() as u32;
        self.streams.insert(
            to,
            Stream {
                phase,
                pt,
                next: n as usize,
                ssrc: 0x5eed_0000 ^ n ^ (u32::from(to.port()) << 8),
                seq: n as u16 * 7,
                ts: n * 1000,
                rx_first_seq: None,
                rx_min_off: 0,
            },
        );
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_peer: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("bench_peer: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let shared = Arc::new(Mutex::new(Shared::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();

    let rtp = UdpSocket::bind(args.rtp).map_err(|e| format!("bind RTP {}: {e}", args.rtp))?;
    rtp.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let rtp_tx = rtp.try_clone().map_err(|e| e.to_string())?;
    let media = match args.codec {
        PeerCodec::Pcmu => pcmu_media(),
        PeerCodec::Opus => opus_media()?,
    };
    let mut threads = vec![];
    {
        let (shared, stop) = (shared.clone(), stop.clone());
        threads.push(thread::spawn(move || {
            sender(rtp_tx, &media, shared, stop, epoch)
        }));
    }
    {
        let (shared, stop) = (shared.clone(), stop.clone());
        threads.push(thread::spawn(move || receiver(rtp, shared, stop, epoch)));
    }
    if args.mode == Mode::Gateway {
        let answer = match args.codec {
            PeerCodec::Pcmu => Answer::Pcmu,
            PeerCodec::Opus => Answer::Opus,
        };
        let mut uas = Uas::bind_answering(args.sip, args.rtp, answer)
            .map_err(|e| format!("bind SIP: {e}"))?;
        let (shared, stop) = (shared.clone(), stop.clone());
        threads.push(thread::spawn(move || signalling(&mut uas, shared, stop)));
    }

    let result = levels(&args, &shared);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    result
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// The payloads a phone streams, one per 20 ms frame, replayed in a loop.
struct Media {
    payloads: Vec<Vec<u8>>,
    /// RTP timestamp ticks per frame.
    ticks: u32,
}

/// 1 kHz at 8 kHz repeats every 8 samples, so one PCMU payload serves every frame.
fn pcmu_media() -> Media {
    let payload = (0..160)
        .map(|i| {
            let x = (std::f64::consts::TAU * f64::from(i) / 8.0).sin() * 8000.0;
            g711::linear_to_ulaw(x as i16)
        })
        .collect();
    Media {
        payloads: vec![payload],
        ticks: 160,
    }
}

/// [`OPUS_LOOP_S`] seconds of a 1 kHz tone through the gateway's Opus encoder (16 kHz
/// mono voice, its default settings), one packet per 20 ms.
fn opus_media() -> Result<Media, String> {
    let mut enc =
        OpusEncoder::new(OpusEncoderConfig::default()).map_err(|e| format!("Opus encoder: {e}"))?;
    let frame = (OPUS_PCM_RATE / 50) as usize;
    let mut pcm = vec![0i16; frame];
    let mut out = [0u8; 1500];
    let mut payloads = Vec::new();
    for k in 0..OPUS_LOOP_S * 50 {
        for (i, x) in pcm.iter_mut().enumerate() {
            let t = (k * frame + i) as f64 / f64::from(OPUS_PCM_RATE);
            *x = ((std::f64::consts::TAU * 1000.0 * t).sin() * 8000.0) as i16;
        }
        let n = enc
            .encode(&pcm, &mut out)
            .map_err(|e| format!("Opus encode: {e}"))?;
        payloads.push(out[..n].to_vec());
    }
    Ok(Media {
        payloads,
        ticks: OPUS_RTP_CLOCK / 50,
    })
}

/// Streams one 20 ms packet per call per frame, each call at its phase.
fn sender(
    socket: UdpSocket,
    media: &Media,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    epoch: Instant,
) {
    let mut packet = [0u8; 1500];
    let step = FRAME / PHASES as u32;
    let mut k: u64 = 0;
    let start = Instant::now();
    let mut out: Vec<(SocketAddr, [u8; 12], usize)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let due = start + step * k as u32;
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        let late = Instant::now().saturating_duration_since(due).as_nanos() as i128;
        let phase = (k % PHASES as u64) as usize;
        k += 1;
        out.clear();
        {
            let mut s = lock(&shared);
            s.counters.send_late_max_ns = s.counters.send_late_max_ns.max(late);
            for (to, st) in s.streams.iter_mut().filter(|(_, st)| st.phase == phase) {
                let mut h = [0u8; 12];
                h[0] = 0x80;
                h[1] = st.pt & 0x7f;
                h[2..4].copy_from_slice(&st.seq.to_be_bytes());
                h[4..8].copy_from_slice(&st.ts.to_be_bytes());
                h[8..12].copy_from_slice(&st.ssrc.to_be_bytes());
                st.seq = st.seq.wrapping_add(1);
                st.ts = st.ts.wrapping_add(media.ticks);
                let payload = st.next % media.payloads.len();
                st.next = payload + 1;
                out.push((*to, h, payload));
            }
            s.counters.tx += out.len() as u64;
        }
        for (to, h, payload) in &out {
            let payload = &media.payloads[*payload];
            let len = 12 + payload.len().min(packet.len() - 12);
            packet[..12].copy_from_slice(h);
            packet[12..len].copy_from_slice(&payload[..len - 12]);
            let _ = socket.send_to(&packet[..len], to);
        }
    }
    let _ = epoch;
}

/// Receives what the process under test sends and judges its timing.
fn receiver(socket: UdpSocket, shared: Arc<Mutex<Shared>>, stop: Arc<AtomicBool>, epoch: Instant) {
    let mut buf = [0u8; 2048];
    let frame_ns = FRAME.as_nanos() as i128;
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let now = Instant::now().duration_since(epoch).as_nanos() as i128;
        if n < 12 || buf[0] >> 6 != 2 {
            continue;
        }
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let mut s = lock(&shared);
        let Some(st) = s.streams.get_mut(&from) else {
            continue;
        };
        let first = *st.rx_first_seq.get_or_insert(seq);
        let off = now - i128::from(seq.wrapping_sub(first)) * frame_ns;
        let late = if st.rx_min_off == 0 || off < st.rx_min_off {
            st.rx_min_off = off;
            0
        } else {
            off - st.rx_min_off
        };
        let c = &mut s.counters;
        c.rx += 1;
        c.max_late_ns = c.max_late_ns.max(late);
        if late > LATE.as_nanos() as i128 {
            c.late += 1;
        }
    }
}

/// Answers the gateway's SIP and turns its dialogs into streams.
fn signalling(uas: &mut Uas, shared: Arc<Mutex<Shared>>, stop: Arc<AtomicBool>) {
    let mut pending: HashMap<String, (SocketAddr, u8)> = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        let ev = match uas.poll() {
            Ok(Some(ev)) => ev,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("bench_peer: SIP socket: {e}");
                continue;
            }
        };
        let mut s = lock(&shared);
        match ev {
            UasEvent::Invite {
                call_id,
                number,
                remote_rtp,
                payload_type,
                at,
            } => {
                s.invites.insert(number, at);
                if let Some(to) = remote_rtp {
                    pending.insert(call_id, (to, payload_type));
                }
            }
            UasEvent::Ack { call_id } => {
                if let Some((to, pt)) = pending.remove(&call_id) {
                    s.add_stream(to, pt);
                    s.calls.insert(call_id, to);
                }
            }
            UasEvent::Bye { call_id } => {
                pending.remove(&call_id);
                if let Some(to) = s.calls.remove(&call_id) {
                    s.streams.remove(&to);
                }
                s.byes += 1;
            }
        }
    }
}

/// Totals of the `media counters MediaStats {..}` lines calls logged at their end.
#[derive(Default, Debug)]
struct GwMedia {
    calls: u64,
    rx_packets: u64,
    concealed: u64,
    lost: u64,
    late: u64,
    overflow: u64,
    resets: u64,
    stretched: u64,
}

fn read_gw_log(path: &str, offset: &mut u64) -> GwMedia {
    let mut g = GwMedia::default();
    let Ok(mut f) = std::fs::File::open(path) else {
        return g;
    };
    if f.seek(SeekFrom::Start(*offset)).is_err() {
        return g;
    }
    let mut r = io::BufReader::new(f);
    let mut line = String::new();
    while let Ok(n) = r.read_line(&mut line) {
        if n == 0 || !line.ends_with('\n') {
            break; // a partial last line is read again next time
        }
        *offset += n as u64;
        if let Some(rest) = line.split("MediaStats {").nth(1) {
            g.calls += 1;
            for kv in rest.trim_end_matches(['}', '\n', ' ']).split(',') {
                let Some((k, v)) = kv.split_once(':') else {
                    continue;
                };
                let v: u64 = v.trim().parse().unwrap_or(0);
                match k.trim() {
                    "rx_packets" => g.rx_packets += v,
                    "concealed_frames" => g.concealed += v,
                    "lost" => g.lost += v,
                    "late" => g.late += v,
                    "overflow" => g.overflow += v,
                    "jitter_resets" => g.resets += v,
                    "jitter_stretched" => g.stretched += v,
                    _ => {}
                }
            }
        }
        line.clear();
    }
    g
}

/// CPU time of every thread of `pid` in nanoseconds (schedstat), or utime+stime in
/// clock ticks converted at 100 Hz when schedstat is not available.
fn cpu_ns(pid: u32) -> u64 {
    let mut total = 0u64;
    let mut found = false;
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for e in dir.flatten() {
            let p = e.path().join("schedstat");
            if let Ok(s) = std::fs::read_to_string(p) {
                if let Some(v) = s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    total += v;
                    found = true;
                }
            }
        }
    }
    if found {
        return total;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks * 10_000_000
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One HTTP/1.1 exchange on a fresh connection; returns status and body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.set_nodelay(true)?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn json_id(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(v.get("id")?.as_str()?.to_string())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(ns: i128) -> f64 {
    ns as f64 / 1e6
}

fn levels(args: &Args, shared: &Arc<Mutex<Shared>>) -> Result<(), String> {
    let pid = args.pid;
    let mut log_offset = 0u64;
    if let Some(path) = &args.gw_log {
        // Only calls of this run count.
        let _ = read_gw_log(path, &mut log_offset);
    }
    let mut setups: Vec<f64> = vec![];
    let mut setup_fail = 0u64;
    let mut number = 100_000u64;

    if args.mode == Mode::Gateway {
        // HTTP floor: the same request path without a call behind it.
        let mut rtt = vec![];
        for _ in 0..50 {
            let t = Instant::now();
            let (code, _) = http(args.http, "GET", "/healthz", "")
                .map_err(|e| format!("gateway HTTP not answering: {e}"))?;
            if code != 200 {
                return Err(format!("/healthz answered {code}"));
            }
            rtt.push(t.elapsed().as_secs_f64() * 1e3);
        }
        rtt.sort_by(f64::total_cmp);
        println!(
            "HEALTHZ n={} median_ms={:.3} p99_ms={:.3}",
            rtt.len(),
            percentile(&rtt, 0.5),
            percentile(&rtt, 0.99)
        );
    }
    thread::sleep(Duration::from_millis(500));
    println!("IDLE rss_kib={}", rss_kib(pid));

    for &level in &args.levels {
        lock(shared).counters = LevelCounters::default();
        let ramp_start = Instant::now();
        let mut ids = vec![];
        // Startups refused with 503 and how long the slowest refusal took.
        let mut refused = 0usize;
        let mut refuse_max_ms = 0f64;
        let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.1));
        // A process under test that cannot keep up answers the API late; give up the
        // level rather than let one ramp run for minutes.
        let ramp_deadline = ramp_start + interval * (2 * level as u32) + Duration::from_secs(10);
        for i in 0..level {
            let due = ramp_start + interval * i as u32;
            let now = Instant::now();
            if now > ramp_deadline {
                eprintln!("bench_peer: ramp to {level} too slow, stopped at {i} calls");
                break;
            }
            if due > now {
                thread::sleep(due - now);
            }
            match args.mode {
                Mode::Relay => {
                    let mut to = args.relay_base;
                    to.set_port(to.port() + i as u16);
                    let pt = match args.codec {
                        PeerCodec::Pcmu => 0,
                        PeerCodec::Opus => RELAY_OPUS_PT,
                    };
                    lock(shared).add_stream(to, pt);
                }
                Mode::Gateway => {
                    number += 1;
                    let body = format!(
                        "{{\"phonenumber\":\"{number}\",\"ttl\":3600,\"trtcParams\":{{\"sdkAppId\":1400000001,\
                         \"userSig\":\"bench\",\"roomId\":4242,\"userId\":\"bench{number}\"}}}}"
                    );
                    let sent = Instant::now();
                    match http(args.http, "POST", "/trtc/startup", &body) {
                        Ok((200, reply)) => {
                            if let Some(id) = json_id(&reply) {
                                ids.push(id);
                            }
                            // The INVITE is sent before the reply, but our SIP thread
                            // may not have read it yet.
                            let key = number.to_string();
                            let wait_until = Instant::now() + Duration::from_secs(5);
                            loop {
                                if let Some(at) = lock(shared).invites.remove(&key) {
                                    setups.push(at.duration_since(sent).as_secs_f64() * 1e3);
                                    break;
                                }
                                if Instant::now() > wait_until {
                                    setup_fail += 1;
                                    break;
                                }
                                thread::sleep(Duration::from_micros(200));
                            }
                        }
                        Ok((503, _)) if ids.len() >= args.admit => {
                            refused += 1;
                            refuse_max_ms = refuse_max_ms.max(sent.elapsed().as_secs_f64() * 1e3);
                        }
                        Ok((code, reply)) => {
                            setup_fail += 1;
                            eprintln!("bench_peer: startup answered {code}: {reply}");
                        }
                        Err(e) => {
                            setup_fail += 1;
                            eprintln!("bench_peer: startup failed: {e}");
                        }
                    }
                }
            }
        }
        let ramp_s = ramp_start.elapsed().as_secs_f64();
        // The calls that should stream: every one offered, or the gateway's limit.
        let expected = level.min(args.admit);
        // Wait until every call streams (ACKed), then settle.
        let wait_until = Instant::now() + Duration::from_secs(10);
        while lock(shared).streams.len() < expected && Instant::now() < wait_until {
            thread::sleep(Duration::from_millis(20));
        }
        let streaming = lock(shared).streams.len();
        thread::sleep(args.settle);

        let t0 = Instant::now();
        let c0 = cpu_ns(pid);
        thread::sleep(args.hold);
        let c1 = cpu_ns(pid);
        let wall = t0.elapsed().as_secs_f64();
        let rss = rss_kib(pid);
        let cpu_ms = (c1.saturating_sub(c0)) as f64 / 1e6;
        let per_call_us = if level > 0 {
            (c1.saturating_sub(c0)) as f64 / 1e3 / (level as f64 * wall)
        } else {
            0.0
        };

        // Tear down.
        match args.mode {
            Mode::Relay => lock(shared).streams.clear(),
            Mode::Gateway => {
                for id in &ids {
                    let body = format!("{{\"id\":\"{id}\"}}");
                    if let Err(e) = http(args.http, "POST", "/trtc/shutdown", &body) {
                        eprintln!("bench_peer: shutdown {id}: {e}");
                    }
                }
                let wait_until = Instant::now() + Duration::from_secs(15);
                while !lock(shared).streams.is_empty() && Instant::now() < wait_until {
                    thread::sleep(Duration::from_millis(20));
                }
            }
        }
        let counters = lock(shared).counters;
        let mut gw = GwMedia::default();
        if let Some(path) = &args.gw_log {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                thread::sleep(Duration::from_millis(200));
                let g = read_gw_log(path, &mut log_offset);
                gw.calls += g.calls;
                gw.rx_packets += g.rx_packets;
                gw.concealed += g.concealed;
                gw.lost += g.lost;
                gw.late += g.late;
                gw.overflow += g.overflow;
                gw.resets += g.resets;
                gw.stretched += g.stretched;
                if gw.calls >= ids.len() as u64 || Instant::now() > deadline {
                    break;
                }
            }
        }
        let gw_bad = gw.concealed + gw.lost + gw.late + gw.overflow + gw.stretched;
        let ok = streaming == expected
            && counters.late == 0
            && gw_bad == 0
            && (args.mode == Mode::Relay
                || (gw.calls == expected as u64 && ids.len() + refused == level));
        println!(
            "LEVEL calls={level} codec={} streaming={streaming} ramp_s={ramp_s:.2} window_s={wall:.2} cpu_ms={cpu_ms:.1} \
             cpu_us_per_call_s={per_call_us:.2} rss_kib={rss} phone_rx={} phone_tx={} phone_late={} \
             phone_max_late_ms={:.2} peer_send_late_max_ms={:.2} gw_calls={} gw_rx={} gw_concealed={} \
             gw_lost={} gw_late={} gw_overflow={} gw_stretched={} gw_resets={} accepted={} refused={refused} \
             refuse_max_ms={refuse_max_ms:.3} ok={}",
            match args.codec {
                PeerCodec::Pcmu => "pcmu",
                PeerCodec::Opus => "opus",
            },
            counters.rx,
            counters.tx,
            counters.late,
            ms(counters.max_late_ns),
            ms(counters.send_late_max_ns),
            gw.calls,
            gw.rx_packets,
            gw.concealed,
            gw.lost,
            gw.late,
            gw.overflow,
            gw.stretched,
            gw.resets,
            ids.len(),
            u8::from(ok)
        );
        let _ = io::stdout().flush();
        if !ok && level >= args.stop_beyond {
            break;
        }
        thread::sleep(Duration::from_millis(500));
    }

    if args.mode == Mode::Gateway {
        setups.sort_by(f64::total_cmp);
        println!(
            "SETUP n={} fail={setup_fail} rate={} median_ms={:.3} p99_ms={:.3} max_ms={:.3}",
            setups.len(),
            args.rate,
            percentile(&setups, 0.5),
            percentile(&setups, 0.99),
            setups.last().copied().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
