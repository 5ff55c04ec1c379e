//! A bounded lock-free queue (of PCM frames) that lives in an `Arc`.
//!
//! The SDK delivers the room's audio on its own thread while the call's 20 ms tick takes it
//! on the executor; between them nothing may block or allocate. The queue is
//! `crossbeam_queue::ArrayQueue`: its slots are allocated once, and both ends work through
//! `&self`, which is what state shared with C callbacks through an `Arc` offers (`rtrb` and
//! `heapless::spsc` hand out split ends that need `&mut`, so they would need a lock or
//! `unsafe` here). It is multi-producer, so a second concurrent producer is simply one more
//! producer. This type only keeps the interface the backend and the bench use.

use crossbeam_queue::ArrayQueue;

/// Fixed-capacity queue; `N` slots of storage allocated once.
pub struct FrameRing<T: Copy, const N: usize> {
    queue: ArrayQueue<T>,
    /// What a slot holds before `push_with` fills it in.
    blank: T,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue holds `N` frames already.
    Full,
}

impl<T: Copy, const N: usize> FrameRing<T, N> {
    /// An empty queue whose new entries start as copies of `init`.
    pub fn new(init: T) -> Self {
        FrameRing {
            queue: ArrayQueue::new(N),
            blank: init,
        }
    }

    /// Producer end: fills a copy of the blank entry with `fill` and queues it.
    pub fn push_with(&self, fill: impl FnOnce(&mut T)) -> Result<(), PushError> {
        let mut entry = self.blank;
        fill(&mut entry);
        self.queue.push(entry).map_err(|_| PushError::Full)
    }

    /// Consumer end: takes the oldest frame.
    pub fn pop(&self) -> Option<T> {
        self.queue.pop()
    }

    /// Frames waiting (a snapshot; either end may move it right after).
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
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
