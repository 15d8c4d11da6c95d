//! The frame queues between the app and an audio device callback.
//!
//! Fixed-size frames are allocated once and circulate through two bounded channels: `full`
//! carries samples towards the consumer, `free` brings emptied frames back. The device side
//! only uses `try_send`/`try_recv`, which neither lock nor allocate while nobody blocks on the
//! channels — so the app side never blocks on them either: it polls. When the queue is full
//! the oldest queued frame is dropped, so the newest audio wins and latency stays bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

/// Frames queued between the app and the device at most (200 ms).
pub const QUEUE_FRAMES: usize = 10;

/// How often [`Reader::read_timeout`] polls.
const POLL: Duration = Duration::from_millis(2);

type Frame = Box<[f32]>;

/// Counters of one device queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames handed to the consumer (played out, or read by the app).
    pub frames: u64,
    /// Frames dropped because the queue was full (the consumer fell behind).
    pub dropped: u64,
    /// Playback only: device callbacks that ran out of samples and played silence.
    pub underruns: u64,
}

#[derive(Debug, Default)]
struct Counters {
    frames: AtomicU64,
    dropped: AtomicU64,
    underruns: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn stats(&self) -> Stats {
        Stats {
            frames: self.frames.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            underruns: self.underruns.load(Ordering::Relaxed),
        }
    }
}

/// Both ends of both channels, and the counters; each side keeps the ends it needs.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    frame_len: usize,
    full_tx: Sender<Frame>,
    full_rx: Receiver<Frame>,
    free_tx: Sender<Frame>,
    free_rx: Receiver<Frame>,
    counters: Arc<Counters>,
}

impl Queue {
    /// A queue of frames of `frame_len` samples, with every frame allocated up front.
    pub(crate) fn new(frame_len: usize) -> Queue {
        // Each side holds at most one frame besides the queued ones.
        let pool = QUEUE_FRAMES + 2;
        let (full_tx, full_rx) = bounded(QUEUE_FRAMES);
        // Room for more than the pool, so returning a frame never fails (which would free
        // it, on the device thread).
        let (free_tx, free_rx) = bounded(pool * 2);
        for _ in 0..pool {
            // Cannot fail: the channel has room for `pool * 2` frames and we hold both ends.
            let _ = free_tx.try_send(vec![0.0; frame_len].into_boxed_slice());
        }
        Queue {
            frame_len,
            full_tx,
            full_rx,
            free_tx,
            free_rx,
            counters: Arc::default(),
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        self.counters.stats()
    }

    /// An empty frame: a free one, else the oldest queued one (dropping its samples).
    fn take_free(&self) -> Option<Frame> {
        if let Ok(frame) = self.free_rx.try_recv() {
            return Some(frame);
        }
        let oldest = self.full_rx.try_recv().ok()?;
        Counters::bump(&self.counters.dropped);
        Some(oldest)
    }

    /// Queues a full frame, dropping the oldest queued one if the queue is full. Gives the
    /// frame back if it still could not be queued (its samples are then lost).
    fn submit(&self, frame: Frame) -> Option<Frame> {
        let frame = match self.full_tx.try_send(frame) {
            Ok(()) => return None,
            Err(TrySendError::Full(frame) | TrySendError::Disconnected(frame)) => frame,
        };
        if let Ok(oldest) = self.full_rx.try_recv() {
            Counters::bump(&self.counters.dropped);
            self.recycle(oldest);
        }
        match self.full_tx.try_send(frame) {
            Ok(()) => None,
            Err(TrySendError::Full(frame) | TrySendError::Disconnected(frame)) => {
                Counters::bump(&self.counters.dropped);
                Some(frame)
            }
        }
    }

    fn recycle(&self, frame: Frame) {
        // Only fails if the pool outgrew the free channel, which `take_free`'s callers avoid.
        let _ = self.free_tx.try_send(frame);
    }
}

/// A frame being filled or drained, and the position in it.
#[derive(Debug, Default)]
struct Cursor {
    frame: Option<Frame>,
    pos: usize,
}

/// Copies `input` into frames taken with `take`, handing each full one to `submit`.
fn fill_frames(
    cursor: &mut Cursor,
    mut input: &[f32],
    mut take: impl FnMut() -> Option<Frame>,
    mut submit: impl FnMut(Frame) -> Option<Frame>,
) {
    while !input.is_empty() {
        if cursor.frame.is_none() {
            cursor.frame = take();
            cursor.pos = 0;
        }
        let Some(frame) = cursor.frame.as_mut() else {
            return; // No frame to fill: these samples are lost (counted by `take`).
        };
        let n = input.len().min(frame.len() - cursor.pos);
        frame[cursor.pos..cursor.pos + n].copy_from_slice(&input[..n]);
        cursor.pos += n;
        input = &input[n..];
        if cursor.pos == frame.len() {
            let full = cursor.frame.take();
            cursor.pos = 0;
            // A frame that could not be queued is refilled.
            cursor.frame = full.and_then(&mut submit);
        }
    }
}

/// The app's end of a playback queue: write interleaved samples here.
///
/// Samples reach the device in whole frames, so write in 20 ms frames (or keep writing).
/// Writing never blocks: if the device falls more than [`QUEUE_FRAMES`] behind, the oldest
/// queued frame is dropped. Pace the writes with [`queued_frames`](Self::queued_frames).
#[derive(Debug)]
pub struct Writer {
    queue: Queue,
    cursor: Cursor,
}

impl Writer {
    pub(crate) fn new(queue: Queue) -> Writer {
        Writer {
            queue,
            cursor: Cursor::default(),
        }
    }

    /// Writes interleaved samples; never blocks.
    pub fn write(&mut self, samples: &[f32]) {
        let queue = &self.queue;
        let frame_len = queue.frame_len;
        let take = || {
            // On the app thread allocating is allowed; it only happens if both channels are
            // momentarily empty while the device holds a frame.
            Some(
                queue
                    .take_free()
                    .unwrap_or_else(|| vec![0.0; frame_len].into_boxed_slice()),
            )
        };
        fill_frames(&mut self.cursor, samples, take, |frame| queue.submit(frame));
    }

    /// Whole frames waiting for the device.
    pub fn queued_frames(&self) -> usize {
        self.queue.full_rx.len()
    }

    /// The counters of this queue.
    pub fn stats(&self) -> Stats {
        self.queue.stats()
    }
}

/// The device's end of a playback queue.
#[derive(Debug)]
pub(crate) struct Sink {
    queue: Queue,
    cursor: Cursor,
}

impl Sink {
    pub(crate) fn new(queue: Queue) -> Sink {
        Sink {
            queue,
            cursor: Cursor::default(),
        }
    }

    /// Fills `out` with queued samples, then silence. Real-time safe: no allocation, lock or
    /// blocking.
    pub(crate) fn render(&mut self, out: &mut [f32]) {
        let mut written = 0;
        while written < out.len() {
            if self.cursor.frame.is_none() {
                match self.queue.full_rx.try_recv() {
                    Ok(frame) => {
                        self.cursor.frame = Some(frame);
                        self.cursor.pos = 0;
                    }
                    Err(_) => {
                        out[written..].fill(0.0);
                        Counters::bump(&self.queue.counters.underruns);
                        return;
                    }
                }
            }
            let Some(frame) = self.cursor.frame.as_ref() else {
                return;
            };
            let pos = self.cursor.pos;
            let n = (out.len() - written).min(frame.len() - pos);
            out[written..written + n].copy_from_slice(&frame[pos..pos + n]);
            written += n;
            self.cursor.pos += n;
            if self.cursor.pos == frame.len()
                && let Some(done) = self.cursor.frame.take()
            {
                Counters::bump(&self.queue.counters.frames);
                self.queue.recycle(done);
            }
        }
    }
}

/// The device's end of a capture queue.
#[derive(Debug)]
pub(crate) struct Source {
    queue: Queue,
    cursor: Cursor,
}

impl Source {
    pub(crate) fn new(queue: Queue) -> Source {
        Source {
            queue,
            cursor: Cursor::default(),
        }
    }

    /// Appends captured samples. Real-time safe: no allocation, lock or blocking.
    pub(crate) fn push(&mut self, samples: &[f32]) {
        let queue = &self.queue;
        let submit = |frame| {
            let back = queue.submit(frame);
            if back.is_none() {
                Counters::bump(&queue.counters.frames);
            }
            back
        };
        fill_frames(&mut self.cursor, samples, || queue.take_free(), submit);
    }
}

/// The app's end of a capture queue: read 20 ms frames of interleaved samples here.
///
/// A frame stays readable until the next read. If the app falls more than
/// [`QUEUE_FRAMES`] behind, the oldest frames are dropped.
#[derive(Debug)]
pub struct Reader {
    queue: Queue,
    current: Option<Frame>,
}

impl Reader {
    pub(crate) fn new(queue: Queue) -> Reader {
        Reader {
            queue,
            current: None,
        }
    }

    /// The next captured frame if one is waiting; never blocks.
    pub fn read(&mut self) -> Option<&[f32]> {
        self.release();
        self.current = self.queue.full_rx.try_recv().ok();
        self.current.as_deref()
    }

    /// The next captured frame, waiting up to `timeout` for it.
    ///
    /// Waits by polling every 2 ms, so that the device side never has a sleeping reader to
    /// wake (which would take a lock in the audio callback).
    pub fn read_timeout(&mut self, timeout: Duration) -> Option<&[f32]> {
        self.release();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(frame) = self.queue.full_rx.try_recv() {
                self.current = Some(frame);
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            std::thread::sleep(POLL.min(deadline - now));
        }
        self.current.as_deref()
    }

    /// Whole frames waiting to be read.
    pub fn queued_frames(&self) -> usize {
        self.queue.full_rx.len()
    }

    /// The counters of this queue.
    pub fn stats(&self) -> Stats {
        self.queue.stats()
    }

    fn release(&mut self) {
        if let Some(frame) = self.current.take() {
            self.queue.recycle(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const LEN: usize = 4;

    #[test]
    fn a_full_playback_queue_drops_the_oldest_frames() {
        let queue = Queue::new(LEN);
        let mut writer = Writer::new(queue.clone());
        let mut sink = Sink::new(queue);
        for i in 0..30 {
            writer.write(&[i as f32; LEN]);
        }
        let mut out = [0.0; LEN * QUEUE_FRAMES];
        sink.render(&mut out);
        let first_kept = 30 - QUEUE_FRAMES;
        let expected: Vec<f32> = (first_kept..30).flat_map(|i| [i as f32; LEN]).collect();
        assert_eq!(out.to_vec(), expected);
        assert_eq!(writer.stats().dropped, first_kept as u64);
        // Then it runs dry: silence, counted as an underrun.
        sink.render(&mut out[..3]);
        assert_eq!(out[..3], [0.0; 3]);
        assert_eq!(writer.stats().underruns, 1);
    }

    #[test]
    fn a_full_capture_queue_drops_the_oldest_frames() {
        let queue = Queue::new(LEN);
        let mut source = Source::new(queue.clone());
        let mut reader = Reader::new(queue);
        // Odd-sized pushes are gathered into whole frames.
        let samples: Vec<f32> = (0..30 * LEN).map(|i| (i / LEN) as f32).collect();
        for chunk in samples.chunks(3) {
            source.push(chunk);
        }
        let mut first = Vec::new();
        while let Some(frame) = reader.read() {
            assert!(frame.iter().all(|&s| s == frame[0]), "{frame:?}");
            first.push(frame[0]);
        }
        let kept: Vec<f32> = (30 - QUEUE_FRAMES..30).map(|i| i as f32).collect();
        assert_eq!(first, kept);
        assert_eq!(reader.stats().dropped, 30 - QUEUE_FRAMES as u64);
    }

    #[test]
    fn frames_circulate_without_allocating() {
        let queue = Queue::new(LEN);
        let mut writer = Writer::new(queue.clone());
        let mut sink = Sink::new(queue.clone());
        let mut out = [0.0; LEN];
        for _ in 0..100 {
            writer.write(&[0.5; LEN]);
            sink.render(&mut out);
        }
        // Every frame came back: the pool neither grew nor shrank.
        assert_eq!(queue.free_rx.len(), QUEUE_FRAMES + 2);
    }
}
