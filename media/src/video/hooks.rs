//! Raw video hooks: app code that reads, rewrites or drops pictures at two points of the video
//! path, in the pixel format it asks for.
//!
//! ```text
//! source ─▶ beauty ─▶ [Local hook] ─▶ layers ─▶ H.264 encoder
//! H.264 decoder ─▶ [Remote hook] ─▶ renderers, textures
//! ```
//!
//! A [`Runner`] gives the hook a copy of the picture (I420, or converted to RGBA) and takes the
//! result back only if the hook returned in time with a picture of the same size: a hook that
//! overruns its [budget](Runner::new) or resizes the picture leaves the frame as it came, and
//! after [`FAILURES`] such frames in a row it is removed. A hook that panics is removed at once.
//! Hooks run on media threads (a publisher's video thread, a track's decoder thread): they
//! must not block.
//!
//! ```
//! use livestage_media::video::hooks::{self, Format, Info, Point, Runner, Verdict};
//! use livestage_media::video::{I420, TestPattern};
//!
//! // Invert the colours of what is sent.
//! let invert = hooks::hook_fn(Format::Rgba, |frame, _info| {
//!     if let hooks::FrameMut::Rgba(rgba) = frame {
//!         for px in rgba.data_mut().chunks_exact_mut(4) {
//!             px[..3].iter_mut().for_each(|c| *c = 255 - *c);
//!         }
//!     }
//!     Verdict::Keep
//! });
//! let mut runner = Runner::new(Box::new(invert), std::time::Duration::from_millis(33));
//! let mut frame = TestPattern::new(320, 180)?.frame(0, 0);
//! let before = frame.y()[0];
//! let verdict = runner.run(&mut frame, &Info::local(0))?;
//! assert_eq!(verdict, Verdict::Keep);
//! assert!(frame.y()[0] != before);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::convert::{i420_to_rgba_into, rgba_to_i420_into};
use super::frame::{I420, Rgba};

/// Frames in a row a hook may overrun its budget or resize before it is removed.
pub const FAILURES: u32 = 5;

/// Where a hook sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Point {
    /// A local picture after the source and beauty, before it is scaled into layers and
    /// encoded.
    Local,
    /// A remote track's decoded picture, before renderers and textures get it.
    Remote,
}

/// The pixel format a hook wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The path's own planes: nothing is converted.
    I420,
    /// 8-bit RGBA (converted there and back: about 1 ms per 720p frame).
    Rgba,
}

/// A picture handed to a hook, in the format it asked for. Its size must not change.
#[derive(Debug)]
pub enum FrameMut<'a> {
    /// Planar YUV 4:2:0, BT.601 limited range.
    I420(&'a mut I420),
    /// RGBA, 4 bytes per pixel.
    Rgba(&'a mut Rgba),
}

/// What the hook decided for the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send (or show) the frame, with the hook's changes.
    Keep,
    /// Drop the frame: it is not sent (local) or not shown (remote).
    Drop,
}

/// About the frame a hook gets.
#[derive(Debug, Clone, Copy)]
pub struct Info<'a> {
    /// Where.
    pub point: Point,
    /// The channel, when the frame belongs to one (a remote track's).
    pub channel: Option<&'a str>,
    /// The publisher's media id ([`Point::Remote`] only).
    pub media_id: Option<u64>,
    /// Its track id ([`Point::Remote`] only).
    pub track: Option<u8>,
    /// The frame number: ticks of the local source, the publisher's number for a remote frame.
    pub frame: u64,
    /// Capture time, microseconds since the Unix epoch.
    pub capture_us: u64,
}

impl Info<'_> {
    /// A local frame's info.
    pub fn local(frame: u64) -> Info<'static> {
        Info {
            point: Point::Local,
            channel: None,
            media_id: None,
            track: None,
            frame,
            capture_us: 0,
        }
    }
}

/// App code on the video path.
pub trait Hook: Send {
    /// The format of the frames it gets; asked once, when installed.
    fn format(&self) -> Format;
    /// Reads and may rewrite `frame` in place, or drops it.
    fn process(&mut self, frame: FrameMut<'_>, info: &Info<'_>) -> Verdict;
}

/// A closure as a hook.
pub struct FnHook<F> {
    format: Format,
    f: F,
}

/// A hook from a closure.
pub fn hook_fn<F>(format: Format, f: F) -> FnHook<F>
where
    F: FnMut(FrameMut<'_>, &Info<'_>) -> Verdict + Send,
{
    FnHook { format, f }
}

impl<F> Hook for FnHook<F>
where
    F: FnMut(FrameMut<'_>, &Info<'_>) -> Verdict + Send,
{
    fn format(&self) -> Format {
        self.format
    }

    fn process(&mut self, frame: FrameMut<'_>, info: &Info<'_>) -> Verdict {
        (self.f)(frame, info)
    }
}

impl<H: Hook + ?Sized> Hook for Box<H> {
    fn format(&self) -> Format {
        (**self).format()
    }

    fn process(&mut self, frame: FrameMut<'_>, info: &Info<'_>) -> Verdict {
        (**self).process(frame, info)
    }
}

/// One hook shared by several paths (each decoder thread, say): they take turns.
impl<H: Hook + ?Sized> Hook for Arc<Mutex<H>> {
    fn format(&self) -> Format {
        self.lock().map_or(Format::I420, |h| h.format())
    }

    fn process(&mut self, frame: FrameMut<'_>, info: &Info<'_>) -> Verdict {
        match self.lock() {
            Ok(mut hook) => hook.process(frame, info),
            // Poisoned: it panicked on another path and is being removed.
            Err(_) => Verdict::Keep,
        }
    }
}

/// Why a hook failed: each leaves the frame as it came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// It panicked (the hook is removed at once).
    #[error("the video hook panicked: {0}")]
    Panicked(String),
    /// It took longer than its budget.
    #[error("the video hook took {took_ms} ms, over its {budget_ms} ms budget")]
    TooSlow {
        /// How long it took.
        took_ms: u32,
        /// Its budget.
        budget_ms: u32,
    },
    /// It changed the picture's size.
    #[error(
        "the video hook turned a {width}x{height} picture into {new_width}x{new_height}; \
         hooks must keep the size"
    )]
    Resized {
        /// The size it got.
        width: u32,
        /// The size it got.
        height: u32,
        /// The size it gave back.
        new_width: u32,
        /// The size it gave back.
        new_height: u32,
    },
}

/// Runs one hook on a path's frames, guarding the path against it.
pub struct Runner {
    hook: Box<dyn Hook>,
    format: Format,
    budget: Duration,
    /// The copy the hook works on (I420), or the conversion's target (RGBA).
    i420: Option<I420>,
    rgba: Option<Rgba>,
    /// Failures in a row.
    failures: u32,
}

impl Runner {
    /// Prepares `hook`; a frame it takes longer than `budget` on is sent as it came.
    pub fn new(hook: Box<dyn Hook>, budget: Duration) -> Self {
        let format = hook.format();
        Self {
            hook,
            format,
            budget,
            i420: None,
            rgba: None,
            failures: 0,
        }
    }

    /// The format the hook asked for.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Runs the hook on `frame`. The frame changes only when the hook kept it, returned within
    /// its budget and kept its size.
    ///
    /// # Errors
    ///
    /// The failure that ends the hook: it panicked, or failed [`FAILURES`] frames in a row.
    /// Remove the runner; the frame is as it came.
    pub fn run(&mut self, frame: &mut I420, info: &Info<'_>) -> Result<Verdict, Failure> {
        let (width, height) = frame.size();
        let started = Instant::now();
        let (hook, format) = (&mut self.hook, self.format);
        let (i420, rgba) = (&mut self.i420, &mut self.rgba);
        let ran = catch_unwind(AssertUnwindSafe(|| match format {
            Format::I420 => {
                let copy = copy_into(i420, frame);
                hook.process(FrameMut::I420(copy), info)
            }
            Format::Rgba => {
                let converted = rgba_of(rgba, frame);
                hook.process(FrameMut::Rgba(converted), info)
            }
        }));
        let verdict = ran.map_err(|panic| Failure::Panicked(crate::panic::message(&*panic)))?;
        let took = started.elapsed();
        let result_size = match self.format {
            Format::I420 => self.i420.as_ref().map(I420::size),
            Format::Rgba => self.rgba.as_ref().map(Rgba::size),
        };
        let failure = if took > self.budget {
            Some(Failure::TooSlow {
                took_ms: took.as_millis() as u32,
                budget_ms: self.budget.as_millis() as u32,
            })
        } else if let Some((new_width, new_height)) = result_size.filter(|&s| s != (width, height))
        {
            Some(Failure::Resized {
                width,
                height,
                new_width,
                new_height,
            })
        } else {
            None
        };
        if let Some(failure) = failure {
            self.failures += 1;
            if self.failures >= FAILURES {
                return Err(failure);
            }
            return Ok(Verdict::Keep);
        }
        self.failures = 0;
        if verdict == Verdict::Keep {
            match self.format {
                Format::I420 => {
                    if let Some(copy) = &mut self.i420 {
                        std::mem::swap(copy, frame);
                    }
                }
                Format::Rgba => {
                    if let Some(rgba) = &self.rgba {
                        rgba_to_i420_into(rgba, frame).expect("the size was checked above");
                    }
                }
            }
        }
        Ok(verdict)
    }
}

/// `frame` copied into `slot`, reusing its buffers when the size allows.
fn copy_into<'a>(slot: &'a mut Option<I420>, frame: &I420) -> &'a mut I420 {
    match slot {
        Some(copy) if copy.size() == frame.size() => {
            let (y, u, v) = copy.planes_mut();
            y.copy_from_slice(frame.y());
            u.copy_from_slice(frame.u());
            v.copy_from_slice(frame.v());
        }
        _ => *slot = Some(frame.clone()),
    }
    slot.as_mut().expect("filled just above")
}

/// `frame` converted into `slot` as RGBA, reusing its buffer when the size allows.
fn rgba_of<'a>(slot: &'a mut Option<Rgba>, frame: &I420) -> &'a mut Rgba {
    let (width, height) = frame.size();
    if slot.as_ref().is_none_or(|r| r.size() != (width, height)) {
        *slot = Some(Rgba::new(width, height).expect("an I420's size is a valid size"));
    }
    let rgba = slot.as_mut().expect("filled just above");
    i420_to_rgba_into(frame, rgba).expect("sized to the frame just above");
    rgba
}

/// A decoded picture handed to a [`Renderer`], in the format it asked for.
#[derive(Debug, Clone, Copy)]
pub enum Picture<'a> {
    /// Planar YUV 4:2:0, BT.601 limited range, tightly packed: the Y plane's rows are `width`
    /// bytes apart, U's and V's `width / 2`.
    I420(&'a I420),
    /// RGBA, 4 bytes per pixel, rows `width * 4` bytes apart.
    Rgba(&'a Rgba),
}

/// App code that draws remote video its own way: it gets every decoded picture of the tracks
/// it is installed for (after the remote hook), on that track's decoder thread. It must not
/// block; one that panics is removed.
pub trait Renderer: Send {
    /// The format of the pictures it gets; asked once, when installed.
    fn format(&self) -> Format;
    /// Takes one picture (copy what it needs: the borrow ends when it returns).
    fn render(&mut self, picture: Picture<'_>, info: &Info<'_>);
}

/// A closure as a renderer.
pub struct FnRenderer<F> {
    format: Format,
    f: F,
}

/// A renderer from a closure.
pub fn renderer_fn<F>(format: Format, f: F) -> FnRenderer<F>
where
    F: FnMut(Picture<'_>, &Info<'_>) + Send,
{
    FnRenderer { format, f }
}

impl<F> Renderer for FnRenderer<F>
where
    F: FnMut(Picture<'_>, &Info<'_>) + Send,
{
    fn format(&self) -> Format {
        self.format
    }

    fn render(&mut self, picture: Picture<'_>, info: &Info<'_>) {
        (self.f)(picture, info);
    }
}

impl<R: Renderer + ?Sized> Renderer for Box<R> {
    fn format(&self) -> Format {
        (**self).format()
    }

    fn render(&mut self, picture: Picture<'_>, info: &Info<'_>) {
        (**self).render(picture, info);
    }
}

/// One renderer shared by several tracks' decoder threads: they take turns.
impl<R: Renderer + ?Sized> Renderer for Arc<Mutex<R>> {
    fn format(&self) -> Format {
        self.lock().map_or(Format::I420, |r| r.format())
    }

    fn render(&mut self, picture: Picture<'_>, info: &Info<'_>) {
        if let Ok(mut r) = self.lock() {
            r.render(picture, info);
        }
    }
}

/// Hands `frame` to `renderer` in its format (`rgba` is the reusable conversion buffer).
///
/// # Errors
///
/// [`Failure::Panicked`]: remove the renderer.
pub fn render(
    renderer: &mut dyn Renderer,
    frame: &I420,
    info: &Info<'_>,
    rgba: &mut Option<Rgba>,
) -> Result<(), Failure> {
    let format = renderer.format();
    catch_unwind(AssertUnwindSafe(|| match format {
        Format::I420 => renderer.render(Picture::I420(frame), info),
        Format::Rgba => renderer.render(Picture::Rgba(rgba_of(rgba, frame)), info),
    }))
    .map_err(|panic| Failure::Panicked(crate::panic::message(&*panic)))
}
