//! A video file as a video source: MP4 or Matroska (MKV, WebM) with H.264, played in real time,
//! once or looped.
//!
//! A [`Demuxer`] reads the first H.264 video track of a file as Annex B access units in decode
//! order, with the SPS and PPS put before every IDR so that each keyframe decodes on its own.
//! Audio, subtitle and any other tracks are ignored (a file's sound is not played here). Other
//! video codecs (HEVC, VP9, AV1...) are refused with [`FileError::Codec`], which names them.
//!
//! A [`FileSource`] plays a file on its own thread, pacing each frame by its presentation time
//! against a monotonic clock (start + pts), in one of two [`Mode`]s:
//!
//! - **Forward**: the file's H.264 goes out as it is, no decoding and no re-encoding:
//!   [`FileSource::next_encoded`] hands out [`Access`] units from a bounded queue. Only for a
//!   stream every receiver decodes in order ([`Info::forwardable`]). There is no encoder, so a
//!   keyframe request cannot be honoured: a viewer who joins, or loses data, waits for the
//!   file's next IDR, i.e. up to one GOP of the file. That is the price of zero encode cost;
//!   pick [`Mode::Decode`] for files with long GOPs.
//! - **Decode**: the thread decodes with [`Decoder::reordering`](super::Decoder::reordering)
//!   and offers I420 frames like the [`ScreenSource`](super::ScreenSource):
//!   [`FileSource::latest`] takes the newest from a one-frame slot; the caller encodes them (and
//!   can run beauty filters or hooks on them first). B-frames are fine here: pictures come out
//!   in presentation order, a frame or two late, and are shown at their own times.
//!
//! [`Mode::Auto`] forwards when the file allows it and decodes otherwise.
//!
//! Capture times ([`Access::capture_us`], the time [`FileSource::latest`] gives) are the wall
//! clock at the start plus the frame's place on the timeline, so they advance exactly with the
//! presentation times even if the system clock is set meanwhile.
//!
//! # What can be forwarded
//!
//! [`Info::forwardable`] holds when the stream is one the receivers' decoder
//! ([`Decoder::new`](super::Decoder::new), openh264 2.7) shows correctly:
//!
//! - it decodes at all ([`Info::decodable`]): progressive, 4:2:0 chroma at 8 bits, profile
//!   Constrained Baseline, Baseline, Main or High, and a size within 16x16..=3840x2160 with even
//!   sides. openh264 decodes Main (CABAC) and High (8x8 transform) bit-exact with FFmpeg, and
//!   B slices too with [`Decoder::reordering`](super::Decoder::reordering) (test
//!   `openh264_decodes_main_and_high_as_ffmpeg_does`). It refuses an interlaced stream's SPS
//!   outright (no picture at all); by its documentation it decodes only 8-bit 4:2:0 and not
//!   the Extended profile;
//! - and it has no frame reordering (no B-frames). Receivers show each picture when its access
//!   unit arrives, and their decoder, which hands out a picture per access unit, gave a B-frame
//!   stream's pictures in decode order and then failed after ten frames (openh264 0.9's flush
//!   after every access unit). Reordering is read from the container (presentation times out
//!   of decode order: MP4 composition offsets; Matroska block times in the first 600 frames,
//!   read at open) and from the SPS (picture order count type, `max_num_reorder_frames`).
//!
//! A file that is not decodable cannot be played in either mode; [`FileSource::open`] says why.
//!
//! # Looping
//!
//! A looped file continues the timeline: each pass starts with the file's first IDR, placed
//! right after the last frame of the previous pass, so capture times keep increasing.
//!
//! ```no_run
//! use livestage_media::video::file::{FileSource, Mode, Options};
//!
//! let mut source = FileSource::open("intro.mp4", Options { looped: true, mode: Mode::Auto })?;
//! println!("{:?} at {} fps, {:?}", source.size(), source.fps(), source.mode());
//! while source.ended().is_none() {
//!     if source.mode() == Mode::Forward {
//!         while let Some(access) = source.next_encoded() {
//!             // Send `access.data` (Annex B) as it is.
//!             # let _ = access;
//!         }
//!     } else if let Some((frame, capture_us)) = source.latest() {
//!         // Hand `frame` to an encoder set up for `source.size()`.
//!         # let _ = (frame, capture_us);
//!     }
//!     std::thread::sleep(std::time::Duration::from_millis(5));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Files: `h264.rs` turns samples into access units and reads the SPS, `mp4.rs` and `mkv.rs`
//! read the containers, `demux.rs` the [`Demuxer`] over both, `source.rs` the thread, pacing
//! and the two modes.

mod demux;
mod h264;
mod mkv;
mod mp4;
mod source;

pub use super::encoded::Access;
pub use demux::{Demuxer, Sample};
pub use h264::{Config as AvcConfig, Sps};
pub use source::{FileSource, QUEUE};

use super::frame::{MAX_HEIGHT, MAX_WIDTH, MIN_HEIGHT, MIN_WIDTH, check_size};

/// How a [`FileSource`] hands out the video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// [`Forward`](Mode::Forward) when [`Info::forwardable`], else [`Decode`](Mode::Decode).
    #[default]
    Auto,
    /// The file's H.264 as it is, through [`FileSource::next_encoded`]; opening fails with
    /// [`FileError::NotForwardable`] when the file does not allow it.
    Forward,
    /// Decoded I420 frames, through [`FileSource::latest`], for the caller to encode (and to
    /// filter first, if it wants raw frames).
    Decode,
}

/// How to play a file. `Default`: once, [`Mode::Auto`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Start again from the first frame after the last one, without end; otherwise the source
    /// ends with [`FileError::Ended`].
    pub looped: bool,
    /// Forward the H.264 as it is, or decode it.
    pub mode: Mode,
}

/// The container format of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// ISO base media: `.mp4`, `.m4v`, `.mov`.
    Mp4,
    /// Matroska: `.mkv`, `.webm`.
    Matroska,
    /// Not a file: a live stream (RTMP's FLV) whose configuration came with it.
    Stream,
}

/// An H.264 profile, from the SPS's `profile_idc` and constraint flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Baseline with constraint_set1: what [`Encoder`](super::Encoder) produces.
    ConstrainedBaseline,
    /// Baseline (66).
    Baseline,
    /// Main (77): CABAC, B slices.
    Main,
    /// Extended (88): data partitioning, SI/SP slices.
    Extended,
    /// High (100): 8x8 transform, scaling matrices.
    High,
    /// Any other `profile_idc` (High 10, 4:2:2, 4:4:4, scalable, multiview...).
    Other(u8),
}

impl Profile {
    /// The profile of `profile_idc` with these constraint flags (the SPS's third byte).
    fn from_idc(idc: u8, constraints: u8) -> Self {
        match idc {
            66 if constraints & 0x40 != 0 => Self::ConstrainedBaseline,
            66 => Self::Baseline,
            77 => Self::Main,
            88 => Self::Extended,
            100 => Self::High,
            other => Self::Other(other),
        }
    }

    /// `profile_idc`: 66, 77, 88, 100 or the other value.
    pub fn idc(self) -> u8 {
        match self {
            Self::ConstrainedBaseline | Self::Baseline => 66,
            Self::Main => 77,
            Self::Extended => 88,
            Self::High => 100,
            Self::Other(idc) => idc,
        }
    }

    /// Whether openh264 decodes this profile.
    fn decodable(self) -> bool {
        !matches!(self, Self::Extended | Self::Other(_))
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ConstrainedBaseline => f.write_str("Constrained Baseline"),
            Self::Baseline => f.write_str("Baseline"),
            Self::Main => f.write_str("Main"),
            Self::Extended => f.write_str("Extended"),
            Self::High => f.write_str("High"),
            Self::Other(110) => f.write_str("High 10"),
            Self::Other(122) => f.write_str("High 4:2:2"),
            Self::Other(244) => f.write_str("High 4:4:4 Predictive"),
            Self::Other(44) => f.write_str("CAVLC 4:4:4 Intra"),
            Self::Other(idc) => write!(f, "profile_idc {idc}"),
        }
    }
}

/// What a file's video is.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    /// The container format.
    pub container: Container,
    /// Picture width in pixels (from the SPS, after cropping).
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Frames per second: the average over the track (MP4), the track's default duration or the
    /// first frames' spacing (Matroska), else the SPS timing, else 30.
    pub fps: f32,
    /// The length of one pass in microseconds, when the container says.
    pub duration_us: Option<u64>,
    /// The number of frames, when known (always for MP4; for Matroska only when the file is
    /// short enough to be read through at open).
    pub frames: Option<u64>,
    /// The H.264 profile.
    pub profile: Profile,
    /// `level_idc`: 31 is level 3.1.
    pub level: u8,
    /// Frames are reordered (B-frames): presentation order differs from decode order, or the
    /// SPS allows it.
    pub b_frames: bool,
    /// Frames only; `false` for interlaced (field or MBAFF) coding.
    pub progressive: bool,
    /// 4:2:0 chroma at 8 bits per sample, the only format openh264 decodes.
    pub yuv420_8bit: bool,
}

impl Info {
    /// `Ok` when [`Decoder`](super::Decoder) decodes this video: progressive, 4:2:0 8-bit,
    /// Constrained Baseline, Baseline, Main or High profile, and a size within
    /// 16x16..=3840x2160 with even sides. The error says what is wrong.
    ///
    /// # Errors
    ///
    /// [`FileError::Unsupported`] or [`FileError::Size`].
    pub fn decodable(&self) -> Result<(), FileError> {
        if !self.progressive {
            return Err(FileError::Unsupported(
                "it is interlaced; deinterlace it (ffmpeg -vf yadif)".into(),
            ));
        }
        if !self.yuv420_8bit {
            return Err(FileError::Unsupported(
                "its pixels are not 4:2:0 at 8 bits (e.g. 10-bit or 4:4:4); \
                 convert with -pix_fmt yuv420p"
                    .into(),
            ));
        }
        if !self.profile.decodable() {
            return Err(FileError::Unsupported(format!(
                "its profile is {}; only Baseline, Main and High are decoded",
                self.profile
            )));
        }
        check_size(self.width, self.height).map_err(|_| FileError::Size {
            width: self.width,
            height: self.height,
        })
    }

    /// `Ok` when the H.264 can go to receivers as it is: [`decodable`](Self::decodable) and no
    /// B-frames (receivers show pictures in decode order). The error says why not.
    ///
    /// # Errors
    ///
    /// As [`decodable`](Self::decodable); [`FileError::NotForwardable`] with B-frames.
    pub fn forwardable(&self) -> Result<(), FileError> {
        self.decodable()?;
        if self.b_frames {
            return Err(FileError::NotForwardable(
                "it has B-frames (frames out of display order), which receivers would show \
                 jumbled"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Why a file cannot be played, or stopped playing; each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// The file cannot be opened or read (missing, a folder, no permission).
    #[error("cannot open {path}: {reason}; check the path and that the file is readable")]
    Open {
        /// The path as given.
        path: String,
        /// What the system said.
        reason: String,
    },
    /// Neither MP4 nor Matroska.
    #[error(
        "this is not an MP4 or Matroska (MKV, WebM) file; export or convert the video to .mp4 \
         or .mkv with H.264 (ffmpeg -i IN -c:v libx264 OUT.mp4)"
    )]
    NotVideoFile,
    /// The container or the H.264 configuration is broken or cut short.
    #[error(
        "the file is damaged or incomplete: {0}; re-export it, or rewrite it with \
         ffmpeg -i IN -c copy OUT.mkv"
    )]
    Damaged(String),
    /// The file has no video track.
    #[error("the file has no video track; pick a file with video")]
    NoVideo,
    /// The video is not H.264; names the codec.
    #[error(
        "the video is {0}, but only H.264 can be played; convert it with \
         ffmpeg -i IN -c:v libx264 -pix_fmt yuv420p OUT.mp4"
    )]
    Codec(String),
    /// H.264 that the decoder cannot handle (interlaced, 10-bit, 4:4:4, unusual profile,
    /// fragmented MP4); says what.
    #[error("this H.264 video cannot be played: {0}")]
    Unsupported(String),
    /// The picture size is outside what the video pipeline handles.
    #[error(
        "the video is {width}x{height}, outside {MIN_WIDTH}x{MIN_HEIGHT} to \
         {MAX_WIDTH}x{MAX_HEIGHT} with even sides; scale it (ffmpeg -vf scale=1920:-2)"
    )]
    Size {
        /// The video's width.
        width: u32,
        /// The video's height.
        height: u32,
    },
    /// [`Mode::Forward`] was asked for a file that must be decoded; says why.
    #[error(
        "this video cannot be forwarded without re-encoding: {0}; play it with Mode::Decode or \
         Mode::Auto, or re-encode it without B-frames (ffmpeg -i IN -c:v libx264 -bf 0 OUT.mp4)"
    )]
    NotForwardable(String),
    /// Reading failed while playing (the file changed, or the disk failed).
    #[error("reading the video file failed: {0}; check the file and play it again")]
    Read(String),
    /// A file played once reached its end.
    #[error("the video file played to its end")]
    Ended,
}

impl FileError {
    /// The product error code, named after the variant.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Open { .. } => "file_open_failed",
            Self::NotVideoFile => "not_video_file",
            Self::Damaged(_) => "file_damaged",
            Self::NoVideo => "no_video_track",
            Self::Codec(_) => "unsupported_codec",
            Self::Unsupported(_) => "unsupported_video",
            Self::Size { .. } => "video_size",
            Self::NotForwardable(_) => "not_forwardable",
            Self::Read(_) => "file_read_failed",
            Self::Ended => "file_ended",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> Info {
        Info {
            container: Container::Mp4,
            width: 320,
            height: 240,
            fps: 30.0,
            duration_us: Some(1_000_000),
            frames: Some(30),
            profile: Profile::ConstrainedBaseline,
            level: 13,
            b_frames: false,
            progressive: true,
            yuv420_8bit: true,
        }
    }

    #[test]
    fn baseline_main_and_high_without_b_frames_are_forwardable() {
        for profile in [
            Profile::ConstrainedBaseline,
            Profile::Baseline,
            Profile::Main,
            Profile::High,
        ] {
            assert_eq!(Info { profile, ..info() }.forwardable(), Ok(()));
        }
    }

    #[test]
    fn each_rule_blocks_forwarding_and_says_why() {
        let b_frames = Info {
            b_frames: true,
            ..info()
        };
        assert!(matches!(
            b_frames.forwardable(),
            Err(FileError::NotForwardable(_))
        ));
        assert_eq!(b_frames.decodable(), Ok(()));
        for info in [
            Info {
                progressive: false,
                ..info()
            },
            Info {
                yuv420_8bit: false,
                ..info()
            },
            Info {
                profile: Profile::Other(110),
                ..info()
            },
            Info {
                width: 4096,
                ..info()
            },
            Info {
                height: 8,
                ..info()
            },
        ] {
            assert!(info.decodable().is_err(), "{info:?}");
            assert!(info.forwardable().is_err(), "{info:?}");
        }
    }

    #[test]
    fn profiles_are_named() {
        assert_eq!(Profile::from_idc(66, 0xc0), Profile::ConstrainedBaseline);
        assert_eq!(Profile::from_idc(66, 0x80), Profile::Baseline);
        assert_eq!(Profile::from_idc(110, 0).to_string(), "High 10");
        assert_eq!(Profile::High.idc(), 100);
    }
}
