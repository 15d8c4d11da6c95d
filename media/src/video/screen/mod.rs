//! Screen capture on X11: a whole display, one window (followed as it moves), or a region.
//!
//! [`displays`] and [`windows`] list what can be shared; a [`ScreenSource`] captures a
//! [`Target`] on its own thread at [`Options::fps`], converts each picture to I420 and scales it
//! to a size fixed at start ([`fit`](super::scale::fit) of the captured size into
//! [`Options::max_width`] x [`Options::max_height`]: aspect kept, never upscaled). Frames are handed out like the
//! [`CustomSource`](super::CustomSource)'s: [`ScreenSource::latest`] takes the newest, from a
//! one-frame slot that never grows. A [`Grabber`] is the same capture without the thread, one
//! BGRX picture per call.
//!
//! Files: `x11.rs` talks to the server (listing, locating, reading pixels, the cursor),
//! `shm.rs` holds the MIT-SHM segment, `grab.rs` the [`Grabber`], `source.rs` the thread and
//! the conversion to frames.
//!
//! A share that can no longer show what was chosen ends instead of freezing: a window that is
//! closed, unmapped or destroyed ends it with [`ScreenError::WindowClosed`], a display that goes
//! away with [`ScreenError::DisplayGone`]; [`ScreenSource::ended`] says so and the thread stops.
//!
//! The connection is x11rb's pure-Rust one, to the X server named by `DISPLAY` (or
//! [`Options::server`]). Pixels come through the MIT-SHM extension when the server offers it
//! (a memfd segment mapped on both sides) and through plain `GetImage` otherwise; the cursor is
//! drawn in from XFixes when [`Options::cursor`] is set and the server has it. Wayland without
//! XWayland is not supported: that needs the desktop portal and PipeWire.
//!
//! ```no_run
//! use livestage_media::video::screen::{self, Options, Target};
//! use livestage_media::video::ScreenSource;
//!
//! let display = screen::displays()?.into_iter().next().expect("X has at least one display");
//! let mut source = ScreenSource::new(Target::Display(display.id), Options::default())?;
//! println!("sharing {} at {:?}", display.name, source.size());
//! while source.ended().is_none() {
//!     if let Some((frame, capture_us)) = source.latest() {
//!         // Hand `frame` to an encoder set up for `source.size()`.
//!         # let _ = (frame, capture_us);
//!     }
//!     std::thread::sleep(std::time::Duration::from_millis(10));
//! }
//! println!("the share ended: {}", source.ended().expect("the loop ran until it ended"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod grab;
mod shm;
mod source;
mod x11;

pub use grab::Grabber;
pub use source::ScreenSource;

/// A display (a monitor) that can be shared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Display {
    /// Identifies the display to [`Target::Display`]; stable while the display exists (the
    /// RandR monitor's name atom, or 0 for a screen without RandR monitors).
    pub id: u32,
    /// The monitor's name, e.g. `"HDMI-1"`, or `"screen"`.
    pub name: String,
    /// Left edge on the X screen, in pixels.
    pub x: i32,
    /// Top edge on the X screen, in pixels.
    pub y: i32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A top-level window that can be shared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    /// The X window id, for [`Target::Window`].
    pub id: u32,
    /// The title (`_NET_WM_NAME`, else `WM_NAME`); empty when the window has none.
    pub title: String,
    /// Left edge on the X screen, in pixels.
    pub x: i32,
    /// Top edge on the X screen, in pixels.
    pub y: i32,
    /// Width in pixels, without the window manager's frame.
    pub width: u32,
    /// Height in pixels, without the window manager's frame.
    pub height: u32,
}

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Rect {
    /// The part of `self` inside `other`, or `None` when they do not overlap.
    fn intersect(&self, other: &Rect) -> Option<Rect> {
        let left = self.x.max(other.x);
        let top = self.y.max(other.y);
        let right = self.right().min(other.right());
        let bottom = self.bottom().min(other.bottom());
        (right > i64::from(left) && bottom > i64::from(top)).then(|| Rect {
            x: left,
            y: top,
            width: u32::try_from(right - i64::from(left)).unwrap_or(0),
            height: u32::try_from(bottom - i64::from(top)).unwrap_or(0),
        })
    }

    /// `true` when `inner` lies wholly inside `self` and is not empty.
    fn contains(&self, inner: &Rect) -> bool {
        inner.width > 0
            && inner.height > 0
            && inner.x >= self.x
            && inner.y >= self.y
            && inner.right() <= self.right()
            && inner.bottom() <= self.bottom()
    }

    fn right(&self) -> i64 {
        i64::from(self.x) + i64::from(self.width)
    }

    fn bottom(&self) -> i64 {
        i64::from(self.y) + i64::from(self.height)
    }
}

/// What to share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A whole display, by [`Display::id`].
    Display(u32),
    /// A window, by [`Window::id`]; the share follows it when it moves or resizes.
    Window(u32),
    /// A region of the first display, relative to its top-left corner.
    Region {
        /// Left edge.
        x: i32,
        /// Top edge.
        y: i32,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
}

/// A share as people type it: `display` (the first display), `display:ID`, `window:ID`
/// (decimal or `0x` hex, as `livestage screens` lists them) or `region:X,Y,W,H` (of the first
/// display), optionally followed by `@FPS`. The CLI bot's `screen=` and the party game's
/// `--share` read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    /// What to capture; `None` is the first display.
    pub target: Option<Target>,
    /// Frames per second; `None` is the capture default ([`Options::fps`]).
    pub fps: Option<f32>,
}

impl Share {
    /// The target, with the first display of the X server named by `DISPLAY` for `None`.
    ///
    /// # Errors
    ///
    /// [`ScreenError::Unavailable`] without an X server, [`ScreenError::NoSuchDisplay`] when it
    /// lists no display.
    pub fn resolve(&self) -> Result<Target, ScreenError> {
        if let Some(target) = self.target {
            return Ok(target);
        }
        displays()?
            .first()
            .map(|d| Target::Display(d.id))
            .ok_or(ScreenError::NoSuchDisplay(0))
    }

    /// Capture options with this share's frame rate.
    pub fn options(&self) -> Options {
        let mut options = Options::default();
        if let Some(fps) = self.fps {
            options.fps = fps;
        }
        options
    }
}

impl std::str::FromStr for Share {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let (target, fps) = match spec.rsplit_once('@') {
            Some((t, fps)) => {
                let fps: f32 = fps
                    .parse()
                    .map_err(|_| format!("bad frame rate {fps:?} in {spec:?}"))?;
                if !(fps > 0.0 && fps <= 120.0) {
                    return Err(format!("a share's frame rate is 1 to 120, got {fps}"));
                }
                (t, Some(fps))
            }
            None => (spec, None),
        };
        let number = |what: &str, s: &str| -> Result<u32, String> {
            match s.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => s.parse(),
            }
            .map_err(|_| format!("bad {what} {s:?}"))
        };
        let target = match target.split_once(':') {
            None if target == "display" => None,
            Some(("display", id)) => Some(Target::Display(number("display id", id)?)),
            Some(("window", id)) => Some(Target::Window(number("window id", id)?)),
            Some(("region", rect)) => {
                let bad = || format!("a region is X,Y,WIDTH,HEIGHT, got {rect:?}");
                let v: Vec<&str> = rect.split(',').map(str::trim).collect();
                let [x, y, w, h] = v[..] else {
                    return Err(bad());
                };
                Some(Target::Region {
                    x: x.parse().map_err(|_| bad())?,
                    y: y.parse().map_err(|_| bad())?,
                    width: w.parse().map_err(|_| bad())?,
                    height: h.parse().map_err(|_| bad())?,
                })
            }
            _ => {
                return Err(format!(
                    "unknown screen {target:?}; use display, display:ID, window:ID or region:X,Y,W,H"
                ));
            }
        };
        Ok(Self { target, fps })
    }
}

/// What the shared content is, for the encoder; capture does not change with it.
///
/// The publish path maps [`Detail`](ContentHint::Detail) to a lower frame rate at a higher
/// quality (text and slides stay sharp) and [`Motion`](ContentHint::Motion) to frame rate first
/// (games and video stay smooth, at the cost of sharpness).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentHint {
    /// Moving pictures: keep the frame rate, give up sharpness.
    Motion,
    /// Text, slides, code: keep the detail, give up frame rate.
    #[default]
    Detail,
}

/// How to capture. `Default` gives 1920x1080 at most, 15 fps, the cursor drawn,
/// [`ContentHint::Detail`], the whole target, the server in `DISPLAY`, MIT-SHM when offered.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Largest output width; the output keeps the captured aspect ratio and is never upscaled.
    pub max_width: u32,
    /// Largest output height.
    pub max_height: u32,
    /// Frames captured per second, clamped to 1..=60.
    pub fps: f32,
    /// Draw the mouse cursor into the picture (when the server has XFixes; ignored otherwise).
    pub cursor: bool,
    /// What the content is, carried for the encoder.
    pub hint: ContentHint,
    /// Only this part of the target, relative to its top-left corner. It must lie inside the
    /// target when the share starts; when a window later shrinks, what is left of it is shown.
    pub region: Option<Rect>,
    /// The X server to capture from, as in `DISPLAY` (e.g. `":1"`); `None` reads `DISPLAY`.
    pub server: Option<String>,
    /// Read pixels through MIT-SHM when the server offers it (the default); `false` forces
    /// plain `GetImage`, for measuring or for a server whose MIT-SHM misbehaves.
    pub shared_memory: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_width: 1920,
            max_height: 1080,
            fps: 15.0,
            cursor: true,
            hint: ContentHint::Detail,
            region: None,
            server: None,
            shared_memory: true,
        }
    }
}

/// Why screen capture could not start or stopped; each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScreenError {
    /// No usable X server: no `DISPLAY`, a server that does not answer, Wayland without X, or
    /// an unsupported pixel format. The product error code is `screen_unavailable`.
    #[error("screen capture is unavailable: {0}")]
    Unavailable(String),
    /// No window with this id (it may have closed already).
    #[error("there is no window with id {0:#x}; list the windows again and pick one of those")]
    NoSuchWindow(u32),
    /// No display with this id.
    #[error("there is no display with id {0}; list the displays again and pick one of those")]
    NoSuchDisplay(u32),
    /// The requested region does not lie inside the display or window it is taken from.
    #[error(
        "the region {width}x{height} at {x},{y} is not inside the {within} \
         ({within_width}x{within_height}); pick a non-empty region within it"
    )]
    RegionOutside {
        /// Left edge of the region.
        x: i32,
        /// Top edge of the region.
        y: i32,
        /// Width of the region.
        width: u32,
        /// Height of the region.
        height: u32,
        /// What the region had to fit in: `"display"` or `"window"`.
        within: &'static str,
        /// Width of that display or window.
        within_width: u32,
        /// Height of that display or window.
        within_height: u32,
    },
    /// The shared window was closed, minimised or hidden; the share has ended.
    #[error("the shared window was closed or hidden; pick a window and share again")]
    WindowClosed,
    /// The shared display was disconnected, or the X server stopped; the share has ended.
    #[error(
        "the shared display went away (disconnected, or the X server stopped); \
         pick a display and share again"
    )]
    DisplayGone,
    /// The X server refused a capture request.
    #[error("screen capture failed: {0}; share again, and report this if it persists")]
    Capture(String),
}

impl ScreenError {
    /// The product error code: `screen_unavailable` for [`ScreenError::Unavailable`], and a
    /// code named after the variant otherwise.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "screen_unavailable",
            Self::NoSuchWindow(_) => "no_such_window",
            Self::NoSuchDisplay(_) => "no_such_display",
            Self::RegionOutside { .. } => "region_outside",
            Self::WindowClosed => "window_closed",
            Self::DisplayGone => "display_gone",
            Self::Capture(_) => "screen_capture_failed",
        }
    }
}

/// The displays of the X server named by `DISPLAY`.
///
/// # Errors
///
/// [`ScreenError::Unavailable`] when no X server can be reached.
pub fn displays() -> Result<Vec<Display>, ScreenError> {
    displays_on(None)
}

/// The displays of `server` (as in `DISPLAY`, e.g. `":1"`; `None` reads `DISPLAY`).
///
/// # Errors
///
/// [`ScreenError::Unavailable`] when no X server can be reached.
pub fn displays_on(server: Option<&str>) -> Result<Vec<Display>, ScreenError> {
    x11::Session::connect(server)?.displays()
}

/// The top-level windows of the X server named by `DISPLAY` that the window manager manages
/// (`_NET_CLIENT_LIST`), or without a window manager the viewable, named children of the root.
/// Windows that are not shown now (minimised, on another desktop) cannot be captured and are
/// left out.
///
/// # Errors
///
/// [`ScreenError::Unavailable`] when no X server can be reached.
pub fn windows() -> Result<Vec<Window>, ScreenError> {
    windows_on(None)
}

/// The top-level windows of `server` (as in `DISPLAY`; `None` reads `DISPLAY`); see [`windows`].
///
/// # Errors
///
/// [`ScreenError::Unavailable`] when no X server can be reached.
pub fn windows_on(server: Option<&str>) -> Result<Vec<Window>, ScreenError> {
    x11::Session::connect(server)?.windows()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISPLAY: Rect = Rect {
        x: 0,
        y: 0,
        width: 1280,
        height: 720,
    };

    #[test]
    fn a_region_inside_is_contained_and_one_across_the_edge_is_not() {
        let inside = Rect {
            x: 1180,
            y: 620,
            width: 100,
            height: 100,
        };
        assert!(DISPLAY.contains(&inside));
        assert!(!DISPLAY.contains(&Rect { x: 1181, ..inside }));
        assert!(!DISPLAY.contains(&Rect { x: -1, ..inside }));
        assert!(!DISPLAY.contains(&Rect { width: 0, ..inside }));
    }

    #[test]
    fn intersection_clips_to_the_overlap() {
        let across = Rect {
            x: -50,
            y: 700,
            width: 100,
            height: 100,
        };
        assert_eq!(
            across.intersect(&DISPLAY),
            Some(Rect {
                x: 0,
                y: 700,
                width: 50,
                height: 20
            })
        );
        assert_eq!(Rect { x: 2000, ..across }.intersect(&DISPLAY), None);
    }
}
