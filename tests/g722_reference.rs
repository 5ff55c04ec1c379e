//! G.722 level and bit-exactness against other implementations (issue 17):
//! - the ITU-T Software Tool Library's reference test vectors (G.191 STL, `src/g722/
//!   test_data` of the public `openitu/STL` repository, under the ITU-T Software Tools
//!   General Public License, which allows verbatim copies with the licence). The three
//!   files this test needs are in `tests/data/stl-g722/` beside that licence, unchanged;
//!   `SIPGW_G722_STL_DIR` may point elsewhere. A missing file fails the test;
//! - FFmpeg's `g722` codec (Debian `ffmpeg`), a tone both ways: within ±1 dB, no clipping.

use std::path::{Path, PathBuf};
use std::process::Command;
use trtc_sipgw::media::g722::{G722Decoder, G722Encoder, G722Level};

fn stl_dir() -> PathBuf {
    let dir = std::env::var_os("SIPGW_G722_STL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/stl-g722"));
    assert!(
        dir.join("inpsp.bin").is_file(),
        "ITU-T STL G.722 test vectors not found in {}: copy src/g722/test_data/{{inpsp.bin,\
         codspw.cod,outsp1.bin}} of github.com/openitu/STL there or set SIPGW_G722_STL_DIR",
        dir.display()
    );
    dir
}

/// The STL files hold 16-bit little-endian words.
fn words(path: &Path) -> Vec<i16> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    b.chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

#[test]
fn stl_reference_vectors_bit_exact() {
    let dir = stl_dir();
    let input = words(&dir.join("inpsp.bin"));
    let codes = words(&dir.join("codspw.cod"));
    let output = words(&dir.join("outsp1.bin"));
    assert_eq!(codes.len() * 2, input.len());

    let mut ours = vec![0u8; input.len() / 2];
    assert_eq!(G722Encoder::new().encode(&input, &mut ours), codes.len());
    let first = ours
        .iter()
        .zip(&codes)
        .position(|(a, b)| i16::from(*a) != *b);
    assert_eq!(
        first, None,
        "encoder differs from codspw.cod at code {first:?}"
    );

    let bytes: Vec<u8> = codes.iter().map(|&c| c as u8).collect();
    let mut pcm = vec![0i16; output.len()];
    assert_eq!(G722Decoder::new().decode(&bytes, &mut pcm), output.len());
    let first = pcm.iter().zip(&output).position(|(a, b)| a != b);
    assert_eq!(
        first, None,
        "decoder differs from outsp1.bin at sample {first:?}"
    );
}

fn rms_dbfs(x: &[i16]) -> f64 {
    let ms = x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len().max(1) as f64;
    10.0 * (ms / (32768.0f64 * 32768.0)).log10()
}

fn clipped(x: &[i16]) -> usize {
    x.iter()
        .filter(|&&v| v == i16::MAX || v == i16::MIN)
        .count()
}

/// 1 kHz at half scale (−9.0 dBFS RMS), 16 kHz, 2 s.
fn tone() -> Vec<i16> {
    (0..32000)
        .map(|i| {
            let t = i as f64 / 16000.0;
            (16384.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16
        })
        .collect()
}

fn ffmpeg(args: &[&str], dir: &Path) {
    let out = Command::new("ffmpeg")
        .current_dir(dir)
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ffmpeg ({e}): run scripts/test.sh"));
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pcm_bytes(x: &[i16]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn from_bytes(b: &[u8]) -> Vec<i16> {
    b.chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

#[test]
fn ffmpeg_g722_levels_agree_both_ways() {
    let dir = std::env::temp_dir().join(format!("sipgw-g722-ffmpeg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = tone();
    let level_in = rms_dbfs(&input[3200..]);

    // FFmpeg encodes, we decode
    std::fs::write(dir.join("in.s16"), pcm_bytes(&input)).unwrap();
    ffmpeg(
        &[
            "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", "in.s16", "-c:a", "g722", "-f",
            "g722", "ff.g722",
        ],
        &dir,
    );
    let ff = std::fs::read(dir.join("ff.g722")).unwrap();
    let mut ours = vec![0i16; ff.len() * 2];
    G722Decoder::new().decode(&ff, &mut ours);
    let ff_to_us = rms_dbfs(&ours[3200..]) - level_in;

    // we encode, FFmpeg decodes
    let mut code = vec![0u8; input.len() / 2];
    G722Encoder::new().encode(&input, &mut code);
    std::fs::write(dir.join("ours.g722"), &code).unwrap();
    ffmpeg(
        &[
            "-f",
            "g722",
            "-i",
            "ours.g722",
            "-f",
            "s16le",
            "-ar",
            "16000",
            "theirs.s16",
        ],
        &dir,
    );
    let theirs = from_bytes(&std::fs::read(dir.join("theirs.s16")).unwrap());
    assert!(
        theirs.len() > 16000,
        "ffmpeg decoded {} samples",
        theirs.len()
    );
    let us_to_ff = rms_dbfs(&theirs[3200..]) - level_in;

    // the pjmedia convention is 6 dB off against FFmpeg, by design
    let mut pj = vec![0i16; ff.len() * 2];
    G722Decoder::with_level(G722Level::Pjmedia).decode(&ff, &mut pj);
    let ff_to_pj = rms_dbfs(&pj[3200..]) - level_in;

    println!(
        "G.722 levels: ffmpeg->us {ff_to_us:+.2} dB, us->ffmpeg {us_to_ff:+.2} dB, \
         ffmpeg->us(pjmedia) {ff_to_pj:+.2} dB"
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ff_to_us.abs() <= 1.0, "ffmpeg->us {ff_to_us:+.2} dB");
    assert!(us_to_ff.abs() <= 1.0, "us->ffmpeg {us_to_ff:+.2} dB");
    assert!(
        (ff_to_pj - 6.02).abs() <= 1.0,
        "pjmedia level {ff_to_pj:+.2} dB"
    );
    assert_eq!(clipped(&ours), 0, "our decoding of ffmpeg clips");
    assert_eq!(clipped(&theirs), 0, "ffmpeg's decoding of ours clips");
}
