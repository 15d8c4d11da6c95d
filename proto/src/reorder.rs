//! Puts video frames of one publisher layer back in order on the receiving side.
//!
//! Each frame travels on its own QUIC stream, so a frame whose packet was lost and
//! retransmitted can arrive after later frames. A decoder needs them in order: this holds
//! early frames until the missing one arrives, and gives up on it after `max_wait_ms` or as
//! soon as a later keyframe is there (the decoder can restart from it).
//!
//! Frame numbers start at 0 again in every stream (each publication of the layer), so frames
//! are ordered within their stream: a frame of a new stream starts the numbering afresh, and
//! the stream it replaced is over (see [`Streams`]).

use std::collections::BTreeMap;

use crate::media::{Stream, Streams};

/// Reorders frames numbered by the publisher. The clock is passed in.
pub struct Reorder<T> {
    streams: Streams,
    next: Option<u64>,
    pending: BTreeMap<u64, Pending<T>>,
    max_wait_ms: u64,
    skipped: u64,
}

struct Pending<T> {
    item: T,
    keyframe: bool,
    arrived_ms: u64,
}

/// Most frames held while waiting for a missing one.
const MAX_PENDING: usize = 64;

impl<T> Reorder<T> {
    /// Waits at most `max_wait_ms` for a missing frame.
    pub fn new(max_wait_ms: u64) -> Self {
        Self {
            streams: Streams::new(),
            next: None,
            pending: BTreeMap::new(),
            max_wait_ms,
            skipped: 0,
        }
    }

    /// Frames given up on so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The stream being reordered, once a frame arrived.
    pub fn stream(&self) -> Option<u32> {
        self.streams.current()
    }

    /// Frame `frame` of `stream` arrived. Frames older than what was already released are
    /// dropped, and so are frames of a stream that a newer one replaced. The first frame of a
    /// new stream ends the current one: what it still held is given up on and numbering starts
    /// again.
    pub fn push(&mut self, stream: u32, frame: u64, keyframe: bool, item: T, now_ms: u64) {
        match self.streams.check(stream) {
            Stream::Current => {}
            Stream::Ended => return,
            Stream::New => {
                self.skipped += self.pending.len() as u64;
                self.pending.clear();
                self.next = None;
            }
        }
        if self.next.is_some_and(|next| frame < next) {
            return;
        }
        self.pending.insert(
            frame,
            Pending {
                item,
                keyframe,
                arrived_ms: now_ms,
            },
        );
        while self.pending.len() > MAX_PENDING {
            self.pending.pop_first();
            self.skipped += 1;
        }
    }

    /// The next frame to decode, if it may be released now.
    pub fn pop(&mut self, now_ms: u64) -> Option<T> {
        let (&first, oldest) = self.pending.first_key_value()?;
        let next = *self.next.get_or_insert(first);
        if first != next {
            // A gap: wait for it, unless it has taken too long or a keyframe lets us restart.
            let keyframe = self
                .pending
                .iter()
                .find(|(_, p)| p.keyframe)
                .map(|(&f, _)| f);
            let resume = match keyframe {
                Some(k) => k,
                None if now_ms >= oldest.arrived_ms + self.max_wait_ms => first,
                None => return None,
            };
            while self
                .pending
                .first_key_value()
                .is_some_and(|(&f, _)| f < resume)
            {
                self.pending.pop_first();
            }
            self.skipped += resume - next;
            self.next = Some(resume);
        }
        let (frame, p) = self.pending.pop_first()?;
        self.next = Some(frame + 1);
        Some(p.item)
    }

    /// When [`Reorder::pop`] may next release something while a gap is open.
    pub fn poll_timeout(&self) -> Option<u64> {
        let (&first, oldest) = self.pending.first_key_value()?;
        (Some(first) != self.next).then_some(oldest.arrived_ms + self.max_wait_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::Reorder;

    fn drain(r: &mut Reorder<u64>, now: u64) -> Vec<u64> {
        std::iter::from_fn(|| r.pop(now)).collect()
    }

    #[test]
    fn in_order_passes_straight_through() {
        let mut r = Reorder::new(100);
        for f in 0..5 {
            r.push(0, f, f == 0, f, 0);
            assert_eq!(r.pop(0), Some(f));
        }
    }

    #[test]
    fn a_late_frame_is_waited_for() {
        let mut r = Reorder::new(100);
        r.push(0, 0, true, 0, 0);
        r.push(0, 2, false, 2, 1);
        r.push(0, 3, false, 3, 2);
        assert_eq!(drain(&mut r, 10), vec![0]);
        r.push(0, 1, false, 1, 30);
        assert_eq!(drain(&mut r, 30), vec![1, 2, 3]);
        assert_eq!(r.skipped(), 0);
    }

    #[test]
    fn a_lost_frame_is_given_up_after_the_wait() {
        let mut r = Reorder::new(100);
        r.push(0, 0, true, 0, 0);
        assert_eq!(drain(&mut r, 0), vec![0]);
        r.push(0, 2, false, 2, 10);
        assert_eq!(drain(&mut r, 50), Vec::<u64>::new());
        assert_eq!(r.poll_timeout(), Some(110));
        assert_eq!(drain(&mut r, 110), vec![2]);
        assert_eq!(r.skipped(), 1);
        r.push(0, 1, false, 1, 120);
        assert_eq!(drain(&mut r, 120), Vec::<u64>::new(), "too late now");
    }

    #[test]
    fn a_keyframe_after_a_gap_restarts_at_once() {
        let mut r = Reorder::new(1000);
        r.push(0, 0, true, 0, 0);
        assert_eq!(drain(&mut r, 0), vec![0]);
        r.push(0, 2, false, 2, 1);
        r.push(0, 5, true, 5, 2);
        r.push(0, 6, false, 6, 3);
        assert_eq!(drain(&mut r, 3), vec![5, 6]);
    }
}
