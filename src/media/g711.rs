//! ITU-T G.711 µ-law (PCMU) and A-law (PCMA), written out by hand.
//!
//! Every SIP phone and trunk speaks G.711, so this is the codec the gateway can always
//! fall back on. Encoding is the classic segment search (as in the ITU/Sun reference
//! `g711.c`); decoding reads a 256-entry table computed at compile time.

/// µ-law bias added before the segment search (0x84 in 16-bit terms).
const ULAW_BIAS: i32 = 0x84;
/// Largest 14-bit magnitude µ-law can represent before clipping.
const ULAW_CLIP: i32 = 8159;
/// Segment end points for µ-law (14-bit magnitudes after the bias).
const ULAW_SEG_END: [i32; 8] = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
/// Segment end points for A-law (13-bit magnitudes).
const ALAW_SEG_END: [i32; 8] = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

/// The µ-law byte for silence (a decoded 0).
pub const ULAW_SILENCE: u8 = 0xff;
/// The A-law byte for silence (decodes to +8, the smallest step).
pub const ALAW_SILENCE: u8 = 0xd5;

const fn ulaw_to_linear_calc(u: u8) -> i16 {
    let u = !u as i32;
    let mut t = ((u & 0x0f) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    (if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    }) as i16
}

const fn alaw_to_linear_calc(a: u8) -> i16 {
    let a = (a ^ 0x55) as i32;
    let mut t = (a & 0x0f) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn build_ulaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ulaw_to_linear_calc(i as u8);
        i += 1;
    }
    table
}

const fn build_alaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_to_linear_calc(i as u8);
        i += 1;
    }
    table
}

static ULAW_TO_LINEAR: [i16; 256] = build_ulaw_table();
static ALAW_TO_LINEAR: [i16; 256] = build_alaw_table();

fn segment(value: i32, ends: &[i32; 8]) -> usize {
    ends.iter().position(|&end| value <= end).unwrap_or(8)
}

/// Compresses one 16-bit sample to µ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut v = i32::from(sample) >> 2;
    let mask: u8 = if v < 0 {
        v = -v;
        0x7f
    } else {
        0xff
    };
    v = v.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    let seg = segment(v, &ULAW_SEG_END);
    if seg >= 8 {
        return 0x7f ^ mask;
    }
    let u = ((seg as i32) << 4) | ((v >> (seg + 1)) & 0x0f);
    (u as u8) ^ mask
}

/// Expands one µ-law byte to a 16-bit sample.
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Compresses one 16-bit sample to A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut v = i32::from(sample) >> 3;
    let mask: u8 = if v >= 0 {
        0xd5
    } else {
        v = -v - 1;
        0x55
    };
    let seg = segment(v, &ALAW_SEG_END);
    if seg >= 8 {
        return 0x7f ^ mask;
    }
    let mut a = (seg as i32) << 4;
    if seg < 2 {
        a |= (v >> 1) & 0x0f;
    } else {
        a |= (v >> seg) & 0x0f;
    }
    (a as u8) ^ mask
}

/// Expands one A-law byte to a 16-bit sample.
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// Encodes as many samples as fit in both slices; returns how many bytes were written.
pub fn encode_ulaw(pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(&pcm[..n]) {
        *o = linear_to_ulaw(s);
    }
    n
}

/// Decodes as many bytes as fit in both slices; returns how many samples were written.
pub fn decode_ulaw(payload: &[u8], out: &mut [i16]) -> usize {
    let n = payload.len().min(out.len());
    for (o, &b) in out[..n].iter_mut().zip(&payload[..n]) {
        *o = ulaw_to_linear(b);
    }
    n
}

/// Encodes as many samples as fit in both slices; returns how many bytes were written.
pub fn encode_alaw(pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(&pcm[..n]) {
        *o = linear_to_alaw(s);
    }
    n
}

/// Decodes as many bytes as fit in both slices; returns how many samples were written.
pub fn decode_alaw(payload: &[u8], out: &mut [i16]) -> usize {
    let n = payload.len().min(out.len());
    for (o, &b) in out[..n].iter_mut().zip(&payload[..n]) {
        *o = alaw_to_linear(b);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ulaw_code_points() {
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(ulaw_to_linear(0x7f), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0xfe), 8);
        assert_eq!(ulaw_to_linear(0x7e), -8);
        assert_eq!(linear_to_ulaw(0), 0xff);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_ulaw(-1), 0x7e);
        assert_eq!(ULAW_SILENCE, linear_to_ulaw(0));
    }

    #[test]
    fn known_alaw_code_points() {
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xaa), 32256);
        assert_eq!(alaw_to_linear(0x2a), -32256);
        assert_eq!(linear_to_alaw(0), 0xd5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xaa);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2a);
        assert_eq!(ALAW_SILENCE, linear_to_alaw(0));
    }

    #[test]
    fn every_code_survives_decode_encode() {
        // Each code decodes to the centre of its interval, which must encode back to
        // itself (µ-law has two zero codes, 0x7f and 0xff; both decode to 0 → 0xff).
        for code in 0..=255u8 {
            let u = linear_to_ulaw(ulaw_to_linear(code));
            if code == 0x7f {
                assert_eq!(u, 0xff);
            } else {
                assert_eq!(u, code, "ulaw {code:#x}");
            }
            assert_eq!(linear_to_alaw(alaw_to_linear(code)), code, "alaw {code:#x}");
        }
    }

    #[test]
    fn decode_is_monotonic_in_magnitude() {
        // Larger sample in → decoded value never smaller (the compander is monotonic).
        let mut last_u = i16::MIN;
        let mut last_a = i16::MIN;
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let u = ulaw_to_linear(linear_to_ulaw(s));
            let a = alaw_to_linear(linear_to_alaw(s));
            assert!(u >= last_u && a >= last_a, "at {s}");
            last_u = u;
            last_a = a;
        }
    }

    fn tone(freq: f64, amp: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16)
            .collect()
    }

    fn goertzel_power(x: &[i16], freq: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / 8000.0;
        let c = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &v in x {
            let s = f64::from(v) + c * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        s1 * s1 + s2 * s2 - c * s1 * s2
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn tone_round_trip_keeps_frequency_and_level() {
        let x = tone(1000.0, 10000.0, 8000);
        for (name, enc, dec) in [
            (
                "ulaw",
                encode_ulaw as fn(&[i16], &mut [u8]) -> usize,
                decode_ulaw as fn(&[u8], &mut [i16]) -> usize,
            ),
            ("alaw", encode_alaw, decode_alaw),
        ] {
            let mut bytes = vec![0u8; x.len()];
            assert_eq!(enc(&x, &mut bytes), x.len());
            let mut y = vec![0i16; x.len()];
            assert_eq!(dec(&bytes, &mut y), x.len());
            let level_db = 20.0 * (rms(&y) / rms(&x)).log10();
            assert!(
                level_db.abs() < 0.2,
                "{name}: level changed by {level_db} dB"
            );
            let on = goertzel_power(&y, 1000.0);
            let off = goertzel_power(&y, 1500.0).max(goertzel_power(&y, 700.0));
            assert!(on > 1000.0 * off, "{name}: tone lost");
            // Quantisation noise: G.711 gives ~38 dB SNR for a loud tone.
            let noise: f64 = x
                .iter()
                .zip(&y)
                .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                .sum();
            let signal: f64 = x.iter().map(|&a| f64::from(a).powi(2)).sum();
            let snr = 10.0 * (signal / noise).log10();
            assert!(snr > 30.0, "{name}: SNR {snr}");
        }
    }

    #[test]
    fn slices_of_different_lengths_do_not_panic() {
        let mut out = [0u8; 3];
        assert_eq!(encode_ulaw(&[1, 2, 3, 4, 5], &mut out), 3);
        let mut pcm = [0i16; 2];
        assert_eq!(decode_alaw(&[1, 2, 3], &mut pcm), 2);
        assert_eq!(decode_ulaw(&[], &mut pcm), 0);
    }
}
