//! The [`Grabber`]: one target's pixels now, on the calling thread.

use super::x11::Session;
use super::{Options, Rect, ScreenError, Target};

/// Reads the pixels of one [`Target`] (and [`Options::region`] within it) on demand.
///
/// [`ScreenSource`](super::ScreenSource) runs one on its own thread; use a `Grabber` directly to
/// take single pictures or to measure capture. Each [`grab`](Grabber::grab) locates the target
/// again, so a window is followed when it moves or resizes.
pub struct Grabber {
    session: Session,
    target: Target,
    region: Option<Rect>,
    cursor: bool,
}

impl std::fmt::Debug for Grabber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grabber")
            .field("target", &self.target)
            .field("region", &self.region)
            .field("shared_memory", &self.shared_memory())
            .finish_non_exhaustive()
    }
}

impl Grabber {
    /// Connects to the X server of `options` and checks that `target` and the region exist.
    ///
    /// # Errors
    ///
    /// [`ScreenError::Unavailable`], [`ScreenError::NoSuchDisplay`],
    /// [`ScreenError::NoSuchWindow`], [`ScreenError::WindowClosed`] (a window that is not
    /// shown) or [`ScreenError::RegionOutside`].
    pub fn new(target: Target, options: &Options) -> Result<Self, ScreenError> {
        let mut session = Session::connect(options.server.as_deref())?;
        if !options.shared_memory {
            session.disable_shm();
        }
        let mut grabber = Self {
            session,
            target,
            region: None,
            cursor: options.cursor,
        };
        grabber.set_region(options.region)?;
        Ok(grabber)
    }

    /// The size of the target (or region) now, in pixels.
    ///
    /// # Errors
    ///
    /// As [`Grabber::grab`].
    pub fn size(&self) -> Result<(u32, u32), ScreenError> {
        Ok(match self.rect()? {
            Ok(rect) => (rect.width, rect.height),
            Err(size) => size,
        })
    }

    /// Shares `region` of the target from now on (`None`: all of it).
    ///
    /// # Errors
    ///
    /// [`ScreenError::RegionOutside`] when the region does not lie inside the target now; the
    /// region in use does not change then.
    pub fn set_region(&mut self, region: Option<Rect>) -> Result<(), ScreenError> {
        let (whole, within) = self.session.locate(&self.target)?;
        if let Some(r) = region {
            let inside = Rect {
                x: 0,
                y: 0,
                width: whole.width,
                height: whole.height,
            };
            if !inside.contains(&r) {
                return Err(ScreenError::RegionOutside {
                    x: r.x,
                    y: r.y,
                    width: r.width,
                    height: r.height,
                    within,
                    within_width: whole.width,
                    within_height: whole.height,
                });
            }
        }
        self.region = region;
        Ok(())
    }

    /// Draws the cursor into later pictures (when the server has XFixes) or not.
    pub fn set_cursor(&mut self, cursor: bool) {
        self.cursor = cursor;
    }

    /// `true` while pixels come through MIT-SHM rather than plain `GetImage`.
    pub fn shared_memory(&self) -> bool {
        self.session.uses_shm()
    }

    /// Reads the target now into `pixels` as BGRX, 4 bytes per pixel, rows top to bottom with
    /// no padding, and returns its `(width, height)`. Parts of a window off the screen are
    /// black; a region that a shrunken window no longer covers is clipped to the window (black when
    /// nothing of the window is left in it).
    ///
    /// # Errors
    ///
    /// [`ScreenError::NoSuchWindow`] or [`ScreenError::WindowClosed`] when the window is gone or
    /// hidden, [`ScreenError::NoSuchDisplay`] when the display is, [`ScreenError::Unavailable`]
    /// when the connection broke, [`ScreenError::Capture`] when the server refused.
    pub fn grab(&mut self, pixels: &mut Vec<u8>) -> Result<(u32, u32), ScreenError> {
        let rect = match self.rect()? {
            Ok(rect) => rect,
            Err((width, height)) => {
                // Nothing of the target is left in the region: black, never other content.
                pixels.clear();
                pixels.resize(width as usize * height as usize * 4, 0);
                return Ok((width, height));
            }
        };
        self.session.grab(rect, pixels)?;
        if self.cursor {
            self.session.draw_cursor(rect, pixels);
        }
        Ok((rect.width, rect.height))
    }

    /// The rectangle on the root to read now: the target, or the region clipped to it; `Err`
    /// holds the region's size when the target shrank away from the region.
    fn rect(&self) -> Result<Result<Rect, (u32, u32)>, ScreenError> {
        let (whole, _) = self.session.locate(&self.target)?;
        let Some(region) = self.region else {
            return Ok(Ok(whole));
        };
        let wanted = Rect {
            x: whole.x.saturating_add(region.x),
            y: whole.y.saturating_add(region.y),
            ..region
        };
        Ok(wanted
            .intersect(&whole)
            .ok_or((region.width, region.height)))
    }
}
