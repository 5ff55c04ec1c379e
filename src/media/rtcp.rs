//! RTCP (RFC 3550) for the phone leg, without I/O: reception statistics, sender and
//! receiver reports, and the round-trip time from the peer's reports.
//!
//! Carriers watch RTCP to judge a trunk, and the gateway's own `callstats` need the same
//! numbers: packets, cumulative and fractional loss (RFC 3550 A.3), interarrival jitter
//! (A.8) and the round-trip time from LSR/DLSR (section 6.4.1). [`ReceptionStats`] is fed
//! every RTP packet; [`RtcpSession`] builds an SR (or RR when we are not sending) with an
//! SDES CNAME every [`REPORT_INTERVAL`] and reads the peer's SR/RR.
//!
//! The NTP timestamps in our SRs come from the caller's monotonic `now`, offset from the
//! first instant the session saw: the peer only echoes them (LSR) for the round-trip
//! time, which needs a consistent clock, not the wall clock.

use std::time::{Duration, Instant};

/// How often reports go out (RFC 3550's minimum interval).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);
/// RTCP packet types.
pub const PT_SR: u8 = 200;
/// Receiver report.
pub const PT_RR: u8 = 201;
/// Source description.
pub const PT_SDES: u8 = 202;
/// Goodbye.
pub const PT_BYE: u8 = 203;
/// Sequence numbers a source must deliver in order before it counts (A.1 MIN_SEQUENTIAL).
const MIN_SEQUENTIAL: u16 = 2;
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const RTP_SEQ_MOD: u32 = 1 << 16;

/// Why an RTCP datagram was not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpError {
    /// Shorter than its headers claim.
    Truncated,
    /// Not version 2.
    BadVersion,
    /// The output buffer cannot hold the report.
    BufferTooSmall,
}

/// Per-source reception statistics, RFC 3550 appendix A.1, A.3 and A.8.
#[derive(Debug, Clone, Default)]
pub struct ReceptionStats {
    ssrc: Option<u32>,
    clock_rate: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u16,
    received: u64,
    /// Which of the 128 sequence numbers up to `max_seq` arrived (bit i = max_seq − i),
    /// to tell duplicates from late packets.
    seen: u128,
    /// Packets whose sequence number had already arrived (counted in `received`, as
    /// RFC 3550 does, which is why its cumulative loss can go negative).
    duplicates: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Relative transit time of the previous packet, in RTP ticks.
    transit: Option<i64>,
    /// Interarrival jitter estimate in RTP ticks, scaled by 16 (A.8's integer form).
    jitter_q4: u64,
    /// Epoch for converting arrival instants to RTP ticks.
    epoch: Option<Instant>,
}

/// Loss figures for one report block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LossReport {
    /// Packets expected minus packets received since the start (may be negative with
    /// duplicates; clamped to 24 bits on the wire).
    pub cumulative_lost: i64,
    /// Lost fraction since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Extended highest sequence number received.
    pub extended_max: u32,
}

impl ReceptionStats {
    /// Statistics for a stream with the given RTP clock rate.
    pub fn new(clock_rate: u32) -> Self {
        ReceptionStats {
            clock_rate,
            ..Self::default()
        }
    }

    /// The source being counted.
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
        self.seen = 0;
        self.duplicates = 0;
    }

    /// Counts one RTP packet that arrived at `now` (A.1's update_seq plus A.8's jitter).
    /// A new SSRC restarts the statistics.
    pub fn on_packet(&mut self, now: Instant, ssrc: u32, seq: u16, ts: u32) {
        if self.ssrc != Some(ssrc) {
            self.ssrc = Some(ssrc);
            self.init_seq(seq);
            self.max_seq = seq.wrapping_sub(1);
            self.probation = MIN_SEQUENTIAL;
            self.transit = None;
            self.jitter_q4 = 0;
        }
        if !self.update_seq(seq) {
            return;
        }
        // A.8: jitter from the difference of relative transit times
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = (now.saturating_duration_since(epoch).as_secs_f64()
            * f64::from(self.clock_rate)) as i64;
        let transit = arrival - i64::from(ts);
        if let Some(prev) = self.transit {
            // timestamps wrap: take the difference modulo 2^32
            let d = (transit - prev) as i32;
            let d = u64::from(d.unsigned_abs());
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// A.1 update_seq: false when the packet is not (yet) counted.
    fn update_seq(&mut self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    self.seen = 1;
                    return true;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return false;
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += RTP_SEQ_MOD;
            }
            self.seen = self.seen.checked_shl(u32::from(udelta)).unwrap_or(0);
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                // two sequential packets after a big jump: the source restarted
                self.init_seq(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return false;
            }
        }
        // else: duplicate or reordered packet, counted
        self.received += 1;
        let back = u32::from(self.max_seq.wrapping_sub(seq));
        if back < 128 {
            if self.seen & (1u128 << back) != 0 {
                self.duplicates += 1;
            }
            self.seen |= 1u128 << back;
        }
        true
    }

    /// Packets that arrived twice or more (each extra copy once), within the last 128
    /// sequence numbers.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Packets really lost: expected minus distinct packets received, never negative
    /// (unlike RFC 3550's cumulative figure, which duplicates push below zero).
    pub fn lost(&self) -> u64 {
        u64::try_from(self.cumulative_lost() + self.duplicates as i64).unwrap_or(0)
    }

    /// Packets counted.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packets expected from the sequence numbers (A.3).
    pub fn expected(&self) -> u64 {
        if self.ssrc.is_none() || self.received == 0 {
            return 0;
        }
        let ext_max = u64::from(self.cycles) + u64::from(self.max_seq);
        (ext_max + 1).saturating_sub(u64::from(self.base_seq))
    }

    /// Cumulative packets lost (A.3): expected minus received.
    pub fn cumulative_lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Interarrival jitter in RTP ticks.
    pub fn jitter_ticks(&self) -> u32 {
        u32::try_from(self.jitter_q4 >> 4).unwrap_or(u32::MAX)
    }

    /// Interarrival jitter in microseconds.
    pub fn jitter_us(&self) -> u32 {
        if self.clock_rate == 0 {
            return 0;
        }
        u32::try_from(u64::from(self.jitter_ticks()) * 1_000_000 / u64::from(self.clock_rate))
            .unwrap_or(u32::MAX)
    }

    /// The figures for a report block; advances the "since last report" interval.
    pub fn report(&mut self) -> LossReport {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        LossReport {
            cumulative_lost: self.cumulative_lost(),
            fraction_lost,
            extended_max: self.cycles.wrapping_add(u32::from(self.max_seq)),
        }
    }
}

/// One report block received from the peer about one of its sources (our stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since its previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost.
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_max: u32,
    /// Interarrival jitter in RTP ticks.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of our last SR it received (0: none).
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

/// What an incoming RTCP datagram told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtcpInfo {
    /// The peer sent a sender report.
    pub sender_report: bool,
    /// A report block about our SSRC.
    pub about_us: Option<ReportBlock>,
    /// The peer said goodbye.
    pub bye: bool,
}

/// What our next report says about what we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// RTP timestamp corresponding to the report's time.
    pub rtp_timestamp: u32,
    /// Packets sent since the start.
    pub packets: u32,
    /// Payload octets sent since the start.
    pub octets: u32,
}

/// The RTCP side of one RTP session: schedules reports, builds them and reads the peer's.
#[derive(Debug, Clone)]
pub struct RtcpSession {
    ssrc: u32,
    epoch: Option<Instant>,
    next_report: Option<Instant>,
    /// Middle 32 bits of the NTP time of the peer's last SR, and when it arrived.
    last_sr: Option<(u32, Instant)>,
    /// Latest round-trip time measured.
    rtt: Option<Duration>,
    /// Latest block the peer sent about our stream.
    remote_view: Option<ReportBlock>,
    reports_sent: u64,
    reports_received: u64,
}

/// Seconds from 1900 (NTP era) to our session epoch; arbitrary but plausible.
const NTP_EPOCH_SECS: u64 = 3_900_000_000;

impl RtcpSession {
    /// A session for our SSRC; the first report goes out half an interval after the
    /// first `now` seen.
    pub fn new(ssrc: u32) -> Self {
        RtcpSession {
            ssrc,
            epoch: None,
            next_report: None,
            last_sr: None,
            rtt: None,
            remote_view: None,
            reports_sent: 0,
            reports_received: 0,
        }
    }

    fn ntp(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        let d = now.saturating_duration_since(epoch);
        let secs = NTP_EPOCH_SECS + d.as_secs();
        let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        (secs << 32) | frac
    }

    fn middle(ntp: u64) -> u32 {
        (ntp >> 16) as u32
    }

    /// When the next report is due (None before the session has seen any time).
    pub fn deadline(&self) -> Option<Instant> {
        self.next_report
    }

    /// Arms the schedule (the first report half an interval from `now`).
    pub fn start(&mut self, now: Instant) {
        if self.next_report.is_none() {
            self.ntp(now);
            self.next_report = Some(now + REPORT_INTERVAL / 2);
        }
    }

    /// Whether a report is due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        self.next_report.is_some_and(|t| now >= t)
    }

    /// Latest round-trip time from the peer's reports.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// Latest report block the peer sent about our stream (its view of our loss/jitter).
    pub fn remote_view(&self) -> Option<ReportBlock> {
        self.remote_view
    }

    /// Reports built so far.
    pub fn reports_sent(&self) -> u64 {
        self.reports_sent
    }

    /// Valid RTCP datagrams read so far.
    pub fn reports_received(&self) -> u64 {
        self.reports_received
    }

    /// Builds a compound report into `out`: an SR when `sender` is given (we sent RTP
    /// since the last report), else an RR; a report block about `source` when we have
    /// received from it; then SDES CNAME. Schedules the next report. Returns the length.
    pub fn build_report(
        &mut self,
        now: Instant,
        sender: Option<SenderInfo>,
        source: Option<&mut ReceptionStats>,
        out: &mut [u8],
    ) -> Result<usize, RtcpError> {
        let ntp = self.ntp(now);
        let block = source.and_then(|s| {
            let ssrc = s.ssrc()?;
            (s.received() > 0).then(|| (ssrc, s.report(), s.jitter_ticks()))
        });
        let rc = u8::from(block.is_some());
        let mut w = Writer { out, n: 0 };
        let start = w.n;
        let pt = if sender.is_some() { PT_SR } else { PT_RR };
        w.u8(0x80 | rc)?;
        w.u8(pt)?;
        w.u16(0)?; // length, patched below
        w.u32(self.ssrc)?;
        if let Some(s) = sender {
            w.u32((ntp >> 32) as u32)?;
            w.u32(ntp as u32)?;
            w.u32(s.rtp_timestamp)?;
            w.u32(s.packets)?;
            w.u32(s.octets)?;
        }
        if let Some((ssrc, loss, jitter)) = block {
            w.u32(ssrc)?;
            let lost = loss.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as i32;
            w.u32((u32::from(loss.fraction_lost) << 24) | (lost as u32 & 0x00ff_ffff))?;
            w.u32(loss.extended_max)?;
            w.u32(jitter)?;
            let (lsr, dlsr) = match self.last_sr {
                Some((lsr, at)) => {
                    let d = now.saturating_duration_since(at);
                    (lsr, (d.as_secs_f64() * 65536.0) as u32)
                }
                None => (0, 0),
            };
            w.u32(lsr)?;
            w.u32(dlsr)?;
        }
        w.patch_len(start)?;
        // SDES with one chunk: CNAME
        let cname = format!("trtc-sipgw-{:08x}", self.ssrc);
        let sdes = w.n;
        w.u8(0x81)?;
        w.u8(PT_SDES)?;
        w.u16(0)?;
        w.u32(self.ssrc)?;
        w.u8(1)?; // CNAME
        w.u8(cname.len() as u8)?;
        w.bytes(cname.as_bytes())?;
        w.u8(0)?; // end of items
        while !(w.n - sdes).is_multiple_of(4) {
            w.u8(0)?;
        }
        w.patch_len(sdes)?;
        self.next_report = Some(now + REPORT_INTERVAL);
        self.reports_sent += 1;
        Ok(w.n)
    }

    /// Reads an incoming compound RTCP datagram (from port + 1, or the RTP port with
    /// rtcp-mux). Updates the round-trip time when the peer reports on our SSRC.
    pub fn handle(&mut self, now: Instant, data: &[u8]) -> Result<RtcpInfo, RtcpError> {
        let mut info = RtcpInfo::default();
        let mut rest = data;
        if rest.len() < 4 {
            return Err(RtcpError::Truncated);
        }
        while rest.len() >= 4 {
            if rest[0] >> 6 != 2 {
                return Err(RtcpError::BadVersion);
            }
            let count = usize::from(rest[0] & 0x1f);
            let pt = rest[1];
            let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
            let pkt = rest.get(..len).ok_or(RtcpError::Truncated)?;
            rest = &rest[len..];
            let blocks = match pt {
                PT_SR => {
                    let ntp = pkt.get(8..16).ok_or(RtcpError::Truncated)?;
                    let msw = u32::from_be_bytes([ntp[0], ntp[1], ntp[2], ntp[3]]);
                    let lsw = u32::from_be_bytes([ntp[4], ntp[5], ntp[6], ntp[7]]);
                    self.last_sr = Some(((msw << 16) | (lsw >> 16), now));
                    info.sender_report = true;
                    pkt.get(28..)
                }
                PT_RR => pkt.get(8..),
                PT_BYE => {
                    info.bye = true;
                    None
                }
                _ => None,
            };
            if let Some(mut b) = blocks {
                for _ in 0..count {
                    let Some(raw) = b.get(..24) else { break };
                    b = &b[24..];
                    let word =
                        |i: usize| u32::from_be_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
                    let lost24 = word(4) & 0x00ff_ffff;
                    let block = ReportBlock {
                        ssrc: word(0),
                        fraction_lost: raw[4],
                        cumulative_lost: ((lost24 << 8) as i32) >> 8,
                        extended_max: word(8),
                        jitter: word(12),
                        lsr: word(16),
                        dlsr: word(20),
                    };
                    if block.ssrc == self.ssrc {
                        info.about_us = Some(block);
                        self.remote_view = Some(block);
                        if block.lsr != 0 {
                            let a = Self::middle(self.ntp(now));
                            let rtt = a.wrapping_sub(block.lsr).wrapping_sub(block.dlsr);
                            // a negative result (clock confusion) wraps to a huge value
                            if rtt < 65536 * 60 {
                                self.rtt = Some(Duration::from_secs_f64(f64::from(rtt) / 65536.0));
                            }
                        }
                    }
                }
            }
        }
        self.reports_received += 1;
        Ok(info)
    }
}

struct Writer<'a> {
    out: &'a mut [u8],
    n: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) -> Result<(), RtcpError> {
        let dst = self
            .out
            .get_mut(self.n..self.n + b.len())
            .ok_or(RtcpError::BufferTooSmall)?;
        dst.copy_from_slice(b);
        self.n += b.len();
        Ok(())
    }
    fn u8(&mut self, v: u8) -> Result<(), RtcpError> {
        self.bytes(&[v])
    }
    fn u16(&mut self, v: u16) -> Result<(), RtcpError> {
        self.bytes(&v.to_be_bytes())
    }
    fn u32(&mut self, v: u32) -> Result<(), RtcpError> {
        self.bytes(&v.to_be_bytes())
    }
    /// Writes the RTCP length field (32-bit words minus one) of the packet at `start`.
    fn patch_len(&mut self, start: usize) -> Result<(), RtcpError> {
        let words =
            u16::try_from((self.n - start) / 4 - 1).map_err(|_| RtcpError::BufferTooSmall)?;
        self.out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_jitter_per_rfc3550() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(8000);
        // 100 packets, 20 ms apart, seq wraps; every 10th lost; constant delay
        let mut sent = 0;
        for i in 0..100u32 {
            let seq = 65500u16.wrapping_add(i as u16);
            if i % 10 == 5 {
                continue;
            }
            sent += 1;
            s.on_packet(
                t0 + Duration::from_millis(u64::from(i) * 20),
                7,
                seq,
                i * 160,
            );
        }
        // the first packet is the probation (A.1): counting starts at the second
        assert_eq!(s.received(), sent - 1);
        assert_eq!(s.expected(), 99);
        assert_eq!(s.cumulative_lost(), 10);
        assert_eq!(s.jitter_ticks(), 0);
        let r = s.report();
        assert_eq!(r.cumulative_lost, s.cumulative_lost());
        assert!((20..=30).contains(&r.fraction_lost), "{}", r.fraction_lost);
        assert_eq!(r.extended_max, 65536 + (65500u32 + 99) % 65536);
        // nothing new: fraction 0
        assert_eq!(s.report().fraction_lost, 0);

        // alternating ±10 ms of delay: J converges toward 20 ms = 160 ticks
        let mut s = ReceptionStats::new(8000);
        for i in 0..500u32 {
            let wobble = if i % 2 == 0 { 0 } else { 10 };
            s.on_packet(
                t0 + Duration::from_millis(u64::from(i) * 20 + wobble),
                9,
                i as u16,
                i * 160,
            );
        }
        let j = s.jitter_ticks();
        assert!((70..=90).contains(&j), "{j}"); // |D| = 80 ticks each step
        assert!((8_000..=12_000).contains(&s.jitter_us()));
        assert_eq!(s.cumulative_lost(), 0);
    }

    #[test]
    fn duplicates_count_as_negative_loss_and_new_ssrc_restarts() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(8000);
        for i in 0..10u16 {
            s.on_packet(t0, 1, i, 0);
            if i == 5 {
                s.on_packet(t0, 1, i, 0);
            }
        }
        assert_eq!(s.cumulative_lost(), -1);
        assert_eq!((s.duplicates(), s.lost()), (1, 0));
        s.on_packet(t0, 2, 1000, 0);
        s.on_packet(t0, 2, 1001, 0);
        assert_eq!(
            (s.ssrc(), s.received(), s.cumulative_lost()),
            (Some(2), 1, 0)
        );
    }

    #[test]
    fn duplicates_are_told_from_late_packets_and_loss_stays_honest() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(8000);
        // 0..=19 with 7 and 12 lost, 15 arriving late (after 17), 3 thrice, 17 twice
        for seq in [
            0u16, 1, 2, 3, 3, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 16, 17, 15, 17, 18, 19,
        ] {
            s.on_packet(t0, 9, seq, 0);
        }
        assert_eq!(s.expected(), 19, "counting starts after probation, at 1");
        assert_eq!(s.duplicates(), 3);
        assert_eq!(s.lost(), 2);
        assert_eq!(
            s.cumulative_lost(),
            -1,
            "RFC 3550's figure, duplicates included"
        );
        // more duplicates than losses: RFC 3550 goes negative, ours stays at 0
        let mut d = ReceptionStats::new(8000);
        for seq in [100u16, 101, 102, 102, 102, 102, 103] {
            d.on_packet(t0, 3, seq, 0);
        }
        assert_eq!((d.cumulative_lost(), d.lost(), d.duplicates()), (-3, 0, 3));
        // a far-back duplicate (outside the window) is not mistaken for one
        let mut w = ReceptionStats::new(8000);
        for seq in 0..300u16 {
            w.on_packet(t0, 4, seq, 0);
        }
        w.on_packet(t0, 4, 10, 0);
        assert_eq!(w.duplicates(), 0);
    }

    #[test]
    fn report_round_trip_gives_rtt() {
        let t0 = Instant::now();
        let mut us = RtcpSession::new(0x1111);
        let mut peer = RtcpSession::new(0x2222);
        us.start(t0);
        assert_eq!(us.deadline(), Some(t0 + REPORT_INTERVAL / 2));
        assert!(!us.is_due(t0) && us.is_due(t0 + REPORT_INTERVAL));
        let mut buf = [0u8; 200];
        let mut rx = ReceptionStats::new(8000);
        for i in 0..50u16 {
            rx.on_packet(t0, 0x2222, i, u32::from(i) * 160);
        }
        // our SR at t0+1s reaches the peer 30 ms later
        let n = us
            .build_report(
                t0 + Duration::from_secs(1),
                Some(SenderInfo {
                    rtp_timestamp: 8000,
                    packets: 50,
                    octets: 8000,
                }),
                Some(&mut rx),
                &mut buf,
            )
            .unwrap();
        assert_eq!(buf[1], PT_SR);
        assert_eq!(n % 4, 0);
        let info = peer
            .handle(t0 + Duration::from_millis(1030), &buf[..n])
            .unwrap();
        assert!(info.sender_report);
        // our block is about the peer's stream, and no SR of the peer's was seen yet
        let block = info.about_us.unwrap();
        assert_eq!((block.ssrc, block.lsr, block.dlsr), (0x2222, 0, 0));
        assert_eq!(peer.rtt(), None);
        // the peer answers with an RR about us 200 ms later; it arrives 30 ms after that
        let mut prx = ReceptionStats::new(8000);
        for i in 0..50u16 {
            prx.on_packet(t0, 0x1111, i, u32::from(i) * 160);
        }
        let n = peer
            .build_report(
                t0 + Duration::from_millis(1230),
                None,
                Some(&mut prx),
                &mut buf,
            )
            .unwrap();
        assert_eq!(buf[1], PT_RR);
        let info = us
            .handle(t0 + Duration::from_millis(1260), &buf[..n])
            .unwrap();
        let block = info.about_us.unwrap();
        assert_eq!(block.ssrc, 0x1111);
        assert_eq!(block.cumulative_lost, 0);
        let rtt = us.rtt().unwrap().as_secs_f64();
        assert!((rtt - 0.060).abs() < 0.002, "{rtt}");
        assert_eq!(us.reports_sent(), 1);
    }

    #[test]
    fn parses_foreign_reports_and_rejects_garbage() {
        // an RR with a negative cumulative loss, as a peer with duplicates would send
        let mut rr = vec![0x81, 201, 0, 7, 0, 0, 0, 9];
        rr.extend_from_slice(&0x1234u32.to_be_bytes());
        rr.extend_from_slice(&[0x40, 0xff, 0xff, 0xfe]); // 25 %, -2
        rr.extend_from_slice(&[0; 16]);
        let mut s = RtcpSession::new(0x1234);
        let info = s.handle(Instant::now(), &rr).unwrap();
        let b = info.about_us.unwrap();
        assert_eq!((b.fraction_lost, b.cumulative_lost), (64, -2));
        assert_eq!(s.rtt(), None);
        assert_eq!(s.handle(Instant::now(), &[0x81]), Err(RtcpError::Truncated));
        assert_eq!(
            s.handle(Instant::now(), &[0x00, 201, 0, 0]),
            Err(RtcpError::BadVersion)
        );
        assert_eq!(
            s.handle(Instant::now(), &[0x81, 201, 0, 9, 0, 0]),
            Err(RtcpError::Truncated)
        );
        // BYE
        assert!(
            s.handle(Instant::now(), &[0x81, 203, 0, 1, 0, 0, 0, 1])
                .unwrap()
                .bye
        );
        // fuzz: never panics
        let mut x = 99u32;
        for _ in 0..2000 {
            let mut b = rr.clone();
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let i = x as usize % b.len();
                b[i] = (x >> 8) as u8;
            }
            let _ = s.handle(Instant::now(), &b[..(x as usize % b.len())]);
        }
        // too small an output buffer is an error
        let mut tiny = [0u8; 10];
        assert_eq!(
            s.build_report(Instant::now(), None, None, &mut tiny),
            Err(RtcpError::BufferTooSmall)
        );
    }
}
