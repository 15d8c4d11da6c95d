//! CDN push requests and their states, as they cross the wire: a moderator (or a holder of the
//! `push` grant) asks the server to compose its channel's hosts into one picture, mix their
//! audio and push the result over RTMP to one or more URLs ([`Request`]); the server reports each
//! URL's [`UrlState`] to the requester and the channel's moderators.
//!
//! Everything here is checked by [`Request::validate`] before the server acts on it, so a frame
//! the server builds from it (the events echo the URL) stays inside the control frame limit.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};
use crate::id::{self, UserId};

/// Most URLs one push sends to at a time.
pub const MAX_URLS: usize = 8;
/// Longest URL, in bytes.
pub const MAX_URL_LEN: usize = 512;
/// Most user regions in a layout (the vendor's limit too).
pub const MAX_REGIONS: usize = 17;
/// Largest PNG (watermark or background image) carried in a layout, in bytes; two of them and
/// a full layout stay well inside [`crate::wire::MAX_FRAME`].
pub const MAX_IMAGE: usize = 16 * 1024;
/// Most pushes running in one channel.
pub const MAX_PER_CHANNEL: usize = 2;
/// Canvas bounds (the H.264 encoder's): even sizes from 16x16 to 1920x1080.
pub const MAX_WIDTH: u32 = 1920;
/// See [`MAX_WIDTH`].
pub const MAX_HEIGHT: u32 = 1080;
/// Video bitrate bounds, kbit/s.
pub const BITRATE_KBPS: std::ops::RangeInclusive<u32> = 100..=20_000;
/// Audio bitrate bounds, kbit/s.
pub const AUDIO_BITRATE_KBPS: std::ops::RangeInclusive<u32> = 32..=320;
/// Audio sample rates an RTMP push can carry (AAC in FLV).
pub const SAMPLE_RATES: [u32; 2] = [44_100, 48_000];

/// What a client asks of the server's pushes for its channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// A name unique among the wire types: the browser's schema (web/schema) is keyed by it.
#[serde(rename = "PushRequest")]
pub enum Request {
    /// Start a push named `name` (unique in the channel) to `urls` with `layout`.
    Start {
        /// The push's name, like a user id.
        name: String,
        /// One or more `rtmp://` URLs.
        urls: Vec<String>,
        /// What to compose and how to encode it.
        layout: Layout,
    },
    /// Change a running push: a new layout (applied without reconnecting), URLs added and
    /// removed.
    Update {
        /// Which push.
        name: String,
        /// The new layout, or keep the current one.
        layout: Option<Layout>,
        /// URLs to start sending to.
        add: Vec<String>,
        /// URLs to stop sending to.
        remove: Vec<String>,
    },
    /// Stop a push: every URL reports [`UrlState::Stopped`].
    Stop {
        /// Which push.
        name: String,
    },
}

impl Request {
    /// The push it is about.
    pub fn name(&self) -> &str {
        match self {
            Self::Start { name, .. } | Self::Update { name, .. } | Self::Stop { name } => name,
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        id::validate("push name", self.name())?;
        match self {
            Self::Start { urls, layout, .. } => {
                if urls.is_empty() {
                    return Err(invalid("a push needs at least one URL"));
                }
                check_urls(urls)?;
                layout.validate()
            }
            Self::Update {
                layout,
                add,
                remove,
                ..
            } => {
                check_urls(add)?;
                check_urls(remove)?;
                layout.as_ref().map_or(Ok(()), Layout::validate)
            }
            Self::Stop { .. } => Ok(()),
        }
    }
}

fn check_urls(urls: &[String]) -> Result<(), Error> {
    if urls.len() > MAX_URLS {
        return Err(invalid(format!(
            "{} URLs; a push sends to at most {MAX_URLS}",
            urls.len()
        )));
    }
    for url in urls {
        if url.len() > MAX_URL_LEN || url.chars().any(|c| c.is_control() || c == ' ') {
            let shown: String = url.chars().take(64).collect();
            return Err(invalid(format!(
                "URL {shown:?} must be at most {MAX_URL_LEN} bytes without spaces or control characters"
            )));
        }
    }
    Ok(())
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidInput, msg)
}

/// The picture and sound a push sends (the vendor's `LiveTranscoding`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Canvas width in pixels (even, 16 to [`MAX_WIDTH`]).
    pub width: u32,
    /// Canvas height in pixels (even, 16 to [`MAX_HEIGHT`]).
    pub height: u32,
    /// Frames per second, 1 to 60.
    pub fps: u32,
    /// Video bitrate in kbit/s ([`BITRATE_KBPS`]).
    pub bitrate_kbps: u32,
    /// Frames from one keyframe to the next, 1 to 600.
    pub gop: u32,
    /// Background colour, RGB.
    pub background: [u8; 3],
    /// A picture under everything (scaled to cover the canvas).
    pub background_image: Option<Png>,
    /// The users shown, each in its region.
    pub users: Vec<Region>,
    /// A picture over everything.
    pub watermark: Option<Image>,
    /// The sound.
    pub audio: Audio,
}

impl Default for Layout {
    /// 1280x720 at 30 fps, 2 Mbit/s, a keyframe every 2 s, black, no users, default audio.
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 30,
            bitrate_kbps: 2000,
            gop: 60,
            background: [0, 0, 0],
            background_image: None,
            users: Vec::new(),
            watermark: None,
            audio: Audio::default(),
        }
    }
}

impl Layout {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        let (w, h) = (self.width, self.height);
        if !(16..=MAX_WIDTH).contains(&w) || !(16..=MAX_HEIGHT).contains(&h) || w % 2 + h % 2 != 0 {
            return Err(invalid(format!(
                "canvas {w}x{h} must be even and between 16x16 and {MAX_WIDTH}x{MAX_HEIGHT}"
            )));
        }
        if !(1..=60).contains(&self.fps) {
            return Err(invalid(format!("fps {} must be 1 to 60", self.fps)));
        }
        if !BITRATE_KBPS.contains(&self.bitrate_kbps) {
            return Err(invalid(format!(
                "bitrate_kbps {} must be {} to {}",
                self.bitrate_kbps,
                BITRATE_KBPS.start(),
                BITRATE_KBPS.end()
            )));
        }
        if !(1..=600).contains(&self.gop) {
            return Err(invalid(format!("gop {} must be 1 to 600 frames", self.gop)));
        }
        if self.users.len() > MAX_REGIONS {
            return Err(invalid(format!(
                "{} users; a layout shows at most {MAX_REGIONS}",
                self.users.len()
            )));
        }
        for (i, region) in self.users.iter().enumerate() {
            id::validate("user id", &region.user)?;
            if self.users[..i].iter().any(|r| r.user == region.user) {
                return Err(invalid(format!("user {:?} has two regions", region.user)));
            }
            region
                .rect
                .check_inside(w, h)
                .map_err(|e| invalid(format!("user {:?}: {e}", region.user)))?;
        }
        if let Some(png) = &self.background_image {
            png.check("background_image")?;
        }
        if let Some(mark) = &self.watermark {
            mark.png.check("watermark")?;
            mark.rect
                .check_inside(w, h)
                .map_err(|e| invalid(format!("watermark: {e}")))?;
        }
        self.audio.validate()
    }

    /// Whether `user` has a region.
    pub fn shows(&self, user: &str) -> bool {
        self.users.iter().any(|r| r.user == user)
    }
}

/// A rectangle on the canvas, in pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width (at least 2).
    pub width: u32,
    /// Height (at least 2).
    pub height: u32,
}

impl Rect {
    fn check_inside(&self, width: u32, height: u32) -> Result<(), String> {
        let inside = self.x.checked_add(self.width).is_some_and(|r| r <= width)
            && self.y.checked_add(self.height).is_some_and(|b| b <= height);
        if self.width < 2 || self.height < 2 || !inside {
            return Err(format!(
                "region {}x{} at ({}, {}) must be at least 2x2 and inside the {width}x{height} canvas",
                self.width, self.height, self.x, self.y
            ));
        }
        Ok(())
    }
}

/// How a picture fills a region of another shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// Scale to cover the region and crop the overflow, centred.
    #[default]
    Crop,
    /// Scale to fit inside the region; the rest shows the background.
    Fit,
}

/// One user's place on the canvas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// Whose video (its camera track) goes here; without video the region shows a
    /// placeholder.
    pub user: UserId,
    /// Where.
    pub rect: Rect,
    /// Drawing order: higher is on top.
    pub z: i32,
    /// Opacity, 0 (invisible) to 255 (opaque).
    pub alpha: u8,
    /// Crop or fit.
    pub fit: Fit,
}

/// A PNG picture carried in the request (at most [`MAX_IMAGE`] bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Png(pub Vec<u8>);

impl Png {
    fn check(&self, what: &str) -> Result<(), Error> {
        const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
        if self.0.len() > MAX_IMAGE || !self.0.starts_with(SIGNATURE) {
            return Err(invalid(format!(
                "{what} must be a PNG of at most {MAX_IMAGE} bytes ({} bytes given)",
                self.0.len()
            )));
        }
        Ok(())
    }
}

/// A picture placed on the canvas with its own alpha channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The picture.
    pub png: Png,
    /// Where (the picture is scaled to it).
    pub rect: Rect,
}

/// The push's sound: AAC at this rate, bitrate and channel count, mixing `users` (all users
/// with a region when `None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audio {
    /// 44100 or 48000.
    pub sample_rate: u32,
    /// kbit/s ([`AUDIO_BITRATE_KBPS`]).
    pub bitrate_kbps: u32,
    /// 1 or 2.
    pub channels: u8,
    /// Whose voices are mixed; `None` is every user with a region.
    pub users: Option<Vec<UserId>>,
}

impl Default for Audio {
    /// 48 kHz stereo at 128 kbit/s, mixing the users shown.
    fn default() -> Self {
        Self {
            sample_rate: 48_000,
            bitrate_kbps: 128,
            channels: 2,
            users: None,
        }
    }
}

impl Audio {
    fn validate(&self) -> Result<(), Error> {
        if !SAMPLE_RATES.contains(&self.sample_rate) {
            return Err(invalid(format!(
                "audio sample_rate {} must be one of {SAMPLE_RATES:?}",
                self.sample_rate
            )));
        }
        if !AUDIO_BITRATE_KBPS.contains(&self.bitrate_kbps) {
            return Err(invalid(format!(
                "audio bitrate_kbps {} must be {} to {}",
                self.bitrate_kbps,
                AUDIO_BITRATE_KBPS.start(),
                AUDIO_BITRATE_KBPS.end()
            )));
        }
        if !matches!(self.channels, 1 | 2) {
            return Err(invalid(format!(
                "audio channels {} must be 1 or 2",
                self.channels
            )));
        }
        if let Some(users) = &self.users {
            if users.len() > MAX_REGIONS {
                return Err(invalid(format!(
                    "{} audio users; a push mixes at most {MAX_REGIONS}",
                    users.len()
                )));
            }
            for user in users {
                id::validate("user id", user)?;
            }
        }
        Ok(())
    }

    /// Whether `user`'s voice is mixed under `layout`.
    pub fn mixes(&self, layout: &Layout, user: &str) -> bool {
        match &self.users {
            Some(users) => users.iter().any(|u| u == user),
            None => layout.shows(user),
        }
    }
}

/// Why a URL failed for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    /// The URL is not a usable `rtmp://host[:port]/app/key`.
    BadUrl,
    /// The server's configuration does not allow pushing there.
    NotAllowed,
    /// The RTMP server refused the connection or the stream key.
    Refused,
    /// The RTMP server could not be reached, retrying for a while.
    Unreachable,
    /// The push could not start on the server (its pipeline failed).
    Internal,
    /// An inject's file does not exist.
    NotFound,
    /// An inject's source cannot be played: not MP4, Matroska or FLV-in-RTMP, or not H.264
    /// video (with AAC or another decodable audio), or damaged.
    Unsupported,
}

impl FailReason {
    /// The stable snake_case name, e.g. `not_allowed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadUrl => "bad_url",
            Self::NotAllowed => "not_allowed",
            Self::Refused => "refused",
            Self::Unreachable => "unreachable",
            Self::Internal => "internal",
            Self::NotFound => "not_found",
            Self::Unsupported => "unsupported",
        }
    }
}

/// Where one URL of a push stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UrlState {
    /// Connecting for the first time.
    Connecting,
    /// Publishing: the RTMP server accepted the stream and the first keyframe went out.
    Running,
    /// The connection was lost or refused for a moment; retrying with backoff.
    Recovering {
        /// Retries so far.
        attempt: u32,
        /// What went wrong last.
        reason: String,
    },
    /// Given up; nothing more is sent to this URL.
    Failed {
        /// Why, as a stable code.
        reason: FailReason,
        /// Why, for people.
        message: String,
    },
    /// Stopped as asked (or the push ended).
    Stopped,
}

impl UrlState {
    /// The stable snake_case name, e.g. `recovering`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Running => "running",
            Self::Recovering { .. } => "recovering",
            Self::Failed { .. } => "failed",
            Self::Stopped => "stopped",
        }
    }

    /// Whether the URL is done (failed or stopped).
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Failed { .. } | Self::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(layout: Layout) -> Request {
        Request::Start {
            name: "main".into(),
            urls: vec!["rtmp://127.0.0.1/live/a".into()],
            layout,
        }
    }

    fn region(user: &str, x: u32, width: u32) -> Region {
        Region {
            user: user.into(),
            rect: Rect {
                x,
                y: 0,
                width,
                height: 720,
            },
            z: 0,
            alpha: 255,
            fit: Fit::Crop,
        }
    }

    #[test]
    fn a_side_by_side_layout_is_valid() {
        let layout = Layout {
            users: vec![region("a", 0, 640), region("b", 640, 640)],
            ..Layout::default()
        };
        assert!(start(layout).validate().is_ok());
    }

    #[test]
    fn a_region_outside_the_canvas_is_refused_by_name() {
        let layout = Layout {
            users: vec![region("a", 1000, 640)],
            ..Layout::default()
        };
        let error = start(layout).validate().expect_err("outside the canvas");
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert!(error.message.contains("\"a\""), "{}", error.message);
    }

    #[test]
    fn bad_fields_are_refused() {
        let bad = [
            Layout {
                width: 1281,
                ..Layout::default()
            },
            Layout {
                fps: 0,
                ..Layout::default()
            },
            Layout {
                users: (0..18).map(|i| region(&format!("u{i}"), 0, 16)).collect(),
                ..Layout::default()
            },
            Layout {
                users: vec![region("a", 0, 16), region("a", 16, 16)],
                ..Layout::default()
            },
            Layout {
                audio: Audio {
                    sample_rate: 8000,
                    ..Audio::default()
                },
                ..Layout::default()
            },
            Layout {
                watermark: Some(Image {
                    png: Png(b"GIF89a".to_vec()),
                    rect: Rect::default(),
                }),
                ..Layout::default()
            },
        ];
        for layout in bad {
            assert!(start(layout.clone()).validate().is_err(), "{layout:?}");
        }
    }

    #[test]
    fn urls_are_bounded() {
        let none = Request::Start {
            name: "main".into(),
            urls: vec![],
            layout: Layout::default(),
        };
        assert!(none.validate().is_err());
        let long = Request::Update {
            name: "main".into(),
            layout: None,
            add: vec!["rtmp://x/".to_string() + &"a".repeat(MAX_URL_LEN)],
            remove: vec![],
        };
        assert!(long.validate().is_err());
        let many = Request::Update {
            name: "main".into(),
            layout: None,
            add: vec!["rtmp://x/a/b".into(); MAX_URLS + 1],
            remove: vec![],
        };
        assert!(many.validate().is_err());
    }

    #[test]
    fn the_largest_request_fits_a_control_frame() {
        let png = Png([b"\x89PNG\r\n\x1a\n".as_slice(), &[0; MAX_IMAGE - 8]].concat());
        let layout = Layout {
            users: (0..MAX_REGIONS)
                .map(|i| region(&format!("{i:0>64}"), 0, 16))
                .collect(),
            background_image: Some(png.clone()),
            watermark: Some(Image {
                png,
                rect: Rect::default(),
            }),
            audio: Audio {
                users: Some((0..MAX_REGIONS).map(|i| format!("{i:0>64}")).collect()),
                ..Audio::default()
            },
            ..Layout::default()
        };
        let request = crate::wire::Request::Push(Box::new(Request::Start {
            name: "a".repeat(64),
            urls: vec!["u".repeat(MAX_URL_LEN); MAX_URLS],
            layout,
        }));
        let frame = crate::wire::ClientFrame::Request {
            seq: u64::MAX,
            request,
        };
        let len = crate::wire::encode(&frame).len() - 4;
        assert!(len <= crate::wire::MAX_FRAME, "{len} bytes");
    }
}
