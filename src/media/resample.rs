//! Minimal sample-rate conversion between the room's rate and the codec's rate.
//!
//! The room leg may run at 16 or 48 kHz while G.711 runs at 8 kHz. A proper polyphase
//! resampler is a later piece of work; until then this one is honest about what it is:
//! for integer ratios it averages before decimating (a boxcar anti-alias filter) and
//! interpolates linearly when up-sampling, carrying state across frames so there is no
//! click at frame edges. Other ratios fall back to linear interpolation. It never panics,
//! whatever the rates or lengths.

/// Per-direction resampler state (one per stream, because it remembers the last sample).
#[derive(Debug, Clone, Default)]
pub struct Resampler {
    in_rate: u32,
    out_rate: u32,
    /// Last input sample of the previous frame (for continuous interpolation).
    last: i16,
}

impl Resampler {
    /// A resampler with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Converts `input` at `in_rate` to `out_rate` into `out`; returns the samples written
    /// (at most `out.len()`). A rate of 0 produces nothing.
    pub fn process(
        &mut self,
        input: &[i16],
        in_rate: u32,
        out_rate: u32,
        out: &mut [i16],
    ) -> usize {
        if in_rate == 0 || out_rate == 0 || input.is_empty() || out.is_empty() {
            return 0;
        }
        if in_rate != self.in_rate || out_rate != self.out_rate {
            self.in_rate = in_rate;
            self.out_rate = out_rate;
            self.last = input[0];
        }
        let written = if in_rate == out_rate {
            let n = input.len().min(out.len());
            out[..n].copy_from_slice(&input[..n]);
            n
        } else if in_rate.is_multiple_of(out_rate) {
            decimate(input, (in_rate / out_rate) as usize, out)
        } else if out_rate.is_multiple_of(in_rate) {
            self.upsample(input, (out_rate / in_rate) as usize, out)
        } else {
            interpolate(input, in_rate, out_rate, out)
        };
        self.last = input[input.len() - 1];
        written
    }

    fn upsample(&self, input: &[i16], factor: usize, out: &mut [i16]) -> usize {
        let mut prev = i32::from(self.last);
        let mut n = 0;
        'outer: for &x in input {
            let x = i32::from(x);
            for k in 1..=factor {
                if n == out.len() {
                    break 'outer;
                }
                out[n] = (prev + (x - prev) * k as i32 / factor as i32) as i16;
                n += 1;
            }
            prev = x;
        }
        n
    }
}

fn decimate(input: &[i16], factor: usize, out: &mut [i16]) -> usize {
    let mut n = 0;
    for (o, chunk) in out.iter_mut().zip(input.chunks_exact(factor)) {
        let sum: i32 = chunk.iter().map(|&s| i32::from(s)).sum();
        *o = (sum / factor as i32) as i16;
        n += 1;
    }
    n
}

fn interpolate(input: &[i16], in_rate: u32, out_rate: u32, out: &mut [i16]) -> usize {
    let n_out = ((input.len() as u64 * u64::from(out_rate)) / u64::from(in_rate)) as usize;
    let n_out = n_out.min(out.len());
    let last = input.len() - 1;
    for (j, o) in out[..n_out].iter_mut().enumerate() {
        let pos = j as u64 * u64::from(in_rate);
        let i = (pos / u64::from(out_rate)) as usize;
        let frac = (pos % u64::from(out_rate)) as i64;
        let a = i64::from(input[i.min(last)]);
        let b = i64::from(input[(i + 1).min(last)]);
        *o = (a + (b - a) * frac / i64::from(out_rate)) as i16;
    }
    n_out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::tone_snr_db;
    use crate::media::tone::ToneGenerator;

    fn run(from: u32, to: u32, freq: f32) -> (f64, f64) {
        let mut gen = ToneGenerator::new(freq, from, 8000);
        let mut r = Resampler::new();
        let mut all = vec![];
        for _ in 0..50 {
            let f = gen.next_frame();
            let mut out = [0i16; 960];
            let n = r.process(f.pcm(), from, to, &mut out);
            assert_eq!(n, (to / 50) as usize, "{from}->{to}");
            all.extend_from_slice(&out[..n]);
        }
        let (peak, snr, _) = tone_snr_db(&all, to, f64::from(freq));
        (peak, snr)
    }

    #[test]
    fn integer_ratios_keep_the_tone() {
        for (from, to) in [
            (48000, 8000),
            (16000, 8000),
            (8000, 16000),
            (8000, 48000),
            (8000, 8000),
        ] {
            let (peak, snr) = run(from, to, 440.0);
            assert!((peak - 440.0).abs() < 5.0, "{from}->{to}: peak {peak}");
            assert!(snr > 25.0, "{from}->{to}: snr {snr}");
        }
    }

    #[test]
    fn odd_ratio_still_works() {
        let (peak, snr) = run(44100, 8000, 1000.0);
        assert!((peak - 1000.0).abs() < 5.0 && snr > 15.0, "{peak} {snr}");
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let mut r = Resampler::new();
        let mut out = [0i16; 4];
        assert_eq!(r.process(&[1, 2, 3], 0, 8000, &mut out), 0);
        assert_eq!(r.process(&[1, 2, 3], 8000, 0, &mut out), 0);
        assert_eq!(r.process(&[], 8000, 16000, &mut out), 0);
        assert_eq!(r.process(&[1; 100], 8000, 48000, &mut out), 4);
        assert_eq!(r.process(&[1; 5], 48000, 8000, &mut out), 0);
        assert_eq!(r.process(&[1; 5], u32::MAX, 7, &mut out), 0);
        assert_eq!(r.process(&[1; 5], 7, u32::MAX, &mut out), 4);
    }
}
