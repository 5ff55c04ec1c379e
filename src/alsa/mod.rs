//! A local ALSA sound device as the phone leg (issue 14): an intercom, a PA amplifier or
//! an analogue line interface wired to the box's own sound card, bridged to a TRTC room
//! with the same API and call states as a SIP call.
//!
//! Split by concern: `config` is the `[alsa.lines.<name>]` contract (parsed in every
//! build, so a build without the `alsa` feature can say how to get one), `ring` is the
//! pure period/drift arithmetic that paces a line on the gateway's 20 ms media clock,
//! `device` the two non-blocking PCMs of a line (only with the feature).

pub mod config;
#[cfg(feature = "alsa")]
pub mod device;
pub mod ring;

pub use config::{AlsaConfig, LineConfig};

/// Opens and closes every configured line's devices, as a call would: `(key, why)` for
/// each that fails, e.g. `("alsa.lines.intercom", "capture device `hw:CARD=X`: cannot
/// open: No such file or directory")`. For `--check-config` and the start-up log: a box
/// whose sound card is missing should say so before the first call to it fails.
pub fn probe_lines(config: &AlsaConfig) -> Vec<(String, String)> {
    #[cfg(feature = "alsa")]
    {
        config
            .lines
            .iter()
            .filter_map(|(name, line)| {
                device::LineDevice::open(line)
                    .err()
                    .map(|why| (format!("alsa.lines.{name}"), why))
            })
            .collect()
    }
    #[cfg(not(feature = "alsa"))]
    {
        let _ = config;
        Vec::new()
    }
}
