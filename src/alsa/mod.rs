//! A local ALSA sound device as the phone leg (issue 14): an intercom, a PA amplifier or
//! an analogue line interface wired to the box's own sound card, bridged to a TRTC room
//! with the same API and call states as a SIP call.
//!
//! Split by concern: `config` is the `[alsa.lines.<name>]` contract (parsed in every
//! build, so a build without the `alsa` feature can say how to get one), `ring` is the
//! pure period/drift arithmetic that paces a line on the gateway's 20 ms media clock.

pub mod config;
pub mod ring;

pub use config::{AlsaConfig, LineConfig};
