//! Faults on purpose, for the end-to-end tests of supervision only: compiled in with the
//! `fault-injection` cargo feature, which release builds and packages never enable, so no
//! request can reach this in production.
//!
//! Why a feature and not a test-only hook: the supervision tests drive the real binary
//! with a real phone (sipp), and `cargo test --features fault-injection` builds that
//! binary with the feature; an environment variable would be a trigger in every build.

use futures_lite::future::or;
use std::future::Future;
use std::time::Duration;

/// Calls to this number have their task panic this long after the INVITE went out
/// (long enough for sipp to have answered).
pub const PANIC_NUMBER: &str = "*999";
/// A call to this number makes the SIP loop panic (the whole gateway must then exit
/// non-zero).
pub const SIP_PANIC_NUMBER: &str = "*998";
/// When the call task of a [`PANIC_NUMBER`] call panics.
pub const PANIC_AFTER: Duration = Duration::from_secs(2);

/// The call task, made to panic from inside its own poll when `number` asks for it, or
/// the SIP loop for [`SIP_PANIC_NUMBER`].
pub fn inject(
    number: &str,
    sip: &crate::sip::SipService,
    call: impl Future<Output = ()>,
) -> impl Future<Output = ()> {
    if number == SIP_PANIC_NUMBER {
        sip.inject_loop_panic();
    }
    let panics = number == PANIC_NUMBER;
    async move {
        if !panics {
            return call.await;
        }
        or(call, async {
            async_io::Timer::after(PANIC_AFTER).await;
            panic!("fault injection: call task panic");
        })
        .await
    }
}

/// A line whose name starts so meets an xrun on its capture after [`LINE_FAULT_TICK`]
/// ticks (a stalled reader, which ALSA's null plugin never produces on its own).
pub const XRUN_LINE_PREFIX: &str = "xrun";
/// A line whose name starts so has its device vanish after [`LINE_FAULT_TICK`] ticks.
pub const UNPLUG_LINE_PREFIX: &str = "unplug";
/// The tick (of 20 ms) at which a line's injected fault happens.
pub const LINE_FAULT_TICK: u32 = 50;

/// The injected fault for this tick of `line`, if any: the device's own error handling
/// runs on the real PCM (recovery from `EPIPE`, or `ENODEV` ending the call).
#[cfg(feature = "alsa")]
pub fn line_fault(
    line: &str,
    tick: u32,
    device: &mut crate::alsa::device::LineDevice,
) -> Option<Result<crate::alsa::device::IoReport, crate::alsa::device::DeviceGone>> {
    if tick != LINE_FAULT_TICK {
        return None;
    }
    if line.starts_with(XRUN_LINE_PREFIX) {
        Some(device.inject_xrun())
    } else if line.starts_with(UNPLUG_LINE_PREFIX) {
        Some(device.inject_unplug())
    } else {
        None
    }
}
