//! An adaptive jitter buffer for the phone's RTP audio, without I/O.
//!
//! Packets from the network arrive late, early, twice, out of order or not at all; the
//! room wants exactly one 20 ms frame every 20 ms. This buffer sits between the two: the
//! shell [`push`](JitterBuffer::push)es every packet and [`pop`](JitterBuffer::pop)s once
//! per 20 ms tick, always passing in the time, and the buffer answers with the frame that
//! is due, a [`Playout::Missing`] (lost: conceal) or [`Playout::Empty`] (nothing to play).
//!
//! Design choices:
//! - Storage is a ring of [`JITTER_SLOTS`] frames indexed by RTP timestamp, fixed at
//!   compile time: a call costs a known number of bytes and a flood cannot grow it.
//! - Payload bytes are placed by timestamp, one byte per RTP tick (true for G.711 and
//!   G.722), so 10, 30 or 40 ms packets are cut into, or assembled from, 20 ms frames.
//!   Codecs whose packets are opaque (Opus, G.729) use packet mode instead: each packet
//!   is stored whole in the slot of its timestamp.
//! - Adaptive depth (when configured): the spread of the packets' transit times over the
//!   last [`TRANSIT_WINDOW`] packets sets a target depth between the configured bounds.
//!   The buffer deepens by holding the playout clock ([`Playout::Stretch`]) when the due
//!   frame has not arrived and it is shallower than the target, so late packets get
//!   their chance; it drains by skipping one frame at a time (preferably a quiet one)
//!   when it was deeper than the target for a whole [`DRAIN_WINDOW`]. Memory stays fixed.
//! - Playout starts once `depth_frames` frames are queued behind the one that plays (or
//!   that long has passed since the first packet). On underrun the playout clock stops and
//!   re-buffers, so a peer that pauses (silence suppression, hold) resumes without loss.
//! - Duplicates are recognised by sequence number, lateness by timestamp; both wrap.
//! - A new SSRC, or a timestamp far outside the window, restarts the buffer on the new
//!   stream rather than playing seconds of "loss".

use std::time::{Duration, Instant};

/// Frames the ring can hold: 640 ms of 20 ms frames. The adaptive depth tops out at
/// 10 frames by default, so this leaves as much again for reordering and early packets,
/// while the ring stays small: it is most of a call's memory (issue 5 budgets a call at
/// 64 KiB of RSS).
pub const JITTER_SLOTS: usize = 32;

/// Largest frame, in payload bytes, a slot can hold in byte mode (20 ms of a 16 kHz
/// 1-byte-per-tick clock; G.711 and G.722 need 160). Longer packets are cut into slots.
pub const MAX_SLOT_BYTES: usize = 320;

/// Largest packet a slot holds in packet mode (Opus at 128 kbit/s for 20 ms; the voice
/// Opus we send and receive runs at 32 kbit/s, 80 bytes). Larger packets are unusable.
pub const MAX_PACKET_BYTES: usize = 320;

/// Packets whose transit times set the adaptive target (about 2.5 s at 20 ms).
pub const TRANSIT_WINDOW: usize = 128;

/// Pops over which the buffer must stay above its target before it drains (0.5 s).
pub const DRAIN_WINDOW: u32 = 25;

/// Pops a drain waits for a quiet frame before skipping a loud one.
const DRAIN_PATIENCE: u32 = 10;

/// Consecutive late packets carrying new sequence numbers after which the buffer
/// decides the sender's timestamps jumped backwards and restarts on them.
const LATE_RUN_RESET: u8 = 4;

/// Settings of one buffer. The defaults fit G.711 at 20 ms with 40 ms of cushion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP timestamp ticks (= payload bytes) per output frame; 160 for 20 ms of G.711.
    /// Clamped to 1..=[`MAX_SLOT_BYTES`].
    pub frame_ticks: u32,
    /// Wall-clock length of one output frame (the caller's tick period).
    pub frame_duration: Duration,
    /// Frames queued behind the playing one before playout starts: the fixed delay that
    /// absorbs network jitter. 0 plays a frame as soon as it is whole.
    pub depth_frames: u8,
    /// Most frames held ahead of the playout point; beyond that the oldest are dropped
    /// (counted as overflow). Clamped to 1..=[`JITTER_SLOTS`].
    pub max_frames: u16,
    /// Payload byte that decodes to silence, used for parts of a frame never received.
    pub silence_byte: u8,
    /// Store each packet whole, one per frame slot (Opus, G.729), instead of one byte
    /// per RTP tick.
    pub packet_mode: bool,
    /// Let the depth follow the measured jitter between the two bounds below;
    /// `depth_frames` is then only the starting point.
    pub adaptive: bool,
    /// Shallowest adaptive depth, in frames.
    pub min_depth_frames: u8,
    /// Deepest adaptive depth, in frames (bounded by `max_frames - 1`).
    pub max_depth_frames: u8,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            frame_ticks: 160,
            frame_duration: Duration::from_millis(20),
            depth_frames: 2,
            max_frames: JITTER_SLOTS as u16,
            silence_byte: 0xff,
            packet_mode: false,
            adaptive: false,
            min_depth_frames: 1,
            max_depth_frames: 10,
        }
    }
}

/// What the caller plays in this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playout<'a> {
    /// One frame of payload (`frame_ticks` bytes), gaps inside it filled with silence.
    Frame(&'a [u8]),
    /// The frame due now never arrived but later ones did: conceal it.
    Missing,
    /// Nothing to play: not started yet, re-buffering after an underrun, or no stream.
    Empty,
    /// The adaptive buffer is deepening: the due frame has not arrived yet, so the clock
    /// holds for one tick. Conceal one frame; nothing is lost (yet).
    Stretch,
}

/// What happened to a pushed packet; also reflected in [`JitterStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored for playout.
    Accepted,
    /// Stored after restarting the buffer (new SSRC or a timestamp jump).
    Reset,
    /// Same sequence number seen already; ignored.
    Duplicate,
    /// Its time has already been played (or skipped); dropped.
    Late,
    /// Empty, or longer than the whole window; ignored.
    Unusable,
}

/// Counters for logs and metrics: how healthy the phone's inbound stream is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Every packet pushed.
    pub received: u64,
    /// Packets whose sequence number had already been seen.
    pub duplicates: u64,
    /// Packets that arrived after their time was played.
    pub late: u64,
    /// Frames reported as [`Playout::Missing`] (concealed by the caller).
    pub lost: u64,
    /// Frames holding data that were dropped because the buffer was full.
    pub overflow: u64,
    /// Restarts on a new SSRC or a timestamp jump.
    pub resets: u64,
    /// Packets with no payload or a payload longer than the window.
    pub unusable: u64,
    /// Frames returned as [`Playout::Frame`].
    pub played: u64,
    /// Ticks the clock was held to deepen the buffer ([`Playout::Stretch`]).
    pub stretched: u64,
    /// Frames skipped to drain an over-deep buffer.
    pub drained: u64,
}

/// The ring's storage: [`JITTER_SLOTS`] frames of one size, allocated once when the
/// buffer is made for its codec (a G.711 frame is 160 bytes, an Opus packet up to
/// [`MAX_PACKET_BYTES`]), so a call carries only what its codec needs: the ring is most
/// of a call's memory.
struct Slots {
    bytes: Box<[u8]>,
    slot_bytes: usize,
    /// Payload bytes written into each frame; 0 = empty.
    filled: [u16; JITTER_SLOTS],
}

impl Slots {
    fn new(slot_bytes: usize) -> Self {
        Slots {
            bytes: vec![0; slot_bytes * JITTER_SLOTS].into_boxed_slice(),
            slot_bytes,
            filled: [0; JITTER_SLOTS],
        }
    }

    /// Slot `i`'s bytes, the first `len` of them (at most the slot's size).
    fn data(&self, i: usize, len: usize) -> &[u8] {
        let start = i * self.slot_bytes;
        self.bytes
            .get(start..start + len.min(self.slot_bytes))
            .unwrap_or_default()
    }

    fn data_mut(&mut self, i: usize) -> &mut [u8] {
        let start = i * self.slot_bytes;
        self.bytes
            .get_mut(start..start + self.slot_bytes)
            .unwrap_or_default()
    }
}

/// The jitter buffer of one inbound RTP stream. See the module documentation.
pub struct JitterBuffer {
    cfg: JitterConfig,
    slots: Slots,
    /// Slot index of the frame at `next_ts`.
    head: usize,
    /// RTP timestamp of the next frame to play.
    next_ts: u32,
    /// Ticks from `next_ts` to the end of the furthest data held; 0 = nothing held.
    end_ahead: u32,
    /// The stream being played; `None` until the first packet.
    ssrc: Option<u32>,
    /// Playing (true) or buffering up to the target depth (false).
    started: bool,
    /// Once anything was played or skipped since the last reset, `next_ts` may not move
    /// back: earlier packets are late. Before that, reordered first packets are welcome.
    floor: bool,
    /// When buffering began (first packet since reset or underrun).
    buffering_since: Option<Instant>,
    highest_seq: u16,
    /// Bit i set = sequence number `highest_seq - i` was seen.
    seen: u128,
    late_run: u8,
    stats: JitterStats,
    /// Relative transit times (arrival in RTP ticks minus timestamp) of recent packets.
    transits: [i32; TRANSIT_WINDOW],
    transit_count: usize,
    transit_next: usize,
    /// Arrival clock origin and the timestamp it corresponds to.
    transit_epoch: Option<(Instant, u32)>,
    /// Current target depth in frames.
    target: u8,
    /// Shallowest depth seen in the current drain window.
    low_water: u32,
    window_pops: u32,
    /// Frames to skip to come back down to the target, and pops waited for a quiet one.
    drain: u32,
    drain_wait: u32,
    /// Consecutive stretches (bounded so a stalled stream still reports its losses).
    stretch_run: u32,
}

impl JitterBuffer {
    /// A buffer with the given settings, waiting for its first packet.
    pub fn new(cfg: JitterConfig) -> Self {
        let max_frames = cfg.max_frames.clamp(1, JITTER_SLOTS as u16);
        let deepest = u8::try_from(max_frames - 1).unwrap_or(u8::MAX);
        let max_depth = cfg.max_depth_frames.min(deepest);
        let cfg = JitterConfig {
            frame_ticks: if cfg.packet_mode {
                cfg.frame_ticks.clamp(1, u32::from(u16::MAX))
            } else {
                cfg.frame_ticks.clamp(1, MAX_SLOT_BYTES as u32)
            },
            max_frames,
            // the cushion plus the playing frame must fit the window
            depth_frames: cfg.depth_frames.min(deepest),
            max_depth_frames: max_depth,
            min_depth_frames: cfg.min_depth_frames.min(max_depth),
            ..cfg
        };
        let target = if cfg.adaptive {
            cfg.depth_frames
                .clamp(cfg.min_depth_frames, cfg.max_depth_frames)
        } else {
            cfg.depth_frames
        };
        JitterBuffer {
            cfg,
            slots: Slots::new(if cfg.packet_mode {
                MAX_PACKET_BYTES
            } else {
                cfg.frame_ticks as usize
            }),
            head: 0,
            next_ts: 0,
            end_ahead: 0,
            ssrc: None,
            started: false,
            floor: false,
            buffering_since: None,
            highest_seq: 0,
            seen: 0,
            late_run: 0,
            stats: JitterStats::default(),
            transits: [0; TRANSIT_WINDOW],
            transit_count: 0,
            transit_next: 0,
            transit_epoch: None,
            target,
            low_water: u32::MAX,
            window_pops: 0,
            drain: 0,
            drain_wait: 0,
            stretch_run: 0,
        }
    }

    /// The depth the buffer is aiming for now, in frames (fixed unless adaptive).
    pub fn target_frames(&self) -> u8 {
        self.target
    }

    /// Frames queued behind the one due next: the playout delay the buffer adds now,
    /// in frames (0 when idle).
    pub fn depth_frames(&self) -> u32 {
        self.buffered_frames().saturating_sub(1)
    }

    /// The payload now at the playout point, if it arrived: after a [`Playout::Missing`]
    /// this is the packet following the lost one, whose FEC can rebuild it (Opus).
    pub fn next_payload(&self) -> Option<&[u8]> {
        let filled = self.slots.filled[self.head];
        if filled == 0 || self.ssrc.is_none() {
            return None;
        }
        let len = if self.cfg.packet_mode {
            usize::from(filled)
        } else {
            self.cfg.frame_ticks as usize
        };
        Some(self.slots.data(self.head, len))
    }

    /// Records a packet's transit time and updates the adaptive target.
    fn observe_transit(&mut self, now: Instant, ts: u32) {
        if !self.cfg.adaptive {
            return;
        }
        let (epoch, ts0) = *self.transit_epoch.get_or_insert((now, ts));
        let elapsed = now.saturating_duration_since(epoch).as_micros();
        let per_frame = self.cfg.frame_duration.as_micros().max(1);
        let arrival = elapsed * u128::from(self.cfg.frame_ticks) / per_frame;
        let arrival = i64::try_from(arrival).unwrap_or(i64::MAX);
        let rel = i64::from(ts.wrapping_sub(ts0) as i32);
        let transit = (arrival - rel).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        self.transits[self.transit_next] = transit;
        self.transit_next = (self.transit_next + 1) % TRANSIT_WINDOW;
        self.transit_count = (self.transit_count + 1).min(TRANSIT_WINDOW);
        let window = &self.transits[..self.transit_count];
        let (lo, hi) = window
            .iter()
            .fold((i32::MAX, i32::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        // Scheduling noise of a millisecond or two (ours or the sender's) is no reason
        // to hold a whole frame more: without this allowance a spread of one RTP tick
        // asked for a frame, so one late packet added 20 ms for the rest of the call.
        let allowance = i64::from(self.cfg.frame_ticks) / 10;
        let spread = (i64::from(hi) - i64::from(lo) - allowance).max(0);
        let frames =
            (spread + i64::from(self.cfg.frame_ticks) - 1) / i64::from(self.cfg.frame_ticks);
        self.target = u8::try_from(frames.max(0))
            .unwrap_or(u8::MAX)
            .clamp(self.cfg.min_depth_frames, self.cfg.max_depth_frames);
    }

    fn forget_transits(&mut self) {
        self.transit_count = 0;
        self.transit_next = 0;
        self.transit_epoch = None;
        self.low_water = u32::MAX;
        self.window_pops = 0;
        self.drain = 0;
        self.drain_wait = 0;
        self.stretch_run = 0;
    }

    /// The settings in force (after clamping).
    pub fn config(&self) -> &JitterConfig {
        &self.cfg
    }

    /// Counters since creation.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Frames currently held ahead of the playout point (rounded up), for metrics.
    pub fn buffered_frames(&self) -> u32 {
        self.end_ahead.div_ceil(self.cfg.frame_ticks)
    }

    /// Whether playout is running (false while buffering).
    pub fn is_playing(&self) -> bool {
        self.started
    }

    /// Forgets the stream (e.g. after a re-INVITE changed the codec); counters stay.
    pub fn clear(&mut self) {
        self.clear_slots();
        self.ssrc = None;
        self.started = false;
        self.floor = false;
        self.buffering_since = None;
        self.late_run = 0;
        self.forget_transits();
    }

    fn span(&self) -> u32 {
        u32::from(self.cfg.max_frames) * self.cfg.frame_ticks
    }

    fn clear_slots(&mut self) {
        self.slots.filled = [0; JITTER_SLOTS];
        self.head = 0;
        self.end_ahead = 0;
    }

    fn restart(&mut self, now: Instant, seq: u16, ts: u32, ssrc: u32) {
        self.clear_slots();
        self.next_ts = ts;
        self.ssrc = Some(ssrc);
        self.started = false;
        self.floor = false;
        self.buffering_since = Some(now);
        self.highest_seq = seq;
        self.seen = 0;
        self.late_run = 0;
        self.forget_transits();
    }

    fn is_duplicate(&self, seq: u16) -> bool {
        let d = seq.wrapping_sub(self.highest_seq) as i16;
        if d > 0 {
            return false;
        }
        let back = u32::from(d.unsigned_abs());
        back < 128 && self.seen & (1u128 << back) != 0
    }

    fn mark_seen(&mut self, seq: u16) {
        let d = seq.wrapping_sub(self.highest_seq) as i16;
        if d > 0 {
            let shift = d as u32;
            self.seen = if shift >= 128 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.highest_seq = seq;
        } else {
            let back = u32::from(d.unsigned_abs());
            if back < 128 {
                self.seen |= 1u128 << back;
            }
        }
    }

    /// Drops the `n` oldest frames, counting those that held data as overflow.
    fn drop_oldest(&mut self, n: u32) {
        for _ in 0..n.min(JITTER_SLOTS as u32) {
            if self.slots.filled[self.head] > 0 {
                self.stats.overflow += 1;
            }
            self.slots.filled[self.head] = 0;
            self.head = (self.head + 1) % JITTER_SLOTS;
        }
        let ticks = n.saturating_mul(self.cfg.frame_ticks);
        self.next_ts = self.next_ts.wrapping_add(ticks);
        self.end_ahead = self.end_ahead.saturating_sub(ticks);
        self.floor = true;
    }

    /// Whether the playout point may move back `ticks_before` ticks: only before anything
    /// was played, and only while the held data still fits the window.
    fn can_extend_back(&self, ticks_before: i64) -> bool {
        let frame = i64::from(self.cfg.frame_ticks);
        let moved = (ticks_before + frame - 1) / frame * frame;
        !self.floor && moved + i64::from(self.end_ahead) <= i64::from(self.span())
    }

    /// Moves the playout point back by whole frames so an earlier packet fits; callers
    /// check [`Self::can_extend_back`] first.
    fn extend_back(&mut self, ticks_before: u32) {
        let frame = self.cfg.frame_ticks;
        let frames = ticks_before.div_ceil(frame);
        // Slots outside the held range are empty: clearing is the invariant.
        self.head = (self.head + JITTER_SLOTS - (frames as usize % JITTER_SLOTS)) % JITTER_SLOTS;
        self.next_ts = self.next_ts.wrapping_sub(frames * frame);
        if self.end_ahead > 0 {
            self.end_ahead += frames * frame;
        }
    }

    /// Offers one received RTP packet's payload. `marker` is accepted for talk-spurt
    /// aware adaptation later; the fixed-depth buffer does not need it.
    pub fn push(
        &mut self,
        now: Instant,
        seq: u16,
        ts: u32,
        ssrc: u32,
        marker: bool,
        payload: &[u8],
    ) -> PushOutcome {
        let _ = marker;
        self.stats.received += 1;
        let span = self.span();
        let too_long = if self.cfg.packet_mode {
            payload.len() > MAX_PACKET_BYTES
        } else {
            payload.len() > span as usize
        };
        if payload.is_empty() || too_long {
            self.stats.unusable += 1;
            return PushOutcome::Unusable;
        }
        // in packet mode a packet stands for one frame, whatever its size in bytes
        let len = if self.cfg.packet_mode {
            i64::from(self.cfg.frame_ticks)
        } else {
            payload.len() as i64
        };
        let mut outcome = PushOutcome::Accepted;

        if self.ssrc != Some(ssrc) {
            if self.ssrc.is_some() {
                self.stats.resets += 1;
                outcome = PushOutcome::Reset;
            }
            self.restart(now, seq, ts, ssrc);
        } else {
            if self.is_duplicate(seq) {
                self.stats.duplicates += 1;
                return PushOutcome::Duplicate;
            }
            let seq_newer = (seq.wrapping_sub(self.highest_seq) as i16) > 0;
            let delta = i64::from(ts.wrapping_sub(self.next_ts) as i32);
            let span = i64::from(span);
            if delta > 0 && !self.started && self.end_ahead == 0 {
                // Idle after an underrun and the sender resumes later in time (silence
                // suppression, hold): start the grid at this packet, nothing is lost.
                self.head = 0;
                self.next_ts = ts;
            } else if delta >= 2 * span {
                // Far ahead of anything the window could reach: the sender jumped.
                self.stats.resets += 1;
                outcome = PushOutcome::Reset;
                self.restart(now, seq, ts, ssrc);
            } else if delta + len <= 0 {
                if self.can_extend_back(-delta) {
                    // Reordered before playout began: make room in front.
                    self.extend_back((-delta) as u32);
                } else if seq_newer && (delta < -2 * span || self.late_run + 1 >= LATE_RUN_RESET) {
                    // New packets keep landing in the past: the timestamps jumped back.
                    self.stats.resets += 1;
                    outcome = PushOutcome::Reset;
                    self.restart(now, seq, ts, ssrc);
                } else {
                    self.stats.late += 1;
                    if seq_newer {
                        self.late_run += 1;
                    }
                    self.mark_seen(seq);
                    // a late packet is the best evidence that the buffer is too shallow
                    self.observe_transit(now, ts);
                    return PushOutcome::Late;
                }
            } else if delta < 0 && self.can_extend_back(-delta) {
                // Straddles the playout point before playout began: keep all of it.
                self.extend_back((-delta) as u32);
            }
        }

        self.late_run = 0;
        self.mark_seen(seq);
        if !self.started && self.buffering_since.is_none() {
            self.buffering_since = Some(now);
        }
        self.observe_transit(now, ts);
        let delta = i64::from(ts.wrapping_sub(self.next_ts) as i32);
        if self.cfg.packet_mode {
            if delta < 0 {
                // partly played already: a whole packet cannot be cut
                self.stats.late += 1;
                return PushOutcome::Late;
            }
            self.store_packet(delta, payload);
        } else {
            self.store(delta, payload);
        }
        outcome
    }

    /// Packet mode: stores a whole packet in the slot its timestamp falls into.
    fn store_packet(&mut self, offset: i64, payload: &[u8]) {
        let frame = i64::from(self.cfg.frame_ticks);
        let mut k = offset / frame;
        let max = i64::from(self.cfg.max_frames);
        if k >= max {
            let need = u32::try_from(k - max + 1).unwrap_or(u32::MAX);
            self.drop_oldest(need);
            k = max - 1;
        }
        let Ok(k) = usize::try_from(k) else { return };
        if k >= JITTER_SLOTS {
            return;
        }
        let idx = (self.head + k) % JITTER_SLOTS;
        if self.slots.filled[idx] == 0 {
            let data = self.slots.data_mut(idx);
            let n = payload.len().min(data.len());
            data[..n].copy_from_slice(&payload[..n]);
            self.slots.filled[idx] = n as u16;
        }
        let end = (k as u32 + 1) * self.cfg.frame_ticks;
        self.end_ahead = self.end_ahead.max(end);
    }

    /// Writes a payload starting `offset` ticks after `next_ts` (negative: partly played).
    fn store(&mut self, offset: i64, payload: &[u8]) {
        let frame = self.cfg.frame_ticks;
        let span = i64::from(self.span());
        let mut src = payload;
        let mut off = offset;
        if off < 0 {
            let cut = usize::try_from(-off).unwrap_or(usize::MAX).min(src.len());
            src = &src[cut..];
            off = 0;
        }
        let end = off + src.len() as i64;
        if end > span {
            let frame64 = i64::from(frame);
            let need = u32::try_from((end - span + frame64 - 1) / frame64).unwrap_or(u32::MAX);
            self.drop_oldest(need);
            let moved = i64::from(need) * i64::from(frame);
            if off < moved {
                let cut = usize::try_from(moved - off)
                    .unwrap_or(usize::MAX)
                    .min(src.len());
                src = &src[cut..];
                off = 0;
            } else {
                off -= moved;
            }
        }
        let mut off = u32::try_from(off).unwrap_or(0);
        while !src.is_empty() {
            let k = (off / frame) as usize;
            if k >= JITTER_SLOTS {
                break;
            }
            let within = (off % frame) as usize;
            let n = (frame as usize - within).min(src.len());
            let idx = (self.head + k) % JITTER_SLOTS;
            let filled = usize::from(self.slots.filled[idx]);
            let silence = self.cfg.silence_byte;
            let data = self.slots.data_mut(idx);
            // Byte-mode slots are one frame long, and `within + n` stays inside it.
            if data.len() < frame as usize {
                break;
            }
            if filled == 0 {
                data[..frame as usize].fill(silence);
            }
            data[within..within + n].copy_from_slice(&src[..n]);
            self.slots.filled[idx] = (filled + n).min(frame as usize) as u16;
            off += n as u32;
            src = &src[n..];
        }
        self.end_ahead = self.end_ahead.max(off);
    }

    /// Index (in frames from the playout point) of the first frame holding data.
    fn first_filled(&self) -> Option<u32> {
        let frames = self.buffered_frames().min(JITTER_SLOTS as u32);
        (0..frames).find(|&k| self.slots.filled[(self.head + k as usize) % JITTER_SLOTS] > 0)
    }

    /// Takes the frame due in this tick. Call once per frame duration.
    pub fn pop(&mut self, now: Instant) -> Playout<'_> {
        self.pop_with(now, |_| true)
    }

    /// [`pop`](Self::pop), telling the buffer which payloads are quiet: when it drains
    /// (adaptive mode) it prefers to skip those, so the step is not heard.
    pub fn pop_with(&mut self, now: Instant, is_quiet: impl Fn(&[u8]) -> bool) -> Playout<'_> {
        if self.ssrc.is_none() || (self.end_ahead == 0 && !self.started) {
            return Playout::Empty;
        }
        let frame = self.cfg.frame_ticks;
        if !self.started {
            let Some(first) = self.first_filled() else {
                return Playout::Empty;
            };
            let available = self.end_ahead - first * frame;
            let want = (u32::from(self.target) + 1) * frame;
            let waited = self.buffering_since.is_some_and(|since| {
                now.saturating_duration_since(since)
                    >= self.cfg.frame_duration * u32::from(self.target)
            });
            if available < want && !waited {
                return Playout::Empty;
            }
            // Skip a leading gap (a pause of the sender while we were re-buffering).
            if first > 0 {
                self.head = (self.head + first as usize) % JITTER_SLOTS;
                self.next_ts = self.next_ts.wrapping_add(first * frame);
                self.end_ahead -= first * frame;
            }
            self.started = true;
            self.floor = true;
        }

        if self.cfg.adaptive {
            if let Some(held) = self.adapt(&is_quiet) {
                return held;
            }
        }
        let idx = self.head;
        let had_data = self.slots.filled[idx] > 0;
        if !had_data && self.end_ahead <= frame {
            // Underrun: nothing at all queued. Stop the clock and re-buffer.
            self.started = false;
            self.buffering_since = None;
            self.end_ahead = 0;
            return Playout::Empty;
        }
        let filled = usize::from(self.slots.filled[idx]);
        self.slots.filled[idx] = 0;
        self.head = (self.head + 1) % JITTER_SLOTS;
        self.next_ts = self.next_ts.wrapping_add(frame);
        self.end_ahead = self.end_ahead.saturating_sub(frame);
        if had_data {
            self.stats.played += 1;
            let len = if self.cfg.packet_mode {
                filled
            } else {
                frame as usize
            };
            Playout::Frame(self.slots.data(idx, len))
        } else {
            self.stats.lost += 1;
            Playout::Missing
        }
    }
    /// The adaptive step of a pop while playing: hold the clock to deepen, or skip a
    /// frame to drain. Returns `Some` when this tick is a hold.
    fn adapt(&mut self, is_quiet: &impl Fn(&[u8]) -> bool) -> Option<Playout<'static>> {
        let frame = self.cfg.frame_ticks;
        let depth = self.depth_frames();
        let due_missing = self.slots.filled[self.head] == 0;
        // Deepen: the due frame is not here and we are shallower than the target: hold
        // the clock so it (and the ones behind it) can still make it. Bounded by the
        // target, so a sender that really paused still ends in an underrun.
        if due_missing
            && depth < u32::from(self.target)
            && self.stretch_run < u32::from(self.target)
        {
            self.stretch_run += 1;
            self.stats.stretched += 1;
            return Some(Playout::Stretch);
        }
        self.stretch_run = 0;
        // Drain: measure the shallowest depth over a window; whatever was never needed
        // above the target goes, one frame per pop.
        self.low_water = self.low_water.min(depth);
        self.window_pops += 1;
        if self.window_pops >= DRAIN_WINDOW {
            let excess = self.low_water.saturating_sub(u32::from(self.target));
            self.drain = self.drain.max(excess);
            self.low_water = u32::MAX;
            self.window_pops = 0;
        }
        if self.drain > 0 && !due_missing && depth > u32::from(self.target) {
            let len = if self.cfg.packet_mode {
                usize::from(self.slots.filled[self.head])
            } else {
                frame as usize
            };
            let quiet = is_quiet(self.slots.data(self.head, len));
            if quiet || self.drain_wait >= DRAIN_PATIENCE {
                self.slots.filled[self.head] = 0;
                self.head = (self.head + 1) % JITTER_SLOTS;
                self.next_ts = self.next_ts.wrapping_add(frame);
                self.end_ahead = self.end_ahead.saturating_sub(frame);
                self.drain -= 1;
                self.drain_wait = 0;
                self.stats.drained += 1;
            } else {
                self.drain_wait += 1;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u32 = 160;

    struct Clock {
        t0: Instant,
    }
    impl Clock {
        fn new() -> Self {
            Clock { t0: Instant::now() }
        }
        fn at(&self, ms: u64) -> Instant {
            self.t0 + Duration::from_millis(ms)
        }
    }

    fn jb(depth: u8) -> JitterBuffer {
        JitterBuffer::new(JitterConfig {
            depth_frames: depth,
            ..JitterConfig::default()
        })
    }

    /// Payload of frame `i`: every byte tagged with i, so playout order is visible.
    fn frame(i: u32) -> [u8; 160] {
        [(i % 251) as u8; 160]
    }

    fn tag(p: Playout<'_>) -> Option<u8> {
        match p {
            Playout::Frame(b) => {
                assert_eq!(b.len(), 160);
                Some(b[0])
            }
            _ => None,
        }
    }

    /// Pushes frame i (seq0+i, ts0+160 i) at time i*20 ms + 1.
    fn push_frame(b: &mut JitterBuffer, c: &Clock, i: u32, seq0: u16, ts0: u32) -> PushOutcome {
        b.push(
            c.at(u64::from(i) * 20 + 1),
            seq0.wrapping_add(i as u16),
            ts0.wrapping_add(i * F),
            7,
            i == 0,
            &frame(i),
        )
    }

    #[test]
    fn in_order_stream_plays_after_target_depth() {
        let c = Clock::new();
        let mut b = jb(2);
        let mut out = vec![];
        for i in 0..20u32 {
            assert_eq!(push_frame(&mut b, &c, i, 100, 5000), PushOutcome::Accepted);
            out.push(tag(b.pop(c.at(u64::from(i) * 20 + 5))));
        }
        // two ticks of buffering, then frames 0.. in order
        assert_eq!(out[0], None);
        assert_eq!(out[1], None);
        let played: Vec<u8> = out[2..].iter().map(|x| x.unwrap()).collect();
        assert_eq!(played, (0..18).collect::<Vec<u8>>());
        let s = b.stats();
        assert_eq!(
            (s.received, s.played, s.lost, s.late, s.duplicates),
            (20, 18, 0, 0, 0)
        );
        assert_eq!(b.buffered_frames(), 2);
    }

    #[test]
    fn depth_zero_plays_at_once() {
        let c = Clock::new();
        let mut b = jb(0);
        assert_eq!(b.pop(c.at(0)), Playout::Empty);
        push_frame(&mut b, &c, 0, 0, 0);
        assert_eq!(tag(b.pop(c.at(5))), Some(0));
        push_frame(&mut b, &c, 1, 0, 0);
        assert_eq!(tag(b.pop(c.at(25))), Some(1));
    }

    #[test]
    fn lone_packet_plays_once_depth_time_has_passed() {
        let c = Clock::new();
        let mut b = jb(2);
        push_frame(&mut b, &c, 0, 0, 0);
        assert_eq!(b.pop(c.at(5)), Playout::Empty);
        assert_eq!(b.pop(c.at(25)), Playout::Empty);
        assert_eq!(tag(b.pop(c.at(45))), Some(0));
    }

    #[test]
    fn reorder_within_depth_is_repaired() {
        let c = Clock::new();
        let mut b = jb(2);
        let order = [1u32, 0, 3, 2, 5, 4, 7, 6, 9, 8];
        for &i in &order {
            push_frame(&mut b, &c, i, 0, 0);
        }
        let played: Vec<_> = (0..10).map(|k| tag(b.pop(c.at(200 + k * 20)))).collect();
        assert_eq!(played, (0..10).map(Some).collect::<Vec<_>>());
        assert_eq!(b.stats().late, 0);
    }

    #[test]
    fn first_packets_reordered_before_start_are_kept() {
        let c = Clock::new();
        let mut b = jb(1);
        push_frame(&mut b, &c, 2, 0, 1000);
        push_frame(&mut b, &c, 0, 0, 1000);
        push_frame(&mut b, &c, 1, 0, 1000);
        let played: Vec<_> = (0..3).map(|k| tag(b.pop(c.at(60 + k * 20)))).collect();
        assert_eq!(played, vec![Some(0), Some(1), Some(2)]);
    }

    #[test]
    fn duplicates_are_counted_and_ignored() {
        let c = Clock::new();
        let mut b = jb(1);
        for i in 0..5 {
            push_frame(&mut b, &c, i, 10, 0);
            assert_eq!(push_frame(&mut b, &c, i, 10, 0), PushOutcome::Duplicate);
        }
        let played: Vec<_> = (0..6).map(|k| tag(b.pop(c.at(100 + k * 20)))).collect();
        assert_eq!(
            played,
            vec![Some(0), Some(1), Some(2), Some(3), Some(4), None]
        );
        assert_eq!(b.stats().duplicates, 5);
        assert_eq!(b.stats().received, 10);
    }

    #[test]
    fn loss_is_reported_as_missing() {
        let c = Clock::new();
        let mut b = jb(1);
        for i in [0u32, 1, 3, 4, 7, 8] {
            push_frame(&mut b, &c, i, 0, 0);
        }
        let played: Vec<_> = (0..9)
            .map(|k| match b.pop(c.at(200 + k * 20)) {
                Playout::Frame(x) => Some(x[0]),
                Playout::Missing => Some(255),
                Playout::Empty | Playout::Stretch => None,
            })
            .collect();
        assert_eq!(
            played,
            vec![
                Some(0),
                Some(1),
                Some(255),
                Some(3),
                Some(4),
                Some(255),
                Some(255),
                Some(7),
                Some(8)
            ]
        );
        assert_eq!(b.stats().lost, 3);
    }

    #[test]
    fn sequence_and_timestamp_wrap() {
        let c = Clock::new();
        let mut b = jb(1);
        let mut played = vec![];
        // seq wraps after 5 packets, ts wraps after 3
        for i in 0..12u32 {
            assert_eq!(
                push_frame(&mut b, &c, i, 65531, u32::MAX - 400),
                PushOutcome::Accepted
            );
            // a duplicate of the previous packet across the wrap is still recognised
            if i > 0 {
                assert_eq!(
                    push_frame(&mut b, &c, i - 1, 65531, u32::MAX - 400),
                    PushOutcome::Duplicate
                );
            }
            played.push(tag(b.pop(c.at(u64::from(i) * 20 + 5))));
        }
        played.extend((0..2).map(|k| tag(b.pop(c.at(300 + k * 20)))));
        let got: Vec<u8> = played.into_iter().flatten().collect();
        assert_eq!(got, (0..12).collect::<Vec<u8>>());
        assert_eq!(b.stats().resets, 0);
        assert_eq!(b.stats().lost, 0);
    }

    #[test]
    fn ssrc_change_resets() {
        let c = Clock::new();
        let mut b = jb(0);
        push_frame(&mut b, &c, 0, 0, 0);
        push_frame(&mut b, &c, 1, 0, 0);
        assert_eq!(tag(b.pop(c.at(30))), Some(0));
        // new source, unrelated numbering
        let out = b.push(c.at(41), 999, 123_456, 8, true, &[77; 160]);
        assert_eq!(out, PushOutcome::Reset);
        assert_eq!(tag(b.pop(c.at(45))), Some(77));
        assert_eq!(b.stats().resets, 1);
    }

    #[test]
    fn timestamp_jump_forward_resets() {
        let c = Clock::new();
        let mut b = jb(0);
        push_frame(&mut b, &c, 0, 0, 0);
        assert_eq!(tag(b.pop(c.at(5))), Some(0));
        // next packet in sequence, but timestamp 10 s ahead
        let out = b.push(c.at(21), 1, 80_000, 7, false, &[5; 160]);
        assert_eq!(out, PushOutcome::Reset);
        assert_eq!(tag(b.pop(c.at(25))), Some(5));
        assert_eq!(b.stats().lost, 0);
    }

    #[test]
    fn timestamp_jump_backward_resets() {
        let c = Clock::new();
        let mut b = jb(0);
        for i in 0..3 {
            push_frame(&mut b, &c, i, 0, 1_000_000);
            tag(b.pop(c.at(u64::from(i) * 20 + 5)));
        }
        // far back with a newer sequence number: immediate restart
        assert_eq!(
            b.push(c.at(61), 3, 10, 7, false, &[9; 160]),
            PushOutcome::Reset
        );
        assert_eq!(tag(b.pop(c.at(65))), Some(9));
    }

    #[test]
    fn small_backward_jump_resyncs_after_a_few_late_packets() {
        let c = Clock::new();
        let mut b = jb(0);
        for i in 0..10 {
            push_frame(&mut b, &c, i, 0, 100_000);
            tag(b.pop(c.at(u64::from(i) * 20 + 5)));
        }
        // sender restarts its timestamps 1 s back but keeps counting sequence numbers
        let mut outcomes = vec![];
        for k in 0..5u32 {
            outcomes.push(b.push(
                c.at(201 + u64::from(k) * 20),
                10 + k as u16,
                92_000 + k * F,
                7,
                false,
                &[40 + k as u8; 160],
            ));
        }
        assert_eq!(&outcomes[..3], &[PushOutcome::Late; 3]);
        assert_eq!(outcomes[3], PushOutcome::Reset);
        assert_eq!(outcomes[4], PushOutcome::Accepted);
        assert_eq!(tag(b.pop(c.at(300))), Some(43));
        assert_eq!(tag(b.pop(c.at(320))), Some(44));
    }

    #[test]
    fn late_packets_are_dropped_and_counted() {
        let c = Clock::new();
        let mut b = jb(1);
        for i in [0u32, 2, 3] {
            push_frame(&mut b, &c, i, 0, 0);
        }
        assert_eq!(tag(b.pop(c.at(100))), Some(0));
        assert_eq!(b.pop(c.at(120)), Playout::Missing);
        // frame 1 arrives after its slot was concealed
        assert_eq!(push_frame(&mut b, &c, 1, 0, 0), PushOutcome::Late);
        assert_eq!(tag(b.pop(c.at(140))), Some(2));
        assert_eq!(b.stats().late, 1);
        // and a duplicate of a late packet is a duplicate
        assert_eq!(push_frame(&mut b, &c, 1, 0, 0), PushOutcome::Duplicate);
    }

    #[test]
    fn overflow_drops_oldest_and_stays_bounded() {
        let c = Clock::new();
        let mut b = JitterBuffer::new(JitterConfig {
            depth_frames: 2,
            max_frames: 10,
            ..JitterConfig::default()
        });
        for i in 0..30 {
            assert_eq!(push_frame(&mut b, &c, i, 0, 0), PushOutcome::Accepted);
        }
        assert_eq!(b.stats().overflow, 20);
        assert_eq!(b.buffered_frames(), 10);
        let played: Vec<_> = (0..10)
            .map(|k| tag(b.pop(c.at(700 + k * 20))).unwrap())
            .collect();
        assert_eq!(played, (20..30).collect::<Vec<u8>>());
        assert_eq!(b.pop(c.at(900)), Playout::Empty);
    }

    #[test]
    fn capacity_is_clamped() {
        let b = JitterBuffer::new(JitterConfig {
            max_frames: 10_000,
            frame_ticks: 100_000,
            ..JitterConfig::default()
        });
        assert_eq!(b.config().max_frames as usize, JITTER_SLOTS);
        assert_eq!(b.config().frame_ticks as usize, MAX_SLOT_BYTES);
        let b = JitterBuffer::new(JitterConfig {
            depth_frames: 255,
            max_frames: 10,
            ..JitterConfig::default()
        });
        assert_eq!(b.config().depth_frames, 9);
    }

    #[test]
    fn deepest_depth_still_plays() {
        let c = Clock::new();
        let mut b = JitterBuffer::new(JitterConfig {
            depth_frames: 255,
            max_frames: 10,
            ..JitterConfig::default()
        });
        let mut played = vec![];
        for i in 0..30 {
            push_frame(&mut b, &c, i, 0, 0);
            played.push(tag(b.pop(c.at(u64::from(i) * 20 + 5))));
        }
        assert_eq!(played[..9], [None; 9]);
        assert_eq!(
            played[9..].iter().map(|x| x.unwrap()).collect::<Vec<_>>(),
            (0..21).collect::<Vec<u8>>()
        );
        assert_eq!(b.stats().overflow, 0);
    }

    #[test]
    fn underrun_stops_the_clock_and_rebuffers() {
        let c = Clock::new();
        let mut b = jb(1);
        for i in 0..3 {
            push_frame(&mut b, &c, i, 0, 0);
        }
        let first: Vec<_> = (0..3).map(|k| tag(b.pop(c.at(60 + k * 20)))).collect();
        assert_eq!(first, vec![Some(0), Some(1), Some(2)]);
        // The sender pauses (e.g. silence suppression) for 1 s, then resumes with a
        // timestamp that counts the pause.
        for k in 0..50 {
            assert_eq!(b.pop(c.at(120 + k * 20)), Playout::Empty);
        }
        assert!(!b.is_playing());
        for i in 53..56 {
            assert_eq!(push_frame(&mut b, &c, i, 0, 0), PushOutcome::Accepted);
        }
        let resumed: Vec<_> = (0..3).map(|k| tag(b.pop(c.at(1200 + k * 20)))).collect();
        assert_eq!(resumed, vec![Some(53), Some(54), Some(55)]);
        assert_eq!(b.stats().lost, 0);
    }

    #[test]
    fn jitter_spike_after_underrun_loses_nothing() {
        let c = Clock::new();
        let mut b = jb(0);
        push_frame(&mut b, &c, 0, 0, 0);
        assert_eq!(tag(b.pop(c.at(5))), Some(0));
        // packets 1 and 2 are held up 50 ms in the network
        assert_eq!(b.pop(c.at(25)), Playout::Empty);
        assert_eq!(b.pop(c.at(45)), Playout::Empty);
        push_frame(&mut b, &c, 1, 0, 0);
        push_frame(&mut b, &c, 2, 0, 0);
        assert_eq!(tag(b.pop(c.at(65))), Some(1));
        assert_eq!(tag(b.pop(c.at(85))), Some(2));
        assert_eq!(b.stats().late, 0);
    }

    fn stream_with_packet_ms(ms: u32) -> Vec<u8> {
        // A ramp of bytes 0,1,2,... sent in packets of `ms` milliseconds.
        let c = Clock::new();
        let mut b = jb(1);
        let ticks = ms * 8;
        let total = 8 * 240; // 240 ms
        let bytes: Vec<u8> = (0..total).map(|i| (i / 7) as u8).collect();
        for (k, chunk) in bytes.chunks(ticks as usize).enumerate() {
            let out = b.push(
                c.at(k as u64 * u64::from(ms)),
                k as u16,
                3000 + k as u32 * ticks,
                1,
                k == 0,
                chunk,
            );
            assert_eq!(out, PushOutcome::Accepted);
        }
        let mut got = vec![];
        for k in 0..14 {
            if let Playout::Frame(f) = b.pop(c.at(300 + k * 20)) {
                got.extend_from_slice(f);
            }
        }
        assert_eq!(got, bytes, "{ms} ms packets");
        got
    }

    #[test]
    fn other_packet_durations_become_20ms_frames() {
        for ms in [10, 20, 30, 40, 60] {
            stream_with_packet_ms(ms);
        }
    }

    #[test]
    fn partial_frame_is_padded_with_silence() {
        let c = Clock::new();
        let mut b = jb(0);
        b.push(c.at(0), 0, 0, 1, true, &[3; 80]);
        match b.pop(c.at(5)) {
            Playout::Frame(f) => {
                assert!(f[..80].iter().all(|&x| x == 3));
                assert!(f[80..].iter().all(|&x| x == 0xff));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unusable_payloads_are_counted() {
        let c = Clock::new();
        let mut b = jb(0);
        assert_eq!(b.push(c.at(0), 0, 0, 1, false, &[]), PushOutcome::Unusable);
        assert_eq!(
            b.push(c.at(0), 1, 0, 1, false, &[0; 9000]),
            PushOutcome::Unusable
        );
        assert_eq!(b.stats().unusable, 2);
        assert_eq!(b.pop(c.at(5)), Playout::Empty);
    }

    #[test]
    fn the_ring_holds_what_its_codec_needs() {
        let g711 = JitterBuffer::new(JitterConfig::default());
        assert_eq!(g711.slots.bytes.len(), JITTER_SLOTS * 160);
        let opus = JitterBuffer::new(JitterConfig {
            frame_ticks: 960,
            packet_mode: true,
            ..JitterConfig::default()
        });
        assert_eq!(opus.slots.bytes.len(), JITTER_SLOTS * MAX_PACKET_BYTES);
        assert!(
            std::mem::size_of::<JitterBuffer>() < 2048,
            "the ring is not inline"
        );
    }

    #[test]
    fn packet_mode_keeps_whole_packets_up_to_the_cap() {
        let c = Clock::new();
        let mut b = JitterBuffer::new(JitterConfig {
            frame_ticks: 960,
            packet_mode: true,
            depth_frames: 0,
            ..JitterConfig::default()
        });
        // 20 ms Opus packets: DTX, voice, a loud frame, and one at the cap
        for (i, n) in [3usize, 80, 200, MAX_PACKET_BYTES].into_iter().enumerate() {
            let payload: Vec<u8> = (0..n).map(|k| (k + i) as u8).collect();
            let at = i as u64 * 20;
            assert_eq!(
                b.push(c.at(at), i as u16, i as u32 * 960, 5, i == 0, &payload),
                PushOutcome::Accepted
            );
            match b.pop(c.at(at + 5)) {
                Playout::Frame(f) => assert_eq!(f, &payload[..], "packet of {n} bytes"),
                other => panic!("{other:?}"),
            }
        }
        // one byte more than a slot holds is refused, never truncated
        let big = [1u8; MAX_PACKET_BYTES + 1];
        assert_eq!(
            b.push(c.at(80), 4, 4 * 960, 5, false, &big),
            PushOutcome::Unusable
        );
        assert_eq!(b.stats().unusable, 1);
        assert_eq!(b.stats().played, 4);
    }

    #[test]
    fn ring_holds_a_burst_three_times_the_deepest_default_depth() {
        // A network stall releases 30 frames at once: the default ring keeps them all
        // (the adaptive depth tops out at 10 frames), in order, without overflow.
        let c = Clock::new();
        let mut b = JitterBuffer::new(JitterConfig {
            adaptive: true,
            depth_frames: 10,
            ..JitterConfig::default()
        });
        assert!(b.config().max_depth_frames >= 10);
        for i in 0..30 {
            assert_eq!(
                b.push(c.at(1), i as u16, i * F, 7, i == 0, &frame(i)),
                PushOutcome::Accepted
            );
        }
        assert_eq!(b.buffered_frames(), 30);
        let played: Vec<_> = (0..30).map(|k| tag(b.pop(c.at(300 + k * 20)))).collect();
        let played: Vec<u8> = played.into_iter().flatten().collect();
        assert_eq!(played[0], 0);
        assert!(played.windows(2).all(|w| w[0] < w[1]), "{played:?}");
        assert_eq!(b.stats().overflow, 0);
    }

    /// A millisecond of arrival noise is no jitter worth a frame of delay; ten are.
    #[test]
    fn scheduling_noise_does_not_deepen_an_adaptive_buffer() {
        for (noise_ms, want) in [(1u64, 0u8), (10, 1)] {
            let c = Clock::new();
            let mut b = JitterBuffer::new(JitterConfig {
                adaptive: true,
                depth_frames: 0,
                min_depth_frames: 0,
                ..JitterConfig::default()
            });
            for i in 0..100u32 {
                let late = if i % 2 == 1 { noise_ms } else { 0 };
                b.push(
                    c.at(u64::from(i) * 20 + late),
                    i as u16,
                    i * F,
                    7,
                    i == 0,
                    &frame(i),
                );
            }
            assert_eq!(b.target_frames(), want, "{noise_ms} ms of noise");
        }
    }

    #[test]
    fn a_buffer_stays_small() {
        // most of a call's memory; issue 5 budgets a whole call at 64 KiB of RSS
        let size = std::mem::size_of::<JitterBuffer>();
        assert!(size <= 12 * 1024, "JitterBuffer is {size} bytes");
    }

    #[test]
    fn random_abuse_never_panics_and_stays_bounded() {
        let c = Clock::new();
        let mut b = jb(2);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let payload = [1u8; 2000];
        for step in 0..20_000u64 {
            let r = next();
            let seq = (r & 0xffff) as u16;
            let ts = match r % 4 {
                0 => (r >> 16) as u32,
                _ => ((step * 160) as u32).wrapping_add((r >> 40) as u32 % 2000),
            };
            let len = ((r >> 24) % 700) as usize;
            b.push(
                c.at(step),
                seq,
                ts,
                (r % 3 == 0) as u32,
                r % 5 == 0,
                &payload[..len],
            );
            if step % 3 == 0 {
                if let Playout::Frame(f) = b.pop(c.at(step)) {
                    assert_eq!(f.len(), 160);
                }
            }
            assert!(b.buffered_frames() <= JITTER_SLOTS as u32);
        }
    }
}
