//! A lossy, jittery link between a real phone peer and the gateway, with real sockets,
//! for kernels without `tc netem`: a small SIP-aware UDP relay the gateway's outbound
//! URI points at. It passes SIP through unchanged except for SDP bodies (and their
//! Content-Length), which it rewrites so both sides send their RTP to it:
//!
//! ```text
//!   gateway SIP ──► proxy SIP ──► phone (sipp)        (and back, same socket)
//!   INVITE offer:  c=/m= of the gateway  →  127.0.0.1 : A   (the phone sends to A)
//!   2xx answer:    c=/m= of the phone    →  127.0.0.1 : B   (the gateway sends to B)
//!
//!   phone RTP ──► A ─[loss, delay jitter, duplicates]─► B ──► gateway RTP
//!   gateway RTP ──► B ───────────(clean)──────────────► A ──► phone RTP
//!   RTCP on A+1 / B+1 both ways, clean.
//! ```
//!
//! Packets towards the gateway leave from B, the address the gateway was given in the
//! answer, so its symmetric-RTP latching sees one steady source. The impairment is a
//! seeded schedule: every packet from the phone draws the same four numbers (loss,
//! delay, duplicate, duplicate delay) in the same order, so packet `i`'s fate depends
//! only on the seed and `i`, and every drop and duplicate is counted.
//!
//! No Record-Route is added: the gateway's ACK and BYE go straight to the phone's
//! Contact, which is fine because nothing in them carries media.

use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// How often blocked receivers look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// What the link does to the phone's RTP on its way to the gateway.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    pub seed: u64,
    /// Packets dropped, per mille.
    pub loss_per_mille: u32,
    /// Delay is uniform in `[mean - spread, mean + spread]` ms (neighbours 20 ms apart
    /// swap when their delays differ by more than that: reordering).
    pub delay_mean_ms: u32,
    pub delay_spread_ms: u32,
    /// Packets sent twice, per mille; the copy comes up to 20 ms after the original.
    pub duplicate_per_mille: u32,
}

impl Impairment {
    /// Issue 4's bad link: 5 % loss, 40 ms ± 40 ms delay (reordering), 1 % duplicates.
    pub fn lossy_jittery(seed: u64) -> Impairment {
        Impairment {
            seed,
            loss_per_mille: 50,
            delay_mean_ms: 40,
            delay_spread_ms: 40,
            duplicate_per_mille: 10,
        }
    }
}

/// Exact counts of one call's media through the proxy.
#[derive(Debug, Clone, Copy, Default)]
pub struct LegCounters {
    /// RTP packets the phone sent (arrived at A).
    pub from_phone: u64,
    /// Of those, dropped by the impairment.
    pub dropped: u64,
    /// Of those, sent twice.
    pub duplicated: u64,
    /// Datagrams sent to the gateway's RTP address (duplicates included).
    pub delivered: u64,
    /// Delivered packets whose sequence number was below one delivered before.
    pub reordered: u64,
    /// RTP packets from the gateway relayed to the phone.
    pub to_phone: u64,
    /// RTCP datagrams relayed phone → gateway and gateway → phone.
    pub rtcp_to_gateway: u64,
    pub rtcp_to_phone: u64,
    /// Datagrams that arrived before the SDP said where to send them.
    pub unroutable: u64,
}

/// One call's media relay as seen from the test.
#[derive(Debug, Clone)]
pub struct LegReport {
    pub call_id: String,
    pub impairment: Option<Impairment>,
    /// Proxy ports facing the phone (A) and the gateway (B); RTCP on each + 1.
    pub port_a: u16,
    pub port_b: u16,
    pub gateway_rtp: Option<SocketAddr>,
    pub phone_rtp: Option<SocketAddr>,
    pub counters: LegCounters,
}

/// xorshift64*, seeded through splitmix64 so any seed (even 0) gives a good stream.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// State shared by one call's relay threads and the SIP thread.
struct Leg {
    call_id: String,
    impairment: Option<Impairment>,
    port_a: u16,
    port_b: u16,
    gateway_rtp: Mutex<Option<SocketAddr>>,
    phone_rtp: Mutex<Option<SocketAddr>>,
    counters: Mutex<LegCounters>,
}

impl Leg {
    fn count(&self, f: impl FnOnce(&mut LegCounters)) {
        f(&mut self.counters.lock().unwrap());
    }
    fn report(&self) -> LegReport {
        LegReport {
            call_id: self.call_id.clone(),
            impairment: self.impairment,
            port_a: self.port_a,
            port_b: self.port_b,
            gateway_rtp: *self.gateway_rtp.lock().unwrap(),
            phone_rtp: *self.phone_rtp.lock().unwrap(),
            counters: *self.counters.lock().unwrap(),
        }
    }
}

struct Shared {
    stop: AtomicBool,
    phone_sip: SocketAddr,
    impairment: Mutex<Option<Impairment>>,
    /// Legs in the order their INVITEs came.
    legs: Mutex<Vec<Arc<Leg>>>,
    /// First ports of the 4-port groups (A, A+1, B, B+1) not yet used.
    free_groups: Mutex<Vec<u16>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// The running proxy; stops its threads on drop.
pub struct ImpairProxy {
    /// Where the gateway's `[sip.outbound] uri` must point.
    pub sip_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl ImpairProxy {
    /// Starts the SIP relay on a kernel-chosen port, relaying to the phone at
    /// `phone_sip`. Media uses groups of four consecutive ports from `media_ports`
    /// (inclusive; e.g. a free sub-range of the test's PortBlock), one group per call.
    pub fn start(phone_sip: SocketAddr, media_ports: (u16, u16)) -> ImpairProxy {
        let sock = UdpSocket::bind((LOCALHOST, 0)).expect("bind the proxy's SIP socket");
        sock.set_read_timeout(Some(POLL)).unwrap();
        let sip_addr = sock.local_addr().unwrap();
        let mut groups: Vec<u16> = (media_ports.0..=media_ports.1.saturating_sub(3))
            .step_by(4)
            .collect();
        groups.reverse();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            phone_sip,
            impairment: Mutex::new(None),
            legs: Mutex::new(Vec::new()),
            free_groups: Mutex::new(groups),
            threads: Mutex::new(Vec::new()),
        });
        let s2 = shared.clone();
        let h = std::thread::Builder::new()
            .name("impair-sip".into())
            .spawn(move || sip_loop(&s2, &sock))
            .unwrap();
        shared.threads.lock().unwrap().push(h);
        ImpairProxy { sip_addr, shared }
    }

    /// The impairment for calls whose INVITE comes from now on (None: a clean link).
    pub fn set_impairment(&self, imp: Option<Impairment>) {
        *self.shared.impairment.lock().unwrap() = imp;
    }

    /// Every call's relay so far, oldest first.
    pub fn legs(&self) -> Vec<LegReport> {
        self.shared
            .legs
            .lock()
            .unwrap()
            .iter()
            .map(|l| l.report())
            .collect()
    }

    /// The newest call's relay.
    pub fn last_leg(&self) -> Option<LegReport> {
        self.legs().pop()
    }
}

impl Drop for ImpairProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let threads: Vec<JoinHandle<()>> = self.shared.threads.lock().unwrap().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------- SIP relay

fn sip_loop(shared: &Arc<Shared>, sock: &UdpSocket) {
    let mut gateway: Option<SocketAddr> = None;
    let mut buf = vec![0u8; 65536];
    while !shared.stop.load(Ordering::SeqCst) {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(_) => continue,
        };
        let msg = &buf[..n];
        let (to, from_phone) = if from == shared.phone_sip {
            match gateway {
                Some(g) => (g, true),
                None => continue,
            }
        } else {
            gateway = Some(from);
            (shared.phone_sip, false)
        };
        let out = rewrite_sip(shared, msg, from_phone).unwrap_or_else(|| msg.to_vec());
        let _ = sock.send_to(&out, to);
    }
}

/// The SDP-rewritten message, or None to relay it unchanged.
fn rewrite_sip(shared: &Arc<Shared>, msg: &[u8], from_phone: bool) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(msg).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !body.contains("m=audio ") {
        return None;
    }
    let call_id = header(head, &["call-id", "i"])?;
    let is_invite = head.starts_with("INVITE ");
    let is_response = head.starts_with("SIP/2.0 ");
    let leg = if !from_phone && is_invite {
        Some(leg_for(shared, &call_id)?)
    } else if from_phone && is_response {
        shared
            .legs
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.call_id == call_id)
            .cloned()
    } else {
        None
    }?;
    let (port, slot) = if from_phone {
        (leg.port_b, &leg.phone_rtp)
    } else {
        (leg.port_a, &leg.gateway_rtp)
    };
    let (new_body, media) = rewrite_sdp(body, port)?;
    *slot.lock().unwrap() = Some(media);
    let mut out = String::with_capacity(msg.len() + 16);
    for line in head.split("\r\n") {
        let name = line.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            out.push_str(&format!("Content-Length: {}", new_body.len()));
        } else {
            out.push_str(line);
        }
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&new_body);
    Some(out.into_bytes())
}

/// Value of the first header with one of `names` (lowercase; compact forms allowed).
fn header(head: &str, names: &[&str]) -> Option<String> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        names
            .contains(&name.as_str())
            .then(|| value.trim().to_string())
    })
}

/// The call's relay, created (with the current impairment) on its first INVITE.
fn leg_for(shared: &Arc<Shared>, call_id: &str) -> Option<Arc<Leg>> {
    if let Some(l) = shared
        .legs
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.call_id == call_id)
    {
        return Some(l.clone());
    }
    let base = shared.free_groups.lock().unwrap().pop()?;
    let bind = |p: u16| UdpSocket::bind((LOCALHOST, p)).ok();
    let (a, a_rtcp, b, b_rtcp) = (
        bind(base)?,
        bind(base + 1)?,
        bind(base + 2)?,
        bind(base + 3)?,
    );
    let leg = Arc::new(Leg {
        call_id: call_id.to_string(),
        impairment: *shared.impairment.lock().unwrap(),
        port_a: base,
        port_b: base + 2,
        gateway_rtp: Mutex::new(None),
        phone_rtp: Mutex::new(None),
        counters: Mutex::new(LegCounters::default()),
    });
    start_relay(shared, &leg, a, a_rtcp, b, b_rtcp);
    shared.legs.lock().unwrap().push(leg.clone());
    Some(leg)
}

/// Replaces the audio address with 127.0.0.1:`port`; returns the new body and the
/// address the SDP had (media-level `c=` over session-level).
fn rewrite_sdp(body: &str, port: u16) -> Option<(String, SocketAddr)> {
    let (mut ip, mut old_port, mut in_audio, mut done_audio) = (None, None, false, false);
    let mut out = String::with_capacity(body.len());
    for line in body.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']);
        let eol = &line[bare.len()..];
        if let Some(rest) = bare.strip_prefix("m=") {
            in_audio = !done_audio && rest.starts_with("audio ");
            if in_audio {
                done_audio = true;
                let mut parts = rest.splitn(3, ' ');
                let (_, p, tail) = (parts.next(), parts.next()?, parts.next().unwrap_or(""));
                old_port = p.parse::<u16>().ok();
                out.push_str(&format!("m=audio {port} {tail}{eol}"));
                continue;
            }
        } else if let Some(rest) = bare.strip_prefix("c=") {
            // "IN IP4 127.0.0.1": the session-level one counts unless the audio
            // section has its own.
            let addr = rest.split_whitespace().nth(2)?.parse::<IpAddr>().ok();
            if ip.is_none() || in_audio {
                ip = addr;
            }
            out.push_str(&format!("c=IN IP4 127.0.0.1{eol}"));
            continue;
        }
        out.push_str(line);
    }
    Some((out, SocketAddr::new(ip?, old_port?)))
}

// ---------------------------------------------------------------- media relay

/// A packet waiting for its delivery time (earliest first; ties in sending order).
struct Due {
    at: Instant,
    order: u64,
    data: Vec<u8>,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.order).cmp(&(self.at, self.order))
    }
}

fn spawn(shared: &Arc<Shared>, name: &str, f: impl FnOnce() + Send + 'static) {
    let h = std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .unwrap();
    shared.threads.lock().unwrap().push(h);
}

fn start_relay(
    shared: &Arc<Shared>,
    leg: &Arc<Leg>,
    a: UdpSocket,
    a_rtcp: UdpSocket,
    b: UdpSocket,
    b_rtcp: UdpSocket,
) {
    for s in [&a, &a_rtcp, &b, &b_rtcp] {
        s.set_read_timeout(Some(POLL)).unwrap();
    }
    let (tx, rx) = mpsc::channel::<Due>();
    // phone → A → (impairment) → scheduler → B → gateway
    {
        let (sh, leg, a) = (shared.clone(), leg.clone(), a.try_clone().unwrap());
        spawn(shared, "impair-a", move || {
            phone_to_gateway(&sh, &leg, &a, &tx)
        });
    }
    {
        let (sh, leg, b) = (shared.clone(), leg.clone(), b.try_clone().unwrap());
        spawn(shared, "impair-sched", move || {
            scheduler(&sh, &leg, &b, &rx)
        });
    }
    // gateway → B → A → phone, clean
    relay(shared, leg, b, a, Route::RtpToPhone);
    let (a_rtcp2, b_rtcp2) = (a_rtcp.try_clone().unwrap(), b_rtcp.try_clone().unwrap());
    relay(shared, leg, a_rtcp, b_rtcp2, Route::RtcpToGateway);
    relay(shared, leg, b_rtcp, a_rtcp2, Route::RtcpToPhone);
}

#[derive(Clone, Copy)]
enum Route {
    RtpToPhone,
    RtcpToGateway,
    RtcpToPhone,
}

fn relay(shared: &Arc<Shared>, leg: &Arc<Leg>, from: UdpSocket, out: UdpSocket, route: Route) {
    let (sh, leg) = (shared.clone(), leg.clone());
    spawn(shared, "impair-relay", move || {
        let mut buf = vec![0u8; 2048];
        while !sh.stop.load(Ordering::SeqCst) {
            let Ok((n, _)) = from.recv_from(&mut buf) else {
                continue;
            };
            let target = match route {
                Route::RtpToPhone => *leg.phone_rtp.lock().unwrap(),
                Route::RtcpToGateway => leg.gateway_rtp.lock().unwrap().map(rtcp_of),
                Route::RtcpToPhone => leg.phone_rtp.lock().unwrap().map(rtcp_of),
            };
            let Some(to) = target else {
                leg.count(|c| c.unroutable += 1);
                continue;
            };
            let _ = out.send_to(&buf[..n], to);
            leg.count(|c| match route {
                Route::RtpToPhone => c.to_phone += 1,
                Route::RtcpToGateway => c.rtcp_to_gateway += 1,
                Route::RtcpToPhone => c.rtcp_to_phone += 1,
            });
        }
    });
}

fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1))
}

/// Receives the phone's RTP on A and decides each packet's fate.
fn phone_to_gateway(shared: &Shared, leg: &Leg, a: &UdpSocket, tx: &Sender<Due>) {
    let mut rng = leg.impairment.map(|i| Rng::new(i.seed));
    let mut order = 0u64;
    let mut buf = vec![0u8; 2048];
    while !shared.stop.load(Ordering::SeqCst) {
        let Ok((n, _)) = a.recv_from(&mut buf) else {
            continue;
        };
        let now = Instant::now();
        leg.count(|c| c.from_phone += 1);
        let mut send = |at: Instant| {
            order += 1;
            let _ = tx.send(Due {
                at,
                order,
                data: buf[..n].to_vec(),
            });
        };
        let (Some(imp), Some(rng)) = (leg.impairment, rng.as_mut()) else {
            send(now);
            continue;
        };
        // Always four draws per packet: packet i's fate depends only on seed and i.
        let lost = rng.below(1000) < u64::from(imp.loss_per_mille);
        let spread = u64::from(imp.delay_spread_ms) * 1000;
        let delay_us = (u64::from(imp.delay_mean_ms) * 1000 + rng.below(2 * spread + 1))
            .saturating_sub(spread);
        let dup = rng.below(1000) < u64::from(imp.duplicate_per_mille);
        let dup_extra_us = rng.below(20_001);
        if lost {
            leg.count(|c| c.dropped += 1);
            continue;
        }
        let at = now + Duration::from_micros(delay_us);
        send(at);
        if dup {
            leg.count(|c| c.duplicated += 1);
            send(at + Duration::from_micros(dup_extra_us));
        }
    }
}

/// Sends queued packets to the gateway from B when their time comes.
fn scheduler(shared: &Shared, leg: &Leg, b: &UdpSocket, rx: &Receiver<Due>) {
    let mut heap = BinaryHeap::new();
    let mut highest: Option<u16> = None;
    while !shared.stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        while heap.peek().is_some_and(|d: &Due| d.at <= now) {
            let d = heap.pop().unwrap();
            let Some(to) = *leg.gateway_rtp.lock().unwrap() else {
                leg.count(|c| c.unroutable += 1);
                continue;
            };
            let _ = b.send_to(&d.data, to);
            let seq = (d.data.len() >= 4).then(|| u16::from_be_bytes([d.data[2], d.data[3]]));
            let older = match (seq, highest) {
                (Some(s), Some(h)) => (s.wrapping_sub(h) as i16) < 0,
                _ => false,
            };
            if let Some(s) = seq {
                if !older {
                    highest = Some(s);
                }
            }
            leg.count(|c| {
                c.delivered += 1;
                c.reordered += u64::from(older);
            });
        }
        let wait = heap
            .peek()
            .map(|d| d.at.saturating_duration_since(now))
            .unwrap_or(POLL)
            .min(POLL);
        match rx.recv_timeout(wait) {
            Ok(d) => heap.push(d),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                if heap.is_empty() {
                    return;
                }
                std::thread::sleep(wait);
            }
        }
    }
}

/// The relays so far, one line each, for failure messages.
pub fn describe(legs: &[LegReport]) -> String {
    legs.iter()
        .map(|l| {
            format!(
                "{} A={} B={} gw={:?} phone={:?} {:?}",
                l.call_id, l.port_a, l.port_b, l.gateway_rtp, l.phone_rtp, l.counters
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
