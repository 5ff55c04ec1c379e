//! The ringback a caller hears while the app users ring: a national tone plan's cadence
//! (default 425 Hz, 1 s on, 4 s off — ITU-T E.180's most common plan, used across
//! Europe and China), or the room's own audio when the room already carries sound.

use super::analysis::rms_dbfs;
use super::frame::{PcmFrame, FRAME_MS};
use super::tone::ToneGenerator;

/// A room frame louder than this counts as sound worth hearing instead of ringback.
const ROOM_SOUND_DBFS: f64 = -50.0;

/// Peak of the ringback tone (about -16 dBFS, a comfortable level on a handset).
const RINGBACK_AMPLITUDE: i16 = 5000;

/// A tone plan: frequency, then on and off times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TonePlan {
    /// The tone's frequency.
    pub hz: f32,
    /// How long it sounds.
    pub on_ms: u32,
    /// How long the pause after it lasts.
    pub off_ms: u32,
}

impl Default for TonePlan {
    fn default() -> Self {
        TonePlan {
            hz: 425.0,
            on_ms: 1000,
            off_ms: 4000,
        }
    }
}

/// Ringback for one call, frame by frame at the room's rate.
#[derive(Debug, Clone)]
pub struct Ringback {
    plan: TonePlan,
    tone: ToneGenerator,
    rate: u32,
    /// Milliseconds into the current on/off cycle.
    at_ms: u32,
}

impl Ringback {
    /// Ringback at `rate` (the room's), starting with the tone.
    pub fn new(plan: TonePlan, rate: u32) -> Self {
        Ringback {
            tone: ToneGenerator::new(plan.hz, rate, RINGBACK_AMPLITUDE),
            plan,
            rate,
            at_ms: 0,
        }
    }

    /// What the caller hears for the next 20 ms: the room's frame when it carries sound,
    /// else the tone plan's (tone or silence).
    pub fn next_frame(&mut self, room: Option<&PcmFrame>) -> PcmFrame {
        let cycle = (self.plan.on_ms + self.plan.off_ms).max(FRAME_MS);
        let on = self.at_ms < self.plan.on_ms;
        self.at_ms = (self.at_ms + FRAME_MS) % cycle;
        if let Some(room) = room.filter(|f| rms_dbfs(f.pcm()) > ROOM_SOUND_DBFS) {
            return *room;
        }
        let tone = self.tone.next_frame();
        if on {
            tone
        } else {
            PcmFrame::silence(self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::tone_snr_db;

    #[test]
    fn one_second_of_425_hz_then_four_of_silence() {
        let mut r = Ringback::new(TonePlan::default(), 8000);
        let frames: Vec<PcmFrame> = (0..500).map(|_| r.next_frame(None)).collect();
        let loud: Vec<bool> = frames.iter().map(|f| rms_dbfs(f.pcm()) > -40.0).collect();
        // 50 frames on, 200 off, twice.
        assert!(loud[..50].iter().all(|&l| l) && loud[50..250].iter().all(|&l| !l));
        assert!(loud[250..300].iter().all(|&l| l) && loud[300..].iter().all(|&l| !l));
        let on: Vec<i16> = frames[..50].iter().flat_map(|f| f.pcm().to_vec()).collect();
        let (peak, snr, _) = tone_snr_db(&on, 8000, 425.0);
        assert!((peak - 425.0).abs() < 10.0 && snr > 30.0, "{peak} {snr}");
    }

    #[test]
    fn a_room_with_sound_is_heard_instead() {
        let mut r = Ringback::new(TonePlan::default(), 16000);
        let mut voice = ToneGenerator::new(1000.0, 16000, 8000);
        let room = voice.next_frame();
        assert_eq!(r.next_frame(Some(&room)).pcm(), room.pcm());
        // A silent room is not "sound": the plan plays.
        let quiet = PcmFrame::silence(16000);
        let f = r.next_frame(Some(&quiet));
        assert!(rms_dbfs(f.pcm()) > -40.0);
    }
}
