//! A bounded single-producer single-consumer queue (of PCM frames) that lives in an `Arc`.
//!
//! The SDK delivers the room's audio on its own thread while the call's 20 ms tick takes it
//! on the executor; between them nothing may block or allocate. `heapless::spsc` needs a
//! borrowed split that cannot outlive the queue, which does not fit a queue shared through
//! an `Arc` with C callbacks, so this is the same algorithm with the two ends as methods.
//! Each end guards itself with a flag, so a second concurrent producer (or consumer) is
//! refused rather than allowed to corrupt the queue.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Fixed-capacity queue; `N` slots of storage allocated once.
pub struct FrameRing<T: Copy, const N: usize> {
    slots: [UnsafeCell<T>; N],
    /// Count of frames ever taken (consumer-owned).
    head: AtomicUsize,
    /// Count of frames ever stored (producer-owned).
    tail: AtomicUsize,
    producing: AtomicBool,
    consuming: AtomicBool,
}

// SAFETY: a slot is written only by the producer while it is outside [head, tail) and read
// only by the consumer while it is inside; the Release/Acquire pairs on `tail` and `head`
// order those accesses, and the `producing`/`consuming` flags keep each end to one thread at
// a time.
unsafe impl<T: Copy + Send, const N: usize> Sync for FrameRing<T, N> {}
unsafe impl<T: Copy + Send, const N: usize> Send for FrameRing<T, N> {}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue holds `N` frames already.
    Full,
    /// Another thread was pushing at the same moment.
    Busy,
}

impl<T: Copy, const N: usize> FrameRing<T, N> {
    /// An empty queue whose slots start as copies of `init`.
    pub fn new(init: T) -> Self {
        FrameRing {
            slots: std::array::from_fn(|_| UnsafeCell::new(init)),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            producing: AtomicBool::new(false),
            consuming: AtomicBool::new(false),
        }
    }

    /// Producer end: fills the next free slot in place with `fill`.
    pub fn push_with(&self, fill: impl FnOnce(&mut T)) -> Result<(), PushError> {
        if self.producing.swap(true, Ordering::Acquire) {
            return Err(PushError::Busy);
        }
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        let result = if tail.wrapping_sub(head) >= N {
            Err(PushError::Full)
        } else {
            // SAFETY: the slot is outside [head, tail), so the consumer does not touch it,
            // and `producing` makes us the only producer.
            let slot = unsafe { &mut *self.slots[tail % N].get() };
            fill(slot);
            self.tail.store(tail.wrapping_add(1), Ordering::Release);
            Ok(())
        };
        self.producing.store(false, Ordering::Release);
        result
    }

    /// Consumer end: takes the oldest frame.
    pub fn pop(&self) -> Option<T> {
        if self.consuming.swap(true, Ordering::Acquire) {
            return None;
        }
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        let frame = if head == tail {
            None
        } else {
            // SAFETY: the slot is inside [head, tail): the producer finished writing it
            // (Release on tail) and will not touch it until head moves past it.
            let frame = unsafe { *self.slots[head % N].get() };
            self.head.store(head.wrapping_add(1), Ordering::Release);
            Some(frame)
        };
        self.consuming.store(false, Ordering::Release);
        frame
    }

    /// Frames waiting (a snapshot; either end may move it right after).
    pub fn len(&self) -> usize {
        let tail = self.tail.load(Ordering::Acquire);
        let head = self.head.load(Ordering::Acquire);
        tail.wrapping_sub(head)
    }

    /// Whether no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::PcmFrame;
    use std::sync::Arc;

    fn frame_with(first: i16) -> impl FnOnce(&mut PcmFrame) {
        move |f| {
            f.len = 160;
            f.samples[0] = first;
        }
    }

    #[test]
    fn keeps_order_and_refuses_when_full() {
        let ring: FrameRing<PcmFrame, 4> = FrameRing::new(PcmFrame::silence(8000));
        for i in 0..4 {
            assert_eq!(ring.push_with(frame_with(i)), Ok(()));
        }
        assert_eq!(ring.push_with(frame_with(9)), Err(PushError::Full));
        assert_eq!(ring.len(), 4);
        for i in 0..4 {
            assert_eq!(ring.pop().map(|f| f.samples[0]), Some(i));
        }
        assert!(ring.pop().is_none());
        assert!(ring.is_empty());
    }

    #[test]
    fn hands_every_frame_across_threads_in_order() {
        let ring: Arc<FrameRing<PcmFrame, 8>> = Arc::new(FrameRing::new(PcmFrame::silence(8000)));
        let producer = {
            let ring = ring.clone();
            std::thread::spawn(move || {
                let mut i: i16 = 0;
                while i < 5000 {
                    if ring.push_with(frame_with(i)).is_ok() {
                        i += 1;
                    } else {
                        std::thread::yield_now();
                    }
                }
            })
        };
        let mut expect: i16 = 0;
        while expect < 5000 {
            match ring.pop() {
                Some(f) => {
                    assert_eq!(f.samples[0], expect);
                    assert_eq!(f.len, 160);
                    expect += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        producer.join().unwrap();
    }
}
