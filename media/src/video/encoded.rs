//! H.264 that is already encoded (a file forwarded as it is, a live RTMP stream) on its way to
//! a publisher: [`encoded`] makes a bounded queue whose sending end never blocks and whose
//! receiving end is an [`EncodedSource`] a publisher forwards without decoding.
//!
//! Drop policy: a consumer that falls behind loses frames, never the stream. When the queue is
//! full the frame offered is dropped, and so is every frame after it until the next keyframe
//! (they would not decode without it); a keyframe that finds the queue still full replaces
//! what is queued, which is stale by then. [`EncodedSource::dropped`] counts all of these.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

/// An encoded access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Annex B NAL units; an IDR comes with the SPS and PPS before it.
    pub data: Vec<u8>,
    /// Holds an IDR slice: decodes without earlier frames.
    pub keyframe: bool,
    /// When the frame is due, in microseconds since the Unix epoch (for a file: the source's
    /// start plus its place on the timeline, which keeps increasing across loops).
    pub capture_us: u64,
    /// Its presentation time within its source, in microseconds from the first frame (a
    /// file's starts again at each loop).
    pub pts_us: u64,
}

/// Where encoded access units are offered.
#[derive(Debug)]
pub struct EncodedSender {
    tx: Sender<Access>,
    /// The queue's other end, to throw out stale units when a keyframe finds it full.
    evict: Receiver<Access>,
    /// Dropping until the next keyframe, because a frame before was dropped.
    skipping: bool,
    dropped: Arc<AtomicU64>,
    /// Set when this sender is dropped: nothing more will come.
    closed: Arc<AtomicBool>,
}

/// Where encoded access units are taken, in order; see the [module docs](self).
#[derive(Debug)]
pub struct EncodedSource {
    access: Receiver<Access>,
    dropped: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
}

/// A queue of `capacity` access units (at least 1).
pub fn encoded(capacity: usize) -> (EncodedSender, EncodedSource) {
    let (tx, access) = crossbeam_channel::bounded(capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicBool::new(false));
    let sender = EncodedSender {
        tx,
        evict: access.clone(),
        skipping: false,
        dropped: Arc::clone(&dropped),
        closed: Arc::clone(&closed),
    };
    let source = EncodedSource {
        access,
        dropped,
        closed,
    };
    (sender, source)
}

impl EncodedSender {
    /// Queues `access` without blocking, or drops it by the policy.
    pub fn offer(&mut self, access: Access) {
        if self.skipping && !access.keyframe {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.tx.try_send(access) {
            Ok(()) => self.skipping = false,
            Err(TrySendError::Full(access)) if access.keyframe => {
                // Everything queued is older than this keyframe, which does not need it.
                let stale = self.evict.try_iter().count() as u64;
                self.dropped.fetch_add(stale, Ordering::Relaxed);
                // Only this sender sends, and the queue was just emptied.
                let _ = self.tx.try_send(access);
                self.skipping = false;
            }
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.skipping = true;
            }
            // The source is gone; the producer finds out its own way.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl Drop for EncodedSender {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
    }
}

impl EncodedSource {
    /// The next access unit if one is queued.
    pub fn next(&self) -> Option<Access> {
        self.access.try_recv().ok()
    }

    /// The next access unit, waiting up to `timeout` for one.
    pub fn next_timeout(&self, timeout: Duration) -> Option<Access> {
        self.access.recv_timeout(timeout).ok()
    }

    /// Whether the sender is gone and nothing is left.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) && self.access.is_empty()
    }

    /// Access units dropped because the consumer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(n: u64, keyframe: bool) -> Access {
        Access {
            data: vec![n as u8],
            keyframe,
            capture_us: n,
            pts_us: n,
        }
    }

    #[test]
    fn a_full_queue_drops_up_to_the_next_keyframe_which_replaces_what_is_stale() {
        let (mut tx, rx) = encoded(2);
        tx.offer(unit(0, true));
        tx.offer(unit(1, false));
        tx.offer(unit(2, false)); // Full: dropped, and the next delta frame too.
        assert_eq!(rx.next().map(|a| a.pts_us), Some(0));
        tx.offer(unit(3, false));
        tx.offer(unit(4, true));
        tx.offer(unit(5, true)); // Full with a keyframe: replaces 1 and 4.
        let left: Vec<u64> = std::iter::from_fn(|| rx.next()).map(|a| a.pts_us).collect();
        assert_eq!(left, [5]);
        assert_eq!(rx.dropped(), 4);
        assert!(!rx.is_closed());
        drop(tx);
        assert!(rx.is_closed());
    }
}
