//! The task that carries one `alsa:<line>` call: the I/O shell around its [`LineCore`].
//! On each tick of the shared 20 ms media clock it reads what capture has (never
//! waiting), hands it and the room's frame to the core, and writes the core's period to
//! playback; commands and the room's events go in the same way. No thread, no blocking
//! call: the PCMs are non-blocking (see `alsa/device.rs` for why the clock, not the
//! device, paces the line).

use super::clock::MediaClock;
use super::core::{Action, Control};
use super::line_claim::LineClaim;
use super::line_core::LineCore;
use super::registry::{Registry, SharedStats};
use super::state::HangupCause;
use crate::alsa::device::{IoReport, LineDevice};
use crate::room::Room;
use futures_lite::future::or;
use smol::channel::Receiver;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

/// Everything one line call task needs, gathered by the startup handler.
pub struct LineCallTask {
    /// The gateway's call id.
    pub id: String,
    /// The line's name.
    pub line: String,
    /// Where state lines, webhooks and statistics go.
    pub registry: Rc<RefCell<Registry>>,
    /// Commands from the API and the gateway.
    pub control: Receiver<Control>,
    /// The call's room.
    pub room: Box<dyn Room>,
    /// The line's PCMs, open and running.
    pub device: LineDevice,
    /// The line, held until the task ends.
    pub claim: LineClaim,
    /// The call's core, CONFIRMED already recorded.
    pub core: LineCore,
    /// The gateway's shared 20 ms media clock.
    pub clock: MediaClock,
    /// Where the task publishes its statistics.
    pub stats: SharedStats,
}

enum Wake {
    Control(Option<Control>),
    Tick,
}

impl LineCallTask {
    /// Runs the call to its end; the DISCONNCTD line is recorded before this returns.
    pub async fn run(self) {
        let LineCallTask {
            id,
            line,
            registry,
            control,
            mut room,
            mut device,
            claim,
            mut core,
            clock,
            stats,
        } = self;
        let mut ticks = clock.subscribe();
        let mut control_open = true;
        let mut capture = vec![0i16; device.period() * 8];
        #[cfg(feature = "fault-injection")]
        let mut ticks_run = 0u32;
        loop {
            while let Some(action) = core.poll_action() {
                apply(&id, action, &registry, room.as_mut(), &stats);
            }
            if let Some(frame) = core.poll_room_audio() {
                room.send_audio(&frame);
            }
            let written = core
                .poll_playback()
                .map(|pcm| (device.write_playback(pcm), pcm.len()));
            if let Some((result, len)) = written {
                match result {
                    Ok(IoReport { samples, xrun }) => {
                        if xrun {
                            core.handle_xrun(Instant::now());
                        }
                        if len > samples {
                            core.handle_playback_short(Instant::now(), len - samples);
                        }
                    }
                    Err(gone) => core.handle_device_gone(Instant::now(), gone.0),
                }
                continue;
            }
            if core.is_done() {
                break;
            }
            let wake = or(
                async {
                    if control_open {
                        Wake::Control(control.recv().await.ok())
                    } else {
                        futures_lite::future::pending().await
                    }
                },
                async {
                    ticks.tick().await;
                    Wake::Tick
                },
            )
            .await;
            let now = Instant::now();
            match wake {
                Wake::Control(Some(cmd)) => core.handle_command(now, cmd),
                Wake::Control(None) => {
                    control_open = false;
                    core.handle_command(now, Control::Hangup(HangupCause::GatewayStopping));
                }
                Wake::Tick => {
                    if let Some(event) = room.poll_event(now) {
                        core.handle_room_event(now, event);
                    }
                    let want = core.capture_wanted().min(capture.len());
                    #[cfg(feature = "fault-injection")]
                    let read = {
                        ticks_run += 1;
                        super::fault::line_fault(&line, ticks_run, &mut device)
                            .unwrap_or_else(|| device.read_capture(&mut capture[..want]))
                    };
                    #[cfg(not(feature = "fault-injection"))]
                    let read = device.read_capture(&mut capture[..want]);
                    match read {
                        Ok(IoReport { samples, xrun }) => {
                            if xrun {
                                core.handle_xrun(now);
                            }
                            core.handle_capture(now, &capture[..samples.min(want)]);
                        }
                        Err(gone) => core.handle_device_gone(now, gone.0),
                    }
                    let frame = room.poll_audio();
                    core.handle_media_tick(now, frame.as_ref(), device.playback_queued());
                }
            }
            if core.poll_timeout().is_some_and(|at| at <= now) {
                core.handle_timeout(now);
            }
        }
        log::info!("call={id} line {line} closed: {:?}", core.line_stats());
        // The PCMs close before the line is free for the next call.
        drop(device);
        drop(claim);
    }
}

/// Carries out one of the core's actions.
fn apply(
    id: &str,
    action: Action,
    registry: &Rc<RefCell<Registry>>,
    room: &mut dyn Room,
    stats: &SharedStats,
) {
    match action {
        Action::Record(change) => registry.borrow_mut().record(id, &change),
        Action::LeaveRoom => room.leave(),
        Action::Stats(snapshot) => *stats.borrow_mut() = Some(*snapshot),
        Action::RoomDtmf(digit) => registry.borrow_mut().notify_dtmf(id, digit, "room"),
        other => log::warn!("call={id} {other:?} has no meaning on a line, ignored"),
    }
}
