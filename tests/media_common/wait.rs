//! Bounded polling: every wait in the harness says what it waited for when it gives up,
//! so a failing test names the missing event instead of hanging.

use std::time::{Duration, Instant};

/// Polls `probe` every 50 ms until it yields `Some`, or panics after `timeout`
/// naming `what` was awaited.
pub fn until<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!(
                "timed out after {:.1} s waiting for {what}",
                timeout.as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Like [`until`] but returns `None` on timeout instead of panicking, for waits whose
/// failure the caller wants to explain itself.
pub fn try_until<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Seconds as a Duration, to keep call sites short.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Waits until `path` exists and its size has not changed for a second (a recorder has
/// finished writing it).
pub fn file_settled(path: &std::path::Path, timeout: Duration) {
    let mut last: Option<(u64, Instant)> = None;
    until(
        &format!("{} to stop growing", path.display()),
        timeout,
        || {
            let len = std::fs::metadata(path).ok()?.len();
            match last {
                Some((l, since)) if l == len && since.elapsed() >= Duration::from_secs(1) => {
                    Some(())
                }
                Some((l, _)) if l == len => None,
                _ => {
                    last = Some((len, Instant::now()));
                    None
                }
            }
        },
    )
}
