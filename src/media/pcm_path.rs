//! The one road between a phone leg's 20 ms of PCM and the room's frames, both ways.
//!
//! A SIP phone's audio arrives as RTP and is decoded (or concealed) by the bridge; a
//! sound-device line's arrives as PCM from ALSA. From "20 ms of PCM at the leg's rate"
//! on, both go through this: resampled to the room's rate for the room, and the room's
//! frames resampled to the leg's rate on the way back. One place, so a fix to the rate
//! conversion reaches every kind of phone leg.

use super::frame::{PcmFrame, MAX_FRAME_SAMPLES};
use super::resample::Resampler;

/// Both directions' resampler state for one call (each remembers its filter history).
#[derive(Debug, Clone, Default)]
pub struct PcmPath {
    /// Phone leg → room.
    to_room: Resampler,
    /// Room → phone leg.
    from_room: Resampler,
}

impl PcmPath {
    /// A path with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// The leg's 20 ms (`pcm` at `leg_rate`) as a room frame at `room_rate` (0: the leg's
    /// own rate). A short input leaves the rest of the frame silent.
    pub fn to_room(&mut self, pcm: &[i16], leg_rate: u32, room_rate: u32) -> PcmFrame {
        let room_rate = if room_rate == 0 { leg_rate } else { room_rate };
        let mut frame = PcmFrame::silence(room_rate);
        if room_rate == leg_rate {
            let n = pcm.len().min(frame.len);
            frame.samples[..n].copy_from_slice(&pcm[..n]);
        } else {
            let want = frame.len;
            let n = self
                .to_room
                .process(pcm, leg_rate, room_rate, &mut frame.samples[..want]);
            frame.samples[n..want].fill(0);
        }
        frame
    }

    /// A room frame as exactly `out.len()` samples at `leg_rate` (a short result is padded
    /// with silence, a long frame truncated, so the leg always gets one whole period).
    pub fn from_room(&mut self, frame: &PcmFrame, leg_rate: u32, out: &mut [i16]) {
        let input = &frame.samples[..frame.len.min(MAX_FRAME_SAMPLES)];
        let n = if frame.rate == leg_rate {
            let n = input.len().min(out.len());
            out[..n].copy_from_slice(&input[..n]);
            n
        } else {
            self.from_room.process(input, frame.rate, leg_rate, out)
        };
        out[n..].fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::tone_snr_db;
    use crate::media::tone::ToneGenerator;

    #[test]
    fn same_rate_is_a_copy_both_ways() {
        let mut path = PcmPath::new();
        let pcm: Vec<i16> = (0..320).map(|i| i as i16).collect();
        let frame = path.to_room(&pcm, 16000, 16000);
        assert_eq!(frame.pcm(), &pcm[..]);
        let mut out = [1i16; 320];
        path.from_room(&frame, 16000, &mut out);
        assert_eq!(&out[..], &pcm[..]);
    }

    /// The 8 → 48 kHz filter delays the audio by about a millisecond, no more: a room
    /// frame carries the phone frame of its own tick from its first few dozen samples on
    /// (the rest of the frame's first millisecond is the previous frame's tail). The
    /// latency bench reads frame numbers from the middle sample for this reason.
    #[test]
    fn upsampling_delays_by_about_a_millisecond_not_a_frame() {
        let mut path = PcmPath::new();
        for k in 1..=5i16 {
            let pcm = [k * 1000; 160];
            let frame = path.to_room(&pcm, 8000, 48000);
            let out = frame.pcm();
            let first_own = out.iter().position(|&s| (s - k * 1000).abs() < 50);
            let first_own = first_own.expect("the frame's own level appears");
            assert!(
                first_own <= 96,
                "frame {k}: own level only from sample {first_own}"
            );
            assert!(
                (out[out.len() / 2] - k * 1000).abs() < 50,
                "frame {k} middle"
            );
            if k > 1 {
                assert!(
                    (out[0] - (k - 1) * 1000).abs() < 50,
                    "frame {k} starts with the tail of {}",
                    k - 1
                );
            }
        }
    }

    #[test]
    fn a_tone_survives_the_round_trip_between_rates() {
        let mut path = PcmPath::new();
        let mut tone = ToneGenerator::new(440.0, 16000, 8000);
        let mut heard = Vec::new();
        for _ in 0..50 {
            let pcm = tone.next_frame();
            let frame = path.to_room(pcm.pcm(), 16000, 48000);
            assert_eq!((frame.rate, frame.len), (48000, 960));
            let mut back = [0i16; 320];
            path.from_room(&frame, 16000, &mut back);
            heard.extend_from_slice(&back);
        }
        let (_, snr, _) = tone_snr_db(&heard[3200..], 16000, 440.0);
        assert!(snr > 30.0, "SNR {snr:.1} dB");
    }

    #[test]
    fn a_short_frame_is_padded_to_the_period() {
        let mut path = PcmPath::new();
        let mut frame = PcmFrame::silence(8000);
        frame.samples[..160].fill(1000);
        frame.len = 100;
        let mut out = [7i16; 160];
        path.from_room(&frame, 8000, &mut out);
        assert!(out[..100].iter().all(|&s| s == 1000));
        assert!(out[100..].iter().all(|&s| s == 0));
    }
}
