//! Loss concealment for codecs without their own (G.711, G.722): pitch-synchronous
//! waveform repetition with a fade, after ITU-T G.711 Appendix I in spirit.
//!
//! Repeating the last 20 ms frame as it is puts a click at every frame edge unless the
//! frame happens to hold whole pitch periods. This finds the pitch period of the recent
//! signal by autocorrelation, continues the last period cyclically (so the waveform stays
//! continuous), fades it out over [`CONCEAL_FRAMES`] frames, and cross-fades into the
//! first real frame that follows. Fixed buffers, no allocation.

use super::frame::MAX_FRAME_SAMPLES;

/// Frames over which concealment fades out to silence (80 ms).
pub const CONCEAL_FRAMES: u32 = 4;
/// Decoded history kept for the pitch search: 40 ms at 16 kHz.
const HISTORY: usize = 640;
/// Cross-fade into the first good frame after a loss: 2.5 ms at 16 kHz.
const MAX_OVERLAP: usize = 40;

/// Concealment state of one incoming stream.
#[derive(Debug, Clone)]
pub struct WaveformConcealer {
    rate: u32,
    history: [i16; HISTORY],
    /// Valid samples at the end of `history`.
    have: usize,
    /// Pitch period of the current concealment, in samples (0 = none running).
    period: usize,
    /// Position within the period where the next synthetic sample comes from.
    pos: usize,
    /// Concealed frames in a row.
    run: u32,
}

impl WaveformConcealer {
    /// A concealer for PCM at `rate`.
    pub fn new(rate: u32) -> Self {
        WaveformConcealer {
            rate,
            history: [0; HISTORY],
            have: 0,
            period: 0,
            pos: 0,
            run: 0,
        }
    }

    /// Concealed frames in the current run (0 after a good frame).
    pub fn run(&self) -> u32 {
        self.run
    }

    /// Feeds a good frame; after a concealment run, cross-fades its start with the
    /// continued waveform so the seam is inaudible. Modifies `frame` in place.
    pub fn good_frame(&mut self, frame: &mut [i16]) {
        if self.run > 0 && self.period > 0 && self.run <= CONCEAL_FRAMES {
            let overlap = (self.rate as usize / 400).min(MAX_OVERLAP).min(frame.len());
            let gain = self.gain_at(0);
            for (i, s) in frame[..overlap].iter_mut().enumerate() {
                let synth = f32::from(self.next_synth()) * gain;
                let w = (i + 1) as f32 / (overlap + 1) as f32;
                *s = (f32::from(*s) * w + synth * (1.0 - w)) as i16;
            }
        }
        self.run = 0;
        self.period = 0;
        self.push_history(frame);
    }

    fn push_history(&mut self, frame: &[i16]) {
        let n = frame.len().min(HISTORY);
        self.history.copy_within(n.., 0);
        self.history[HISTORY - n..].copy_from_slice(&frame[frame.len() - n..]);
        self.have = (self.have + n).min(HISTORY);
    }

    fn next_synth(&mut self) -> i16 {
        let start = HISTORY - self.period;
        let s = self.history[start + self.pos];
        self.pos = (self.pos + 1) % self.period;
        s
    }

    fn gain_at(&self, run: u32) -> f32 {
        1.0 - run as f32 / CONCEAL_FRAMES as f32
    }

    /// The pitch period of the recent history by normalised autocorrelation (2.5–15 ms);
    /// falls back to the whole frame for unvoiced or too little history.
    fn find_period(&self, frame_len: usize) -> usize {
        let min_p = (self.rate as usize / 400).max(1);
        let max_p = (self.rate as usize * 15 / 1000).min(HISTORY / 2);
        let window = (self.rate as usize / 100).max(1); // 10 ms compared
        if self.have < max_p + window || min_p >= max_p {
            return frame_len.min(self.have).max(1);
        }
        let x = &self.history;
        let end = HISTORY;
        let mut best = (0.0f64, frame_len.min(self.have).max(1));
        for p in min_p..=max_p {
            let (mut xy, mut xx, mut yy) = (0f64, 0f64, 0f64);
            for i in end - window..end {
                let a = f64::from(x[i]);
                let b = f64::from(x[i - p]);
                xy += a * b;
                xx += a * a;
                yy += b * b;
            }
            if xx <= 0.0 || yy <= 0.0 {
                continue;
            }
            let c = xy / (xx * yy).sqrt();
            if c > best.0 {
                best = (c, p);
            }
        }
        if best.0 > 0.5 {
            best.1
        } else {
            frame_len.min(self.have).max(1)
        }
    }

    /// Fills `out` for a lost frame: the last pitch period continued, fading out over
    /// [`CONCEAL_FRAMES`] frames, then silence. Returns whether anything but silence was
    /// produced (a concealed frame, for the counters).
    pub fn conceal(&mut self, out: &mut [i16]) -> bool {
        let len = out.len().min(MAX_FRAME_SAMPLES);
        if self.have == 0 || self.run >= CONCEAL_FRAMES {
            out.fill(0);
            if self.run >= CONCEAL_FRAMES {
                self.have = 0;
                self.run += 1;
            }
            return false;
        }
        if self.run == 0 {
            self.period = self.find_period(len).min(HISTORY);
            self.pos = 0;
        }
        let g0 = self.gain_at(self.run);
        let g1 = self.gain_at(self.run + 1);
        for (i, o) in out[..len].iter_mut().enumerate() {
            let g = g0 + (g1 - g0) * i as f32 / len as f32;
            *o = (f32::from(self.next_synth()) * g) as i16;
        }
        self.run += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::tone_snr_db;
    use crate::media::tone::ToneGenerator;

    #[test]
    fn a_lost_frame_of_a_tone_is_continued_smoothly() {
        // 440 Hz does not fit 20 ms in whole periods: plain frame repetition clicks
        for rate in [8000u32, 16000] {
            let mut gen = ToneGenerator::new(440.0, rate, 10000);
            let mut c = WaveformConcealer::new(rate);
            let mut out = vec![];
            for i in 0..50 {
                let mut f = gen.next_frame();
                if i % 10 == 5 {
                    let mut pcm = [0i16; 320];
                    assert!(c.conceal(&mut pcm[..f.len]));
                    out.extend_from_slice(&pcm[..f.len]);
                } else {
                    c.good_frame(f.pcm_mut());
                    out.extend_from_slice(f.pcm());
                }
            }
            let (peak, snr, _) = tone_snr_db(&out, rate, 440.0);
            assert!((peak - 440.0).abs() < 5.0);
            assert!(snr > 20.0, "{rate}: snr {snr}");
        }
    }

    #[test]
    fn long_loss_fades_to_silence() {
        let mut gen = ToneGenerator::new(300.0, 8000, 10000);
        let mut c = WaveformConcealer::new(8000);
        for _ in 0..3 {
            c.good_frame(gen.next_frame().pcm_mut());
        }
        let mut energies = vec![];
        for _ in 0..8 {
            let mut pcm = [0i16; 160];
            c.conceal(&mut pcm);
            energies.push(pcm.iter().map(|&s| i64::from(s).abs()).sum::<i64>());
        }
        assert!(
            energies[0] > energies[1] && energies[1] > energies[2] && energies[2] > energies[3]
        );
        assert!(energies[4..].iter().all(|&e| e == 0));
        // nothing to repeat at the start: silence
        let mut c = WaveformConcealer::new(8000);
        let mut pcm = [5i16; 160];
        assert!(!c.conceal(&mut pcm));
        assert!(pcm.iter().all(|&s| s == 0));
    }
}
