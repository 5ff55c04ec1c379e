//! 16-bit mono WAV files: recordings of what each leg heard, and test fixtures.
//!
//! End-to-end tests and benchmarks record the audio that crossed the gateway and judge
//! it by frequency afterwards; baresip and sox also trade in WAV. A recording must stay
//! readable when the process is killed mid-call, so the writer patches the RIFF sizes
//! every second of audio and on drop, not only in [`WavWriter::finish`].

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

const HEADER_LEN: u64 = 44;

/// Bytes buffered before a write: six 20 ms frames at 16 kHz. A recording is one per
/// call, so the buffer is per call memory; std's 8 KiB default was an eighth of a call.
const WRITE_BUFFER: usize = 4096;

/// Writes a 16-bit mono PCM WAV file incrementally.
pub struct WavWriter {
    file: BufWriter<File>,
    rate: u32,
    data_bytes: u64,
    bytes_since_patch: u64,
    finished: bool,
}

impl WavWriter {
    /// Creates (truncates) `path` and writes a header for `rate` samples/s.
    pub fn create(path: impl AsRef<Path>, rate: u32) -> io::Result<Self> {
        let mut file = BufWriter::with_capacity(WRITE_BUFFER, File::create(path)?);
        file.write_all(&header(rate, 0))?;
        Ok(WavWriter {
            file,
            rate,
            data_bytes: 0,
            bytes_since_patch: 0,
            finished: false,
        })
    }

    /// Sample rate given at creation.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Samples written so far.
    pub fn samples_written(&self) -> u64 {
        self.data_bytes / 2
    }

    /// Appends samples. Fails once the file would pass the 4 GiB RIFF limit.
    pub fn write(&mut self, pcm: &[i16]) -> io::Result<()> {
        let add = pcm.len() as u64 * 2;
        if self.data_bytes + add > u64::from(u32::MAX) - HEADER_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "WAV file would exceed 4 GiB",
            ));
        }
        let mut buf = [0u8; 1024];
        for chunk in pcm.chunks(buf.len() / 2) {
            for (b, s) in buf.chunks_exact_mut(2).zip(chunk) {
                b.copy_from_slice(&s.to_le_bytes());
            }
            self.file.write_all(&buf[..chunk.len() * 2])?;
        }
        self.data_bytes += add;
        self.bytes_since_patch += add;
        if self.bytes_since_patch >= u64::from(self.rate.max(8000)) * 2 {
            self.patch_sizes()?;
        }
        Ok(())
    }

    /// Writes the final sizes and flushes; the file is complete afterwards.
    pub fn finish(mut self) -> io::Result<()> {
        self.finished = true;
        self.patch_sizes()
    }

    fn patch_sizes(&mut self) -> io::Result<()> {
        self.bytes_since_patch = 0;
        let data = u32::try_from(self.data_bytes).unwrap_or(u32::MAX);
        self.file.flush()?;
        let f = self.file.get_mut();
        f.seek(SeekFrom::Start(4))?;
        f.write_all(&(data.saturating_add(36)).to_le_bytes())?;
        f.seek(SeekFrom::Start(40))?;
        f.write_all(&data.to_le_bytes())?;
        f.seek(SeekFrom::End(0))?;
        f.flush()
    }
}

impl Drop for WavWriter {
    fn drop(&mut self) {
        if !self.finished {
            if let Err(e) = self.patch_sizes() {
                log::warn!("wav: could not finalise recording: {e}");
            }
        }
    }
}

fn header(rate: u32, data_bytes: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_bytes.saturating_add(36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&rate.saturating_mul(2).to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
}

/// Writes a whole 16-bit mono WAV file in one go (test fixtures, tone files for peers).
pub fn write_wav_mono16(path: impl AsRef<Path>, rate: u32, samples: &[i16]) -> io::Result<()> {
    let mut w = WavWriter::create(path, rate)?;
    w.write(samples)?;
    w.finish()
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads a 16-bit PCM WAV file (first channel if there are several) and returns its rate
/// and samples. Tolerates recordings whose sizes were never patched (size 0 or too big:
/// the data runs to the end of the file).
pub fn read_wav_mono16(path: impl AsRef<Path>) -> io::Result<(u32, Vec<i16>)> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    parse_wav_mono16(&bytes)
}

/// The parsing half of [`read_wav_mono16`], for bytes already in memory.
pub fn parse_wav_mono16(bytes: &[u8]) -> io::Result<(u32, Vec<i16>)> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a RIFF/WAVE file"));
    }
    let mut pos = 12usize;
    let mut fmt: Option<(u16, u32)> = None; // (channels, rate)
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            if size < 16 || body + 16 > bytes.len() {
                return Err(bad("short fmt chunk"));
            }
            let f = &bytes[body..body + 16];
            let format = u16::from_le_bytes([f[0], f[1]]);
            let channels = u16::from_le_bytes([f[2], f[3]]);
            let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
            let bits = u16::from_le_bytes([f[14], f[15]]);
            if !(format == 1 || format == 0xfffe) || bits != 16 || channels == 0 {
                return Err(bad("only 16-bit PCM WAV is supported"));
            }
            fmt = Some((channels, rate));
        } else if id == b"data" {
            let (channels, rate) = fmt.ok_or_else(|| bad("data chunk before fmt chunk"))?;
            let available = bytes.len() - body;
            let len = if size == 0 || size > available {
                available
            } else {
                size
            };
            let stride = usize::from(channels) * 2;
            let samples = bytes[body..body + len]
                .chunks_exact(stride)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return Ok((rate, samples));
        }
        // chunks are padded to even sizes
        pos = body.saturating_add(size).saturating_add(size & 1);
    }
    Err(bad("no data chunk"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("trtc-sipgw-wav-{}-{name}.wav", std::process::id()))
    }

    #[test]
    fn write_finish_read_round_trip() {
        let p = tmp("rt");
        let mut w = WavWriter::create(&p, 8000).unwrap();
        let x: Vec<i16> = (0..20_000)
            .map(|i| (i * 7 % 65536 - 32768) as i16)
            .collect();
        w.write(&x[..12_345]).unwrap();
        w.write(&x[12_345..]).unwrap();
        assert_eq!(w.samples_written(), 20_000);
        w.finish().unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(bytes.len(), 44 + 40_000);
        assert_eq!(
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
            36 + 40_000
        );
        assert_eq!(
            u32::from_le_bytes(bytes[40..44].try_into().unwrap()),
            40_000
        );
        let (rate, y) = read_wav_mono16(&p).unwrap();
        assert_eq!(rate, 8000);
        assert_eq!(y, x);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn readable_without_finish() {
        let p = tmp("nofinish");
        {
            let mut w = WavWriter::create(&p, 16000).unwrap();
            w.write(&[1, 2, 3]).unwrap();
            // dropped without finish
        }
        assert_eq!(read_wav_mono16(&p).unwrap(), (16000, vec![1, 2, 3]));
        // sizes are patched periodically even while the writer lives
        let mut w = WavWriter::create(&p, 8000).unwrap();
        w.write(&[5; 16_000]).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(
            u32::from_le_bytes(bytes[40..44].try_into().unwrap()),
            32_000
        );
        std::mem::forget(w); // as if the process died: the file is still valid
        assert_eq!(read_wav_mono16(&p).unwrap().1.len(), 16_000);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn reads_stereo_and_unpatched_and_skips_chunks() {
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF\0\0\0\0WAVE");
        b.extend_from_slice(b"LIST\x03\0\0\0abc\0"); // odd chunk + pad byte
        b.extend_from_slice(b"fmt \x10\0\0\0");
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&48000u32.to_le_bytes());
        b.extend_from_slice(&(48000u32 * 4).to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"data\0\0\0\0");
        for s in [10i16, -10, 20, -20, 30, -30] {
            b.extend_from_slice(&s.to_le_bytes());
        }
        assert_eq!(parse_wav_mono16(&b).unwrap(), (48000, vec![10, 20, 30]));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_wav_mono16(b"").is_err());
        assert!(parse_wav_mono16(b"RIFF\0\0\0\0WAVE").is_err());
        assert!(parse_wav_mono16(b"RIFF\0\0\0\0WAVEdata\x04\0\0\0abcd").is_err());
        assert!(parse_wav_mono16(b"RIFF\0\0\0\0WAVEfmt \xff\xff\xff\xff").is_err());
        assert!(read_wav_mono16("/nonexistent/x.wav").is_err());
    }
}
