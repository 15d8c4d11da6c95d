//! The custom source: the app pushes frames from any thread, the stream takes the newest.
//!
//! [`CustomSender::push_rgba`] converts to I420 on the pushing thread, then puts the frame in a
//! one-frame slot, replacing a frame that was not taken yet. Pushing never blocks and the
//! queue never grows; a slow consumer just sees fewer frames.
//!
//! ```
//! use livestage_media::video::{CustomSource, Rgba};
//!
//! let (mut source, sender) = CustomSource::new(64, 32)?;
//! let pusher = sender.clone();
//! std::thread::spawn(move || pusher.push_rgba(Rgba::new(64, 32)?, 1_000))
//!     .join()
//!     .expect("the pushing thread does not panic")?;
//! let (frame, capture_us) = source.latest().expect("a frame was pushed");
//! assert_eq!((frame.size(), capture_us), ((64, 32), 1_000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};

use super::convert::rgba_to_i420_into;
use super::frame::{FrameError, I420, Rgba, check_same_size, check_size};

/// How often a push retries when other pushers keep refilling the slot before giving up on
/// its frame (which is then dropped like any superseded frame).
const PUSH_ATTEMPTS: usize = 8;

/// A frame and its capture time in microseconds.
type Slot = (I420, u64);

/// The consuming end: hands out the newest pushed frame.
#[derive(Debug)]
pub struct CustomSource {
    width: u32,
    height: u32,
    rx: Receiver<Slot>,
    closed: Arc<AtomicBool>,
}

/// The pushing end: `Clone + Send`, usable from any thread; never blocks.
#[derive(Debug, Clone)]
pub struct CustomSender {
    width: u32,
    height: u32,
    tx: Sender<Slot>,
    /// Used to evict an untaken frame when the slot is full.
    evict: Receiver<Slot>,
    closed: Arc<AtomicBool>,
}

impl CustomSource {
    /// A source of `width`x`height` frames and its sender.
    ///
    /// # Errors
    ///
    /// If the size is odd or out of range (see [`check_size`]).
    pub fn new(width: u32, height: u32) -> Result<(Self, CustomSender), FrameError> {
        check_size(width, height)?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        let closed = Arc::new(AtomicBool::new(false));
        let sender = CustomSender {
            width,
            height,
            tx,
            evict: rx.clone(),
            closed: Arc::clone(&closed),
        };
        Ok((
            Self {
                width,
                height,
                rx,
                closed,
            },
            sender,
        ))
    }

    /// `(width, height)` of the frames.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The newest frame pushed since the last call, with its capture time, or `None`.
    pub fn latest(&mut self) -> Option<(I420, u64)> {
        let mut newest = None;
        loop {
            match self.rx.try_recv() {
                Ok(slot) => newest = Some(slot),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return newest,
            }
        }
    }
}

impl Drop for CustomSource {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

impl CustomSender {
    /// `(width, height)` the source expects.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// `true` once the [`CustomSource`] is dropped; pushes are then discarded.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Converts `frame` to I420 on this thread and offers it, replacing an untaken frame.
    ///
    /// # Errors
    ///
    /// [`FrameError::SizeMismatch`] if `frame` is not the source's size.
    pub fn push_rgba(&self, frame: Rgba, capture_us: u64) -> Result<(), FrameError> {
        check_same_size("custom source", self.size(), frame.size())?;
        let mut i420 = I420::new(self.width, self.height)?;
        rgba_to_i420_into(&frame, &mut i420)?;
        self.offer((i420, capture_us));
        Ok(())
    }

    /// Offers an I420 `frame`, replacing an untaken frame.
    ///
    /// # Errors
    ///
    /// [`FrameError::SizeMismatch`] if `frame` is not the source's size.
    pub fn push_i420(&self, frame: I420, capture_us: u64) -> Result<(), FrameError> {
        check_same_size("custom source", self.size(), frame.size())?;
        self.offer((frame, capture_us));
        Ok(())
    }

    fn offer(&self, mut slot: Slot) {
        if self.is_closed() {
            return;
        }
        for _ in 0..PUSH_ATTEMPTS {
            match self.tx.try_send(slot) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => {
                    slot = back;
                    // Drop the untaken frame; if the consumer took it first, the slot is free.
                    drop(self.evict.try_recv());
                }
            }
        }
    }
}
