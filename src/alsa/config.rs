//! `[alsa.lines.<name>]`: the sound-device lines a call may use as its phone leg.
//!
//! Parsed in every build, the `alsa` feature or not: a box whose config names lines but
//! whose binary lacks the feature must refuse to start with a message that says how to
//! build it, rather than fail later on the first `alsa:<line>` call.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Sample rates a line may run at: the rates the media path already resamples between.
pub const RATES: [u32; 3] = [8000, 16000, 48000];

/// How to build a binary that can drive lines; part of every "feature off" error.
pub const BUILD_HINT: &str = "built without the alsa feature: cargo build --features alsa";

/// `[alsa]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlsaConfig {
    /// One table per line, keyed by the name used in `phonenumber = "alsa:<name>"`.
    pub lines: BTreeMap<String, LineConfig>,
}

/// `[alsa.lines.<name>]`: one sound device (or a pair) acting as a phone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LineConfig {
    /// ALSA PCM name the room's audio is played to (e.g. `plughw:CARD=Device,DEV=0`).
    pub playback: String,
    /// ALSA PCM name whose audio is sent to the room.
    pub capture: String,
    /// 8000, 16000 or 48000.
    pub rate: u32,
    /// The PCM period; the gateway's media clock ticks every 20 ms, so 20 by default.
    pub period_ms: u32,
}

impl Default for LineConfig {
    fn default() -> Self {
        LineConfig {
            playback: String::new(),
            capture: String::new(),
            rate: 16000,
            period_ms: 20,
        }
    }
}

impl AlsaConfig {
    /// Checks every line; the error is `(key, why)` with the full key path, e.g.
    /// `alsa.lines.intercom.rate`. `feature_built` is whether this binary can drive lines.
    pub fn validate(&self, feature_built: bool) -> Result<(), (String, String)> {
        if !self.lines.is_empty() && !feature_built {
            return Err((
                "alsa.lines".into(),
                format!("lines are configured but this gateway was {BUILD_HINT}"),
            ));
        }
        for (name, line) in &self.lines {
            let key = |k: &str| format!("alsa.lines.{name}.{k}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err((
                    format!("alsa.lines.\"{name}\""),
                    "a line name is letters, digits, `-` and `_`".into(),
                ));
            }
            if line.playback.trim().is_empty() {
                return Err((key("playback"), "must name an ALSA PCM".into()));
            }
            if line.capture.trim().is_empty() {
                return Err((key("capture"), "must name an ALSA PCM".into()));
            }
            if !RATES.contains(&line.rate) {
                return Err((key("rate"), "must be 8000, 16000 or 48000".into()));
            }
            if !(5..=100).contains(&line.period_ms) || line.period_ms % 5 != 0 {
                return Err((
                    key("period_ms"),
                    "must be a multiple of 5 in 5..=100 (20 matches the media clock)".into(),
                ));
            }
        }
        Ok(())
    }

    /// The line a `phonenumber` of the form `alsa:<line>` names, or why it cannot be used.
    /// `Ok(None)` when the number is not of that form (an ordinary SIP number).
    pub fn line_for_number(
        &self,
        number: &str,
        feature_built: bool,
    ) -> Result<Option<(&str, &LineConfig)>, String> {
        let Some(name) = number.strip_prefix("alsa:") else {
            return Ok(None);
        };
        if !feature_built {
            return Err(format!(
                "phonenumber `alsa:` lines: this gateway was {BUILD_HINT}"
            ));
        }
        match self.lines.get_key_value(name) {
            Some((n, l)) => Ok(Some((n.as_str(), l))),
            None => Err(format!(
                "phonenumber names line `{name}`, which is not in [alsa.lines]"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> AlsaConfig {
        toml::from_str(text).unwrap()
    }

    const LINE: &str = "[lines.intercom]\nplayback = \"plughw:CARD=Device,DEV=0\"\n\
                        capture = \"plughw:CARD=Device,DEV=0\"\n";

    #[test]
    fn defaults_are_16k_and_20ms() {
        let c = parse(LINE);
        let l = &c.lines["intercom"];
        assert_eq!((l.rate, l.period_ms), (16000, 20));
        assert!(c.validate(true).is_ok());
    }

    #[test]
    fn no_lines_is_fine_without_the_feature() {
        assert!(AlsaConfig::default().validate(false).is_ok());
    }

    #[test]
    fn lines_without_the_feature_say_how_to_build() {
        let (key, why) = parse(LINE).validate(false).unwrap_err();
        assert_eq!(key, "alsa.lines");
        assert!(why.contains("cargo build --features alsa"), "{why}");
    }

    #[test]
    fn errors_name_the_key() {
        let c = parse(&format!("{LINE}rate = 44100\n"));
        assert_eq!(c.validate(true).unwrap_err().0, "alsa.lines.intercom.rate");
        let c = parse(&format!("{LINE}period_ms = 7\n"));
        assert_eq!(
            c.validate(true).unwrap_err().0,
            "alsa.lines.intercom.period_ms"
        );
        let c = parse("[lines.x]\ncapture = \"null\"\n");
        assert_eq!(c.validate(true).unwrap_err().0, "alsa.lines.x.playback");
        assert!(toml::from_str::<AlsaConfig>("[lines.x]\nvolume = 3\n").is_err());
    }

    #[test]
    fn phonenumber_forms() {
        let c = parse(LINE);
        assert!(c.line_for_number("+4930123", true).unwrap().is_none());
        assert_eq!(
            c.line_for_number("alsa:intercom", true).unwrap().unwrap().0,
            "intercom"
        );
        let e = c.line_for_number("alsa:door", true).unwrap_err();
        assert!(e.contains("phonenumber") && e.contains("door"), "{e}");
        let e = c.line_for_number("alsa:intercom", false).unwrap_err();
        assert!(e.contains("cargo build --features alsa"), "{e}");
    }
}
