//! How many calls one gateway process takes at once when `[calls] max_calls = "auto"`:
//! what its one core can carry of the dearest codec it offers, with room to spare, so
//! the call after the last one that fits gets 503 at once instead of every live call
//! getting late frames.
//!
//! The formula (docs/PERFORMANCE.md, "Admission"):
//!
//! ```text
//! max_calls = floor(HEADROOM × 1000 ms × speed / cost(dearest offered codec))
//! ```
//!
//! clamped to 1 and to the calls the RTP port range holds. `cost` is the CPU a call takes
//! per second of audio on the reference core (`scripts/bench.sh` rows 1 and 2, with
//! many calls); `speed` is this box's core against that one, measured once at start by
//! timing the same Opus work the reference was timed with ([`measure_speed`]).

use crate::media::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig};
use std::time::{Duration, Instant};

/// Share of the core calls may use: the rest is for signalling, the API, the room
/// SDK's own threads and bursts.
pub const HEADROOM: f64 = 0.5;

/// CPU per call-second on the reference core, in ms, by codec config name.
/// `pcmu`/`pcma`: 0.82 (200 calls) and `opus`: 8.59 (100 calls) are measured
/// (docs/PERFORMANCE.md, run of 2026-11-27); `g722` and `g729` are not in the bench yet
/// and are set between the two, from their codecs' relative cost.
pub fn cost_ms(codec: &str) -> f64 {
    match codec {
        "pcmu" | "pcma" => 0.82,
        "g722" => 1.6,
        "g729" => 3.0,
        _ => 8.59, // opus, and anything unknown: the dearest
    }
}

/// Time the reference core takes for [`reference_work`], in µs: estimated from row 2 of
/// the bench (8.59 ms per Opus call-second, most of it this encode and decode, of which
/// this is half a second), not yet timed by the bench itself; a loaded development box
/// (2-vCPU AMD EPYC VM, release build) took 4.6–8.7 ms, so on a busy box "auto" errs
/// towards fewer calls.
pub const REFERENCE_WORK_US: f64 = 2_600.0;

/// The calls a process takes with `codecs` offered, on a core `speed` times the
/// reference, with `port_calls` media port pairs.
pub fn auto_max_calls(codecs: &[String], speed: f64, port_calls: usize) -> usize {
    let dearest = codecs
        .iter()
        .map(|c| cost_ms(c))
        .fold(cost_ms("pcmu"), f64::max);
    let fits = (HEADROOM * 1000.0 * speed / dearest).floor();
    let fits = if fits.is_finite() && fits >= 1.0 {
        fits as usize
    } else {
        1
    };
    fits.clamp(1, port_calls.max(1))
}

/// The limit `config` sets: its number, or for `"auto"` the formula's on this core, with
/// a line saying how it came about (for the start-up log and `--check-config`).
pub fn max_calls(config: &crate::config::Config) -> (usize, String) {
    match config.calls.max_calls {
        crate::config::MaxCalls::Fixed(n) => (n, format!("{n} (configured)")),
        crate::config::MaxCalls::Auto => {
            let speed = measure_speed();
            let [lo, hi] = config.rtp.ports;
            let port_calls = usize::from(hi.saturating_sub(lo)).div_ceil(2);
            let n = auto_max_calls(&config.sip.codecs, speed, port_calls);
            (
                n,
                format!(
                    "{n} (auto: {} offered, this core at {speed:.2}x the reference; \
                     docs/PERFORMANCE.md \"Admission\")",
                    config.sip.codecs.join("/")
                ),
            )
        }
    }
}

/// The work timed against [`REFERENCE_WORK_US`]: 25 frames (half a second) of a voice
/// Opus encode and decode, the bulk of an Opus call's cost.
fn reference_work() -> Option<Duration> {
    let mut enc = OpusEncoder::new(OpusEncoderConfig::default()).ok()?;
    let mut dec = OpusDecoder::new().ok()?;
    let mut packet = [0u8; 400];
    let mut out = [0i16; 320];
    let mut pcm = [0i16; 320];
    let started = Instant::now();
    for frame in 0..25 {
        for (i, s) in pcm.iter_mut().enumerate() {
            let t = (frame * 320 + i) as f64 / 16_000.0;
            *s = (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16;
        }
        let n = enc.encode(&pcm, &mut packet).ok()?;
        dec.decode(packet.get(..n)?, &mut out).ok()?;
    }
    Some(started.elapsed())
}

/// This core's speed against the reference one (1.0: as fast), from the quickest of a
/// few runs of [`reference_work`] (the quickest is the least disturbed by other load).
/// Kept within 0.05–4; 1.0 when the work cannot run.
pub fn measure_speed() -> f64 {
    let best = (0..5).filter_map(|_| reference_work()).min();
    match best {
        Some(d) if d.as_micros() > 0 => (REFERENCE_WORK_US / d.as_micros() as f64).clamp(0.05, 4.0),
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codecs(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn the_dearest_offered_codec_sets_the_limit() {
        // The reference core: Opus offered → 58 calls; G.711 only → 609.
        assert_eq!(auto_max_calls(&codecs(&["opus", "pcmu"]), 1.0, 10_000), 58);
        assert_eq!(auto_max_calls(&codecs(&["pcmu", "pcma"]), 1.0, 10_000), 609);
        // A core a quarter as fast (a Raspberry Pi 4's): a quarter of the calls.
        assert_eq!(auto_max_calls(&codecs(&["pcmu"]), 0.25, 10_000), 152);
        // The port range caps it, and there is always room for one.
        assert_eq!(auto_max_calls(&codecs(&["pcmu"]), 1.0, 100), 100);
        assert_eq!(auto_max_calls(&codecs(&["opus"]), 0.001, 100), 1);
    }

    #[test]
    fn max_calls_takes_a_number_or_auto() {
        use crate::config::{Config, MaxCalls};
        let c = Config::parse("[calls]\nmax_calls = \"auto\"\n").unwrap();
        assert_eq!(c.calls.max_calls, MaxCalls::Auto);
        let (n, why) = max_calls(&c);
        assert!(
            n >= 1 && why.starts_with(&format!("{n} (auto: opus/")),
            "{why}"
        );
        let c = Config::parse("[calls]\nmax_calls = 7\n").unwrap();
        assert_eq!(max_calls(&c).0, 7);
        let err = Config::parse("[calls]\nmax_calls = \"lots\"\n")
            .unwrap_err()
            .0;
        assert!(
            err.contains("calls.max_calls") || err.contains("max_calls"),
            "{err}"
        );
        assert!(Config::parse("[calls]\nmax_calls = 0\n").is_err());
    }

    #[test]
    fn the_speed_measure_is_a_bounded_positive_ratio() {
        let s = measure_speed();
        assert!((0.05..=4.0).contains(&s), "{s}");
    }
}
