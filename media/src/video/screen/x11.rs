//! The X11 side: connecting, listing displays and windows, locating a target, grabbing pixels.
//!
//! Pixels are read from the root window, so a window share is the window's rectangle on screen
//! (found each frame with `TranslateCoordinates`, so the share follows the window). With MIT-SHM
//! the server writes the picture into a memfd mapped on both sides (see [`super::shm`]); without
//! it, plain `GetImage` sends it over the socket.

use x11rb::connection::{Connection, RequestConnection};
use x11rb::errors::{ConnectionError, ReplyError};
use x11rb::protocol::xproto::{self, AtomEnum, ConnectionExt as _, ImageFormat, MapState};
use x11rb::protocol::{ErrorKind, randr, shm, xfixes};
use x11rb::rust_connection::RustConnection;

use super::shm::Segment;
use super::{Display, Rect, ScreenError, Target, Window};

/// Why there is no X server to talk to when `DISPLAY` is unset.
fn no_display_reason(wayland: bool) -> String {
    if wayland {
        "Wayland screen capture needs the desktop portal and PipeWire, which this build does \
         not include; run under X11/XWayland"
            .to_owned()
    } else {
        "DISPLAY is not set; run inside an X11 session or set DISPLAY (for example DISPLAY=:0)"
            .to_owned()
    }
}

/// A broken connection while listing or starting.
fn broken(error: impl std::fmt::Display) -> ScreenError {
    ScreenError::Unavailable(format!(
        "the connection to the X server broke ({error}); check that it still runs"
    ))
}

/// An X error on a request about window `id`: the window is gone, or another failure.
fn about_window(id: u32, error: ReplyError) -> ScreenError {
    match error {
        ReplyError::X11Error(e)
            if matches!(
                e.error_kind,
                ErrorKind::Window | ErrorKind::Drawable | ErrorKind::Match
            ) =>
        {
            ScreenError::NoSuchWindow(id)
        }
        ReplyError::X11Error(e) => ScreenError::Capture(format!("{:?}", e.error_kind)),
        ReplyError::ConnectionError(e) => broken(e),
    }
}

fn reply_error(error: ReplyError) -> ScreenError {
    match error {
        ReplyError::X11Error(e) => ScreenError::Capture(format!("X error {:?}", e.error_kind)),
        ReplyError::ConnectionError(e) => broken(e),
    }
}

fn connection_error(error: ConnectionError) -> ScreenError {
    broken(error)
}

/// Atoms the listing reads.
struct Atoms {
    client_list: u32,
    wm_name: u32,
    utf8: u32,
}

/// One connection to an X server and what it offers.
pub(super) struct Session {
    conn: RustConnection,
    root: u32,
    atoms: Atoms,
    randr: bool,
    xfixes: bool,
    /// `true` until MIT-SHM is missing or fails once; then `GetImage` is used.
    shm: bool,
    segment: Option<Segment>,
}

impl Session {
    /// Connects to `server` (as in `DISPLAY`), or to `DISPLAY` when `None`.
    pub(super) fn connect(server: Option<&str>) -> Result<Self, ScreenError> {
        let name = match server {
            Some(name) => name.to_owned(),
            None => match std::env::var("DISPLAY") {
                Ok(name) if !name.is_empty() => name,
                _ => {
                    let wayland = std::env::var_os("WAYLAND_DISPLAY").is_some();
                    return Err(ScreenError::Unavailable(no_display_reason(wayland)));
                }
            },
        };
        let (conn, screen) = RustConnection::connect(Some(&name)).map_err(|e| {
            ScreenError::Unavailable(format!(
                "cannot connect to the X server {name:?} ({e}); check that it runs and that \
                 DISPLAY and XAUTHORITY name it"
            ))
        })?;
        let setup = conn.setup();
        let root_screen = &setup.roots[screen];
        let root = root_screen.root;
        let depth = root_screen.root_depth;
        let bpp = setup
            .pixmap_formats
            .iter()
            .find(|f| f.depth == depth)
            .map(|f| f.bits_per_pixel);
        if bpp != Some(32) || setup.image_byte_order != xproto::ImageOrder::LSB_FIRST {
            return Err(ScreenError::Unavailable(format!(
                "the X server {name:?} uses depth {depth} at {bpp:?} bits per pixel; screen \
                 capture needs a 24- or 32-bit little-endian TrueColor display"
            )));
        }
        let atoms = Atoms {
            client_list: intern(&conn, b"_NET_CLIENT_LIST")?,
            wm_name: intern(&conn, b"_NET_WM_NAME")?,
            utf8: intern(&conn, b"UTF8_STRING")?,
        };
        let randr = has(&conn, randr::X11_EXTENSION_NAME)?
            && randr::query_version(&conn, 1, 5)
                .map_err(connection_error)?
                .reply()
                .is_ok_and(|v| (v.major_version, v.minor_version) >= (1, 5));
        // XFixes needs its version asked before any other request.
        let xfixes = has(&conn, xfixes::X11_EXTENSION_NAME)?
            && xfixes::query_version(&conn, 4, 0)
                .map_err(connection_error)?
                .reply()
                .is_ok_and(|v| v.major_version >= 1);
        // Attaching a memfd needs MIT-SHM 1.2.
        let shm = has(&conn, shm::X11_EXTENSION_NAME)?
            && shm::query_version(&conn)
                .map_err(connection_error)?
                .reply()
                .is_ok_and(|v| (v.major_version, v.minor_version) >= (1, 2));
        Ok(Self {
            conn,
            root,
            atoms,
            randr,
            xfixes,
            shm,
            segment: None,
        })
    }

    /// `true` while pixels come through MIT-SHM.
    pub(super) fn uses_shm(&self) -> bool {
        self.shm
    }

    /// Stops using MIT-SHM, for measuring plain `GetImage`.
    pub(super) fn disable_shm(&mut self) {
        self.shm = false;
        self.drop_segment();
    }

    /// The RandR monitors, or the whole root window as one display.
    pub(super) fn displays(&self) -> Result<Vec<Display>, ScreenError> {
        let monitors = self.monitors()?;
        // Ask for all the names before waiting for any.
        let names = monitors
            .iter()
            .map(|&(id, _)| (id != 0).then(|| self.conn.get_atom_name(id)).transpose())
            .collect::<Result<Vec<_>, _>>()
            .map_err(connection_error)?;
        Ok(monitors
            .into_iter()
            .zip(names)
            .map(|((id, rect), name)| Display {
                id,
                name: name.and_then(|cookie| cookie.reply().ok()).map_or_else(
                    || "screen".to_owned(),
                    |n| String::from_utf8_lossy(&n.name).into_owned(),
                ),
                x: rect.x,
                y: rect.y,
                width: rect.width,
                height: rect.height,
            })
            .collect())
    }

    /// The displays' ids and rectangles, in one round trip: the RandR monitors (by name atom),
    /// or the root window as display 0 when there are none.
    fn monitors(&self) -> Result<Vec<(u32, Rect)>, ScreenError> {
        if self.randr {
            let monitors = randr::get_monitors(&self.conn, self.root, true)
                .map_err(connection_error)?
                .reply()
                .map_err(reply_error)?
                .monitors;
            if !monitors.is_empty() {
                let rect = |m: &randr::MonitorInfo| Rect {
                    x: m.x.into(),
                    y: m.y.into(),
                    width: m.width.into(),
                    height: m.height.into(),
                };
                return Ok(monitors.iter().map(|m| (m.name, rect(m))).collect());
            }
        }
        Ok(vec![(0, self.root_rect()?)])
    }

    /// The managed top-level windows (`_NET_CLIENT_LIST`), else the viewable named children of
    /// the root. Windows that vanish while being listed are left out.
    pub(super) fn windows(&self) -> Result<Vec<Window>, ScreenError> {
        let clients = self
            .conn
            .get_property(
                false,
                self.root,
                self.atoms.client_list,
                AtomEnum::WINDOW,
                0,
                1 << 16,
            )
            .map_err(connection_error)?
            .reply()
            .map_err(reply_error)?;
        let managed = clients.type_ != u32::from(AtomEnum::NONE);
        let ids: Vec<u32> = if managed {
            clients.value32().map(Iterator::collect).unwrap_or_default()
        } else {
            self.conn
                .query_tree(self.root)
                .map_err(connection_error)?
                .reply()
                .map_err(reply_error)?
                .children
        };
        let mut windows = Vec::with_capacity(ids.len());
        for id in ids {
            match self.window(id) {
                Ok(window) if managed || !window.title.is_empty() => windows.push(window),
                Ok(_) | Err(ScreenError::NoSuchWindow(_) | ScreenError::WindowClosed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(windows)
    }

    /// Window `id` as it is now.
    ///
    /// # Errors
    ///
    /// [`ScreenError::NoSuchWindow`] when it does not exist, [`ScreenError::WindowClosed`] when
    /// it is not viewable (unmapped, minimised, or on another desktop).
    fn window(&self, id: u32) -> Result<Window, ScreenError> {
        let rect = self.window_rect(id)?;
        Ok(Window {
            id,
            title: self.title(id)?,
            x: rect.x,
            y: rect.y,
            width: rect.width,
            height: rect.height,
        })
    }

    /// Where window `id` is on the root, asked in one round trip.
    fn window_rect(&self, id: u32) -> Result<Rect, ScreenError> {
        let conn = &self.conn;
        let attributes = conn.get_window_attributes(id).map_err(connection_error)?;
        let geometry = conn.get_geometry(id).map_err(connection_error)?;
        let origin = conn
            .translate_coordinates(id, self.root, 0, 0)
            .map_err(connection_error)?;
        let attributes = attributes.reply().map_err(|e| about_window(id, e))?;
        let geometry = geometry.reply().map_err(|e| about_window(id, e))?;
        let origin = origin.reply().map_err(|e| about_window(id, e))?;
        if attributes.map_state != MapState::VIEWABLE {
            return Err(ScreenError::WindowClosed);
        }
        Ok(Rect {
            x: origin.dst_x.into(),
            y: origin.dst_y.into(),
            width: geometry.width.into(),
            height: geometry.height.into(),
        })
    }

    /// The title of window `id`: `_NET_WM_NAME` (UTF-8), else `WM_NAME` (Latin-1).
    fn title(&self, id: u32) -> Result<String, ScreenError> {
        let utf8 = self
            .conn
            .get_property(false, id, self.atoms.wm_name, self.atoms.utf8, 0, 1024)
            .map_err(connection_error)?;
        let plain = self
            .conn
            .get_property(false, id, AtomEnum::WM_NAME, AtomEnum::ANY, 0, 1024)
            .map_err(connection_error)?;
        let utf8 = utf8.reply().map_err(|e| about_window(id, e))?.value;
        let plain = plain.reply().map_err(|e| about_window(id, e))?.value;
        Ok(if utf8.is_empty() {
            plain.iter().map(|&b| char::from(b)).collect()
        } else {
            String::from_utf8_lossy(&utf8).into_owned()
        })
    }

    /// The root window's rectangle (the whole X screen).
    fn root_rect(&self) -> Result<Rect, ScreenError> {
        let geometry = self
            .conn
            .get_geometry(self.root)
            .map_err(connection_error)?
            .reply()
            .map_err(reply_error)?;
        Ok(Rect {
            x: 0,
            y: 0,
            width: geometry.width.into(),
            height: geometry.height.into(),
        })
    }

    /// The target's rectangle on the root now, and what it is (`"display"` or `"window"`).
    ///
    /// # Errors
    ///
    /// [`ScreenError::NoSuchDisplay`], [`ScreenError::NoSuchWindow`], [`ScreenError::WindowClosed`]
    /// or [`ScreenError::RegionOutside`] (a [`Target::Region`] outside the first display).
    pub(super) fn locate(&self, target: &Target) -> Result<(Rect, &'static str), ScreenError> {
        match *target {
            Target::Display(id) => {
                let (_, rect) = self
                    .monitors()?
                    .into_iter()
                    .find(|&(display, _)| display == id)
                    .ok_or(ScreenError::NoSuchDisplay(id))?;
                Ok((rect, "display"))
            }
            Target::Window(id) => Ok((self.window_rect(id)?, "window")),
            Target::Region {
                x,
                y,
                width,
                height,
            } => {
                let (_, within) = self
                    .monitors()?
                    .into_iter()
                    .next()
                    .ok_or(ScreenError::NoSuchDisplay(0))?;
                let region = Rect {
                    x: within.x.saturating_add(x),
                    y: within.y.saturating_add(y),
                    width,
                    height,
                };
                if within.contains(&region) {
                    Ok((region, "display"))
                } else {
                    Err(ScreenError::RegionOutside {
                        x,
                        y,
                        width,
                        height,
                        within: "display",
                        within_width: within.width,
                        within_height: within.height,
                    })
                }
            }
        }
    }

    /// Reads `rect` of the root into `canvas` (`rect.width * rect.height` BGRX pixels); parts
    /// outside the X screen are black.
    pub(super) fn grab(&mut self, rect: Rect, canvas: &mut Vec<u8>) -> Result<(), ScreenError> {
        let len = rect.width as usize * rect.height as usize * 4;
        canvas.resize(len, 0);
        let Some(visible) = rect.intersect(&self.root_rect()?) else {
            canvas.fill(0);
            return Ok(());
        };
        if visible == rect {
            return self.read(rect, canvas);
        }
        let mut part = Vec::new();
        self.read(visible, &mut part)?;
        canvas.fill(0);
        let row = visible.width as usize * 4;
        let stride = rect.width as usize * 4;
        let left = (visible.x - rect.x) as usize * 4;
        let top = (visible.y - rect.y) as usize;
        for (n, line) in part.chunks_exact(row).enumerate() {
            let at = (top + n) * stride + left;
            canvas[at..at + row].copy_from_slice(line);
        }
        Ok(())
    }

    /// Reads `rect`, which lies inside the root, into `out` (resized to fit).
    fn read(&mut self, rect: Rect, out: &mut Vec<u8>) -> Result<(), ScreenError> {
        let len = rect.width as usize * rect.height as usize * 4;
        if self.shm {
            match self.read_shm(rect, len, out) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::info!("MIT-SHM capture failed ({e}); using GetImage from now on");
                    self.disable_shm();
                }
            }
        }
        let (x, y, width, height) = request_rect(rect);
        let reply = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, self.root, x, y, width, height, !0)
            .map_err(connection_error)?
            .reply()
            .map_err(reply_error)?;
        if reply.data.len() < len {
            return Err(ScreenError::Capture(format!(
                "GetImage sent {} bytes for a {}x{} picture",
                reply.data.len(),
                rect.width,
                rect.height
            )));
        }
        *out = reply.data;
        out.truncate(len);
        Ok(())
    }

    fn read_shm(&mut self, rect: Rect, len: usize, out: &mut Vec<u8>) -> Result<(), String> {
        if self.segment.as_ref().is_none_or(|s| s.len() < len) {
            self.drop_segment();
            self.segment = Some(Segment::attach(&self.conn, len)?);
        }
        let segment = self
            .segment
            .as_ref()
            .expect("a large enough segment was just attached");
        let (x, y, width, height) = request_rect(rect);
        let format = u8::from(ImageFormat::Z_PIXMAP);
        shm::get_image(
            &self.conn,
            self.root,
            x,
            y,
            width,
            height,
            !0,
            format,
            segment.id(),
            0,
        )
        .map_err(|e| e.to_string())?
        .reply()
        .map_err(|e| e.to_string())?;
        out.clear();
        out.extend_from_slice(segment.bytes(len));
        Ok(())
    }

    fn drop_segment(&mut self) {
        if let Some(segment) = self.segment.take() {
            segment.detach(&self.conn);
        }
    }

    /// Draws the cursor into `canvas`, a `rect` of the root, when XFixes can tell where it is.
    pub(super) fn draw_cursor(&self, rect: Rect, canvas: &mut [u8]) {
        if !self.xfixes {
            return;
        }
        let Ok(cursor) = xfixes::get_cursor_image(&self.conn).map(|c| c.reply()) else {
            return;
        };
        let Ok(cursor) = cursor else {
            return;
        };
        if cursor.width == 0 {
            return;
        }
        let left = i32::from(cursor.x) - i32::from(cursor.xhot) - rect.x;
        let top = i32::from(cursor.y) - i32::from(cursor.yhot) - rect.y;
        let (width, height) = (rect.width as i32, rect.height as i32);
        let pixels = cursor.cursor_image.chunks_exact(usize::from(cursor.width));
        for (row, line) in pixels.enumerate() {
            let y = top + row as i32;
            if !(0..height).contains(&y) {
                continue;
            }
            for (column, &argb) in line.iter().enumerate() {
                let x = left + column as i32;
                let alpha = argb >> 24;
                if alpha == 0 || !(0..width).contains(&x) {
                    continue;
                }
                let at = (y as usize * rect.width as usize + x as usize) * 4;
                // XFixes cursor pixels are premultiplied ARGB; the canvas is BGRX.
                for (channel, shift) in [0, 8, 16].into_iter().enumerate() {
                    let src = (argb >> shift) & 0xff;
                    let dst = u32::from(canvas[at + channel]);
                    canvas[at + channel] = (src + dst * (255 - alpha) / 255).min(255) as u8;
                }
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.drop_segment();
    }
}

/// `rect` in the integer types of the X protocol; rectangles on the root always fit.
fn request_rect(rect: Rect) -> (i16, i16, u16, u16) {
    let clamp = |v: i64| v.clamp(0, i64::from(u16::MAX));
    (
        clamp(rect.x.into()) as i16,
        clamp(rect.y.into()) as i16,
        clamp(rect.width.into()) as u16,
        clamp(rect.height.into()) as u16,
    )
}

fn intern(conn: &RustConnection, name: &[u8]) -> Result<u32, ScreenError> {
    Ok(conn
        .intern_atom(false, name)
        .map_err(connection_error)?
        .reply()
        .map_err(reply_error)?
        .atom)
}

fn has(conn: &RustConnection, extension: &'static str) -> Result<bool, ScreenError> {
    Ok(conn
        .extension_information(extension)
        .map_err(connection_error)?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_display_the_reason_names_what_to_do() {
        assert!(no_display_reason(true).contains("run under X11/XWayland"));
        assert!(no_display_reason(false).contains("set DISPLAY"));
    }
}
