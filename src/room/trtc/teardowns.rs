//! The SDK teardowns in flight (ExitRoom, the wait for OnExitRoom, DestroyTRTCCloud),
//! which run on blocking-pool threads so the executor never waits on the SDK.
//!
//! Two things need to know about them: a clean stop, which must not let the process exit
//! inside `DestroyTRTCCloud` (it waits until none is left), and `/healthz`, which calls
//! the room backend unusable when one has been stuck in the SDK far longer than a
//! teardown takes (the SDK is wedged and new rooms would likely wedge too).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A teardown taking longer than this is stuck: a normal one waits at most 1.5 s for
/// OnExitRoom, then destroys the instance.
pub const STUCK_AFTER: Duration = Duration::from_secs(10);

/// The teardowns of one process (the SDK is loaded once per process).
#[derive(Debug, Default)]
pub struct Teardowns {
    next: AtomicU64,
    running: Mutex<BTreeMap<u64, Instant>>,
}

/// One teardown in flight; dropping it (also by a panic unwinding) marks it finished.
#[derive(Debug)]
pub struct InFlight<'a> {
    set: &'a Teardowns,
    key: u64,
}

impl Teardowns {
    /// An empty set (a `static` needs a const constructor).
    pub const fn new() -> Teardowns {
        Teardowns {
            next: AtomicU64::new(0),
            running: Mutex::new(BTreeMap::new()),
        }
    }

    /// Notes a teardown starting now; it counts until the guard is dropped.
    pub fn start(&self, now: Instant) -> InFlight<'_> {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(key, now);
        InFlight { set: self, key }
    }

    /// How many are in flight.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    /// Why the SDK looks wedged at `now` (a teardown older than [`STUCK_AFTER`]), or None.
    pub fn stuck(&self, now: Instant) -> Option<String> {
        let oldest = self.lock().values().min().copied()?;
        let age = now.saturating_duration_since(oldest);
        (age > STUCK_AFTER).then(|| {
            format!(
                "a TRTC room teardown has been stuck in the SDK for {} s",
                age.as_secs()
            )
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Instant>> {
        // The map stays consistent whatever panicked while holding it.
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.set.lock().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_while_in_flight_and_calls_an_old_one_stuck() {
        let set = Teardowns::new();
        let t0 = Instant::now();
        let a = set.start(t0);
        let b = set.start(t0 + Duration::from_secs(5));
        assert_eq!(set.pending(), 2);
        assert_eq!(set.stuck(t0 + Duration::from_secs(1)), None);
        let why = set
            .stuck(t0 + STUCK_AFTER + Duration::from_secs(1))
            .unwrap();
        assert!(why.contains("stuck"), "{why}");
        drop(a);
        assert_eq!(set.pending(), 1);
        // Only the younger one is left: not stuck yet at the same instant.
        assert_eq!(set.stuck(t0 + STUCK_AFTER + Duration::from_secs(1)), None);
        drop(b);
        assert_eq!(set.pending(), 0);
        assert_eq!(set.stuck(t0 + Duration::from_secs(3600)), None);
    }
}
