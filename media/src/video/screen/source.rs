//! The [`ScreenSource`]: a [`Grabber`] on its own thread, feeding a one-frame slot.

use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{PixelType, Resizer};

use super::grab::Grabber;
use super::{ContentHint, Options, Rect, ScreenError};
use crate::video::convert::bgra_to_i420_into;
use crate::video::frame::{I420, MAX_HEIGHT, MAX_WIDTH, MIN_HEIGHT, MIN_WIDTH, check_size};
use crate::video::now_us;
use crate::video::scale::{self, Scaler};
use crate::video::source::{CustomSender, CustomSource};

/// How long [`ScreenSource::update`] waits for the capture thread to take new options.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(2);

/// A request to the capture thread, with where to send its answer.
enum Command {
    Update(Options, Sender<Result<(), ScreenError>>),
    Region(Option<Rect>, Sender<Result<(), ScreenError>>),
}

/// Screen capture on its own thread: a display, a window or a region, as I420 frames of a size
/// fixed at start.
///
/// Hands out frames like [`CustomSource`]: [`latest`](Self::latest) takes the newest frame and
/// its capture time; frames not taken in time are replaced, never queued. Dropping the source
/// stops its thread.
#[derive(Debug)]
pub struct ScreenSource {
    frames: CustomSource,
    hint: ContentHint,
    commands: Sender<Command>,
    ended: Arc<OnceLock<ScreenError>>,
    thread: Option<JoinHandle<()>>,
}

impl ScreenSource {
    /// Starts capturing `target` with `options`. The frame size is
    /// [`scale::fit`] of the target's (or region's) size now into the options' maximum.
    ///
    /// # Errors
    ///
    /// As [`Grabber::new`]; [`ScreenError::Capture`] if the thread cannot start.
    pub fn new(target: super::Target, options: Options) -> Result<Self, ScreenError> {
        let grabber = Grabber::new(target, &options)?;
        let (width, height) = grabber.size()?;
        let (width, height) = scale::fit(width, height, options.max_width, options.max_height);
        let (frames, sender) =
            CustomSource::new(width, height).expect("scale::fit always gives a valid size");
        let (commands, inbox) = crossbeam_channel::unbounded();
        let ended = Arc::new(OnceLock::new());
        let capture = Capture {
            grabber,
            period: period(options.fps),
            frames: sender,
            inbox,
            ended: Arc::clone(&ended),
            pixels: Vec::new(),
            picture: Picture::default(),
        };
        let thread = std::thread::Builder::new()
            .name("livestage-screen".to_owned())
            .spawn(move || capture.run())
            .map_err(|e| ScreenError::Capture(format!("cannot start the capture thread: {e}")))?;
        Ok(Self {
            frames,
            hint: options.hint,
            commands,
            ended,
            thread: Some(thread),
        })
    }

    /// `(width, height)` of the frames, fixed for the life of the source.
    pub fn size(&self) -> (u32, u32) {
        self.frames.size()
    }

    /// What the content is, for the encoder (see [`ContentHint`]).
    pub fn hint(&self) -> ContentHint {
        self.hint
    }

    /// The newest frame captured since the last call, with its capture time in microseconds
    /// since the Unix epoch; `None` when there is none, and always once the share has ended.
    pub fn latest(&mut self) -> Option<(I420, u64)> {
        let newest = self.frames.latest();
        if self.ended.get().is_some() {
            return None;
        }
        newest
    }

    /// Why the share ended (the window closed, the display went away...), or `None` while it
    /// runs. Once ended, the thread has stopped and [`latest`](Self::latest) gives nothing.
    pub fn ended(&self) -> Option<ScreenError> {
        self.ended.get().cloned()
    }

    /// Changes the region, frame rate, cursor and hint while capturing. A new region is scaled
    /// into the same frame size (letterboxed if its shape differs), so the encoder goes on;
    /// `max_width`, `max_height` and `server` are only read at start.
    ///
    /// # Errors
    ///
    /// [`ScreenError::RegionOutside`] when the region does not lie inside the target (nothing
    /// changes then); the end reason when the share has ended.
    pub fn update(&mut self, options: Options) -> Result<(), ScreenError> {
        let hint = options.hint;
        self.ask(|reply| Command::Update(options, reply))?;
        self.hint = hint;
        Ok(())
    }

    /// Shares `region` of the target from now on (`None`: all of it), keeping the other options.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    pub fn set_region(&mut self, region: Option<Rect>) -> Result<(), ScreenError> {
        self.ask(|reply| Command::Region(region, reply))
    }

    /// Sends a command to the capture thread and waits for its answer.
    fn ask(
        &self,
        command: impl FnOnce(Sender<Result<(), ScreenError>>) -> Command,
    ) -> Result<(), ScreenError> {
        if let Some(ended) = self.ended() {
            return Err(ended);
        }
        let (reply, answer) = crossbeam_channel::bounded(1);
        let gone = || {
            self.ended().unwrap_or_else(|| {
                ScreenError::Capture("the capture thread did not answer in time".to_owned())
            })
        };
        if self.commands.send(command(reply)).is_err() {
            return Err(gone());
        }
        answer.recv_timeout(UPDATE_TIMEOUT).map_err(|_| gone())?
    }
}

impl Drop for ScreenSource {
    fn drop(&mut self) {
        // Closing the command channel tells the thread to stop.
        let (closed, _) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.commands, closed));
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the screen capture thread panicked");
        }
    }
}

/// The time between frames at `fps`, clamped to 1..=60 frames per second (15 when not a number).
fn period(fps: f32) -> Duration {
    let fps = if fps.is_finite() {
        fps.clamp(1.0, 60.0)
    } else {
        15.0
    };
    Duration::from_secs_f32(1.0 / fps)
}

/// The capture thread's state.
struct Capture {
    grabber: Grabber,
    period: Duration,
    frames: CustomSender,
    inbox: Receiver<Command>,
    ended: Arc<OnceLock<ScreenError>>,
    pixels: Vec<u8>,
    picture: Picture,
}

impl Capture {
    fn run(mut self) {
        let mut next = Instant::now();
        loop {
            match self.inbox.recv_deadline(next) {
                // The source waits for these answers or gives up; either way is fine.
                Ok(Command::Update(options, reply)) => {
                    let _ = reply.send(self.apply(&options));
                    continue;
                }
                Ok(Command::Region(region, reply)) => {
                    let _ = reply.send(self.grabber.set_region(region));
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            next = (next + self.period).max(now);
            if let Err(error) = self.frame() {
                let error = match error {
                    ScreenError::NoSuchWindow(_) => ScreenError::WindowClosed,
                    ScreenError::NoSuchDisplay(_) | ScreenError::Unavailable(_) => {
                        ScreenError::DisplayGone
                    }
                    other => other,
                };
                tracing::info!("screen share ended: {error}");
                // Only this thread sets it, once, just before it stops.
                let _ = self.ended.set(error);
                return;
            }
        }
    }

    fn apply(&mut self, options: &Options) -> Result<(), ScreenError> {
        self.grabber.set_region(options.region)?;
        self.grabber.set_cursor(options.cursor);
        self.period = period(options.fps);
        Ok(())
    }

    /// Captures, converts and scales one frame and offers it.
    fn frame(&mut self) -> Result<(), ScreenError> {
        let capture_us = now_us();
        let size = self.grabber.grab(&mut self.pixels)?;
        let frame = self.picture.render(&self.pixels, size, self.frames.size());
        self.frames
            .push_i420(frame, capture_us)
            .expect("the picture is rendered at the source's size");
        Ok(())
    }
}

/// Turns captured BGRX pixels into an I420 frame of the output size, keeping its buffers.
#[derive(Default)]
struct Picture {
    scaler: Scaler,
    resizer: Resizer,
    resized: Vec<u8>,
    captured: Option<I420>,
    inner: Option<I420>,
}

impl Picture {
    /// `pixels` (`width`x`height` BGRX) as a new `out`-sized frame: converted at the captured
    /// size (less an odd last column or row), then scaled; letterboxed when the shape differs.
    fn render(&mut self, pixels: &[u8], (width, height): (u32, u32), out: (u32, u32)) -> I420 {
        let mut output = I420::new(out.0, out.1).expect("the output size was checked at start");
        if width == 0 || height == 0 {
            return output;
        }
        let even = (width & !1, height & !1);
        let (bgra, stride, size) = if check_size(even.0, even.1).is_ok() {
            (pixels, width * 4, even)
        } else {
            // Smaller than the smallest or larger than the largest I420: resize the BGRX first.
            let size = scale::fit(width, height, MAX_WIDTH, MAX_HEIGHT);
            self.resize_bgra(pixels, (width, height), size);
            (&self.resized[..], size.0 * 4, size)
        };
        let captured = reuse(&mut self.captured, size);
        bgra_to_i420_into(bgra, stride, captured)
            .expect("the pixels hold width x height BGRX at this stride");
        let inner = letterbox(size, out);
        if inner == out {
            self.scaler.scale_into(captured, &mut output);
        } else {
            let scaled = reuse(&mut self.inner, inner);
            self.scaler.scale_into(captured, scaled);
            blit_centred(scaled, &mut output);
        }
        output
    }

    fn resize_bgra(&mut self, pixels: &[u8], from: (u32, u32), to: (u32, u32)) {
        self.resized.resize(to.0 as usize * to.1 as usize * 4, 0);
        let src = ImageRef::new(from.0, from.1, pixels, PixelType::U8x4)
            .expect("the grabber returns width x height x 4 bytes");
        let mut dst = Image::from_slice_u8(to.0, to.1, &mut self.resized, PixelType::U8x4)
            .expect("the buffer was just sized for the destination");
        self.resizer
            .resize(&src, &mut dst, None)
            .expect("both pictures are non-empty U8x4 images");
    }
}

/// The frame in `slot` when it has `size`, else a new one put there.
fn reuse(slot: &mut Option<I420>, size: (u32, u32)) -> &mut I420 {
    if slot.as_ref().is_none_or(|f| f.size() != size) {
        *slot = Some(I420::new(size.0, size.1).expect("sizes given here are checked"));
    }
    slot.as_mut().expect("the slot was just filled")
}

/// The largest even size within `out` with the shape of `src` (scaling up if need be); `out`
/// itself when the shapes differ by less than 1%.
fn letterbox(src: (u32, u32), out: (u32, u32)) -> (u32, u32) {
    let (sw, sh) = (u64::from(src.0), u64::from(src.1));
    let (ow, oh) = (u64::from(out.0), u64::from(out.1));
    let (w, h) = if sw * oh <= sh * ow {
        (sw * oh / sh, oh)
    } else {
        (ow, sh * ow / sw)
    };
    if (ow - w) * 100 < ow && (oh - h) * 100 < oh {
        return out;
    }
    let even = |v: u64| u32::try_from(v & !1).unwrap_or(u32::MAX);
    (even(w).max(MIN_WIDTH), even(h).max(MIN_HEIGHT))
}

/// Copies `inner` into the middle of `output` (which is larger or equal on both sides).
fn blit_centred(inner: &I420, output: &mut I420) {
    let (iw, ih) = (inner.width() as usize, inner.height() as usize);
    let (ow, oh) = (output.width() as usize, output.height() as usize);
    // Even offsets keep chroma aligned.
    let (left, top) = (((ow - iw) / 2) & !1, ((oh - ih) / 2) & !1);
    let (y, u, v) = output.planes_mut();
    copy_plane(inner.y(), iw, ih, y, ow, left, top);
    copy_plane(inner.u(), iw / 2, ih / 2, u, ow / 2, left / 2, top / 2);
    copy_plane(inner.v(), iw / 2, ih / 2, v, ow / 2, left / 2, top / 2);
}

fn copy_plane(src: &[u8], w: usize, h: usize, dst: &mut [u8], stride: usize, x: usize, y: usize) {
    for (row, line) in src.chunks_exact(w).take(h).enumerate() {
        let at = (y + row) * stride + x;
        dst[at..at + w].copy_from_slice(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_shape_fills_the_output() {
        assert_eq!(letterbox((1920, 1080), (960, 540)), (960, 540));
        assert_eq!(letterbox((801, 451), (800, 450)), (800, 450));
        assert_eq!(letterbox((100, 56), (1280, 720)), (1280, 720));
    }

    #[test]
    fn another_shape_is_letterboxed() {
        assert_eq!(letterbox((400, 400), (1280, 720)), (720, 720));
        assert_eq!(letterbox((1600, 400), (1280, 720)), (1280, 320));
    }

    #[test]
    fn a_frame_rate_that_is_not_a_number_is_the_default() {
        assert_eq!(period(f32::NAN), period(15.0));
        assert_eq!(period(1000.0), period(60.0));
        assert_eq!(period(0.0), Duration::from_secs(1));
    }

    #[test]
    fn a_window_of_another_shape_is_centred_in_black() {
        let mut picture = Picture::default();
        // 20x40 white BGRX into a 64x32 output: 16x32 in the middle, black on the sides.
        let pixels = [255, 255, 255, 0].repeat(20 * 40);
        let frame = picture.render(&pixels, (20, 40), (64, 32));
        let luma = |x: usize, y: usize| frame.y()[y * 64 + x];
        assert!(luma(32, 16) > 200, "white in the middle");
        assert_eq!((luma(2, 16), luma(61, 16)), (16, 16), "black at the sides");
    }

    #[test]
    fn a_tiny_window_still_gives_a_frame() {
        let mut picture = Picture::default();
        let pixels = [0, 0, 255, 0].repeat(5 * 3);
        let frame = picture.render(&pixels, (5, 3), (16, 16));
        assert_eq!(frame.size(), (16, 16));
    }
}
