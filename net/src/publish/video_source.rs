//! What a video publisher sends: the [`VideoSource`] an app picks, the [`Frames`] the video
//! thread reads from it, and the product [`Error`] for each source's failures.
//!
//! Sources that fail on bad input (a missing file, a camera index that does not exist) are
//! opened by the caller, so the error comes back from the call that names them; what fails
//! later (a camera unplugged, a file played to its end) ends the track with
//! [`EventKind::TrackEnded`](crate::engine::EventKind::TrackEnded).

use std::path::Path;

use livestage_media::video::camera::CameraError;
use livestage_media::video::file::{self, Demuxer, FileError, Mode};
use livestage_media::video::screen::{ScreenError, ScreenSource};
use livestage_media::video::{
    CameraSource, CustomSource, EncodedSource, FileSource, I420, StillError, StillSource,
    TestPattern,
};
use livestage_proto::{Error, ErrorCode};

use crate::engine::now_us;

/// Where video frames come from.
pub enum VideoSource {
    /// The stamped test pattern (frame number and capture time readable after decoding).
    TestPattern {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Add changing texture so the encoder spends its whole bitrate.
        textured: bool,
    },
    /// Frames the app pushes through the [`video::CustomSender`](livestage_media::video::CustomSender)
    /// paired with this source (up to 3840x2160); the newest frame is encoded at each tick.
    Custom(CustomSource),
    /// A display, window or region of the screen, captured on its own thread. When the window
    /// closes or the display goes away the track ends with `source_ended`.
    Screen(ScreenSource),
    /// A webcam, captured on its own thread at the rate it was opened with (which replaces
    /// [`Video::fps`](super::Video::fps)). Unplugging it ends the track with `source_ended`.
    Camera(CameraSource),
    /// A still picture (a "be right back" card, a logo), sent again at each tick.
    Still(I420),
    /// A video file (MP4 or Matroska with H.264) played in real time at its own frame rate
    /// (which replaces [`Video::fps`](super::Video::fps)); made by [`VideoSource::file`].
    File {
        /// The opened file.
        demuxer: Demuxer,
        /// Once or looped, forwarded or decoded.
        options: file::Options,
    },
    /// H.264 already encoded elsewhere (a live stream), sent as it arrives without decoding:
    /// no encoder, no low layer, keyframe requests wait for the stream's next keyframe. The
    /// track ends with `source_ended` once the [`EncodedSender`](livestage_media::video::EncodedSender)
    /// is dropped. Every receiver must decode what is sent: check the stream's
    /// [`Info::forwardable`](livestage_media::video::file::Info::forwardable) first.
    Encoded(EncodedSource),
}

impl VideoSource {
    /// Opens the video file at `path` to be published with `options`.
    ///
    /// A forwarded file ([`Mode::Forward`], or [`Mode::Auto`] on a file that allows it) goes
    /// out as it is: no encoder, no low layer, and a viewer's keyframe request waits for the
    /// file's next keyframe. With [`Mode::Auto`], a publisher whose
    /// [`VideoControls`](super::VideoControls) process frames (beauty or a hook set before
    /// publishing) decodes the file instead, so the processing applies.
    ///
    /// # Errors
    ///
    /// `invalid_input` with what is wrong: the file cannot be read, is not MP4 or Matroska,
    /// has no H.264 video, cannot be decoded, or cannot be forwarded when [`Mode::Forward`] is
    /// asked for.
    pub fn file(path: impl AsRef<Path>, options: file::Options) -> Result<Self, Error> {
        let demuxer = Demuxer::open(path).map_err(|e| file_error(&e))?;
        let info = demuxer.info();
        info.decodable().map_err(|e| file_error(&e))?;
        if options.mode == Mode::Forward {
            info.forwardable().map_err(|e| file_error(&e))?;
        }
        Ok(Self::File { demuxer, options })
    }

    /// Reads the PNG or JPEG picture at `path` (up to 3840x2160; larger is scaled down).
    ///
    /// # Errors
    ///
    /// `invalid_input` when it cannot be read or decoded, or is smaller than 16x16.
    pub fn still(path: impl AsRef<Path>) -> Result<Self, Error> {
        let picture = livestage_media::video::still::open(path).map_err(|e| still_error(&e))?;
        Ok(Self::Still(picture))
    }
}

/// The product error for a screen capture error: `screen_unavailable` when capture cannot
/// work here, `source_ended` when the shared window or display went away, `invalid_input`
/// for a target that does not exist.
pub fn screen_error(e: &ScreenError) -> Error {
    let code = match e {
        ScreenError::Unavailable(_) => ErrorCode::ScreenUnavailable,
        ScreenError::WindowClosed | ScreenError::DisplayGone | ScreenError::Capture(_) => {
            ErrorCode::SourceEnded
        }
        ScreenError::NoSuchWindow(_)
        | ScreenError::NoSuchDisplay(_)
        | ScreenError::RegionOutside { .. } => ErrorCode::InvalidInput,
    };
    Error::new(code, e.to_string())
}

/// The product error for a camera error: `camera_unavailable` when no camera can be used
/// here (none, no permission, another program holds it), `source_ended` when capture stopped
/// (unplugged), `invalid_input` for an index or mode that does not exist.
pub fn camera_error(e: &CameraError) -> Error {
    let code = match e {
        CameraError::Unavailable(_) | CameraError::Busy(_) => ErrorCode::CameraUnavailable,
        CameraError::Disconnected | CameraError::Capture(_) => ErrorCode::SourceEnded,
        CameraError::NoSuchDevice(_) | CameraError::Format(_) => ErrorCode::InvalidInput,
    };
    Error::new(code, e.to_string())
}

/// The product error for a video file error: `source_ended` when a file played once reached
/// its end or reading failed while playing, `invalid_input` for a file that cannot be played.
pub fn file_error(e: &FileError) -> Error {
    let code = match e {
        FileError::Ended | FileError::Read(_) => ErrorCode::SourceEnded,
        _ => ErrorCode::InvalidInput,
    };
    Error::new(code, e.to_string())
}

/// The product error for a picture that cannot be used: `invalid_input`.
pub fn still_error(e: &StillError) -> Error {
    Error::new(ErrorCode::InvalidInput, e.to_string())
}

/// A source's frames, as the video thread reads them. A forwarded file has none: its access
/// units bypass the encoders.
pub(super) enum Frames {
    Pattern(TestPattern),
    Custom(CustomSource),
    Screen(ScreenSource),
    Camera(CameraSource),
    Still(StillSource),
    File(FileSource),
}

impl Frames {
    pub(super) fn size(&self) -> (u32, u32) {
        match self {
            Frames::Pattern(p) => p.size(),
            Frames::Custom(c) => c.size(),
            Frames::Screen(s) => s.size(),
            Frames::Camera(c) => c.size(),
            Frames::Still(s) => s.size(),
            Frames::File(f) => f.size(),
        }
    }

    /// The rate the source paces itself at, where it has one of its own.
    pub(super) fn own_fps(&self) -> Option<f32> {
        match self {
            Frames::Camera(c) => Some(c.setting().fps),
            Frames::File(f) => Some(f.fps()),
            Frames::Pattern(_) | Frames::Custom(_) | Frames::Screen(_) | Frames::Still(_) => None,
        }
    }

    /// The frame for tick `n` and its capture time (none when nothing new was pushed or
    /// captured).
    pub(super) fn next(&mut self, n: u64) -> Option<(I420, u64)> {
        match self {
            Frames::Pattern(p) => {
                let capture_us = now_us();
                Some((p.frame(n, capture_us), capture_us))
            }
            Frames::Custom(c) => c.latest(),
            Frames::Screen(s) => s.latest(),
            Frames::Camera(c) => c.latest(),
            Frames::Still(s) => s.latest(),
            Frames::File(f) => f.latest(),
        }
    }

    /// Why the source ended, once it did (a shared window closed, a camera unplugged, a file
    /// played to its end).
    pub(super) fn ended(&self) -> Option<Error> {
        match self {
            Frames::Screen(s) => s.ended().map(|e| screen_error(&e)),
            Frames::Camera(c) => c.ended().map(|e| camera_error(&e)),
            Frames::File(f) => f.ended().map(|e| file_error(&e)),
            Frames::Pattern(_) | Frames::Custom(_) | Frames::Still(_) => None,
        }
    }
}
