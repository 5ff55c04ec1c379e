//! A built-in simulated TRTC room, so the gateway can be demonstrated and tested end
//! to end without Tencent's cloud: one remote user speaks a sine tone, and the room
//! records what it hears from the phone.

use super::{EnterFuture, Room, RoomBackend, RoomError, RoomEvent, RoomParams};
use crate::media::tone::ToneGenerator;
use crate::media::wav::WavWriter;
use crate::media::PcmFrame;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The `userSig` that makes the simulated room refuse entry, as the SDK does for a bad
/// signature, so the gateway's 502 path can be shown.
pub const REJECTED_USER_SIG: &str = "reject";

/// TRTC's error code for an invalid userSig (ERR_TRTC_USER_SIG_CHECK_FAILED).
pub const ERR_USER_SIG_CHECK_FAILED: i32 = -3320;

/// `[room.sim]`, this backend's settings (plain data kept in [`crate::room_config`]).
pub use crate::room_config::SimConfig;

/// Time between digits the simulated user keys (`[room.sim] key_digits`).
const KEY_INTERVAL: Duration = Duration::from_millis(500);

/// Level of the simulated speaker's tone: half of full scale, like the test tones.
const TONE_AMPLITUDE: i16 = 16_000;

/// Enters simulated rooms according to `[room.sim]`.
pub struct SimBackend {
    config: SimConfig,
}

impl SimBackend {
    /// A backend with the given settings.
    pub fn new(config: SimConfig) -> Self {
        SimBackend { config }
    }
}

impl RoomBackend for SimBackend {
    fn enter(&self, params: RoomParams) -> EnterFuture {
        let config = self.config.clone();
        Box::pin(async move {
            if params.user_sig == REJECTED_USER_SIG {
                return Err(RoomError {
                    code: ERR_USER_SIG_CHECK_FAILED,
                    message: "room entry refused: userSig check failed".into(),
                });
            }
            SimRoom::open(&config, &params, Instant::now()).map(|r| Box::new(r) as Box<dyn Room>)
        })
    }
}

/// One call in the simulated room.
pub struct SimRoom {
    tone: ToneGenerator,
    rate: u32,
    recorder: Option<WavWriter>,
    record_path: Option<PathBuf>,
    dismiss_at: Option<Instant>,
    closed: bool,
    /// Digits still to key to the phone, and when the next is due.
    to_key: std::collections::VecDeque<char>,
    next_key_at: Instant,
    /// When the simulated callee enters (inbound calls), until which the room is silent.
    callee_enters_at: Option<Instant>,
    callee_user: String,
}

impl SimRoom {
    /// Opens the room's recording (when a directory is configured) and starts its clock.
    pub fn open(
        config: &SimConfig,
        params: &RoomParams,
        now: Instant,
    ) -> Result<SimRoom, RoomError> {
        let (recorder, record_path) = if config.record_dir.as_os_str().is_empty() {
            (None, None)
        } else {
            let path = config.record_dir.join(format!("{}.wav", params.call_id));
            let writer = std::fs::create_dir_all(&config.record_dir)
                .and_then(|_| WavWriter::create(&path, params.sample_rate))
                .map_err(|e| RoomError {
                    code: 0,
                    message: format!("simulated room cannot record to {}: {e}", path.display()),
                })?;
            (Some(writer), Some(path))
        };
        let dismiss_at = (config.dismiss_after_s > 0)
            .then(|| now + Duration::from_secs(config.dismiss_after_s as u64));
        log::info!(
            "call={} entered simulated room {:?} as {}",
            params.call_id,
            params.room,
            params.user_id
        );
        Ok(SimRoom {
            tone: ToneGenerator::new(config.tone_hz, params.sample_rate, TONE_AMPLITUDE),
            rate: params.sample_rate,
            recorder,
            record_path,
            dismiss_at,
            closed: false,
            to_key: config
                .key_digits
                .chars()
                .map(|c| c.to_ascii_uppercase())
                .filter(|&c| crate::room::dtmf_msg::is_digit(c))
                .collect(),
            next_key_at: now + Duration::from_secs(u64::from(config.key_digits_after_s)),
            callee_enters_at: (config.callee_enter_after_ms > 0)
                .then(|| now + Duration::from_millis(u64::from(config.callee_enter_after_ms))),
            callee_user: config.callee_user.clone(),
        })
    }

    fn finish_recording(&mut self) {
        if let Some(writer) = self.recorder.take() {
            if let Err(e) = writer.finish() {
                log::warn!("simulated room: finishing {:?}: {e}", self.record_path);
            }
        }
    }
}

impl Room for SimRoom {
    fn send_audio(&mut self, frame: &PcmFrame) {
        if self.closed {
            return;
        }
        if frame.rate != self.rate {
            log::debug!(
                "simulated room: frame at {} Hz, room runs at {} Hz",
                frame.rate,
                self.rate
            );
        }
        if let Some(writer) = &mut self.recorder {
            if let Err(e) = writer.write(frame.pcm()) {
                log::warn!(
                    "simulated room: recording to {:?} failed: {e}",
                    self.record_path
                );
                self.recorder = None;
            }
        }
    }

    fn poll_audio(&mut self) -> Option<PcmFrame> {
        // Nobody speaks before the callee is there.
        (!self.closed && self.callee_enters_at.is_none()).then(|| self.tone.next_frame())
    }

    fn poll_event(&mut self, now: Instant) -> Option<RoomEvent> {
        if self.callee_enters_at.is_some_and(|at| now >= at) && !self.closed {
            self.callee_enters_at = None;
            return Some(RoomEvent::RemoteUserEntered {
                user: self.callee_user.clone(),
            });
        }
        match self.dismiss_at {
            Some(at) if now >= at && !self.closed => {
                self.dismiss_at = None;
                Some(RoomEvent::Closed {
                    reason: "room closed".into(),
                })
            }
            _ if !self.closed && now >= self.next_key_at => {
                let digit = self.to_key.pop_front()?;
                self.next_key_at = now + KEY_INTERVAL;
                Some(RoomEvent::Dtmf { digit })
            }
            _ => None,
        }
    }

    fn send_dtmf(&mut self, digit: char) {
        // The simulated room keeps what the phone keyed beside its recording, so a demo
        // or a test can see the digits arrive: `<record_dir>/<call id>.dtmf` (what the
        // trtc backend would send as the custom message `{"dtmf":"5"}`).
        let Some(path) = &self.record_path else {
            return;
        };
        let path = path.with_extension("dtmf");
        let result = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, digit.to_string().as_bytes()));
        if let Err(e) = result {
            log::warn!("simulated room: writing {}: {e}", path.display());
        }
    }

    fn leave(&mut self) {
        self.closed = true;
        self.finish_recording();
    }
}

impl Drop for SimRoom {
    fn drop(&mut self) {
        self.finish_recording();
    }
}
