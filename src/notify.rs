//! The systemd notify protocol (`Type=notify`): READY=1 once every listener is up,
//! STATUS= with the number of live calls, WATCHDOG=1 keep-alives while [`Health`] says
//! ok, STOPPING=1 on SIGTERM. Without `NOTIFY_SOCKET` (not under systemd) every call
//! here does nothing, so the gateway behaves the same outside systemd.
//!
//! The keep-alives are sent by a task on the gateway's own executor: if the executor
//! stalls, or the gateway turns unhealthy, they stop and systemd restarts the service.

use crate::health::Health;
use sd_notify::NotifyState;
use std::rc::Rc;
use std::time::Duration;

/// Longest time between two status checks, so STATUS= follows the call count closely.
const STATUS_PERIOD: Duration = Duration::from_secs(1);

/// Sends states to systemd; a failure is logged once at debug level and otherwise
/// ignored, because the gateway must serve calls whether or not anyone listens.
fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        log::debug!("sd_notify failed: {e}");
    }
}

/// Tells systemd the gateway is up (every listener bound) with a first status line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells systemd the gateway is stopping (SIGTERM/SIGINT received).
pub fn stopping(status: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// How often to send WATCHDOG=1: half of systemd's `WatchdogSec=` (as sd_watchdog_enabled
/// advises), or None when the watchdog is off or meant for another process.
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        .map(|d| d / 2)
}

/// The STATUS= line for a health and a number of live calls.
pub fn status_line(health: &Result<(), String>, live_calls: usize) -> String {
    let calls = match live_calls {
        1 => "1 live call".to_string(),
        n => format!("{n} live calls"),
    };
    match health {
        Ok(()) => calls,
        Err(why) => format!("unhealthy ({why}); {calls}"),
    }
}

/// Runs forever on the executor: feeds the watchdog while `health` is ok and keeps
/// STATUS= up to date with `live_calls()`. Does nothing when not under systemd.
pub async fn supervise(health: Rc<Health>, live_calls: impl Fn() -> usize) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let watchdog = watchdog_period();
    let period = watchdog.map_or(STATUS_PERIOD, |w| w.min(STATUS_PERIOD));
    let mut last_status = String::new();
    loop {
        let state = health.healthy();
        let status = status_line(&state, live_calls());
        let mut states = Vec::with_capacity(2);
        if watchdog.is_some() && state.is_ok() {
            states.push(NotifyState::Watchdog);
        }
        if status != last_status {
            states.push(NotifyState::Status(&status));
        }
        if !states.is_empty() {
            send(&states);
        }
        last_status = status;
        async_io::Timer::after(period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::status_line;

    #[test]
    fn status_counts_calls_and_says_why_unhealthy() {
        assert_eq!(status_line(&Ok(()), 0), "0 live calls");
        assert_eq!(status_line(&Ok(()), 1), "1 live call");
        assert_eq!(
            status_line(&Err("SIP loop ended".into()), 3),
            "unhealthy (SIP loop ended); 3 live calls"
        );
    }
}
