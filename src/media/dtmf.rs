//! DTMF both ways: RFC 4733 telephone-events in RTP, and the SIP INFO
//! `application/dtmf-relay` body some PBXs use instead.
//!
//! IVR menus ("press 1") need the digits a caller presses, and the room's app needs to
//! press digits on the phone. A digit on the wire is a burst of packets with one RTP
//! timestamp: repeated updates with a growing duration, then (usually three) end packets.
//! The [`DtmfReceiver`] turns such bursts into exactly one digit each, whatever was lost,
//! duplicated or reordered; the [`DtmfSender`] produces them for digits queued by the API,
//! one packet per 20 ms tick in place of the audio packet. Both are pure state machines.

use heapless::Deque;

/// Duration of a generated digit (RFC 4733 leaves it to the sender; 100 ms is what
/// phones use and what IVRs accept).
pub const TONE_MS: u32 = 100;
/// Silence between generated digits.
pub const GAP_MS: u32 = 60;
/// End packets sent per digit (RFC 4733 section 2.5.1.4 recommends three).
pub const END_PACKETS: u8 = 3;
/// Digits that may wait to be sent.
pub const QUEUE: usize = 32;
/// The usual telephone-event RTP clock (G.711, G.722); RFC 4733 section 2.1 wants the
/// event clock to be the audio's, so with Opus it is 48000.
pub const DEFAULT_EVENT_CLOCK_HZ: u32 = 8000;

/// The DTMF digit for an RFC 4733 event code (0–15), `None` for others (flash, tones).
pub fn digit_of_event(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// The RFC 4733 event code of a digit (`0-9 * # A-D`, lower case accepted).
pub fn event_of_digit(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// One parsed telephone-event payload (RFC 4733 section 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0–15 are DTMF digits).
    pub event: u8,
    /// The E bit: this is (a repetition of) the event's last packet.
    pub end: bool,
    /// Power level, 0 to -63 dBm0 (as a positive number).
    pub volume: u8,
    /// Duration so far, in RTP clock ticks.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first four bytes of a payload; `None` when shorter.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let b = payload.get(..4)?;
        Some(TelephoneEvent {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The four payload bytes.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }
}

/// Turns received telephone-event packets into digits, one per key press.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    /// RTP timestamp and event code of the last event reported.
    last: Option<(u32, u8)>,
    /// The last event's end was seen (so a new timestamp is a new key press).
    ended: bool,
    /// Longest duration seen for the current event.
    duration: u16,
}

impl DtmfReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one telephone-event packet (its RTP timestamp and payload); returns the digit
    /// when this packet is the first one seen of a new key press.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let ev = TelephoneEvent::parse(payload)?;
        match self.last {
            Some((ts, code)) if ts == timestamp && code == ev.event => {
                // an update, a retransmission or a duplicate end packet of the same press
                self.ended |= ev.end;
                self.duration = self.duration.max(ev.duration);
                None
            }
            Some((ts, code))
                if code == ev.event
                    && !self.ended
                    && timestamp.wrapping_sub(ts) == u32::from(self.duration)
                    && self.duration == u16::MAX =>
            {
                // RFC 4733 2.5.2.3: a long event continued in a new segment
                self.last = Some((timestamp, code));
                self.duration = ev.duration;
                None
            }
            Some((ts, _)) if (timestamp.wrapping_sub(ts) as i32) < 0 => {
                // a stray packet of an older press, reordered behind a newer one
                None
            }
            _ => {
                self.last = Some((timestamp, ev.event));
                self.ended = ev.end;
                self.duration = ev.duration;
                digit_of_event(ev.event)
            }
        }
    }
}

/// A telephone-event packet the bridge should send in this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// RTP timestamp: the audio timestamp at which the digit began.
    pub timestamp: u32,
    /// Set on the first packet of a digit.
    pub marker: bool,
    /// The payload.
    pub event: TelephoneEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendState {
    Idle,
    /// Sending updates: event code, start timestamp, duration so far (event clock).
    Tone {
        event: u8,
        ts: u32,
        elapsed: u32,
    },
    /// Sending end packets: how many are left.
    End {
        event: u8,
        ts: u32,
        left: u8,
    },
    /// Quiet ticks left before the next digit.
    Gap {
        left: u32,
    },
}

/// Generates RFC 4733 packets for queued digits, one per 20 ms tick.
#[derive(Debug, Clone)]
pub struct DtmfSender {
    queue: Deque<u8, QUEUE>,
    state: SendState,
    /// Telephone-event clock rate: durations count its ticks.
    clock_hz: u32,
}

impl Default for DtmfSender {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfSender {
    /// A sender with nothing queued, at the 8000 Hz event clock.
    pub fn new() -> Self {
        Self::with_clock(DEFAULT_EVENT_CLOCK_HZ)
    }

    /// A sender whose durations count ticks of `clock_hz` (the negotiated
    /// telephone-event clock, the audio codec's RTP clock per RFC 4733 section 2.1);
    /// 0 means 8000.
    pub fn with_clock(clock_hz: u32) -> Self {
        DtmfSender {
            queue: Deque::new(),
            state: SendState::Idle,
            clock_hz: if clock_hz == 0 {
                DEFAULT_EVENT_CLOCK_HZ
            } else {
                clock_hz
            },
        }
    }

    /// The event clock durations are counted in.
    pub fn clock_hz(&self) -> u32 {
        self.clock_hz
    }

    /// Queues digits (`0-9 * # A-D`; others, spaces and commas are skipped); returns how
    /// many were queued (fewer when the queue is full).
    pub fn queue(&mut self, digits: &str) -> usize {
        let mut n = 0;
        for ev in digits.chars().filter_map(event_of_digit) {
            if self.queue.push_back(ev).is_err() {
                break;
            }
            n += 1;
        }
        n
    }

    /// Whether a digit is being sent or waiting.
    pub fn is_busy(&self) -> bool {
        !matches!(self.state, SendState::Idle) || !self.queue.is_empty()
    }

    /// Advances one 20 ms tick. `audio_ts` is the RTP timestamp the audio packet of this
    /// tick would carry. Returns the event packet to send instead of audio, or `None`
    /// (send audio as usual).
    pub fn tick(&mut self, audio_ts: u32) -> Option<DtmfPacket> {
        let tone_ticks = TONE_MS * self.clock_hz / 1000;
        let tick = self.clock_hz / 50;
        if let SendState::Gap { left } = self.state {
            self.state = if left > 1 {
                SendState::Gap { left: left - 1 }
            } else {
                SendState::Idle
            };
            return None;
        }
        if self.state == SendState::Idle {
            let event = self.queue.pop_front()?;
            self.state = SendState::Tone {
                event,
                ts: audio_ts,
                elapsed: 0,
            };
        }
        match self.state {
            SendState::Tone { event, ts, elapsed } => {
                let elapsed = elapsed + tick;
                let marker = elapsed == tick;
                if elapsed >= tone_ticks {
                    self.state = SendState::End {
                        event,
                        ts,
                        left: END_PACKETS - 1,
                    };
                    return Some(packet(event, ts, true, tone_ticks, marker));
                }
                self.state = SendState::Tone { event, ts, elapsed };
                Some(packet(event, ts, false, elapsed, marker))
            }
            SendState::End { event, ts, left } => {
                self.state = if left > 1 {
                    SendState::End {
                        event,
                        ts,
                        left: left - 1,
                    }
                } else {
                    SendState::Gap {
                        left: GAP_MS.div_ceil(20),
                    }
                };
                Some(packet(event, ts, true, tone_ticks, false))
            }
            SendState::Idle | SendState::Gap { .. } => None,
        }
    }
}

fn packet(event: u8, ts: u32, end: bool, duration: u32, marker: bool) -> DtmfPacket {
    DtmfPacket {
        timestamp: ts,
        marker,
        event: TelephoneEvent {
            event,
            end,
            volume: 10,
            duration: u16::try_from(duration).unwrap_or(u16::MAX),
        },
    }
}

/// Reads the digit from a SIP INFO `application/dtmf-relay` body (`Signal=5`,
/// `Duration=160`), as sent by Cisco, Asterisk and most PBXs.
pub fn parse_dtmf_relay(body: &str) -> Option<char> {
    body.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("signal") {
            return None;
        }
        let v = v.trim();
        let mut chars = v.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => event_of_digit(c).and_then(digit_of_event),
            // some send the event number: Signal=10 for '*'
            _ => v.parse::<u8>().ok().and_then(digit_of_event),
        }
    })
}

/// Reads the digit from a SIP INFO body by its Content-Type: `application/dtmf-relay`
/// (`Signal=5`) or `application/dtmf` (the bare digit). Other INFO bodies carry no digit.
pub fn digit_of_info(content_type: &str, body: &[u8]) -> Option<char> {
    let text = String::from_utf8_lossy(body);
    let content_type = content_type.trim().to_ascii_lowercase();
    let digit = if content_type.starts_with("application/dtmf-relay") {
        parse_dtmf_relay(&text)
    } else if content_type.starts_with("application/dtmf") {
        text.trim()
            .chars()
            .next()
            .and_then(|c| event_of_digit(c).and_then(digit_of_event))
    } else {
        None
    };
    digit.map(|d| d.to_ascii_uppercase())
}

/// The `application/dtmf-relay` body for sending a digit by SIP INFO.
pub fn dtmf_relay_body(digit: char, duration_ms: u32) -> Option<String> {
    let d = digit_of_event(event_of_digit(digit)?)?;
    Some(format!("Signal={d}\r\nDuration={duration_ms}\r\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_bodies_by_content_type() {
        assert_eq!(
            digit_of_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
            Some('5')
        );
        assert_eq!(
            digit_of_info("Application/DTMF-Relay; x=y", b"Signal=10\r\n"),
            Some('*')
        );
        assert_eq!(digit_of_info("application/dtmf", b" # \r\n"), Some('#'));
        assert_eq!(digit_of_info("application/dtmf", b"a"), Some('A'));
        assert_eq!(digit_of_info("application/dtmf", b"x"), None);
        assert_eq!(digit_of_info("text/plain", b"Signal=5"), None);
        assert_eq!(digit_of_info("application/dtmf-relay", &[0xff, 0xfe]), None);
    }

    fn send_all(digits: &str, ts0: u32) -> Vec<(u32, DtmfPacket)> {
        let mut s = DtmfSender::new();
        assert_eq!(
            s.queue(digits),
            digits
                .chars()
                .filter(|c| event_of_digit(*c).is_some())
                .count()
        );
        let mut out = vec![];
        let mut ts = ts0;
        for _ in 0..500 {
            if let Some(p) = s.tick(ts) {
                out.push((ts, p));
            }
            ts = ts.wrapping_add(160);
            if !s.is_busy() {
                break;
            }
        }
        assert!(!s.is_busy());
        out
    }

    #[test]
    fn durations_count_the_negotiated_clock() {
        // Opus: telephone-event/48000, so 20 ms is 960 ticks and 100 ms 4800
        let mut s = DtmfSender::with_clock(48000);
        assert_eq!(s.clock_hz(), 48000);
        s.queue("7");
        let mut durations = vec![];
        let mut ts = 5u32;
        while s.is_busy() {
            if let Some(p) = s.tick(ts) {
                assert_eq!(p.timestamp, 5);
                durations.push((p.event.duration, p.event.end));
            }
            ts = ts.wrapping_add(960);
        }
        assert_eq!(
            durations,
            [
                (960, false),
                (1920, false),
                (2880, false),
                (3840, false),
                (4800, true),
                (4800, true),
                (4800, true)
            ]
        );
        assert_eq!(DtmfSender::with_clock(0).clock_hz(), 8000);
    }

    #[test]
    fn generated_digit_follows_rfc4733() {
        let pkts = send_all("5", 1000);
        // 100 ms: updates at 160..640, the final at 800 with E, then 2 more E repeats
        assert_eq!(pkts.len(), 7);
        for (i, (_, p)) in pkts.iter().enumerate() {
            assert_eq!(p.timestamp, 1000, "one timestamp per digit");
            assert_eq!(p.marker, i == 0);
            assert_eq!(p.event.event, 5);
            assert_eq!(p.event.end, i >= 4, "{i}");
            let want = ((i as u16 + 1) * 160).min(800);
            assert_eq!(p.event.duration, want);
        }
    }

    #[test]
    fn encode_then_decode_gives_each_digit_once() {
        let digits = "0123456789*#ABCD";
        let pkts = send_all(digits, u32::MAX - 3000); // timestamps wrap
        let mut r = DtmfReceiver::new();
        let mut got = String::new();
        for (_, p) in &pkts {
            let bytes = p.event.to_bytes();
            // every packet twice: duplicates must not double digits
            for _ in 0..2 {
                if let Some(d) = r.on_packet(p.timestamp, &bytes) {
                    got.push(d);
                }
            }
        }
        assert_eq!(got, digits);
        // distinct start timestamps, separated by tone + gap
        let starts: Vec<u32> = pkts
            .iter()
            .filter(|(_, p)| p.marker)
            .map(|(_, p)| p.timestamp)
            .collect();
        assert_eq!(starts.len(), 16);
        assert!(starts
            .windows(2)
            .all(|w| w[1].wrapping_sub(w[0]) >= 800 + 480));
    }

    #[test]
    fn receiver_copes_with_loss_and_reordering() {
        let mut r = DtmfReceiver::new();
        let ev = |e: u8, end: bool, d: u16| {
            TelephoneEvent {
                event: e,
                end,
                volume: 10,
                duration: d,
            }
            .to_bytes()
        };
        // start packet lost: the first update reports the digit
        assert_eq!(r.on_packet(100, &ev(1, false, 320)), Some('1'));
        assert_eq!(r.on_packet(100, &ev(1, true, 800)), None);
        assert_eq!(r.on_packet(100, &ev(1, true, 800)), None);
        // same digit pressed again: new timestamp, new event
        assert_eq!(r.on_packet(2000, &ev(1, true, 800)), Some('1'));
        // a stray packet of the first press arrives late
        assert_eq!(r.on_packet(100, &ev(1, true, 800)), None);
        // flash (16) and short payloads are not digits
        assert_eq!(r.on_packet(3000, &ev(16, false, 160)), None);
        assert_eq!(r.on_packet(4000, &[1, 2]), None);
        assert_eq!(r.on_packet(5000, &ev(11, false, 0)), Some('#'));
    }

    #[test]
    fn queue_is_bounded_and_skips_junk() {
        let mut s = DtmfSender::new();
        assert_eq!(s.queue("1, 2;x#"), 3);
        assert_eq!(s.queue(&"9".repeat(100)), QUEUE - 3);
        assert_eq!(s.tick(0).map(|p| p.event.event), Some(1));
    }

    #[test]
    fn sip_info_bodies() {
        assert_eq!(parse_dtmf_relay("Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(parse_dtmf_relay("signal= #\nduration=100"), Some('#'));
        assert_eq!(parse_dtmf_relay("Signal=10\r\n"), Some('*'));
        assert_eq!(parse_dtmf_relay("Signal=x"), None);
        assert_eq!(parse_dtmf_relay(""), None);
        assert_eq!(
            dtmf_relay_body('d', 250).as_deref(),
            Some("Signal=D\r\nDuration=250\r\n")
        );
        assert_eq!(dtmf_relay_body('?', 250), None);
    }
}
