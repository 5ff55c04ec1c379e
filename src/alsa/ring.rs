//! Period and drift arithmetic of a line, without I/O.
//!
//! A sound card runs on its own crystal and the gateway's media path on its own 20 ms
//! clock; over a long call the two drift apart by a few samples per second. Between
//! them sits this ring: the device side pushes whatever it has, the media side takes
//! exactly one period per tick. When the fill wanders more than `slack` away from the
//! target, one sample per period is dropped (too full) or repeated (too empty), which is
//! inaudible, instead of letting the difference grow into an xrun. Both are counted for
//! `callstats`. Hand-written because it is a few lines and must report what it did;
//! no crate offers a drift-absorbing S16 ring with counters.

use std::collections::VecDeque;

/// Samples (frames: lines are mono) in one period of `period_ms` at `rate`.
pub fn frames_per_period(rate: u32, period_ms: u32) -> usize {
    (rate as u64 * period_ms as u64 / 1000) as usize
}

/// Bytes of one S16_LE mono period.
pub fn bytes_per_period(rate: u32, period_ms: u32) -> usize {
    frames_per_period(rate, period_ms) * 2
}

/// What `take_period` did to absorb drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjust {
    /// The ring was near its target: a plain period.
    None,
    /// The ring was too full: one sample dropped.
    Dropped,
    /// The ring was too empty: one sample repeated.
    Stretched,
    /// The ring held less than a period: the rest is silence (an underrun of the
    /// producer, e.g. a stalled device).
    Underrun,
}

/// A mono S16 FIFO between a device clock and the media clock.
#[derive(Debug)]
pub struct Ring {
    buf: VecDeque<i16>,
    period: usize,
    target: usize,
    slack: usize,
    cap: usize,
    /// Samples dropped to absorb drift (one per adjusted period).
    pub dropped: u64,
    /// Samples repeated to absorb drift.
    pub stretched: u64,
    /// Periods that had to be padded with silence.
    pub underruns: u64,
    /// Samples discarded because the ring overflowed (the consumer stalled).
    pub overflowed: u64,
}

impl Ring {
    /// A ring for `period` samples per tick, aiming to hold `target` samples before a
    /// take (e.g. two periods) and tolerating `slack` either side before adjusting.
    pub fn new(period: usize, target: usize, slack: usize) -> Ring {
        let cap = (target + period) * 4;
        Ring {
            buf: VecDeque::with_capacity(cap),
            period,
            target,
            slack,
            cap,
            dropped: 0,
            stretched: 0,
            underruns: 0,
            overflowed: 0,
        }
    }

    /// How many samples a producer may add now without pushing the fill past where the
    /// ring starts dropping (target + slack) by more than one period: how much to read
    /// from a device that is not paced in real time (ALSA's `null`), or is fast.
    pub fn room(&self) -> usize {
        (self.target + self.slack + self.period).saturating_sub(self.buf.len())
    }

    /// Samples one take consumes.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Samples waiting.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Appends what the producer has; beyond capacity the oldest samples go (a stalled
    /// consumer must not grow memory), counted in `overflowed`.
    pub fn push(&mut self, samples: &[i16]) {
        self.buf.extend(samples.iter().copied());
        if self.buf.len() > self.cap {
            let excess = self.buf.len() - self.cap;
            self.buf.drain(..excess);
            self.overflowed += excess as u64;
        }
    }

    /// Fills `out` (exactly one period) from the ring, adjusting by one sample when
    /// the fill is outside `target ± slack`.
    pub fn take_period(&mut self, out: &mut Vec<i16>) -> Adjust {
        out.clear();
        let fill = self.buf.len();
        if fill < self.period {
            out.extend(self.buf.drain(..));
            out.resize(self.period, 0);
            self.underruns += 1;
            return Adjust::Underrun;
        }
        if fill > self.target + self.slack {
            // Too full: consume period + 1 samples, dropping the middle one.
            out.extend(self.buf.drain(..self.period + 1));
            out.remove(self.period / 2);
            self.dropped += 1;
            Adjust::Dropped
        } else if fill + self.slack < self.target {
            // Too empty: consume period - 1 samples, repeating the middle one.
            out.extend(self.buf.drain(..self.period - 1));
            let mid = self.period / 2;
            out.insert(mid, out[mid - 1]);
            self.stretched += 1;
            Adjust::Stretched
        } else {
            out.extend(self.buf.drain(..self.period));
            Adjust::None
        }
    }
}

/// The playback side of drift: the media clock hands over one period per tick, the card
/// plays at its own pace, and what it has queued (`queued`) is the measure. One sample
/// less is written when the card falls behind (`queued` above `target + slack`), one
/// more when it runs ahead (below `target - slack`), so its buffer neither fills nor
/// drains into an xrun. `period` is changed in place.
///
/// A card that reports nothing queued gets no stretch (see below): an unpaced device
/// such as ALSA's `null` would otherwise be "too fast" every period.
pub fn adjust_playback(
    period: &mut Vec<i16>,
    queued: usize,
    target: usize,
    slack: usize,
) -> Adjust {
    let mid = period.len() / 2;
    if mid == 0 {
        return Adjust::None;
    }
    if queued > target + slack {
        period.remove(mid);
        Adjust::Dropped
    } else if queued > 0 && queued + slack < target {
        // Nothing queued at all is a card that underran (its xrun is counted and
        // recovered) or a device that plays at once (ALSA's `null`): a sample more
        // would not build a cushion in either, it would only be a glitch.
        period.insert(mid, period[mid - 1]);
        Adjust::Stretched
    } else {
        Adjust::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_sizes() {
        assert_eq!(frames_per_period(8000, 20), 160);
        assert_eq!(frames_per_period(16000, 20), 320);
        assert_eq!(frames_per_period(48000, 20), 960);
        assert_eq!(bytes_per_period(16000, 20), 640);
        assert_eq!(frames_per_period(48000, 5), 240);
    }

    #[test]
    fn steady_producer_needs_no_adjustment() {
        let mut r = Ring::new(160, 320, 80);
        r.push(&[1; 160]);
        let mut out = Vec::new();
        for _ in 0..100 {
            r.push(&[1; 160]);
            assert_eq!(r.take_period(&mut out), Adjust::None);
            assert_eq!(out.len(), 160);
        }
        assert_eq!((r.dropped, r.stretched, r.underruns), (0, 0, 0));
    }

    #[test]
    fn fast_device_is_absorbed_by_dropping() {
        // Device 0.5 % fast: 160.8 samples per 160-sample tick.
        let mut r = Ring::new(160, 320, 80);
        r.push(&[0; 160]);
        let mut out = Vec::new();
        let mut produced = 0.0f64;
        for tick in 0..5000u32 {
            let due = ((tick + 1) as f64 * 160.8) as usize;
            let n = due - produced as usize;
            produced = due as f64;
            r.push(&vec![7; n]);
            r.take_period(&mut out);
            assert_eq!(out.len(), 160);
            assert!(r.len() <= 320 + 80 + 162, "fill {} at {tick}", r.len());
        }
        assert!(r.dropped > 0 && r.stretched == 0 && r.underruns == 0);
        assert_eq!(r.overflowed, 0);
    }

    #[test]
    fn slow_device_is_absorbed_by_stretching() {
        let mut r = Ring::new(160, 320, 80);
        r.push(&[0; 160]);
        let mut out = Vec::new();
        for tick in 0..5000u32 {
            // 0.5 % slow: one sample short every second tick-ish.
            let n = if tick % 2 == 0 { 159 } else { 160 };
            r.push(&vec![3; n]);
            r.take_period(&mut out);
            assert_eq!(out.len(), 160);
        }
        assert!(r.stretched > 0 && r.dropped == 0 && r.underruns == 0);
    }

    #[test]
    fn stalled_producer_underruns_with_silence() {
        let mut r = Ring::new(160, 320, 80);
        r.push(&[5; 100]);
        let mut out = Vec::new();
        assert_eq!(r.take_period(&mut out), Adjust::Underrun);
        assert_eq!(out.len(), 160);
        assert_eq!(&out[..100], &[5; 100][..]);
        assert!(out[100..].iter().all(|&s| s == 0));
        assert_eq!(r.underruns, 1);
    }

    #[test]
    fn stalled_consumer_is_bounded() {
        let mut r = Ring::new(160, 320, 80);
        for _ in 0..1000 {
            r.push(&[1; 160]);
        }
        assert!(r.len() <= (320 + 160) * 4);
        assert!(r.overflowed > 0);
    }

    #[test]
    fn adjusted_periods_keep_the_signal_continuous() {
        let mut r = Ring::new(8, 16, 2);
        let ramp: Vec<i16> = (0..40).collect();
        r.push(&ramp);
        let mut out = Vec::new();
        assert_eq!(r.take_period(&mut out), Adjust::Dropped);
        assert_eq!(out, vec![0, 1, 2, 3, 5, 6, 7, 8]);
    }

    #[test]
    fn playback_cushion_is_held_by_one_sample_a_period() {
        let mut p = vec![5i16; 160];
        assert_eq!(adjust_playback(&mut p, 320, 320, 80), Adjust::None);
        assert_eq!(p.len(), 160);
        assert_eq!(adjust_playback(&mut p, 401, 320, 80), Adjust::Dropped);
        assert_eq!(p.len(), 159);
        let mut p = vec![5i16; 160];
        assert_eq!(adjust_playback(&mut p, 239, 320, 80), Adjust::Stretched);
        assert_eq!(p.len(), 161);
        assert!(p.iter().all(|&s| s == 5));
        // An unpaced device (nothing ever queued) is left alone.
        let mut p = vec![5i16; 160];
        assert_eq!(adjust_playback(&mut p, 0, 320, 80), Adjust::None);
        assert_eq!(p.len(), 160);
    }

    #[test]
    fn a_slow_card_keeps_its_cushion_by_dropping() {
        // The card plays 0.5 % slow: 159.2 samples per 160-sample tick.
        let mut queued = 320.0f64;
        let mut dropped = 0;
        for _ in 0..5000 {
            let mut p = vec![0i16; 160];
            if adjust_playback(&mut p, queued as usize, 320, 80) == Adjust::Dropped {
                dropped += 1;
            }
            queued += p.len() as f64 - 159.2;
            assert!(queued < 320.0 + 80.0 + 2.0, "queued {queued}");
        }
        assert!(dropped > 0);
    }

    #[test]
    fn room_tops_up_to_one_period_past_the_slack() {
        let mut r = Ring::new(160, 320, 80);
        assert_eq!(r.room(), 560);
        r.push(&[0; 500]);
        assert_eq!(r.room(), 60);
        r.push(&[0; 100]);
        assert_eq!(r.room(), 0);
    }
}
