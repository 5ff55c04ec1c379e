//! One line's two PCMs, opened non-blocking and driven by the gateway's 20 ms clock.
//!
//! Nothing here ever waits: every read and write is `SND_PCM_NONBLOCK`, called from the
//! line's task on the shared media tick, so a line costs no thread and cannot stall the
//! executor. Pacing comes from the media clock, not from the device: ALSA's `null` and
//! `file` plugins (used by the tests, and by boxes that record to disk) are not paced in
//! real time, and a real card's crystal drifts from the media clock anyway; the rings in
//! `ring.rs` absorb the difference. That is also why the PCMs' poll descriptors are not
//! registered with the reactor: the `null` plugin's descriptor is `/dev/null`, which
//! epoll refuses, and waking on a card's period boundary would only add wake-ups to a
//! task that reads on the tick regardless (a period is never more than one tick away).
//!
//! Errors are sorted into the two a call cares about: an xrun (`EPIPE`, `ESTRPIPE`),
//! recovered here with `snd_pcm_recover` and counted, and a device that is gone (USB
//! card unplugged: `ENODEV`, `ENXIO`, `EBADFD`, `EIO`), which ends the call.

use super::config::LineConfig;
use super::ring::frames_per_period;
use alsa::pcm::{Access, Format, HwParams, State, PCM};
use alsa::{Direction, ValueOr};

/// Periods in the device buffer: enough headroom for a late tick, little latency.
const PERIODS: i64 = 4;

/// A line's device failed for good: the call ends with this as its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGone(pub String);

/// What a read or write did besides moving samples.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IoReport {
    /// Samples moved.
    pub samples: usize,
    /// An xrun happened and was recovered.
    pub xrun: bool,
}

/// A line's capture and playback PCMs, mono S16 at the line's rate.
pub struct LineDevice {
    capture: PCM,
    playback: PCM,
    capture_name: String,
    playback_name: String,
    period: usize,
    /// Playback buffer size in frames (to tell how much is queued).
    playback_buffer: usize,
}

/// Opens one PCM and sets it up for `rate` mono S16, `period` frames per period.
fn open_pcm(name: &str, dir: Direction, rate: u32, period: usize) -> Result<(PCM, usize), String> {
    let what = match dir {
        Direction::Capture => "capture",
        Direction::Playback => "playback",
    };
    let fail =
        |step: &str, e: alsa::Error| format!("{what} device `{name}`: {step}: {}", describe(&e));
    if name.contains('\0') {
        return Err(format!("{what} device name contains a NUL byte"));
    }
    let pcm = PCM::new(name, dir, true).map_err(|e| fail("cannot open", e))?;
    let buffer = {
        let hw = HwParams::any(&pcm).map_err(|e| fail("hw params", e))?;
        hw.set_access(Access::RWInterleaved)
            .map_err(|e| fail("interleaved access", e))?;
        hw.set_format(Format::s16())
            .map_err(|e| fail("format S16", e))?;
        hw.set_channels(1).map_err(|e| fail("mono", e))?;
        hw.set_rate(rate, ValueOr::Nearest)
            .map_err(|e| fail(&format!("rate {rate}"), e))?;
        hw.set_period_size_near(period as i64, ValueOr::Nearest)
            .map_err(|e| fail("period size", e))?;
        hw.set_buffer_size_near(period as i64 * PERIODS)
            .map_err(|e| fail("buffer size", e))?;
        pcm.hw_params(&hw).map_err(|e| fail("apply hw params", e))?;
        let current = pcm.hw_params_current().map_err(|e| fail("hw params", e))?;
        current
            .get_buffer_size()
            .map_err(|e| fail("buffer size", e))? as usize
    };
    {
        let sw = pcm.sw_params_current().map_err(|e| fail("sw params", e))?;
        // Playback starts once a period is queued; capture is started explicitly.
        sw.set_start_threshold(period as i64)
            .map_err(|e| fail("start threshold", e))?;
        sw.set_avail_min(period as i64)
            .map_err(|e| fail("avail min", e))?;
        pcm.sw_params(&sw).map_err(|e| fail("apply sw params", e))?;
    }
    pcm.prepare().map_err(|e| fail("prepare", e))?;
    Ok((pcm, buffer))
}

/// An ALSA error as the system's words for its errno ("No such file or directory").
fn describe(e: &alsa::Error) -> String {
    errno_text(e.errno().abs())
}

fn errno_text(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    // "No such device (os error 19)" → "No such device"
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// True for the errors that mean the device is not coming back.
fn is_gone(errno: i32) -> bool {
    matches!(
        errno,
        libc_errno::ENODEV | libc_errno::ENXIO | libc_errno::EBADFD | libc_errno::EIO
    )
}

/// The errno values this module sorts by (Linux numbering, which alsa-lib reports).
mod libc_errno {
    pub const EIO: i32 = 5;
    pub const ENXIO: i32 = 6;
    pub const EAGAIN: i32 = 11;
    pub const ENODEV: i32 = 19;
    pub const EPIPE: i32 = 32;
    pub const EBADFD: i32 = 77;
    pub const ESTRPIPE: i32 = 86;
}

impl LineDevice {
    /// Opens both PCMs of `line` and starts capture. The error names the device and the
    /// step that failed, e.g. "capture device `hw:CARD=X`: cannot open: No such file…".
    pub fn open(line: &LineConfig) -> Result<LineDevice, String> {
        let period = frames_per_period(line.rate, line.period_ms);
        let (capture, _) = open_pcm(&line.capture, Direction::Capture, line.rate, period)?;
        let (playback, playback_buffer) =
            open_pcm(&line.playback, Direction::Playback, line.rate, period)?;
        capture
            .start()
            .map_err(|e| format!("capture device `{}`: start: {}", line.capture, describe(&e)))?;
        Ok(LineDevice {
            capture,
            playback,
            capture_name: line.capture.clone(),
            playback_name: line.playback.clone(),
            period,
            playback_buffer,
        })
    }

    /// Frames in one period.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Reads what capture has, at most `out.len()` samples, without waiting.
    pub fn read_capture(&mut self, out: &mut [i16]) -> Result<IoReport, DeviceGone> {
        if out.is_empty() {
            return Ok(IoReport::default());
        }
        let result = self.capture.io_i16().and_then(|io| io.readi(out));
        match result {
            Ok(n) => Ok(IoReport {
                samples: n,
                xrun: false,
            }),
            Err(e) => self.recover(Direction::Capture, e.errno().abs()),
        }
    }

    /// Writes `pcm` (one period, perhaps one sample more or less) without waiting; what
    /// the device has no room for is dropped and reported as not written.
    pub fn write_playback(&mut self, pcm: &[i16]) -> Result<IoReport, DeviceGone> {
        let result = self.playback.io_i16().and_then(|io| io.writei(pcm));
        match result {
            Ok(n) => Ok(IoReport {
                samples: n,
                xrun: false,
            }),
            Err(e) => self.recover(Direction::Playback, e.errno().abs()),
        }
    }

    /// Frames queued for playback and not yet played (0 after an underrun).
    pub fn playback_queued(&self) -> usize {
        match self.playback.avail_update() {
            Ok(avail) => self.playback_buffer.saturating_sub(avail.max(0) as usize),
            Err(_) => 0,
        }
    }

    /// Sorts an error: nothing to do (EAGAIN), an xrun recovered, or the device gone.
    fn recover(&mut self, dir: Direction, errno: i32) -> Result<IoReport, DeviceGone> {
        let (pcm, name, what) = match dir {
            Direction::Capture => (&self.capture, &self.capture_name, "capture"),
            Direction::Playback => (&self.playback, &self.playback_name, "playback"),
        };
        if errno == libc_errno::EAGAIN {
            return Ok(IoReport::default());
        }
        let gone = |why: String| DeviceGone(format!("device unplugged: {what} `{name}`: {why}"));
        if is_gone(errno) || pcm.state() == State::Disconnected {
            return Err(gone(errno_text(errno)));
        }
        if errno == libc_errno::EPIPE || errno == libc_errno::ESTRPIPE {
            pcm.recover(-errno, true)
                .map_err(|e| gone(format!("xrun not recoverable: {}", describe(&e))))?;
            if dir == Direction::Capture {
                pcm.start()
                    .map_err(|e| gone(format!("restart after xrun: {}", describe(&e))))?;
            }
            return Ok(IoReport {
                samples: 0,
                xrun: true,
            });
        }
        Err(DeviceGone(format!(
            "{what} device `{name}` failed: {}",
            errno_text(errno)
        )))
    }

    /// Makes the next read or write meet an xrun, exactly as a stalled reader would.
    /// Only for the fault-injection tests: the null plugin never overruns on its own.
    #[cfg(feature = "fault-injection")]
    pub fn inject_xrun(&mut self) -> Result<IoReport, DeviceGone> {
        self.recover(Direction::Capture, libc_errno::EPIPE)
    }

    /// The device vanishing, for the fault-injection tests.
    #[cfg(feature = "fault-injection")]
    pub fn inject_unplug(&mut self) -> Result<IoReport, DeviceGone> {
        self.recover(Direction::Capture, libc_errno::ENODEV)
    }
}

impl Drop for LineDevice {
    fn drop(&mut self) {
        // Stop at once: the call is over, what is queued has no listener.
        let _ = self.capture.drop();
        let _ = self.playback.drop();
    }
}
