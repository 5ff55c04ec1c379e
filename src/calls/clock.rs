//! One 20 ms media clock for every call of the gateway.
//!
//! Each call moves one frame each way every 20 ms. With a timer per call, every tick of
//! every call re-arms a timer in the reactor, which costs an eventfd write, a read, an
//! `epoll_ctl` and a `timerfd_settime` each time: at 200 calls that is 10 000 wake-ups of
//! the reactor per second spent on bookkeeping alone (found with `strace -c`, see
//! docs/PERFORMANCE.md). Here a single timer drives a tick counter and wakes the call
//! tasks that wait on it, which on the single-threaded executor is a queue push.
//!
//! A subscriber sees every tick exactly once, in order, like `Timer::interval`: when its
//! task was busy through a tick, the next wait returns at once for the missed one, so a
//! call still pulls one frame per 20 ms of wall time. The timer only runs while at least
//! one call subscribes, so an idle gateway does not wake up 50 times a second.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;

/// Ticks the clock may fall behind before `/healthz` calls it late: calls would be
/// hearing gaps by then (each missed tick is 20 ms of audio pulled late).
pub const LATE_TICKS: u32 = 5;

/// The gateway's shared media clock; clone it freely (all clones are the same clock).
#[derive(Clone)]
pub struct MediaClock {
    inner: Rc<Inner>,
}

struct Inner {
    period: Duration,
    /// Ticks since the clock was created.
    tick: Cell<u64>,
    /// One slot per subscriber: the waker of its task while it waits.
    waiting: RefCell<Vec<Option<Waker>>>,
    /// Slots of `waiting` no subscriber owns.
    free: RefCell<Vec<usize>>,
    subscribers: Cell<usize>,
    /// The driver task, while it sleeps for lack of subscribers.
    driver: RefCell<Option<Waker>>,
    /// When the clock last ticked, or started waiting for its first tick: how late it
    /// is shows against this.
    last_tick_at: Cell<Instant>,
}

impl MediaClock {
    /// A clock ticking every `period`, and the future that drives it: spawn that on the
    /// executor the calls run on. The future never ends.
    pub fn new(period: Duration) -> (MediaClock, impl Future<Output = ()>) {
        let inner = Rc::new(Inner {
            period,
            tick: Cell::new(0),
            waiting: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            subscribers: Cell::new(0),
            driver: RefCell::new(None),
            last_tick_at: Cell::new(Instant::now()),
        });
        let clock = MediaClock {
            inner: inner.clone(),
        };
        (clock, drive(inner))
    }

    /// Starts receiving ticks; the first one is the clock's next tick.
    pub fn subscribe(&self) -> Ticks {
        let inner = &self.inner;
        let slot = match inner.free.borrow_mut().pop() {
            Some(slot) => slot,
            None => {
                let mut waiting = inner.waiting.borrow_mut();
                waiting.push(None);
                waiting.len() - 1
            }
        };
        if inner.subscribers.get() == 0 {
            // An idle clock was never late; it is due one period from now.
            inner.last_tick_at.set(Instant::now());
        }
        inner.subscribers.set(inner.subscribers.get() + 1);
        if let Some(driver) = inner.driver.borrow_mut().take() {
            driver.wake();
        }
        Ticks {
            inner: inner.clone(),
            slot,
            seen: inner.tick.get(),
        }
    }
}

impl MediaClock {
    /// How many calls listen right now (for tests and metrics).
    pub fn subscribers(&self) -> usize {
        self.inner.subscribers.get()
    }

    /// Why the clock is late at `now` (more than [`LATE_TICKS`] behind while calls
    /// listen: its driver is stuck, gone, or the executor is starved), or None. An idle
    /// clock does not tick and is never late.
    pub fn late(&self, now: Instant) -> Option<String> {
        let inner = &self.inner;
        if inner.subscribers.get() == 0 {
            return None;
        }
        let due = inner.last_tick_at.get() + inner.period;
        let behind = now.saturating_duration_since(due);
        (behind > inner.period * LATE_TICKS).then(|| {
            format!(
                "the media clock is {} ms late (over {LATE_TICKS} ticks)",
                behind.as_millis()
            )
        })
    }
}

/// Runs the timer while anyone listens, and wakes the listeners on every tick.
async fn drive(inner: Rc<Inner>) {
    loop {
        if inner.subscribers.get() == 0 {
            // Sleep until the first subscriber arrives.
            std::future::poll_fn(|cx| {
                if inner.subscribers.get() > 0 {
                    Poll::Ready(())
                } else {
                    *inner.driver.borrow_mut() = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
            .await;
        }
        let mut timer = async_io::Timer::interval(inner.period);
        while inner.subscribers.get() > 0 {
            timer.next().await;
            inner.last_tick_at.set(Instant::now());
            inner.tick.set(inner.tick.get() + 1);
            let mut waiting = inner.waiting.borrow_mut();
            for waker in waiting.iter_mut().filter_map(Option::take) {
                waker.wake();
            }
        }
    }
}

/// One call's view of the clock. Dropping it unsubscribes.
pub struct Ticks {
    inner: Rc<Inner>,
    slot: usize,
    /// Ticks this subscriber has consumed, counted on the clock's scale.
    seen: u64,
}

impl Ticks {
    /// Resolves at the next tick this subscriber has not seen yet.
    pub fn tick(&mut self) -> NextTick<'_> {
        NextTick { ticks: self }
    }
}

impl Drop for Ticks {
    fn drop(&mut self) {
        if let Some(w) = self.inner.waiting.borrow_mut().get_mut(self.slot) {
            *w = None;
        }
        self.inner.free.borrow_mut().push(self.slot);
        self.inner
            .subscribers
            .set(self.inner.subscribers.get().saturating_sub(1));
    }
}

/// Future of [`Ticks::tick`].
pub struct NextTick<'a> {
    ticks: &'a mut Ticks,
}

impl Future for NextTick<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let t = &mut *self.get_mut().ticks;
        if t.inner.tick.get() > t.seen {
            t.seen += 1;
            return Poll::Ready(());
        }
        let mut waiting = t.inner.waiting.borrow_mut();
        if let Some(slot) = waiting.get_mut(t.slot) {
            match slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subscriber_sees_every_tick_once_and_missed_ticks_catch_up() {
        let ex = smol::LocalExecutor::new();
        smol::block_on(ex.run(async {
            let (clock, driver) = MediaClock::new(Duration::from_millis(5));
            ex.spawn(driver).detach();
            let mut a = clock.subscribe();
            let mut b = clock.subscribe();
            for _ in 0..3 {
                a.tick().await;
            }
            // b slept through a's three ticks: each is still due, once.
            for _ in 0..3 {
                b.tick().await;
            }
            assert_eq!(a.seen, 3);
            assert_eq!(b.seen, 3);
            drop(a);
            // a late subscriber starts at the clock's current tick
            let mut c = clock.subscribe();
            let c0 = c.seen;
            c.tick().await;
            assert_eq!(c.seen, c0 + 1);
        }));
    }

    #[test]
    fn late_only_while_calls_listen_and_ticks_do_not_come() {
        let ex = smol::LocalExecutor::new();
        smol::block_on(ex.run(async {
            let period = Duration::from_millis(20);
            let (clock, driver) = MediaClock::new(period);
            let far = Instant::now() + Duration::from_secs(10);
            assert_eq!(clock.late(far), None, "an idle clock is never late");
            // A call listens but nothing drives the clock (a stuck or dead driver).
            let mut a = clock.subscribe();
            let now = Instant::now();
            assert_eq!(
                clock.late(now + period * 2),
                None,
                "a tick or two is jitter"
            );
            let why = clock
                .late(now + period * (LATE_TICKS + 2))
                .expect("stalled past LATE_TICKS");
            assert!(why.contains("media clock"), "{why}");
            // Driven, it keeps up.
            ex.spawn(driver).detach();
            a.tick().await;
            a.tick().await;
            assert_eq!(clock.late(Instant::now()), None);
        }));
    }

    #[test]
    fn clock_sleeps_without_subscribers_and_restarts() {
        let ex = smol::LocalExecutor::new();
        smol::block_on(ex.run(async {
            let (clock, driver) = MediaClock::new(Duration::from_millis(2));
            ex.spawn(driver).detach();
            {
                let mut a = clock.subscribe();
                a.tick().await;
            }
            let before = clock.inner.tick.get();
            async_io::Timer::after(Duration::from_millis(20)).await;
            let after = clock.inner.tick.get();
            assert!(
                after <= before + 1,
                "no subscriber, no ticking: {before} → {after}"
            );
            let mut b = clock.subscribe();
            b.tick().await;
            b.tick().await;
            assert_eq!(clock.subscribers(), 1);
        }));
    }
}
