//! Audio checks by frequency, for tests and benchmarks: "did the 440 Hz tone get through,
//! how loud, how clean?"
//!
//! [`tone_snr_db`] mirrors the peer kit's `tone_check.py`: Hann-windowed power spectrum,
//! energy within ±25 Hz of the expected tone against everything else. It uses a small
//! radix-2 FFT over zero-padded segments of at most 65536 samples whose spectra are
//! summed (Welch without overlap), so 30 s of audio is analysed in O(n log n) and
//! bounded memory.

/// Half-width of the band counted as "the tone", as in tone_check.py.
pub const TONE_BAND_HZ: f64 = 25.0;

/// Longest FFT segment; longer recordings are split and their spectra summed.
const MAX_SEGMENT: usize = 1 << 16;

/// In-place iterative radix-2 FFT. `re.len()` must be a power of two (checked: other
/// lengths are left untouched).
pub fn fft_in_place(re: &mut [f64], im: &mut [f64]) {
    let n = re.len();
    if n < 2 || !n.is_power_of_two() || im.len() != n {
        return;
    }
    // bit-reversal permutation
    let mut j = 0usize;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let twiddles: Vec<(f64, f64)> = (0..n / 2)
        .map(|k| {
            let a = -std::f64::consts::TAU * k as f64 / n as f64;
            (a.cos(), a.sin())
        })
        .collect();
    let mut size = 2;
    while size <= n {
        let half = size / 2;
        let stride = n / size;
        for start in (0..n).step_by(size) {
            for k in 0..half {
                let (wr, wi) = twiddles[k * stride];
                let a = start + k;
                let b = a + half;
                let tr = re[b] * wr - im[b] * wi;
                let ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        size <<= 1;
    }
}

/// Level of a signal in dB relative to full scale (a full-scale square wave is 0 dBFS).
pub fn rms_dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 20.0 * 1e-12f64.log10();
    }
    let mean_sq = samples
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum::<f64>()
        / samples.len() as f64;
    20.0 * (mean_sq.sqrt() + 1e-12).log10()
}

/// Power of one frequency (Goertzel), for quick checks on short buffers.
pub fn goertzel_power(samples: &[i16], rate: u32, freq: f64) -> f64 {
    if rate == 0 {
        return 0.0;
    }
    let c = 2.0 * (std::f64::consts::TAU * freq / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in samples {
        let s = f64::from(v) / 32768.0 + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

/// Analyses a recording for a tone: returns `(peak_hz, snr_db, rms_dbfs)` where `peak_hz`
/// is the strongest frequency, `snr_db` the energy within ±25 Hz of `freq` over the energy
/// elsewhere, and `rms_dbfs` the overall level. tone_check.py calls a recording good when
/// the peak is within 10 Hz, SNR > 10 dB and level > -40 dBFS.
pub fn tone_snr_db(samples: &[i16], rate: u32, freq: f64) -> (f64, f64, f64) {
    let rms = rms_dbfs(samples);
    if samples.len() < 2 || rate == 0 {
        return (0.0, 10.0 * (1e-30f64 / 1e-20).log10(), rms);
    }
    let seg = samples.len().min(MAX_SEGMENT);
    let n_fft = seg.next_power_of_two();
    let mut power = vec![0.0f64; n_fft / 2 + 1];
    let mut re = vec![0.0f64; n_fft];
    let mut im = vec![0.0f64; n_fft];
    for chunk in samples.chunks(seg) {
        if chunk.len() < 2 {
            continue;
        }
        let m = chunk.len();
        re.iter_mut().for_each(|x| *x = 0.0);
        im.iter_mut().for_each(|x| *x = 0.0);
        for (i, &s) in chunk.iter().enumerate() {
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / (m - 1) as f64).cos();
            re[i] = f64::from(s) / 32768.0 * w;
        }
        fft_in_place(&mut re, &mut im);
        for (k, p) in power.iter_mut().enumerate() {
            *p += re[k] * re[k] + im[k] * im[k];
        }
    }
    let bin_hz = f64::from(rate) / n_fft as f64;
    let (mut band, mut rest) = (0.0f64, 0.0f64);
    let (mut peak_k, mut peak_p) = (0usize, f64::MIN);
    for (k, &p) in power.iter().enumerate() {
        let f = k as f64 * bin_hz;
        if (f - freq).abs() <= TONE_BAND_HZ {
            band += p;
        } else {
            rest += p;
        }
        if p > peak_p {
            peak_p = p;
            peak_k = k;
        }
    }
    let snr = 10.0 * ((band + 1e-30) / (rest + 1e-20)).log10();
    (peak_k as f64 * bin_hz, snr, rms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, amp: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (amp * (std::f64::consts::TAU * freq * i as f64 / f64::from(rate)).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn fft_of_impulse_and_cosine() {
        let mut re = vec![0.0; 8];
        let mut im = vec![0.0; 8];
        re[0] = 1.0;
        fft_in_place(&mut re, &mut im);
        assert!(re.iter().all(|&x| (x - 1.0).abs() < 1e-12));
        let mut re: Vec<f64> = (0..16)
            .map(|i| (std::f64::consts::TAU * 3.0 * i as f64 / 16.0).cos())
            .collect();
        let mut im = vec![0.0; 16];
        fft_in_place(&mut re, &mut im);
        assert!((re[3] - 8.0).abs() < 1e-9 && (re[13] - 8.0).abs() < 1e-9);
        assert!(re[5].abs() < 1e-9);
    }

    #[test]
    fn finds_a_clean_tone() {
        let x = sine(1000.0, 8000, 16384.0, 8000);
        let (peak, snr, rms) = tone_snr_db(&x, 8000, 1000.0);
        assert!((peak - 1000.0).abs() < 1.0, "{peak}");
        assert!(snr > 40.0, "{snr}");
        assert!((rms - -9.03).abs() < 0.1, "{rms}");
    }

    #[test]
    fn rejects_the_wrong_tone_and_noise() {
        let x = sine(440.0, 8000, 16384.0, 8000);
        let (_, snr, _) = tone_snr_db(&x, 8000, 1000.0);
        assert!(snr < -20.0, "{snr}");
        let mut seed = 1u32;
        let noise: Vec<i16> = (0..8000)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((seed >> 16) as i16) / 4
            })
            .collect();
        let (_, snr, _) = tone_snr_db(&noise, 8000, 1000.0);
        assert!(snr < 0.0, "{snr}");
    }

    #[test]
    fn long_recordings_use_segments() {
        // 30 s at 8 kHz: several segments, still exact
        let x = sine(440.0, 8000, 8000.0, 240_000);
        let (peak, snr, _) = tone_snr_db(&x, 8000, 440.0);
        assert!((peak - 440.0).abs() < 1.0);
        assert!(snr > 40.0);
    }

    #[test]
    fn empty_and_degenerate_inputs() {
        let (p, s, r) = tone_snr_db(&[], 8000, 440.0);
        assert!(p == 0.0 && s.is_finite() && r.is_finite());
        let (_, s, _) = tone_snr_db(&[0; 1000], 8000, 440.0);
        assert!(s.is_finite());
        let (_, s, _) = tone_snr_db(&[5; 10], 0, 440.0);
        assert!(s.is_finite());
        assert!(
            goertzel_power(&sine(440.0, 8000, 1000.0, 800), 8000, 440.0)
                > 100.0 * goertzel_power(&sine(440.0, 8000, 1000.0, 800), 8000, 600.0)
        );
    }
}
