//! ITU-T G.722 (SB-ADPCM) at 64 kbit/s, in pure Rust.
//!
//! **Level convention: the ITU-T reference's, by default.** G.722 is specified on 14-bit
//! samples, and implementations map 16-bit PCM onto it differently, which is why G.722
//! calls between some products are 6 dB off. This codec feeds 16-bit PCM straight into
//! the QMF and takes 16-bit PCM straight out of it, which is exactly what the ITU-T
//! Software Tool Library's reference (G.191 STL, `src/g722`) does: our encoder and
//! decoder reproduce the STL's own test vectors (`inpsp.bin` → `codspw.cod` →
//! `outsp1.bin`) bit for bit (`tests/g722_reference.rs`). FFmpeg's `g722` codec and
//! spandsp (baresip's `g722` module, Asterisk) use the same convention: a tone crosses
//! between them and us at 0.0 dB in both directions (same test). Other stacks scale
//! around the codec: mediastreamer2 (Linphone) halves PCM before encoding and doubles
//! it after decoding, and pjmedia shifts by `PJMEDIA_G722_DEFAULT_PCM_SHIFT` (pjproject
//! issues #658, #1072, #4419); with the reference level such a peer is heard 6 dB low
//! and hears us 6 dB high (and clips). For those peers `[sip] g722_level = "pjmedia"`
//! ([`G722Level::Pjmedia`]) applies the same halving and doubling on our side.
//!
//! Carriers and PBXs offer G.722 as their "HD voice": 16 kHz audio in the bandwidth of
//! G.711. Implemented from the ITU-T G.722 (09/2012) block descriptions — QMF analysis
//! and synthesis, a 6-bit low-band and a 2-bit high-band ADPCM coder with their adaptive
//! predictors — in the integer arithmetic of the standard, so the bit stream interoperates
//! with every other G.722 implementation. Mode 1 (64 kbit/s) only: one payload byte per
//! pair of 16 kHz samples. Note the RTP quirk (RFC 3551): the RTP clock of G.722 is 8000
//! although it samples at 16 kHz. The state is a few dozen integers: no allocation.

/// How 16-bit PCM maps onto the codec's samples (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum G722Level {
    /// The ITU-T reference (STL), FFmpeg and spandsp: PCM in and out unscaled.
    #[default]
    Standard,
    /// Peers that scale PCM by one bit around the codec (mediastreamer2/Linphone,
    /// pjmedia): we halve before encoding and double, saturating, after decoding.
    Pjmedia,
}

impl G722Level {
    /// Parses `[sip] g722_level`: `standard` or `pjmedia`.
    pub fn from_config_name(name: &str) -> Option<G722Level> {
        match name.to_ascii_lowercase().as_str() {
            "standard" => Some(G722Level::Standard),
            "pjmedia" => Some(G722Level::Pjmedia),
            _ => None,
        }
    }
}

/// QMF coefficients (G.722 table, h0..h11 and reversed).
const QMF_FWD: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];
const QMF_REV: [i32; 12] = [-11, 53, -156, 362, -805, 3876, 951, -210, 32, 12, -11, 3];

/// High-band inverse quantiser outputs.
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
/// Low-band 4-bit inverse quantiser (used for the predictor update).
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
/// Low-band 6-bit inverse quantiser (mode 1 reconstruction).
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// Low-band quantiser decision levels.
const Q6: [i32; 32] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
];
/// Inverse-log table for the scale factors.
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
/// Low-band codes for negative and positive differences, by decision interval.
const ILN: [i32; 32] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4, 0,
];
const ILP: [i32; 32] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32, 0,
];
/// High-band codes.
const IHN: [i32; 3] = [0, 1, 0];
const IHP: [i32; 3] = [0, 3, 2];
/// Log scale factor multipliers.
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
const WH: [i32; 3] = [0, -214, 798];
const RH2: [usize; 4] = [2, 1, 2, 1];

fn sat16(x: i32) -> i32 {
    x.clamp(-32768, 32767)
}

fn sat15(x: i32) -> i32 {
    x.clamp(-16384, 16383)
}

/// Adaptive predictor and scale-factor state of one sub-band.
#[derive(Debug, Clone, Copy, Default)]
struct Band {
    /// Signal estimate (predictor output) for the next sample.
    s: i32,
    /// Zero-section part of the estimate.
    sz: i32,
    /// Previous reconstructed signal.
    r: i32,
    /// Pole predictor coefficients a1, a2.
    a: [i32; 2],
    /// Previous partially reconstructed signals p(n-1), p(n-2).
    p: [i32; 2],
    /// Quantised difference signal, current and six delayed.
    d: [i32; 7],
    /// Zero predictor coefficients b1..b6.
    b: [i32; 6],
    /// Log scale factor.
    nb: i32,
    /// Scale factor (quantiser step).
    det: i32,
}

impl Band {
    fn new(det: i32) -> Self {
        Band {
            det,
            ..Band::default()
        }
    }

    /// Block 4 of the standard: RECONS, PARREC, UPPOL2, UPPOL1, FILTEP, UPZERO, DELAYA,
    /// FILTEZ and PREDIC for one quantised difference `dx`.
    fn block4(&mut self, dx: i32) {
        let r = sat16(self.s + dx);
        let p = sat16(self.sz + dx);
        let differs = |a: i32, b: i32| (a < 0) != (b < 0);

        // UPPOL2
        let wd1 = sat16(self.a[0] << 2);
        let wd2 = if differs(p, self.p[0]) { wd1 } else { -wd1 }.min(32767);
        let wd3 = if differs(p, self.p[1]) { -128 } else { 128 }
            + (wd2 >> 7)
            + ((self.a[1] * 32512) >> 15);
        let ap1 = wd3.clamp(-12288, 12288);

        // UPPOL1
        let wd1 = if differs(p, self.p[0]) { -192 } else { 192 };
        let wd2 = (self.a[0] * 32640) >> 15;
        let limit = sat16(15360 - ap1);
        let ap0 = sat16(wd1 + wd2).clamp(-limit, limit);

        // FILTEP
        let wd1 = (ap0 * sat16(r + r)) >> 15;
        let wd2 = (ap1 * sat16(self.r + self.r)) >> 15;
        let sp = sat16(wd1 + wd2);
        self.r = r;
        self.a = [ap0, ap1];
        self.p = [p, self.p[0]];

        // UPZERO, DELAYA, FILTEZ
        let step = if dx == 0 { 0 } else { 128 };
        self.d[0] = dx;
        let mut sz = 0;
        for i in (0..6).rev() {
            let wd2 = if differs(self.d[i + 1], dx) {
                -step
            } else {
                step
            };
            let wd3 = (self.b[i] * 32640) >> 15;
            self.b[i] = sat16(wd2 + wd3);
            sz += (self.b[i] * sat16(self.d[i] + self.d[i])) >> 15;
            self.d[i + 1] = self.d[i];
        }
        self.sz = sat16(sz);

        // PREDIC
        self.s = sat16(sp + self.sz);
    }

    /// LOGSCL + SCALEL (low band) and LOGSCH + SCALEH (high band).
    fn adapt_scale(&mut self, w: i32, nb_max: i32, shift: i32) {
        let nb = ((self.nb * 127) >> 7) + w;
        self.nb = nb.clamp(0, nb_max);
        let wd1 = ((self.nb >> 6) & 31) as usize;
        let wd2 = shift - (self.nb >> 11);
        let wd3 = if wd2 < 0 {
            ILB[wd1] << -wd2
        } else {
            ILB[wd1] >> wd2
        };
        self.det = wd3 << 2;
    }
}

/// Circular dot product over the 12-tap QMF delay line starting at `pos`.
fn qmf_dot(x: &[i32; 12], coeffs: &[i32; 12], pos: usize) -> i32 {
    let mut sum = 0i32;
    for (k, c) in coeffs.iter().enumerate() {
        sum = sum.wrapping_add(x[(pos + k) % 12] * c);
    }
    sum
}

/// One direction's G.722 encoder: 16 kHz PCM in, one byte per two samples out.
#[derive(Debug, Clone)]
pub struct G722Encoder {
    level: G722Level,
    band: [Band; 2],
    x: [i32; 12],
    y: [i32; 12],
    ptr: usize,
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Encoder {
    /// An encoder in the standard's reset state, at the reference level.
    pub fn new() -> Self {
        Self::with_level(G722Level::Standard)
    }

    /// An encoder in the standard's reset state, at the given level convention.
    pub fn with_level(level: G722Level) -> Self {
        G722Encoder {
            level,
            band: [Band::new(32), Band::new(8)],
            x: [0; 12],
            y: [0; 12],
            ptr: 0,
        }
    }

    /// Encodes 16 kHz samples (pairs; an odd last sample is ignored) into `out`; returns
    /// the bytes written. Never writes past `out`.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        let mut n = 0;
        for (pair, o) in pcm.chunks_exact(2).zip(out.iter_mut()) {
            let (a, b) = match self.level {
                G722Level::Standard => (pair[0], pair[1]),
                G722Level::Pjmedia => (pair[0] >> 1, pair[1] >> 1),
            };
            *o = self.encode_pair(a, b);
            n += 1;
        }
        n
    }

    fn encode_pair(&mut self, s0: i16, s1: i16) -> u8 {
        // Transmit QMF
        self.x[self.ptr] = i32::from(s0);
        self.y[self.ptr] = i32::from(s1);
        self.ptr = (self.ptr + 1) % 12;
        let sumodd = qmf_dot(&self.x, &QMF_FWD, self.ptr);
        let sumeven = qmf_dot(&self.y, &QMF_REV, self.ptr);
        let xlow = sat16((sumeven + sumodd) >> 14);
        let xhigh = sat16((sumeven - sumodd) >> 14);

        // Low band: SUBTRA, QUANTL
        let lo = &mut self.band[0];
        let el = sat16(xlow - lo.s);
        let wd = if el >= 0 { el } else { -(el + 1) };
        let mut i = 1;
        while i < 30 {
            let wd1 = (Q6[i] * lo.det) >> 12;
            if wd < wd1 {
                break;
            }
            i += 1;
        }
        let ilow = if el < 0 { ILN[i] } else { ILP[i] };
        // INVQAL
        let ril = (ilow >> 2) as usize;
        let dlow = (lo.det * QM4[ril]) >> 15;
        lo.adapt_scale(WL[RL42[ril]], 18432, 8);
        lo.block4(dlow);

        // High band: SUBTRA, QUANTH
        let hi = &mut self.band[1];
        let eh = sat16(xhigh - hi.s);
        let wd = if eh >= 0 { eh } else { -(eh + 1) };
        let wd1 = (564 * hi.det) >> 12;
        let mih = if wd >= wd1 { 2 } else { 1 };
        let ihigh = if eh < 0 { IHN[mih] } else { IHP[mih] };
        let dhigh = (hi.det * QM2[ihigh as usize]) >> 15;
        hi.adapt_scale(WH[RH2[ihigh as usize]], 22528, 10);
        hi.block4(dhigh);

        ((ihigh << 6) | ilow) as u8
    }
}

/// One direction's G.722 decoder: one byte in, two 16 kHz samples out.
#[derive(Debug, Clone)]
pub struct G722Decoder {
    level: G722Level,
    band: [Band; 2],
    x: [i32; 12],
    y: [i32; 12],
    ptr: usize,
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Decoder {
    /// A decoder in the standard's reset state, at the reference level.
    pub fn new() -> Self {
        Self::with_level(G722Level::Standard)
    }

    /// A decoder in the standard's reset state, at the given level convention.
    pub fn with_level(level: G722Level) -> Self {
        G722Decoder {
            level,
            band: [Band::new(32), Band::new(8)],
            x: [0; 12],
            y: [0; 12],
            ptr: 0,
        }
    }

    /// Decodes bytes into 16 kHz samples in `out` (two per byte); returns the samples
    /// written. Never writes past `out`.
    pub fn decode(&mut self, data: &[u8], out: &mut [i16]) -> usize {
        let mut n = 0;
        let level = self.level;
        let up = |x: i16| match level {
            G722Level::Standard => x,
            G722Level::Pjmedia => x.saturating_mul(2),
        };
        for (&code, o) in data.iter().zip(out.chunks_exact_mut(2)) {
            let (a, b) = self.decode_byte(code);
            o[0] = up(a);
            o[1] = up(b);
            n += 2;
        }
        n
    }

    fn decode_byte(&mut self, code: u8) -> (i16, i16) {
        let code = i32::from(code);
        let ilr = (code & 0x3f) as usize;
        let ih = ((code >> 6) & 0x03) as usize;

        // Low band: INVQBL, RECONS, LIMIT (the output); INVQAL (the predictor)
        let lo = &mut self.band[0];
        let wd2 = (lo.det * QM6[ilr]) >> 15;
        let rlow = sat15(lo.s + wd2);
        let ril = ilr >> 2;
        let dlow = (lo.det * QM4[ril]) >> 15;
        lo.adapt_scale(WL[RL42[ril]], 18432, 8);
        lo.block4(dlow);

        // High band
        let hi = &mut self.band[1];
        let dhigh = (hi.det * QM2[ih]) >> 15;
        let rhigh = sat15(dhigh + hi.s);
        hi.adapt_scale(WH[RH2[ih]], 22528, 10);
        hi.block4(dhigh);

        // Receive QMF
        self.x[self.ptr] = rlow + rhigh;
        self.y[self.ptr] = rlow - rhigh;
        self.ptr = (self.ptr + 1) % 12;
        let a = sat16(qmf_dot(&self.y, &QMF_REV, self.ptr) >> 11);
        let b = sat16(qmf_dot(&self.x, &QMF_FWD, self.ptr) >> 11);
        (a as i16, b as i16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::tone_snr_db;
    use crate::media::tone::ToneGenerator;

    fn round_trip(freq: f32, amplitude: i16) -> (Vec<i16>, Vec<i16>) {
        let mut gen = ToneGenerator::new(freq, 16000, amplitude);
        let mut enc = G722Encoder::new();
        let mut dec = G722Decoder::new();
        let (mut input, mut output) = (vec![], vec![]);
        for _ in 0..100 {
            let f = gen.next_frame();
            assert_eq!(f.len, 320);
            let mut bytes = [0u8; 160];
            assert_eq!(enc.encode(f.pcm(), &mut bytes), 160);
            let mut pcm = [0i16; 320];
            assert_eq!(dec.decode(&bytes, &mut pcm), 320);
            input.extend_from_slice(f.pcm());
            output.extend_from_slice(&pcm);
        }
        (input, output)
    }

    #[test]
    fn tones_keep_frequency_and_level_across_the_band() {
        for freq in [300.0f32, 1000.0, 3400.0, 5000.0, 6500.0] {
            let (input, output) = round_trip(freq, 10000);
            let (_, _, rms_in) = tone_snr_db(&input[1600..], 16000, f64::from(freq));
            let (peak, snr, rms) = tone_snr_db(&output[1600..], 16000, f64::from(freq));
            assert!((peak - f64::from(freq)).abs() < 10.0, "{freq}: peak {peak}");
            eprintln!(
                "g722 {freq} Hz: peak {peak:.1} snr {snr:.1} dB level {rms:.2} vs {rms_in:.2}"
            );
            let min_snr = if freq < 4000.0 { 30.0 } else { 15.0 };
            assert!(snr > min_snr, "{freq}: snr {snr}");
            assert!(
                (rms - rms_in).abs() < 1.5,
                "{freq}: level {rms} vs {rms_in}"
            );
        }
    }

    fn rms_db(x: &[i16]) -> f64 {
        let ms = x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64;
        10.0 * (ms / (32768.0f64 * 32768.0)).log10()
    }

    #[test]
    fn pjmedia_level_is_six_db_around_the_reference() {
        // a pjmedia-convention encoder's stream decodes 6 dB low at the reference level,
        // and a reference stream decodes 6 dB high at the pjmedia level (and both
        // conventions round-trip at 0 dB among themselves)
        let mut gen = ToneGenerator::new(1000.0, 16000, 8000);
        let mut input = vec![];
        for _ in 0..50 {
            input.extend_from_slice(gen.next_frame().pcm());
        }
        let code = |level| {
            let mut bytes = vec![0u8; input.len() / 2];
            G722Encoder::with_level(level).encode(&input, &mut bytes);
            bytes
        };
        let decode = |level, bytes: &[u8]| {
            let mut pcm = vec![0i16; bytes.len() * 2];
            G722Decoder::with_level(level).decode(bytes, &mut pcm);
            rms_db(&pcm[1600..])
        };
        let (std, pj) = (G722Level::Standard, G722Level::Pjmedia);
        let reference = rms_db(&input[1600..]);
        let cases = [
            (std, std, 0.0),
            (pj, pj, 0.0),
            (pj, std, -6.02),
            (std, pj, 6.02),
        ];
        for (enc, dec, want) in cases {
            let got = decode(dec, &code(enc)) - reference;
            assert!(
                (got - want).abs() < 0.3,
                "{enc:?}->{dec:?}: {got:.2} dB, want {want}"
            );
        }
        assert_eq!(G722Level::from_config_name("PJMEDIA"), Some(pj));
        assert_eq!(G722Level::from_config_name("standard"), Some(std));
        assert_eq!(G722Level::from_config_name("14bit"), None);
        // doubling saturates instead of wrapping
        let loud: Vec<i16> = (0..3200)
            .map(|i| if i % 16 < 8 { 30000 } else { -30000 })
            .collect();
        let mut bytes = vec![0u8; 1600];
        G722Encoder::new().encode(&loud, &mut bytes);
        let mut pcm = vec![0i16; 3200];
        G722Decoder::with_level(pj).decode(&bytes, &mut pcm);
    }

    #[test]
    fn silence_stays_silent_and_extremes_do_not_overflow() {
        let mut enc = G722Encoder::new();
        let mut dec = G722Decoder::new();
        let mut bytes = [0u8; 160];
        let mut pcm = [0i16; 320];
        enc.encode(&[0; 320], &mut bytes);
        dec.decode(&bytes, &mut pcm);
        assert!(pcm.iter().all(|s| s.abs() < 16));
        // full-scale square wave and random bytes: no panic, bounded output
        let square: Vec<i16> = (0..320)
            .map(|i| if i % 20 < 10 { 32767 } else { -32768 })
            .collect();
        for _ in 0..20 {
            enc.encode(&square, &mut bytes);
            dec.decode(&bytes, &mut pcm);
        }
        let mut x = 1u32;
        let mut dec = G722Decoder::new();
        for _ in 0..200 {
            for b in bytes.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
            dec.decode(&bytes, &mut pcm);
        }
        // short buffers are respected
        assert_eq!(enc.encode(&[0; 320], &mut [0u8; 10]), 10);
        assert_eq!(dec.decode(&[0u8; 160], &mut [0i16; 7]), 6);
    }
}
