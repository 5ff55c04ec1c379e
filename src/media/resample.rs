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
//!
//! It runs on every frame of every call in both directions, so it is written for cost:
//! coefficients are Q15 integers, stored per phase and time-reversed so that each output
//! is a forward dot product of two contiguous `i16` runs (history and input share one
//! buffer, no modulo), in blocks of [`LANES`] that LLVM turns into `pmaddwd` on the x86-64
//! baseline (SSE2), with exact `i32` accumulation (bounded, see [`quantise`]). A
//! float dot product would not vectorise (its additions may not be reordered).

/// Most polyphase branches (L) we build a table for.
pub const MAX_PHASES: u32 = 480;
/// Taps come in blocks of this many: the unit the dot product is vectorised in (two
/// 8-lane `pmaddwd`).
const LANES: usize = 16;
/// Most input samples filtered per pass (20 ms at 48 kHz). A filter's pass is one 20 ms
/// frame at its input rate (no larger: the buffer is per call); longer inputs are taken
/// in pieces.
const BLOCK: usize = 960;
/// Fraction bits of the fixed-point coefficients (Q15), lowered only if a filter's
/// coefficients could overflow the `i32` accumulator.
const COEFF_BITS: u32 = 15;

/// One filter design: how a ratio trades cost against sharpness.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Design {
    /// Taps per output sample per unit of decimation (a multiple of [`LANES`]).
    taps_per_unit: usize,
    /// Kaiser window shape: stop-band depth against transition width.
    beta: f64,
    /// The -6 dB point as a fraction of the lower Nyquist frequency.
    rolloff: f64,
}

/// The design for a ratio of `up`/`down` (reduced). 8 ↔ 16 kHz (one or two outputs per
/// input) affords 32 taps: flat within 1 dB to 3.4 kHz and more than 70 dB down from
/// 4.4 kHz. 8 ↔ 48 kHz makes six outputs per input (or reads six inputs per output),
/// so 16 taps per unit: within 1.5 dB to 3 kHz, about 6 dB down at 3.4 kHz, and more
/// than 55 dB down from 4.4 kHz (over 60 dB from 4.8 kHz) — plenty for a telephone band.
fn design(up: u32, down: u32) -> Design {
    if up.max(down) <= 2 {
        Design {
            taps_per_unit: 32,
            beta: 7.0,
            rolloff: 0.92,
        }
    } else {
        Design {
            taps_per_unit: 16,
            beta: 5.65,
            rolloff: 0.85,
        }
    }
}

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

/// The prototype low-pass for `up`/`down`: `taps * up` coefficients, gain `up` at DC
/// (each of the `up` branches then has unit gain).
fn prototype(up: u32, down: u32, d: Design, taps: usize) -> Vec<f64> {
    let n = taps * up as usize;
    let fc = d.rolloff * 0.5 / f64::from(up.max(down));
    let centre = (n as f64 - 1.0) / 2.0;
    let i0_beta = bessel_i0(d.beta);
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
        let w = bessel_i0(d.beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
        *v = 2.0 * fc * sinc * w;
    }
    let sum: f64 = h.iter().sum();
    let gain = if sum.abs() > 1e-12 {
        f64::from(up) / sum
    } else {
        0.0
    };
    h.iter_mut().for_each(|v| *v *= gain);
    h
}

/// Splits the prototype into `up` branches of `taps` fixed-point coefficients, each
/// branch time-reversed (the coefficient of the oldest sample first). Returns the table
/// and its fraction bits: Q15 unless some branch's absolute sum reaches 2.0, when fewer
/// bits keep every dot product of full-scale samples inside `i32`.
fn quantise(h: &[f64], up: usize, taps: usize) -> (Vec<i16>, u32) {
    let mut coeffs = vec![0i16; up * taps];
    let mut bits = COEFF_BITS;
    loop {
        let scale = f64::from(1u32 << bits);
        let mut fits = true;
        for (p, branch) in coeffs.chunks_exact_mut(taps).enumerate() {
            let mut l1: i64 = 0;
            for (k, c) in branch.iter_mut().rev().enumerate() {
                let v = h.get(p + k * up).copied().unwrap_or(0.0);
                *c = (v * scale).round().clamp(-32767.0, 32767.0) as i16;
                l1 += i64::from(c.unsigned_abs());
            }
            // |Σ c·x| ≤ 32768 · Σ|c| must stay below 2^31
            fits &= l1 * 32768 < i64::from(i32::MAX);
        }
        if fits || bits <= 1 {
            return (coeffs, bits);
        }
        bits -= 1;
    }
}

/// Σ c·x over whole [`LANES`] blocks, exactly, in `i32`. Written as a plain sum over
/// fixed-size blocks so LLVM emits `pmaddwd`. Callers pass equal lengths that are
/// multiples of [`LANES`] and coefficients bounded as in [`quantise`] (no overflow).
#[inline(always)]
fn dot(c: &[i16], x: &[i16]) -> i32 {
    let mut acc = 0i32;
    for (a, b) in c.chunks_exact(LANES).zip(x.chunks_exact(LANES)) {
        acc += a
            .iter()
            .zip(b)
            .map(|(&a, &b)| i32::from(a) * i32::from(b))
            .sum::<i32>();
    }
    acc
}

/// The polyphase filter for one rational ratio.
#[derive(Debug, Clone)]
struct Polyphase {
    up: u32,
    /// Input samples advanced per output: `down / up` whole, plus `down % up` phases.
    step: usize,
    step_phase: u32,
    /// Taps per branch (a multiple of [`LANES`]).
    taps: usize,
    /// `up` branches of `taps` time-reversed coefficients: branch p is
    /// `coeffs[p * taps..(p + 1) * taps]`.
    coeffs: Vec<i16>,
    /// Fraction bits of `coeffs`.
    bits: u32,
    /// Input samples per pass: one 20 ms frame at the input rate, at most [`BLOCK`].
    block: usize,
    /// The last `taps - 1` input samples, oldest first, then room for one pass.
    buf: Vec<i16>,
    /// Next output: index of its first (oldest) sample in `buf`'s block-relative window
    /// and its branch.
    idx: usize,
    phase: u32,
}

impl Polyphase {
    fn new(in_rate: u32, out_rate: u32) -> Option<Self> {
        let g = gcd(in_rate, out_rate);
        let (up, down) = (out_rate / g, in_rate / g);
        if up > MAX_PHASES || down > MAX_PHASES * 8 {
            return None;
        }
        let d = design(up, down);
        let ratio = down.div_ceil(up).max(1) as usize;
        let taps = d.taps_per_unit * ratio;
        let h = prototype(up, down, d, taps);
        let (coeffs, bits) = quantise(&h, up as usize, taps);
        let block = (in_rate / 50).clamp(LANES as u32, BLOCK as u32) as usize;
        Some(Polyphase {
            up,
            step: (down / up) as usize,
            step_phase: down % up,
            taps,
            coeffs,
            bits,
            block,
            buf: vec![0; taps - 1 + block],
            idx: 0,
            phase: 0,
        })
    }

    fn process(&mut self, input: &[i16], out: &mut [i16]) -> usize {
        let mut written = 0;
        for piece in input.chunks(self.block) {
            let rest = out.get_mut(written..).unwrap_or_default();
            written += self.pass(piece, rest);
        }
        written
    }

    /// Filters at most `self.block` samples.
    fn pass(&mut self, input: &[i16], out: &mut [i16]) -> usize {
        let hist = self.taps - 1;
        let n_in = input.len();
        let Some(fresh) = self.buf.get_mut(hist..hist + n_in) else {
            return 0;
        };
        fresh.copy_from_slice(input);
        let data = &self.buf[..hist + n_in];
        let taps = self.taps;
        let (up, step, step_phase) = (self.up, self.step, self.step_phase);
        let round = 1i32 << (self.bits - 1);
        let (mut idx, mut phase) = (self.idx, self.phase);
        let mut n = 0;
        for o in out.iter_mut() {
            if idx >= n_in {
                break;
            }
            let p = phase as usize;
            let (Some(window), Some(branch)) = (
                data.get(idx..idx + taps),
                self.coeffs.get(p * taps..(p + 1) * taps),
            ) else {
                break;
            };
            let acc = dot(branch, window).saturating_add(round) >> self.bits;
            *o = acc.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
            n += 1;
            idx += step;
            phase += step_phase;
            if phase >= up {
                phase -= up;
                idx += 1;
            }
        }
        if idx < n_in {
            // Outputs that did not fit are skipped, keeping the clock of the stream.
            let down = step as u64 * u64::from(up) + u64::from(step_phase);
            let pos = idx as u64 * u64::from(up) + u64::from(phase);
            let end = n_in as u64 * u64::from(up);
            let skipped = (end - pos).div_ceil(down.max(1));
            let pos = pos + skipped * down;
            idx = (pos / u64::from(up)) as usize;
            phase = (pos % u64::from(up)) as u32;
        }
        self.idx = idx - n_in;
        self.phase = phase;
        self.buf.copy_within(n_in..n_in + hist, 0);
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
    /// by about 8 samples of the lower rate at 8 ↔ 48 kHz, 16 at 8 ↔ 16 kHz.
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

    /// The conversions calls make (G.711/G.722/Opus against 8, 16 and 48 kHz rooms).
    const VOICE_RATIOS: [(u32, u32); 6] = [
        (8000, 16000),
        (16000, 8000),
        (8000, 48000),
        (48000, 8000),
        (16000, 48000),
        (48000, 16000),
    ];

    #[test]
    fn voice_band_tone_keeps_level_and_snr() {
        // a 1 kHz tone through every ratio: flat pass band, and the Q15 filter adds no
        // noise worth hearing
        for (from, to) in VOICE_RATIOS {
            let skip = (to / 50) as usize; // the filter's start-up
            let out = convert(from, to, 1000.0, 50);
            let reference = convert(to, to, 1000.0, 50);
            let (l, r) = (level_db(&out[skip..]), level_db(&reference[skip..]));
            let (peak, snr, _) = tone_snr_db(&out[skip..], to, 1000.0);
            eprintln!("{from}->{to}: level {:+.3} dB, snr {snr:.1} dB", l - r);
            assert!(
                (l - r).abs() <= 0.5,
                "{from}->{to}: level {l:.2} vs {r:.2} dB"
            );
            assert!((peak - 1000.0).abs() < 5.0, "{from}->{to}: peak {peak}");
            assert!(snr > 40.0, "{from}->{to}: snr {snr:.1} dB");
        }
    }

    #[test]
    fn tones_above_the_target_nyquist_are_removed() {
        // anything at or above the new Nyquist would fold back into the voice band
        for (from, to, freq) in [
            (48000, 8000, 6000.0),
            (16000, 8000, 6000.0),
            (48000, 8000, 4800.0),
            (16000, 8000, 4500.0),
            (48000, 8000, 20000.0),
            (48000, 16000, 10000.0),
        ] {
            let input = convert(from, from, freq, 50);
            let out = convert(from, to, freq, 50);
            let skip = (to / 50) as usize;
            let att = level_db(&input[skip..]) - level_db(&out[skip..]);
            eprintln!("{from}->{to} {freq} Hz: {att:.1} dB down");
            assert!(att >= 50.0, "{from}->{to} {freq} Hz only {att:.1} dB down");
        }
    }

    #[test]
    fn frames_join_exactly() {
        // 1 s of tone converted in 20 ms frames, in one call, and in odd 7-sample pieces
        // gives the very same samples: the filter's history and phase carry across calls,
        // so frame boundaries cannot click
        for (from, to) in VOICE_RATIOS.into_iter().chain([(44100, 8000)]) {
            let mut gen = ToneGenerator::new(1000.0, from, 16000);
            let input: Vec<i16> = (0..50)
                .flat_map(|_| gen.next_frame().pcm().to_vec())
                .collect();
            let pieces = |size: usize| {
                let mut r = Resampler::new();
                let mut all = vec![];
                let mut out = vec![0i16; input.len() * 6 + 16];
                for piece in input.chunks(size) {
                    let n = r.process(piece, from, to, &mut out);
                    all.extend_from_slice(&out[..n]);
                }
                all
            };
            let framed = pieces((from / 50) as usize);
            assert_eq!(framed.len(), (to as usize), "{from}->{to}");
            assert_eq!(framed, pieces(input.len()), "{from}->{to}: one call");
            assert_eq!(framed, pieces(7), "{from}->{to}: 7-sample pieces");
            // and the joined output is a smooth 1 kHz tone: no step larger than its slope
            let max_step = 2.0 * std::f64::consts::PI * 1000.0 * 16000.0 / f64::from(to);
            let worst = framed[to as usize / 25..]
                .windows(2)
                .map(|w| (i32::from(w[1]) - i32::from(w[0])).unsigned_abs())
                .max()
                .unwrap_or(0);
            assert!(
                f64::from(worst) <= max_step * 1.05,
                "{from}->{to}: step {worst}"
            );
        }
    }

    #[test]
    fn full_scale_input_cannot_overflow_the_accumulator() {
        // the worst case for every branch: each sample at full scale with its coefficient's
        // sign; the exact sum must fit i32, and processing it must not panic (debug builds
        // check overflow) and must clip rather than wrap
        for (from, to) in VOICE_RATIOS
            .into_iter()
            .chain([(44100, 8000), (8000, 44100)])
        {
            let f = Polyphase::new(from, to).unwrap();
            for branch in f.coeffs.chunks_exact(f.taps) {
                let worst: i64 = branch
                    .iter()
                    .map(|&c| i64::from(c.unsigned_abs()) * 32768)
                    .sum();
                assert!(worst < i64::from(i32::MAX), "{from}->{to}: {worst}");
            }
            // a full-scale square wave at the lower Nyquist: the hardest a filter rings
            let square: Vec<i16> = (0..960)
                .map(|i| if (i / 3) % 2 == 0 { i16::MAX } else { i16::MIN })
                .collect();
            let mut r = Resampler::new();
            let mut out = [0i16; 960];
            for _ in 0..5 {
                let n = r.process(&square[..(from / 50) as usize], from, to, &mut out);
                assert_eq!(n, (to / 50) as usize);
            }
        }
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
