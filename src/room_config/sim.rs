//! `[room.sim]`: the settings of the simulated room (`room::sim`), as plain data.

use serde::Deserialize;
use std::path::PathBuf;

/// `[room.sim]`: what the simulated room sounds like, where it records and when it ends,
/// so demos and tests can exercise every room behaviour without Tencent's cloud.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Frequency of the tone the simulated remote user speaks.
    pub tone_hz: f32,
    /// Where the room records what it hears from the phone (`<call id>.wav`); empty = off.
    pub record_dir: PathBuf,
    /// Dismiss the room this many seconds after entry; 0 = never.
    pub dismiss_after_s: u32,
    /// Digits a simulated app user keys to the phone (as a TRTC custom message would
    /// bring them), one every 500 ms from `key_digits_after_s` after entry; empty = none.
    pub key_digits: String,
    /// When the simulated user starts keying, seconds after entry (after the phone
    /// answered, so the digits can reach it).
    pub key_digits_after_s: u32,
    /// For inbound calls (the box's robot enters first): the first callee enters this long
    /// after the robot, and only then speaks the tone; 0 = a room that talks from the
    /// start and whose callee never "enters" (what outbound calls expect).
    pub callee_enter_after_ms: u32,
    /// The simulated callee's TRTC user id, as `RemoteUserEntered` reports it.
    pub callee_user: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            tone_hz: 1000.0,
            record_dir: PathBuf::new(),
            dismiss_after_s: 0,
            key_digits: String::new(),
            key_digits_after_s: 3,
            callee_enter_after_ms: 0,
            callee_user: "callee".into(),
        }
    }
}

impl SimConfig {
    /// Checks what the types alone cannot; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.tone_hz > 0.0 && self.tone_hz < 4000.0) {
            return Err(("room.sim.tone_hz", "must be between 0 and 4000 Hz".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_must_be_audible_at_8_khz() {
        assert!(SimConfig::default().validate().is_ok());
        for hz in [0.0, -5.0, 4000.0, f32::NAN] {
            let c = SimConfig {
                tone_hz: hz,
                ..Default::default()
            };
            assert_eq!(c.validate().map_err(|(k, _)| k), Err("room.sim.tone_hz"));
        }
    }
}
