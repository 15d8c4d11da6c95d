//! The far-end reference: what the playout plays, handed to the capture thread's echo canceller.
//!
//! A bounded single-producer single-consumer ring of samples ([`rtrb`]): the playout thread
//! writes with [`FarEnd::push`], which neither blocks nor allocates, and the
//! [`VoiceProcessor`](super::VoiceProcessor) reads 10 ms chunks on the capture thread.
//!
//! When the ring is full (the capture thread stopped taking far-end audio for
//! [`CAPACITY_MS`]), the incoming frame is dropped whole and counted. The project's usual policy
//! is to keep the newest and drop the oldest, but only the consumer of a lock-free SPSC ring can
//! discard queued samples, and for an echo reference both policies cost the same: one gap in the
//! reference that the echo canceller's delay estimator has to find again. Dropping whole frames
//! keeps every queued frame intact.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rtrb::{Consumer, Producer, RingBuffer};

/// How much far-end audio the ring holds, in milliseconds: long enough for the capture thread to
/// miss a few 20 ms frames (its own device queue drops after 200 ms) without losing reference.
pub const CAPACITY_MS: usize = 500;

/// Samples per millisecond at 48 kHz.
const SAMPLES_PER_MS: usize = 48;

/// The playout's end of the far-end ring. `Send + 'static`: move it to the playout thread.
#[derive(Debug)]
pub struct FarEnd {
    producer: Producer<f32>,
    dropped: Arc<AtomicU64>,
}

/// The capture thread's end, owned by the [`VoiceProcessor`](super::VoiceProcessor).
#[derive(Debug)]
pub(super) struct Reader {
    consumer: Consumer<f32>,
    dropped: Arc<AtomicU64>,
}

/// A new ring of [`CAPACITY_MS`] of 48 kHz mono: the playout's end and the capture's end.
pub(super) fn ring() -> (FarEnd, Reader) {
    let (producer, consumer) = RingBuffer::new(CAPACITY_MS * SAMPLES_PER_MS);
    let dropped = Arc::new(AtomicU64::new(0));
    (
        FarEnd {
            producer,
            dropped: Arc::clone(&dropped),
        },
        Reader { consumer, dropped },
    )
}

impl FarEnd {
    /// Hands over one frame of 48 kHz mono exactly as the playout plays it (usually 20 ms, 960
    /// samples; any length works). Never blocks and never allocates: if the ring has no room
    /// for the whole frame, the frame is dropped and counted in [`FarEnd::dropped`].
    pub fn push(&mut self, frame: &[f32]) {
        if self.producer.push_entire_slice(frame).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether the processor at the other end is gone (its publisher stopped): the playout
    /// can forget this end.
    pub fn is_abandoned(&self) -> bool {
        self.producer.is_abandoned()
    }

    /// Frames dropped so far because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Reader {
    /// Samples waiting in the ring.
    pub(super) fn available(&self) -> usize {
        self.consumer.slots()
    }

    /// Fills `chunk` with the oldest waiting samples; false (and nothing taken) if fewer wait.
    pub(super) fn pop(&mut self, chunk: &mut [f32]) -> bool {
        self.consumer.pop_entire_slice(chunk).is_ok()
    }

    /// Discards `samples` waiting samples (at most what waits).
    pub(super) fn discard(&mut self, samples: usize) {
        let samples = samples.min(self.consumer.slots());
        if let Ok(chunk) = self.consumer.read_chunk(samples) {
            chunk.commit_all();
        }
    }

    /// Frames the playout's end dropped so far.
    pub(super) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
