//! The picture a video hook or renderer gets ([`LivestageVideoFrame`]) and the app's C
//! functions as the engine's [`Hook`]s and [`Renderer`]s, each behind its [`Gate`].

use std::ffi::{CString, c_char, c_void};
use std::ptr::{null, null_mut};
use std::sync::Arc;

use livestage_media::video::hooks::{
    Format, FrameMut, Hook, Info, Picture, Point, Renderer, Verdict,
};
use livestage_media::video::{I420, Rgba};

use crate::gate::{Gate, UserData};
use crate::video_hooks::{
    LIVESTAGE_PIXELS_I420, LIVESTAGE_PIXELS_RGBA, LIVESTAGE_VIDEO_LOCAL, LIVESTAGE_VIDEO_REMOTE,
};

/// A picture handed to a video hook or renderer, and what it is. The pixels are the engine's,
/// valid only until the callback returns; a hook may rewrite them in place (the size cannot
/// change), a renderer must only read them.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LivestageVideoFrame {
    /// `LIVESTAGE_PIXELS_I420`: the Y plane (`height` rows of `y_stride` bytes); else null.
    pub y: *mut u8,
    /// `LIVESTAGE_PIXELS_I420`: the U plane (`height / 2` rows of `u_stride` bytes); else null.
    pub u: *mut u8,
    /// `LIVESTAGE_PIXELS_I420`: the V plane (`height / 2` rows of `v_stride` bytes); else null.
    pub v: *mut u8,
    /// `LIVESTAGE_PIXELS_RGBA`: the pixels (`height` rows of `rgba_stride` bytes, top to
    /// bottom); else null.
    pub rgba: *mut u8,
    /// The channel of a remote picture (NUL-terminated; the same pointer for the same channel
    /// while the callback is installed); null for a local one.
    pub channel: *const c_char,
    /// The frame number: the publisher's tick for a local picture, the publisher's number
    /// (counting the frames it sent) for a remote one.
    pub frame: u64,
    /// Capture time, microseconds since the Unix epoch (the publisher's clock).
    pub capture_us: u64,
    /// The publisher's media id (a participant's `media_id`) of a remote picture; 0 locally.
    pub media_id: u64,
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// Bytes from one row of Y to the next.
    pub y_stride: u32,
    /// Bytes from one row of U to the next.
    pub u_stride: u32,
    /// Bytes from one row of V to the next.
    pub v_stride: u32,
    /// Bytes from one row of RGBA to the next.
    pub rgba_stride: u32,
    /// `LIVESTAGE_PIXELS_I420` or `LIVESTAGE_PIXELS_RGBA`: the format it was installed with.
    pub format: i32,
    /// `LIVESTAGE_VIDEO_LOCAL` or `LIVESTAGE_VIDEO_REMOTE` (a renderer's are remote).
    pub point: i32,
    /// The remote track's id; 0 locally.
    pub track: u8,
}

/// A raw video hook: reads and may rewrite `frame`'s pixels in place, and returns 1 to keep the
/// picture or 0 to drop it (a local one is not sent, a remote one not shown). `user_data` is
/// what was given to `livestage_video_hook`.
///
/// It runs on a media thread (a publisher's video thread, a track's decoder thread) within a
/// budget: one frame interval of the publisher for a local hook,
/// `LIVESTAGE_VIDEO_REMOTE_BUDGET_MS` for a remote one. No waits or I/O, and no calls into the
/// library. Calls to one installed hook never overlap, but may come from different threads.
pub type LivestageVideoHookFn =
    Option<unsafe extern "C" fn(frame: *mut LivestageVideoFrame, user_data: *mut c_void) -> i32>;

/// A custom renderer: reads one decoded remote picture (copy what it needs; the pixels are
/// gone when it returns). `user_data` is what was given to `livestage_video_renderer`. It runs
/// on the track's decoder thread: no waits or I/O, and no calls into the library. Calls to one
/// installed renderer never overlap, but may come from different threads.
pub type LivestageVideoRendererFn =
    Option<unsafe extern "C" fn(frame: *const LivestageVideoFrame, user_data: *mut c_void)>;

/// The channel names shown to one callback, NUL-terminated, each made once and kept while the
/// callback is installed: a media thread does not allocate per picture, and the pointer a
/// callback gets for a channel stays the same (a binding may key a cache on it).
#[derive(Default)]
struct Names(Vec<CString>);

impl Names {
    fn get(&mut self, name: Option<&str>) -> *const c_char {
        let Some(name) = name else {
            return null();
        };
        if let Some(known) = self.0.iter().find(|c| c.to_bytes() == name.as_bytes()) {
            return known.as_ptr();
        }
        // Channel names are checked ids, without NUL; one that had one would show as null.
        let Ok(name) = CString::new(name) else {
            return null();
        };
        self.0.push(name);
        self.0.last().map_or(null(), |c| c.as_ptr())
    }
}

/// Where a picture's pixels are.
enum Pixels {
    I420 {
        size: (u32, u32),
        planes: [*mut u8; 3],
    },
    Rgba {
        size: (u32, u32),
        data: *mut u8,
    },
}

impl Pixels {
    fn i420(frame: &I420, planes: [*mut u8; 3]) -> Self {
        Self::I420 {
            size: frame.size(),
            planes,
        }
    }

    fn rgba(frame: &Rgba, data: *mut u8) -> Self {
        Self::Rgba {
            size: frame.size(),
            data,
        }
    }

    /// A hook's picture, writable.
    fn of_frame(frame: FrameMut<'_>) -> Self {
        match frame {
            FrameMut::I420(f) => {
                let size = f.size();
                let (y, u, v) = f.planes_mut();
                Self::I420 {
                    size,
                    planes: [y.as_mut_ptr(), u.as_mut_ptr(), v.as_mut_ptr()],
                }
            }
            FrameMut::Rgba(f) => {
                let size = f.size();
                Self::Rgba {
                    size,
                    data: f.data_mut().as_mut_ptr(),
                }
            }
        }
    }

    /// A renderer's picture: the pointers are mutable in the C struct, but a renderer only
    /// reads (its contract).
    fn of_picture(picture: Picture<'_>) -> Self {
        match picture {
            Picture::I420(f) => Self::i420(f, [f.y(), f.u(), f.v()].map(|p| p.as_ptr().cast_mut())),
            Picture::Rgba(f) => Self::rgba(f, f.data().as_ptr().cast_mut()),
        }
    }

    /// The C view of the picture `info` describes.
    fn describe(self, info: &Info<'_>, channel: *const c_char) -> LivestageVideoFrame {
        let mut frame = LivestageVideoFrame {
            y: null_mut(),
            u: null_mut(),
            v: null_mut(),
            rgba: null_mut(),
            channel,
            frame: info.frame,
            capture_us: info.capture_us,
            media_id: info.media_id.unwrap_or(0),
            width: 0,
            height: 0,
            y_stride: 0,
            u_stride: 0,
            v_stride: 0,
            rgba_stride: 0,
            format: LIVESTAGE_PIXELS_I420,
            point: match info.point {
                Point::Local => LIVESTAGE_VIDEO_LOCAL,
                Point::Remote => LIVESTAGE_VIDEO_REMOTE,
            },
            track: info.track.unwrap_or(0),
        };
        match self {
            // Both formats are tightly packed.
            Self::I420 { size, planes } => {
                (frame.width, frame.height) = size;
                [frame.y, frame.u, frame.v] = planes;
                (frame.y_stride, frame.u_stride, frame.v_stride) = (size.0, size.0 / 2, size.0 / 2);
            }
            Self::Rgba { size, data } => {
                (frame.width, frame.height) = size;
                frame.rgba = data;
                frame.rgba_stride = size.0 * 4;
                frame.format = LIVESTAGE_PIXELS_RGBA;
            }
        }
        frame
    }
}

/// A C function as a [`Hook`].
pub(crate) struct CHook {
    callback: unsafe extern "C" fn(*mut LivestageVideoFrame, *mut c_void) -> i32,
    user_data: UserData,
    format: Format,
    gate: Arc<Gate>,
    names: Names,
}

impl CHook {
    pub(crate) fn new(
        callback: unsafe extern "C" fn(*mut LivestageVideoFrame, *mut c_void) -> i32,
        user_data: UserData,
        format: Format,
        gate: Arc<Gate>,
    ) -> Self {
        Self {
            callback,
            user_data,
            format,
            gate,
            names: Names::default(),
        }
    }
}

impl Hook for CHook {
    fn format(&self) -> Format {
        self.format
    }

    fn process(&mut self, frame: FrameMut<'_>, info: &Info<'_>) -> Verdict {
        let mut frame = Pixels::of_frame(frame).describe(info, self.names.get(info.channel));
        let kept = self.gate.call(|| {
            // SAFETY: the caller of livestage_video_hook gave a function of this signature and
            // promised it (and `user_data`) stay valid until the hook is replaced or removed,
            // which closes the gate and waits for this call; `frame`'s pixels are valid and
            // writable for the sizes it states until the call returns.
            unsafe { (self.callback)(&mut frame, self.user_data.0) }
        });
        // A closed gate leaves the picture as it came.
        if kept == Some(0) {
            Verdict::Drop
        } else {
            Verdict::Keep
        }
    }
}

/// A C function as a [`Renderer`].
pub(crate) struct CRenderer {
    callback: unsafe extern "C" fn(*const LivestageVideoFrame, *mut c_void),
    user_data: UserData,
    format: Format,
    gate: Arc<Gate>,
    names: Names,
}

impl CRenderer {
    pub(crate) fn new(
        callback: unsafe extern "C" fn(*const LivestageVideoFrame, *mut c_void),
        user_data: UserData,
        format: Format,
        gate: Arc<Gate>,
    ) -> Self {
        Self {
            callback,
            user_data,
            format,
            gate,
            names: Names::default(),
        }
    }
}

impl Renderer for CRenderer {
    fn format(&self) -> Format {
        self.format
    }

    fn render(&mut self, picture: Picture<'_>, info: &Info<'_>) {
        let frame = Pixels::of_picture(picture).describe(info, self.names.get(info.channel));
        self.gate.call(|| {
            // SAFETY: as for `CHook::process`, with livestage_video_renderer's contract; the
            // pixels are valid for reading until the call returns.
            unsafe { (self.callback)(&frame, self.user_data.0) }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use livestage_media::video::TestPattern;
    use livestage_media::video::hooks::Runner;
    use livestage_net::playout::REMOTE_BUDGET;

    use super::*;
    use crate::gate::in_hook;

    /// Zeroes the Y plane and drops odd frames.
    unsafe extern "C" fn blacken_even(frame: *mut LivestageVideoFrame, _: *mut c_void) -> i32 {
        assert!(in_hook());
        // SAFETY: the engine passes a valid frame whose Y plane holds `height` rows of
        // `y_stride` bytes.
        let frame = unsafe { &mut *frame };
        assert_eq!(frame.format, LIVESTAGE_PIXELS_I420);
        assert!(frame.rgba.is_null());
        // SAFETY: as above.
        let y = unsafe {
            std::slice::from_raw_parts_mut(frame.y, (frame.y_stride * frame.height) as usize)
        };
        y.fill(0);
        i32::from(frame.frame % 2 == 0)
    }

    #[test]
    fn a_c_hook_rewrites_and_drops_until_its_gate_closes() {
        let gate = Arc::new(Gate::default());
        let hook = CHook::new(
            blacken_even,
            UserData(null_mut()),
            Format::I420,
            gate.clone(),
        );
        let mut runner = Runner::new(Box::new(hook), REMOTE_BUDGET);
        let pattern = TestPattern::new(160, 120).unwrap();
        let mut frame = pattern.frame(0, 0);
        assert_eq!(
            runner.run(&mut frame, &Info::local(0)).unwrap(),
            Verdict::Keep
        );
        assert!(frame.y().iter().all(|&y| y == 0));
        assert!(!in_hook());
        let mut frame = pattern.frame(1, 0);
        assert_eq!(
            runner.run(&mut frame, &Info::local(1)).unwrap(),
            Verdict::Drop
        );
        gate.close();
        let mut frame = pattern.frame(2, 0);
        let before = frame.y().to_vec();
        assert_eq!(
            runner.run(&mut frame, &Info::local(3)).unwrap(),
            Verdict::Keep
        );
        assert_eq!(frame.y(), before, "not called once closed");
    }

    #[test]
    fn names_are_made_once_per_channel() {
        let mut names = Names::default();
        let a = names.get(Some("lobby"));
        assert_eq!(names.get(Some("lobby")), a);
        assert_ne!(names.get(Some("hall")), a);
        assert!(names.get(None).is_null());
        assert_eq!(names.0.len(), 2);
    }
}
