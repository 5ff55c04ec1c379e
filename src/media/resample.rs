//! Band-limited sample-rate conversion between the room's rate and the codec's rate.
//!
//! The room leg may run at 8, 16 or 48 kHz while the phone leg runs at 8 kHz (G.711,
//! G.729) or 16 kHz (G.722, Opus). Converting by dropping or averaging samples folds
//! everything above the new Nyquist frequency back into the voice band; this is a
//! rational polyphase resampler (up by L, Kaiser-windowed sinc low-pass, down by M)
//! that keeps its history across frames, so 20 ms frames join without clicks. The
//! filter table is built when the rates change (call set-up), never per frame. Ratios
//! too odd for a table (L above [`MAX_PHASES`]) fall back to linear interpolation. It
//! never panics, whatever the rates or lengths.

/// Filter taps per output sample per unit of decimation (quality knob).
const TAPS: usize = 24;
/// Most polyphase branches (L) we build a table for.
pub const MAX_PHASES: u32 = 480;
/// Kaiser window shape: about 80 dB of stop-band attenuation.
const KAISER_BETA: f64 = 8.0;
/// Pass-band edge as a fraction of the lower Nyquist frequency.
const ROLLOFF: f64 = 0.9;

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Zeroth-order modified Bessel function of the first kind (Kaiser window).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..50 {
        term *= (half / k as f64) * (half / k as f64);
        sum += term;
        if term < 1e-12 * sum {
            break;
        }
    }
    sum
}

/// The polyphase filter for one rational ratio.
#[derive(Debug, Clone)]
struct Polyphase {
    up: u32,
    down: u32,
    /// Taps per branch.
    taps: usize,
    /// `up` branches of `taps` coefficients: coeffs[p * taps + k].
    coeffs: Vec<f32>,
    /// The last `taps - 1` input samples, oldest first, then room for one frame.
    buf: Vec<f32>,
    /// Position of the next output in up-sampled units, relative to the block start.
    pos: u64,
}

impl Polyphase {
    fn new(in_rate: u32, out_rate: u32) -> Option<Self> {
        let g = gcd(in_rate, out_rate);
        let (up, down) = (out_rate / g, in_rate / g);
        if up > MAX_PHASES || down > MAX_PHASES * 8 {
            return None;
        }
        let ratio = down.div_ceil(up).max(1) as usize;
        let taps = TAPS * ratio;
        let n = taps * up as usize;
        let fc = ROLLOFF * 0.5 / f64::from(up.max(down));
        let centre = (n as f64 - 1.0) / 2.0;
        let i0_beta = bessel_i0(KAISER_BETA);
        let mut h = vec![0f64; n];
        for (i, v) in h.iter_mut().enumerate() {
            let t = i as f64 - centre;
            let x = 2.0 * fc * t;
            let sinc = if x.abs() < 1e-12 {
                1.0
            } else {
                (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
            };
            let r = 2.0 * t / (n as f64 - 1.0).max(1.0);
            let w = bessel_i0(KAISER_BETA * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
            *v = 2.0 * fc * sinc * w;
        }
        let sum: f64 = h.iter().sum();
        let gain = if sum.abs() > 1e-12 {
            f64::from(up) / sum
        } else {
            0.0
        };
        let mut coeffs = vec![0f32; n];
        for p in 0..up as usize {
            for k in 0..taps {
                coeffs[p * taps + k] = (h[p + k * up as usize] * gain) as f32;
            }
        }
        Some(Polyphase {
            up,
            down,
            taps,
            coeffs,
            buf: vec![0.0; taps - 1],
            pos: 0,
        })
    }

    fn process(&mut self, input: &[i16], out: &mut [i16]) -> usize {
        let hist = self.taps - 1;
        self.buf.truncate(hist);
        self.buf.extend(input.iter().map(|&s| f32::from(s)));
        let up = u64::from(self.up);
        let n_in = input.len() as u64;
        let mut n = 0;
        while n < out.len() {
            let idx = self.pos / up;
            if idx >= n_in {
                break;
            }
            let phase = (self.pos % up) as usize;
            let newest = hist + idx as usize;
            let branch = &self.coeffs[phase * self.taps..(phase + 1) * self.taps];
            let mut acc = 0f32;
            for (k, c) in branch.iter().enumerate() {
                acc += c * self.buf[newest - k];
            }
            out[n] = acc.round().clamp(-32768.0, 32767.0) as i16;
            n += 1;
            self.pos += u64::from(self.down);
        }
        // Outputs that did not fit are skipped, keeping the clock of the stream.
        while self.pos / up < n_in {
            self.pos += u64::from(self.down);
        }
        self.pos -= n_in * up;
        let len = self.buf.len();
        self.buf.drain(..len - hist);
        n
    }
}

/// Per-direction resampler state (one per stream: it remembers the filter history).
#[derive(Debug, Clone, Default)]
pub struct Resampler {
    in_rate: u32,
    out_rate: u32,
    filter: Option<Polyphase>,
}

impl Resampler {
    /// A resampler with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Converts `input` at `in_rate` to `out_rate` into `out`; returns the samples written
    /// (at most `out.len()`). A rate of 0 produces nothing. The filter delays the signal
    /// by about [`TAPS`]/2 samples of the lower rate.
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
            self.filter = if in_rate == out_rate {
                None
            } else {
                Polyphase::new(in_rate, out_rate)
            };
        }
        if in_rate == out_rate {
            let n = input.len().min(out.len());
            out[..n].copy_from_slice(&input[..n]);
            return n;
        }
        match &mut self.filter {
            Some(f) => f.process(input, out),
            None => interpolate(input, in_rate, out_rate, out),
        }
    }
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

    /// Energy (dB re full scale) of a signal.
    fn level_db(x: &[i16]) -> f64 {
        let p: f64 = x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64;
        10.0 * (p / (32768.0f64 * 32768.0)).max(1e-20).log10()
    }

    fn convert(from: u32, to: u32, freq: f32, frames: usize) -> Vec<i16> {
        let mut gen = ToneGenerator::new(freq, from, 16000);
        let mut r = Resampler::new();
        let mut all = vec![];
        for _ in 0..frames {
            let mut out = [0i16; 960];
            let n = r.process(gen.next_frame().pcm(), from, to, &mut out);
            all.extend_from_slice(&out[..n]);
        }
        all
    }

    #[test]
    fn no_aliasing_when_decimating() {
        // 6 kHz and 11 kHz at 48 kHz are above 4 kHz: nothing may fold into 8 kHz audio
        for (from, to, freq) in [
            (48000, 8000, 6000.0),
            (48000, 8000, 11000.0),
            (16000, 8000, 5000.0),
            (48000, 16000, 9000.0),
        ] {
            let out = convert(from, to, freq, 50);
            let l = level_db(&out[400..]);
            assert!(l < -60.0, "{from}->{to} {freq} Hz leaks at {l:.1} dB");
        }
        // in-band tones pass at full level
        let out = convert(48000, 8000, 1000.0, 50);
        let l = level_db(&out[400..]);
        assert!(
            (l - level_db(&convert(48000, 48000, 1000.0, 50))).abs() < 0.5,
            "{l}"
        );
    }

    #[test]
    fn no_images_when_interpolating() {
        // 8 kHz audio up to 48 kHz: the 3 kHz tone must not reappear at 5, 11, 13 kHz…
        let out = convert(8000, 48000, 3000.0, 50);
        let (peak, snr, _) = tone_snr_db(&out[2400..], 48000, 3000.0);
        assert!((peak - 3000.0).abs() < 5.0);
        assert!(snr > 50.0, "images: snr {snr}");
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
        assert_eq!(r.process(&[1; 5], 48000, 8000, &mut out), 1);
        assert_eq!(r.process(&[1; 5], u32::MAX, 7, &mut out), 0);
        assert_eq!(r.process(&[1; 5], 7, u32::MAX, &mut out), 4);
    }
}
