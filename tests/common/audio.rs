//! Audio checks: WAV read/write (16-bit PCM, µ-law, A-law), G.711 decoding, test-tone
//! generation with sox, and a tone detector (Welch-averaged FFT) that judges a recording
//! by frequency, level and SNR with margins, never by exact samples.

use std::f64::consts::PI;
use std::path::Path;
use std::process::Command;

/// Decoded mono audio (first channel of the file).
#[derive(Debug, Clone)]
pub struct Audio {
    pub rate: u32,
    pub samples: Vec<i16>,
}

impl Audio {
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate.max(1))
    }
}

/// G.711 µ-law byte to linear PCM.
pub fn ulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let sign = u & 0x80;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0f);
    let mut sample = ((mantissa << 3) + 0x84) << exponent;
    sample -= 0x84;
    (if sign != 0 { -sample } else { sample }) as i16
}

/// G.711 A-law byte to linear PCM.
pub fn alaw_to_linear(a: u8) -> i16 {
    let a = a ^ 0x55;
    let sign = a & 0x80;
    let exponent = i32::from((a >> 4) & 0x07);
    let mantissa = i32::from(a & 0x0f);
    let mut sample = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if sign == 0 {
        sample = -sample;
    }
    sample as i16
}

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}
fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Parses a RIFF/WAVE file. Tolerates a `data` size left unfinished (0 or too large) by
/// a recorder that was still writing or was killed: it then reads to the end.
pub fn parse_wav(bytes: &[u8]) -> Result<Audio, String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file".into());
    }
    let mut pos = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = le32(&bytes[pos + 4..pos + 8]) as usize;
        let body_start = pos + 8;
        if id == b"fmt " {
            let b = bytes
                .get(body_start..body_start + 16)
                .ok_or("short fmt chunk")?;
            let mut format = le16(&b[0..2]);
            let channels = le16(&b[2..4]);
            let rate = le32(&b[4..8]);
            let bits = le16(&b[14..16]);
            if format == 0xFFFE {
                // WAVE_FORMAT_EXTENSIBLE: the real format is the first 2 bytes of the GUID.
                let ext = bytes
                    .get(body_start + 24..body_start + 26)
                    .ok_or("short extensible fmt")?;
                format = le16(ext);
            }
            fmt = Some((format, channels, rate, bits));
        } else if id == b"data" {
            let (format, channels, rate, bits) = fmt.ok_or("data before fmt")?;
            let avail = bytes.len() - body_start;
            let len = if size == 0 || size > avail {
                avail
            } else {
                size
            };
            let data = &bytes[body_start..body_start + len];
            let ch = usize::from(channels.max(1));
            let samples: Vec<i16> = match (format, bits) {
                (1, 16) => data.chunks_exact(2 * ch).map(|f| le16(f) as i16).collect(),
                (7, 8) => data
                    .chunks_exact(ch)
                    .map(|f| ulaw_to_linear(f[0]))
                    .collect(),
                (6, 8) => data
                    .chunks_exact(ch)
                    .map(|f| alaw_to_linear(f[0]))
                    .collect(),
                (f, b) => return Err(format!("unsupported WAV format {f} with {b} bits")),
            };
            return Ok(Audio { rate, samples });
        }
        pos = body_start + size + (size & 1);
    }
    Err("no data chunk".into())
}

/// Reads a WAV file (see [`parse_wav`]).
pub fn read_wav(path: &Path) -> Audio {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    parse_wav(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Writes 16-bit mono PCM (used to keep decoded captures for diagnosis).
pub fn write_wav(path: &Path, audio: &Audio) {
    let data_len = (audio.samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&audio.rate.to_le_bytes());
    out.extend_from_slice(&(audio.rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in &audio.samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Makes a test tone with sox: 8 kHz mono, 16-bit PCM or (for sipp's `rtp_stream`) µ-law.
pub fn sox_tone(path: &Path, freq: u32, secs: u32, ulaw: bool) {
    let mut cmd = Command::new("sox");
    cmd.args(["-n", "-r", "8000", "-c", "1"]);
    if ulaw {
        cmd.args(["-b", "8", "-e", "u-law"]);
    } else {
        cmd.args(["-b", "16", "-e", "signed-integer"]);
    }
    cmd.arg(path).args([
        "synth",
        &secs.to_string(),
        "sine",
        &freq.to_string(),
        "vol",
        "0.5",
    ]);
    run_ok(cmd, "sox");
}

/// Makes a half-scale (−9.03 dBFS RMS) 16-bit mono tone with sox at any rate.
pub fn sox_tone_at(path: &Path, rate: u32, freq: u32, secs: u32) {
    let mut cmd = Command::new("sox");
    cmd.args(["-n", "-r", &rate.to_string(), "-c", "1", "-b", "16"])
        .args(["-e", "signed-integer"])
        .arg(path)
        .args(["synth", &secs.to_string(), "sine", &freq.to_string()])
        .args(["vol", "0.5"]);
    run_ok(cmd, "sox");
}

/// Makes a silent 16-bit 8 kHz WAV with sox.
pub fn sox_silence(path: &Path, secs: u32) {
    let mut cmd = Command::new("sox");
    cmd.args([
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        "-e",
        "signed-integer",
    ])
    .arg(path)
    .args(["trim", "0", &secs.to_string()]);
    run_ok(cmd, "sox");
}

fn run_ok(mut cmd: Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} ({cmd:?}): {e} — run scripts/test.sh"));
    assert!(
        out.status.success(),
        "{what} failed ({cmd:?}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In-place iterative radix-2 FFT (len must be a power of two).
fn fft(re: &mut [f64], im: &mut [f64]) {
    let n = re.len();
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
    let mut len = 2;
    while len <= n {
        let ang = -2.0 * PI / len as f64;
        for start in (0..n).step_by(len) {
            for k in 0..len / 2 {
                let (wr, wi) = ((ang * k as f64).cos(), (ang * k as f64).sin());
                let (a, b) = (start + k, start + k + len / 2);
                let tr = re[b] * wr - im[b] * wi;
                let ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        len <<= 1;
    }
}

/// What the detector measured.
#[derive(Debug, Clone, Copy)]
pub struct ToneReport {
    pub rate: u32,
    pub duration_s: f64,
    pub peak_hz: f64,
    pub rms_dbfs: f64,
    /// Energy within ±25 Hz of the expected tone against everything else, in dB.
    pub snr_db: f64,
}

impl ToneReport {
    /// The verdict the acceptance tests use: peak within 10 Hz, SNR > 10 dB, level > -40 dBFS.
    pub fn carries(&self, freq: f64) -> bool {
        (self.peak_hz - freq).abs() <= 10.0 && self.snr_db > 10.0 && self.rms_dbfs > -40.0
    }
}

/// Welch power spectrum (Hann, 50 % overlap); returns (bin width in Hz, power per bin).
fn welch(x: &[f64], rate: u32) -> (f64, Vec<f64>) {
    let mut n = 1usize;
    while n * 2 <= (rate as usize).max(2) / 2 {
        n *= 2;
    }
    let n = n.max(256);
    let window: Vec<f64> = (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos())
        .collect();
    let mut acc = vec![0.0; n / 2 + 1];
    let mut start = 0;
    loop {
        let mut re: Vec<f64> = (0..n)
            .map(|i| x.get(start + i).copied().unwrap_or(0.0) * window[i])
            .collect();
        let mut im = vec![0.0; n];
        fft(&mut re, &mut im);
        for k in 0..=n / 2 {
            acc[k] += re[k] * re[k] + im[k] * im[k];
        }
        start += n / 2;
        if start + n > x.len() {
            break;
        }
    }
    (f64::from(rate) / n as f64, acc)
}

/// Measures `audio` against the expected tone `freq`, skipping the first `skip_s` seconds.
pub fn analyze(audio: &Audio, freq: f64, skip_s: f64) -> ToneReport {
    let skip = ((skip_s * f64::from(audio.rate)) as usize).min(audio.samples.len());
    let x: Vec<f64> = audio.samples[skip..]
        .iter()
        .map(|&s| f64::from(s) / 32768.0)
        .collect();
    let duration_s = x.len() as f64 / f64::from(audio.rate.max(1));
    if x.is_empty() {
        return ToneReport {
            rate: audio.rate,
            duration_s,
            peak_hz: 0.0,
            rms_dbfs: -200.0,
            snr_db: -200.0,
        };
    }
    let rms = (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt();
    let rms_dbfs = 20.0 * (rms + 1e-12).log10();
    let (df, spec) = welch(&x, audio.rate);
    let (mut band, mut rest, mut peak_k) = (0.0, 0.0, 0usize);
    for (k, p) in spec.iter().enumerate() {
        if (k as f64 * df - freq).abs() <= 25.0 {
            band += p;
        } else {
            rest += p;
        }
        if *p > spec[peak_k] {
            peak_k = k;
        }
    }
    ToneReport {
        rate: audio.rate,
        duration_s,
        peak_hz: peak_k as f64 * df,
        rms_dbfs,
        snr_db: 10.0 * ((band + 1e-30) / (rest + 1e-20)).log10(),
    }
}

/// Asserts that `audio` carries `freq` (see [`ToneReport::carries`]); `what` names it.
pub fn assert_tone(audio: &Audio, freq: f64, what: &str) -> ToneReport {
    let r = analyze(audio, freq, 0.5);
    assert!(
        r.duration_s >= 1.0,
        "{what}: only {:.2} s of audio: {r:?}",
        r.duration_s
    );
    assert!(
        r.carries(freq),
        "{what}: does not carry {freq} Hz (peak within 10 Hz, SNR > 10 dB, > -40 dBFS): {r:?}"
    );
    r
}

/// Reads a WAV file and asserts it carries `freq`.
pub fn assert_wav_tone(path: &Path, freq: f64) -> ToneReport {
    let audio = read_wav(path);
    assert_tone(&audio, freq, &path.display().to_string())
}

/// Level of the steady part of a recording, in dBFS: the median RMS of its 100 ms
/// windows louder than −40 dBFS, so the silence before answer and after hang-up does
/// not dilute it. −200 when nothing is that loud.
pub fn steady_level_dbfs(audio: &Audio) -> f64 {
    let win = (audio.rate as usize / 10).max(1);
    let mut levels: Vec<f64> = audio
        .samples
        .chunks_exact(win)
        .map(|w| {
            let ms = w
                .iter()
                .map(|&s| (f64::from(s) / 32768.0).powi(2))
                .sum::<f64>()
                / win as f64;
            10.0 * (ms + 1e-20).log10()
        })
        .filter(|&l| l > -40.0)
        .collect();
    if levels.is_empty() {
        return -200.0;
    }
    levels.sort_by(|a, b| a.total_cmp(b));
    levels[levels.len() / 2]
}

/// Samples at (or one step from) full scale: a decoder or gain stage that clipped.
pub fn clipped_samples(audio: &Audio) -> usize {
    audio
        .samples
        .iter()
        .filter(|&&s| s >= i16::MAX - 1 || s <= i16::MIN + 1)
        .count()
}
