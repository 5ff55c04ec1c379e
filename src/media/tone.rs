//! A sine generator, so the simulated room and the tests have a known signal to send.
//!
//! End-to-end tests judge audio by frequency: a tone goes in one end and an FFT checks
//! it at the other. The phase is carried across frames so the tone has no clicks that
//! would smear its spectrum.

use super::frame::{PcmFrame, FRAME_MS, MAX_FRAME_SAMPLES};

/// Produces consecutive 20 ms frames of a sine tone.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    rate: u32,
    amplitude: f64,
    /// Phase advance per sample, in cycles.
    step: f64,
    /// Current phase, in cycles (0..1).
    phase: f64,
}

impl ToneGenerator {
    /// A tone of `freq_hz` at `rate` samples/s with peak `amplitude` (negative values are
    /// taken as their magnitude).
    pub fn new(freq_hz: f32, rate: u32, amplitude: i16) -> Self {
        let step = if rate == 0 || !freq_hz.is_finite() {
            0.0
        } else {
            f64::from(freq_hz) / f64::from(rate)
        };
        ToneGenerator {
            rate,
            amplitude: f64::from(amplitude).abs().min(f64::from(i16::MAX)),
            step,
            phase: 0.0,
        }
    }

    /// The next 20 ms of the tone, continuing where the last frame ended.
    pub fn next_frame(&mut self) -> PcmFrame {
        let len = (u64::from(self.rate) * u64::from(FRAME_MS) / 1000).min(MAX_FRAME_SAMPLES as u64)
            as usize;
        let mut frame = PcmFrame {
            rate: self.rate,
            len,
            samples: [0; MAX_FRAME_SAMPLES],
        };
        for s in frame.samples[..len].iter_mut() {
            *s = (self.amplitude * (std::f64::consts::TAU * self.phase).sin()).round() as i16;
            self.phase = (self.phase + self.step).fract();
        }
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::tone_snr_db;

    #[test]
    fn frames_are_phase_continuous_and_on_frequency() {
        let mut g = ToneGenerator::new(440.0, 8000, 16000);
        let mut all = vec![];
        for _ in 0..100 {
            let f = g.next_frame();
            assert_eq!((f.rate, f.len), (8000, 160));
            all.extend_from_slice(f.pcm());
        }
        // no jump between consecutive samples bigger than the sine's slope allows
        let max_step = 16000.0 * std::f64::consts::TAU * 440.0 / 8000.0;
        for w in all.windows(2) {
            assert!(f64::from((w[1] as i32 - w[0] as i32).abs()) <= max_step + 2.0);
        }
        let (peak, snr, rms) = tone_snr_db(&all, 8000, 440.0);
        assert!((peak - 440.0).abs() < 1.0);
        assert!(snr > 40.0);
        // peak 16000/32768 = -6.2 dBFS, RMS 3 dB lower
        assert!((rms - -9.24).abs() < 0.1, "{rms}");
    }

    #[test]
    fn odd_parameters_do_not_panic() {
        assert_eq!(ToneGenerator::new(440.0, 0, 100).next_frame().len, 0);
        assert_eq!(
            ToneGenerator::new(440.0, 1_000_000, 100).next_frame().len,
            MAX_FRAME_SAMPLES
        );
        let f = ToneGenerator::new(f32::NAN, 8000, i16::MIN).next_frame();
        assert!(f.pcm().iter().all(|&s| s == 0));
    }
}
