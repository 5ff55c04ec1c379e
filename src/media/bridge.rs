//! The per-call media core of the phone leg, without I/O.
//!
//! One [`MediaBridge`] per call turns the phone's RTP into 20 ms PCM frames for the room
//! and the room's PCM into RTP for the phone. The async shell owns the UDP socket and a
//! 20 ms timer and does exactly three things with it:
//!
//! ```text
//! on datagram (now, from, bytes)  → bridge.handle_rtp(now, from, bytes)
//! every 20 ms (now)               → room.send(bridge.pull_phone_audio(now))
//!                                   n = bridge.push_room_audio(&room_frame, &mut buf)?
//!                                   if let Some(to) = bridge.remote() { socket.send_to(&buf[..n], to) }
//! ```
//!
//! Everything else — parsing, ignoring RTCP and foreign payload types, symmetric-RTP
//! latching (the phone's real address is wherever its RTP comes from, which behind NAT is
//! not what its SDP says), jitter buffering, decoding, loss concealment, resampling,
//! encoding and RTP numbering — lives here and is unit-tested with a fake clock.

use std::net::SocketAddr;
use std::time::Instant;

use super::codec::Codec;
use super::frame::{PcmFrame, MAX_FRAME_SAMPLES};
use super::jitter::{JitterBuffer, JitterConfig, Playout};
use super::resample::Resampler;
use super::rtp::{self, RtpError, RtpHeader};

/// Frames over which concealment fades the last good frame out to silence (80 ms).
const CONCEAL_FRAMES: u32 = 4;

/// How one call's media is set up; built from the negotiated SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Codec negotiated for both directions.
    pub codec: Codec,
    /// Payload type the peer uses for `codec` (static 0/8, or a dynamic one it chose).
    pub payload_type: u8,
    /// Payload type of RFC 4733 telephone-events, when negotiated: such packets are
    /// accepted (the peer is alive) but never played as audio.
    pub telephone_event_pt: Option<u8>,
    /// Where to send RTP as far as the SDP knows; replaced by the observed source once
    /// the peer's RTP arrives (symmetric RTP).
    pub remote: Option<SocketAddr>,
    /// Our SSRC for the packets we send.
    pub ssrc: u32,
    /// Jitter buffer target depth in 20 ms frames (fixed delay against network jitter).
    pub jitter_depth_frames: u8,
    /// First sequence number we send (RFC 3550 recommends a random one).
    pub initial_sequence: u16,
    /// First RTP timestamp we send (RFC 3550 recommends a random one).
    pub initial_timestamp: u32,
    /// Once latched to a source, consecutive valid packets needed from another source
    /// before following it (NAT rebinding); keeps a stray packet from hijacking the call.
    /// 0 follows every packet.
    pub relatch_after: u8,
}

impl BridgeConfig {
    /// Sensible defaults for a codec: its static payload type, no telephone-event, depth 2.
    pub fn new(codec: Codec, ssrc: u32) -> Self {
        BridgeConfig {
            codec,
            payload_type: codec.static_payload_type().unwrap_or(0),
            ssrc,
            ..BridgeConfig::default()
        }
    }
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event_pt: None,
            remote: None,
            ssrc: 0,
            jitter_depth_frames: 2,
            initial_sequence: 0,
            initial_timestamp: 0,
            relatch_after: 3,
        }
    }
}

/// Counters of one call's media, for logs, metrics and the "no RTP" watchdog.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// Valid RTP packets accepted from the peer (audio and telephone-events).
    pub rx_packets: u64,
    /// Bytes of those packets (whole datagrams).
    pub rx_bytes: u64,
    /// Datagrams that were not valid RTP.
    pub rx_invalid: u64,
    /// RTP with a payload type we did not negotiate (comfort noise, a stale codec…).
    pub rx_wrong_pt: u64,
    /// RTCP arriving on the RTP port (rtcp-mux peers); ignored.
    pub rx_rtcp: u64,
    /// Telephone-event packets (accepted, not played).
    pub rx_events: u64,
    /// Valid RTP from an address other than the latched one; dropped.
    pub rx_foreign: u64,
    /// Times the remote address changed after the first latch.
    pub remote_changes: u64,
    /// RTP packets built for the peer.
    pub tx_packets: u64,
    /// Bytes of those packets.
    pub tx_bytes: u64,
    /// Frames synthesised by loss concealment (losses, underruns, and the short fade-out
    /// when the peer stops sending).
    pub concealed_frames: u64,
    /// Frames the jitter buffer reported lost.
    pub lost: u64,
    /// Packets that arrived after their time was played.
    pub late: u64,
    /// Packets received twice.
    pub duplicates: u64,
    /// Frames dropped because the jitter buffer was full.
    pub overflow: u64,
    /// Jitter buffer restarts (new SSRC, timestamp jumps).
    pub jitter_resets: u64,
}

/// The media core of one call. See the module documentation for how the shell drives it.
pub struct MediaBridge {
    cfg: BridgeConfig,
    jitter: JitterBuffer,
    remote: Option<SocketAddr>,
    /// True once RTP from `remote` was seen (until `set_remote` changes it again).
    latched: bool,
    /// Another source sending valid RTP, with its consecutive packet count.
    candidate: Option<(SocketAddr, u8)>,
    last_rx: Option<Instant>,
    tx_seq: u16,
    tx_ts: u32,
    tx_first: bool,
    resampler: Resampler,
    last_good: [i16; MAX_FRAME_SAMPLES],
    last_good_len: usize,
    /// Concealed frames in a row (0 after a good frame).
    conceal_run: u32,
    stats: MediaStats,
}

fn jitter_config(codec: Codec, depth: u8) -> JitterConfig {
    JitterConfig {
        frame_ticks: codec.frame_ticks(),
        depth_frames: depth,
        silence_byte: codec.silence_byte(),
        ..JitterConfig::default()
    }
}

impl MediaBridge {
    /// A bridge for one call; nothing is received or sent until the shell drives it.
    pub fn new(cfg: BridgeConfig) -> Self {
        MediaBridge {
            jitter: JitterBuffer::new(jitter_config(cfg.codec, cfg.jitter_depth_frames)),
            remote: cfg.remote,
            latched: false,
            candidate: None,
            last_rx: None,
            tx_seq: cfg.initial_sequence,
            tx_ts: cfg.initial_timestamp,
            tx_first: true,
            resampler: Resampler::new(),
            last_good: [0; MAX_FRAME_SAMPLES],
            last_good_len: 0,
            conceal_run: 0,
            stats: MediaStats::default(),
            cfg,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &BridgeConfig {
        &self.cfg
    }

    /// Switches codec or payload types after a re-INVITE/UPDATE renegotiated them. The
    /// jitter buffer restarts when the codec changes (old payloads would decode wrongly);
    /// our outgoing numbering continues.
    pub fn reconfigure(&mut self, codec: Codec, payload_type: u8, telephone_event_pt: Option<u8>) {
        if codec != self.cfg.codec {
            self.jitter = JitterBuffer::new(jitter_config(codec, self.cfg.jitter_depth_frames));
            self.resampler = Resampler::new();
            self.last_good_len = 0;
            self.conceal_run = 0;
        }
        self.cfg.codec = codec;
        self.cfg.payload_type = payload_type;
        self.cfg.telephone_event_pt = telephone_event_pt;
    }

    /// Where to send RTP now: the latched source of the peer's RTP, else the SDP address.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// Sets the peer's address from new SDP (re-INVITE). The next valid RTP from any
    /// source latches again, so a peer behind NAT is still followed.
    pub fn set_remote(&mut self, addr: SocketAddr) {
        self.remote = Some(addr);
        self.latched = false;
        self.candidate = None;
    }

    /// When the last valid RTP from the peer arrived: the "no RTP for N s" watchdog
    /// compares it with its own clock.
    pub fn last_rx(&self) -> Option<Instant> {
        self.last_rx
    }

    /// Counters so far (jitter buffer counters folded in).
    pub fn stats(&self) -> MediaStats {
        let j = self.jitter.stats();
        MediaStats {
            lost: j.lost,
            late: j.late,
            duplicates: j.duplicates,
            overflow: j.overflow,
            jitter_resets: j.resets,
            ..self.stats
        }
    }

    /// Frames currently waiting in the jitter buffer (for metrics).
    pub fn buffered_frames(&self) -> u32 {
        self.jitter.buffered_frames()
    }

    /// Decides whether RTP from `from` is the peer's, latching symmetric RTP.
    fn accept_source(&mut self, from: SocketAddr) -> bool {
        match self.remote {
            Some(r) if r == from => {
                self.latched = true;
                self.candidate = None;
                true
            }
            None => {
                self.remote = Some(from);
                self.latched = true;
                true
            }
            Some(_) if !self.latched => {
                log::debug!("rtp: latching to {from} (SDP said {:?})", self.remote);
                self.remote = Some(from);
                self.latched = true;
                self.stats.remote_changes += 1;
                true
            }
            Some(_) => {
                let count = match self.candidate {
                    Some((addr, n)) if addr == from => n.saturating_add(1),
                    _ => 1,
                };
                if count > self.cfg.relatch_after {
                    log::debug!("rtp: peer moved from {:?} to {from}", self.remote);
                    self.remote = Some(from);
                    self.candidate = None;
                    self.stats.remote_changes += 1;
                    true
                } else {
                    self.candidate = Some((from, count));
                    false
                }
            }
        }
    }

    /// Takes one datagram from the RTP socket. Errors are for logging only: the packet
    /// has been counted and dropped, and the call goes on.
    pub fn handle_rtp(
        &mut self,
        now: Instant,
        from: SocketAddr,
        packet: &[u8],
    ) -> Result<(), RtpError> {
        if rtp::is_rtcp(packet) {
            self.stats.rx_rtcp += 1;
            return Ok(());
        }
        let p = match rtp::parse(packet) {
            Ok(p) => p,
            Err(e) => {
                self.stats.rx_invalid += 1;
                return Err(e);
            }
        };
        let pt = p.header.payload_type;
        let is_event = self.cfg.telephone_event_pt == Some(pt);
        if pt != self.cfg.payload_type && !is_event {
            self.stats.rx_wrong_pt += 1;
            if self.remote == Some(from) {
                // e.g. comfort noise: the peer is alive even if we cannot play it
                self.last_rx = Some(now);
            }
            return Ok(());
        }
        if !self.accept_source(from) {
            self.stats.rx_foreign += 1;
            return Ok(());
        }
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += packet.len() as u64;
        self.last_rx = Some(now);
        if is_event {
            self.stats.rx_events += 1;
            return Ok(());
        }
        let h = p.header;
        self.jitter
            .push(now, h.sequence, h.timestamp, h.ssrc, h.marker, p.payload);
        Ok(())
    }

    /// The phone's audio for this 20 ms tick, at the codec's rate: decoded if it arrived,
    /// concealed if it was lost, silence if nothing is flowing. Call once per 20 ms.
    pub fn pull_phone_audio(&mut self, now: Instant) -> PcmFrame {
        let codec = self.cfg.codec;
        let len = codec.frame_samples().min(MAX_FRAME_SAMPLES);
        let mut frame = PcmFrame {
            rate: codec.sample_rate(),
            len,
            samples: [0; MAX_FRAME_SAMPLES],
        };
        match self.jitter.pop(now) {
            Playout::Frame(payload) => {
                codec.decode(payload, &mut frame.samples[..len]);
                self.last_good[..len].copy_from_slice(&frame.samples[..len]);
                self.last_good_len = len;
                self.conceal_run = 0;
            }
            Playout::Missing | Playout::Empty => self.conceal(&mut frame),
        }
        frame
    }

    /// Fills a frame for a missing packet: the last good frame, fading out linearly over
    /// [`CONCEAL_FRAMES`] frames, then silence. Cheap and free of clicks; a real PLC can
    /// replace it without touching callers.
    fn conceal(&mut self, frame: &mut PcmFrame) {
        if self.last_good_len == 0 || self.conceal_run >= CONCEAL_FRAMES {
            self.last_good_len = 0;
            return;
        }
        let len = frame.len.min(self.last_good_len);
        let n = CONCEAL_FRAMES as f32;
        let g0 = 1.0 - self.conceal_run as f32 / n;
        let g1 = 1.0 - (self.conceal_run + 1) as f32 / n;
        for (i, (o, &s)) in frame.samples[..len]
            .iter_mut()
            .zip(&self.last_good[..len])
            .enumerate()
        {
            let g = g0 + (g1 - g0) * i as f32 / len as f32;
            *o = (f32::from(s) * g) as i16;
        }
        self.conceal_run += 1;
        self.stats.concealed_frames += 1;
    }

    /// Encodes one 20 ms frame of room audio into one RTP packet in `out` and returns its
    /// length; the shell sends it to [`remote`](Self::remote). Frames at another rate are
    /// resampled; a short frame is padded with silence and a long one truncated, so every
    /// packet carries exactly 20 ms and timestamps advance by one frame per call.
    pub fn push_room_audio(&mut self, frame: &PcmFrame, out: &mut [u8]) -> Result<usize, RtpError> {
        let codec = self.cfg.codec;
        let want = codec.frame_samples().min(MAX_FRAME_SAMPLES);
        let input = &frame.samples[..frame.len.min(MAX_FRAME_SAMPLES)];
        let mut pcm = [0i16; MAX_FRAME_SAMPLES];
        self.resampler
            .process(input, frame.rate, codec.sample_rate(), &mut pcm[..want]);
        let mut payload = [0u8; MAX_FRAME_SAMPLES];
        let plen = codec.encode(&pcm[..want], &mut payload);
        let header = RtpHeader {
            marker: self.tx_first,
            payload_type: self.cfg.payload_type,
            sequence: self.tx_seq,
            timestamp: self.tx_ts,
            ssrc: self.cfg.ssrc,
        };
        let n = rtp::write(&header, &payload[..plen], out)?;
        self.tx_first = false;
        self.tx_seq = self.tx_seq.wrapping_add(1);
        self.tx_ts = self.tx_ts.wrapping_add(codec.frame_ticks());
        self.stats.tx_packets += 1;
        self.stats.tx_bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::tone_snr_db;
    use crate::media::tone::ToneGenerator;
    use std::time::Duration;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A deterministic pseudo-random source for shuffling.
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

    /// The phone side: a bridge used only to packetise a tone.
    fn phone_packets(codec: Codec, freq: f32, count: usize, ssrc: u32) -> Vec<Vec<u8>> {
        let mut phone = MediaBridge::new(BridgeConfig {
            initial_sequence: 65500, // wraps during the test
            initial_timestamp: u32::MAX - 1000,
            ..BridgeConfig::new(codec, ssrc)
        });
        let mut gen = ToneGenerator::new(freq, 8000, 12000);
        (0..count)
            .map(|_| {
                let mut buf = [0u8; 1500];
                let n = phone.push_room_audio(&gen.next_frame(), &mut buf).unwrap();
                buf[..n].to_vec()
            })
            .collect()
    }

    enum Ev {
        Packet(Vec<u8>),
        Tick,
    }

    /// Runs a network schedule through a bridge: packets arrive at their times, the
    /// shell ticks every 20 ms at +10 ms phase. Returns all pulled audio.
    fn run(
        bridge: &mut MediaBridge,
        t0: Instant,
        mut events: Vec<(u64, Ev)>,
        ticks: u64,
    ) -> Vec<i16> {
        for k in 0..ticks {
            events.push((k * 20_000 + 10_000, Ev::Tick));
        }
        events.sort_by_key(|(t, _)| *t);
        let mut audio = vec![];
        for (t_us, ev) in events {
            let now = t0 + Duration::from_micros(t_us);
            match ev {
                Ev::Packet(p) => bridge.handle_rtp(now, addr(4000), &p).unwrap(),
                Ev::Tick => {
                    let f = bridge.pull_phone_audio(now);
                    assert_eq!((f.rate, f.len), (8000, 160));
                    audio.extend_from_slice(f.pcm());
                }
            }
        }
        audio
    }

    #[test]
    fn tone_survives_jitter_reorder_duplicates_and_loss() {
        for codec in Codec::ALL {
            let packets = phone_packets(codec, 440.0, 250, 0xabc);
            let mut rng = Rng(42);
            let mut events = vec![];
            let mut dropped = 0;
            let mut duplicated = 0;
            let mut dropped_last = false;
            for (i, p) in packets.into_iter().enumerate() {
                let sent = i as u64 * 20_000;
                // 0–30 ms of network delay: reorders neighbours
                let arrive = sent + rng.below(30_000);
                // 3 % single losses, none at the very start or end
                if (10..240).contains(&i) && !dropped_last && rng.below(100) < 3 {
                    dropped += 1;
                    dropped_last = true;
                    continue;
                }
                dropped_last = false;
                if rng.below(100) < 10 {
                    duplicated += 1;
                    events.push((arrive + rng.below(15_000), Ev::Packet(p.clone())));
                }
                events.push((arrive, Ev::Packet(p)));
            }
            let mut rx = MediaBridge::new(BridgeConfig::new(codec, 1));
            let audio = run(&mut rx, Instant::now(), events, 260);
            let s = rx.stats();
            assert_eq!(s.rx_packets, 250 - dropped + duplicated);
            assert_eq!(s.duplicates, duplicated);
            assert_eq!(s.late, 0, "30 ms of jitter fits a 40 ms buffer");
            assert_eq!(s.lost, dropped);
            assert!(dropped > 3, "the schedule must actually lose packets");
            // every loss concealed, plus the fade-out after the stream ends
            assert_eq!(s.concealed_frames, dropped + u64::from(CONCEAL_FRAMES));
            assert_eq!(s.jitter_resets, 0);
            let (peak, snr, rms) = tone_snr_db(&audio, 8000, 440.0);
            assert!((peak - 440.0).abs() < 5.0, "{codec}: peak {peak}");
            assert!(snr > 15.0, "{codec}: snr {snr}");
            assert!(rms > -15.0, "{codec}: level {rms}");
        }
    }

    #[test]
    fn clean_stream_is_clean() {
        let packets = phone_packets(Codec::Pcmu, 1000.0, 100, 5);
        let events = packets
            .into_iter()
            .enumerate()
            .map(|(i, p)| (i as u64 * 20_000 + 1_000, Ev::Packet(p)))
            .collect();
        let mut rx = MediaBridge::new(BridgeConfig::new(Codec::Pcmu, 1));
        let audio = run(&mut rx, Instant::now(), events, 110);
        // skip the start-up silence of the jitter buffer
        let (peak, snr, _) = tone_snr_db(&audio[3 * 160..100 * 160], 8000, 1000.0);
        assert!((peak - 1000.0).abs() < 2.0);
        assert!(snr > 30.0, "{snr}");
        assert_eq!(rx.stats().lost, 0);
        // only the fade-out after the last packet was synthesised
        assert_eq!(rx.stats().concealed_frames, u64::from(CONCEAL_FRAMES));
    }

    #[test]
    fn concealment_fades_then_goes_silent() {
        let packets = phone_packets(Codec::Pcmu, 440.0, 20, 5);
        let mut rx = MediaBridge::new(BridgeConfig {
            jitter_depth_frames: 0,
            ..BridgeConfig::new(Codec::Pcmu, 1)
        });
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        rx.handle_rtp(at(0), addr(4000), &packets[0]).unwrap();
        rx.handle_rtp(at(1), addr(4000), &packets[10]).unwrap();
        let good = rx.pull_phone_audio(at(5));
        let energy = |f: &PcmFrame| f.pcm().iter().map(|&s| i64::from(s).abs()).sum::<i64>();
        let e_good = energy(&good);
        assert!(e_good > 0);
        let mut energies = vec![];
        for k in 1..10 {
            energies.push(energy(&rx.pull_phone_audio(at(5 + k * 20))));
        }
        // faded copies, each quieter than the last, then silence
        assert!(energies[0] < e_good && energies[0] > e_good / 2);
        assert!(
            energies[1] < energies[0] && energies[2] < energies[1] && energies[3] < energies[2]
        );
        assert!(energies[4..].iter().all(|&e| e == 0));
        assert_eq!(rx.stats().concealed_frames, 4);
        assert_eq!(rx.stats().lost, 9);
        // packet 10 plays normally afterwards
        assert!(energy(&rx.pull_phone_audio(at(205))) > 0);
    }

    #[test]
    fn nothing_received_gives_silence() {
        let mut rx = MediaBridge::new(BridgeConfig::default());
        let f = rx.pull_phone_audio(Instant::now());
        assert_eq!((f.rate, f.len), (8000, 160));
        assert!(f.pcm().iter().all(|&s| s == 0));
        assert_eq!(rx.last_rx(), None);
        assert_eq!(rx.remote(), None);
    }

    fn rtp(pt: u8, seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 12 + payload.len()];
        let h = RtpHeader {
            marker: false,
            payload_type: pt,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc,
        };
        rtp::write(&h, payload, &mut buf).unwrap();
        buf
    }

    #[test]
    fn rtcp_wrong_pt_events_and_garbage_are_not_played() {
        let mut rx = MediaBridge::new(BridgeConfig {
            telephone_event_pt: Some(101),
            jitter_depth_frames: 0,
            ..BridgeConfig::new(Codec::Pcmu, 1)
        });
        let t0 = Instant::now();
        // RTCP receiver report (rtcp-mux)
        rx.handle_rtp(t0, addr(4000), &[0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0])
            .unwrap();
        // comfort noise (pt 13) and a loud PCMA packet under the wrong pt
        rx.handle_rtp(t0, addr(4000), &rtp(13, 1, 9, &[0x40]))
            .unwrap();
        rx.handle_rtp(t0, addr(4000), &rtp(8, 2, 9, &[0xaa; 160]))
            .unwrap();
        // a DTMF event: end bit, volume 10, duration 800 — 4 bytes, must not become audio
        for seq in 3..8 {
            rx.handle_rtp(t0, addr(4000), &rtp(101, seq, 9, &[5, 0x8a, 3, 0x20]))
                .unwrap();
        }
        assert_eq!(
            rx.handle_rtp(t0, addr(4000), &[0x80, 0]),
            Err(RtpError::TooShort)
        );
        assert_eq!(
            rx.handle_rtp(t0, addr(4000), &[0u8; 20]),
            Err(RtpError::BadVersion(0))
        );
        let f = rx.pull_phone_audio(t0 + Duration::from_millis(100));
        assert!(f.pcm().iter().all(|&s| s == 0));
        let s = rx.stats();
        assert_eq!(s.rx_rtcp, 1);
        assert_eq!(s.rx_wrong_pt, 2);
        assert_eq!(s.rx_events, 5);
        assert_eq!(s.rx_packets, 5);
        assert_eq!(s.rx_invalid, 2);
        // events prove the peer is alive and latch its address
        assert_eq!(rx.last_rx(), Some(t0));
        assert_eq!(rx.remote(), Some(addr(4000)));
    }

    #[test]
    fn symmetric_rtp_latching() {
        let t0 = Instant::now();
        let mut rx = MediaBridge::new(BridgeConfig {
            remote: Some(addr(1111)), // what the SDP said
            ..BridgeConfig::new(Codec::Pcmu, 1)
        });
        // the phone is behind NAT: its RTP comes from elsewhere → latch at once
        rx.handle_rtp(t0, addr(2222), &rtp(0, 1, 7, &[0xff; 160]))
            .unwrap();
        assert_eq!(rx.remote(), Some(addr(2222)));
        // a stray packet from a third party does not move us
        rx.handle_rtp(t0, addr(3333), &rtp(0, 2, 66, &[0; 160]))
            .unwrap();
        rx.handle_rtp(t0, addr(2222), &rtp(0, 2, 7, &[0xff; 160]))
            .unwrap();
        rx.handle_rtp(t0, addr(3333), &rtp(0, 3, 66, &[0; 160]))
            .unwrap();
        assert_eq!(rx.remote(), Some(addr(2222)));
        assert_eq!(rx.stats().rx_foreign, 2);
        // the phone's NAT binding changes: after a few packets from the new port, follow it
        for seq in 3..7 {
            rx.handle_rtp(t0, addr(4444), &rtp(0, seq, 7, &[0xff; 160]))
                .unwrap();
        }
        assert_eq!(rx.remote(), Some(addr(4444)));
        assert_eq!(rx.stats().remote_changes, 2);
        // a re-INVITE gives a new address: the next RTP latches again at once
        rx.set_remote(addr(5555));
        assert_eq!(rx.remote(), Some(addr(5555)));
        rx.handle_rtp(t0, addr(6666), &rtp(0, 7, 7, &[0xff; 160]))
            .unwrap();
        assert_eq!(rx.remote(), Some(addr(6666)));
        // no SDP address at all: the first RTP decides
        let mut rx = MediaBridge::new(BridgeConfig::default());
        rx.handle_rtp(t0, addr(7777), &rtp(0, 1, 7, &[0xff; 160]))
            .unwrap();
        assert_eq!(rx.remote(), Some(addr(7777)));
        assert_eq!(rx.stats().remote_changes, 0);
    }

    #[test]
    fn outgoing_packets_are_numbered_and_carry_the_tone() {
        for rate in [8000u32, 16000, 48000] {
            let mut tx = MediaBridge::new(BridgeConfig {
                payload_type: 8,
                initial_sequence: 65534,
                initial_timestamp: u32::MAX - 100,
                ..BridgeConfig::new(Codec::Pcma, 0x5151)
            });
            let mut gen = ToneGenerator::new(440.0, rate, 10000);
            let mut pcm = vec![];
            for i in 0..50u32 {
                let mut buf = [0u8; 200];
                let n = tx.push_room_audio(&gen.next_frame(), &mut buf).unwrap();
                assert_eq!(n, 172);
                let p = rtp::parse(&buf[..n]).unwrap();
                assert_eq!(p.header.marker, i == 0);
                assert_eq!(p.header.payload_type, 8);
                assert_eq!(p.header.ssrc, 0x5151);
                assert_eq!(p.header.sequence, 65534u16.wrapping_add(i as u16));
                assert_eq!(p.header.timestamp, (u32::MAX - 100).wrapping_add(160 * i));
                let mut out = [0i16; 160];
                Codec::Pcma.decode(p.payload, &mut out);
                pcm.extend_from_slice(&out);
            }
            let (peak, snr, _) = tone_snr_db(&pcm, 8000, 440.0);
            assert!((peak - 440.0).abs() < 5.0, "{rate}: {peak}");
            assert!(snr > 25.0, "{rate}: {snr}");
            assert_eq!(tx.stats().tx_packets, 50);
        }
    }

    #[test]
    fn odd_room_frames_never_panic() {
        let mut tx = MediaBridge::new(BridgeConfig::default());
        let mut buf = [0u8; 200];
        for (rate, len) in [
            (0, 160),
            (7, 960),
            (8000, 0),
            (8000, 5000),
            (44100, 882),
            (u32::MAX, 960),
            (16000, 80),
        ] {
            let frame = PcmFrame {
                rate,
                len,
                samples: [1000; MAX_FRAME_SAMPLES],
            };
            assert_eq!(
                tx.push_room_audio(&frame, &mut buf),
                Ok(172),
                "{rate}/{len}"
            );
        }
        assert_eq!(
            tx.push_room_audio(&PcmFrame::silence(8000), &mut [0u8; 100]),
            Err(RtpError::BufferTooSmall)
        );
        assert_eq!(tx.stats().tx_packets, 7);
    }

    #[test]
    fn reconfigure_switches_codec() {
        let t0 = Instant::now();
        let mut rx = MediaBridge::new(BridgeConfig {
            jitter_depth_frames: 0,
            ..BridgeConfig::new(Codec::Pcmu, 1)
        });
        rx.reconfigure(Codec::Pcma, 8, Some(96));
        rx.handle_rtp(t0, addr(4000), &rtp(0, 1, 7, &[0xff; 160]))
            .unwrap();
        assert_eq!(rx.stats().rx_wrong_pt, 1);
        rx.handle_rtp(t0, addr(4000), &rtp(8, 2, 7, &[0xaa; 160]))
            .unwrap();
        let f = rx.pull_phone_audio(t0);
        assert!(f.pcm().iter().all(|&s| s == 32256));
        let mut buf = [0u8; 200];
        let n = rx
            .push_room_audio(&PcmFrame::silence(8000), &mut buf)
            .unwrap();
        assert_eq!(rtp::parse(&buf[..n]).unwrap().header.payload_type, 8);
    }

    #[test]
    fn last_rx_tracks_the_peer() {
        let t0 = Instant::now();
        let mut rx = MediaBridge::new(BridgeConfig::default());
        rx.handle_rtp(t0, addr(4000), &rtp(0, 1, 7, &[0xff; 160]))
            .unwrap();
        let t1 = t0 + Duration::from_secs(3);
        rx.handle_rtp(t1, addr(4000), &rtp(0, 2, 7, &[0xff; 160]))
            .unwrap();
        assert_eq!(rx.last_rx(), Some(t1));
        // garbage does not count as life
        let _ = rx.handle_rtp(t1 + Duration::from_secs(1), addr(4000), b"hello");
        assert_eq!(rx.last_rx(), Some(t1));
    }
}
